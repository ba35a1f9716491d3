/**
 * The call record: plain, versioned JSON describing one B2BUA call. It is what
 * sync mirrors to the peer and what a takeover rebuilds live calls from, so it
 * holds every dialog fact needed to keep talking to both parties.
 */
export const CALL_RECORD_SCHEMA_VERSION = 1;

export type CallRecordState = 'routing' | 'calling' | 'ringing' | 'answered' | 'ending' | 'ended' | 'failed';

/** Dialog state of one leg (RFC 3261 §12: early / confirmed / terminated). */
export type LegState = 'initial' | 'early' | 'confirmed' | 'terminated';

export interface LegRecord {
  /** 'uas' for the A leg (we answer the caller), 'uac' for the B leg (we call the callee). */
  role: 'uas' | 'uac';
  callId: string;
  localTag?: string;
  remoteTag?: string;
  /** Last CSeq number we sent in this dialog (0 when we have sent nothing yet). */
  localCseq: number;
  /** Last CSeq number the far end sent in this dialog. */
  remoteCseq: number;
  /** URI of our side (To for the A leg, From for the B leg). */
  localUri: string;
  /** URI of the far side (From for the A leg, To for the B leg). */
  remoteUri: string;
  /** Request-URI of the initial INVITE on this leg. */
  requestUri: string;
  /** The far end's Contact: the remote target of the dialog. */
  remoteTarget?: string;
  /** Our Contact on this leg. */
  localContact?: string;
  /** Route set, in the order requests must use it. */
  routeSet: string[];
  transport: string;
  /** host:port we use on this leg, when known. */
  localAddress?: string;
  /** host:port of the far end (where its messages came from). */
  remoteAddress?: string;
  localSdp?: string;
  remoteSdp?: string;
  state: LegState;
  /** Via branch of the initial INVITE on this leg. */
  inviteBranch?: string;
  /**
   * A leg only: what a new active needs to re-create the caller's INVITE server transaction of a call
   * that is not answered yet (the INVITE as the receiving engine stamped it, RFC 3261 §18.2.1). Optional,
   * so records without it (older nodes) stay valid: such ringing calls are released at takeover.
   */
  invite?: InviteEssentials;
}

/** The caller's INVITE, as far as its server transaction and our responses to it depend on it. */
export interface InviteEssentials {
  /** Every Via, top first, with received/rport as stamped on arrival. */
  vias: string[];
  /** From and To exactly as the caller sent them (To without our tag). */
  from: string;
  to: string;
  cseq: number;
  contact?: string;
  recordRoute?: string[];
  contentType?: string;
  /** Where the INVITE came from. */
  source: { transport: string; address: string; port: number };
}

export interface CallRecord {
  schemaVersion: number;
  id: string;
  /** Increments by one on every change. */
  version: number;
  /** Set by the HA layer; 0 by default. */
  epoch: number;
  state: CallRecordState;
  createdAt: number;
  answeredAt?: number;
  endedAt?: number;
  endReason?: string;
  endStatus?: number;
  route: { target: string; rule: string };
  a: LegRecord;
  b: LegRecord;
  /** true once the call is over (state 'ended' or 'failed'); the final record of a call. */
  ended?: boolean;
}

export function isTerminalState(state: CallRecordState): boolean {
  return state === 'ended' || state === 'failed';
}

export function emptyLeg(role: 'uas' | 'uac'): LegRecord {
  return {
    role,
    callId: '',
    localCseq: 0,
    remoteCseq: 0,
    localUri: '',
    remoteUri: '',
    requestUri: '',
    routeSet: [],
    transport: 'udp',
    state: 'initial',
  };
}

const STATES: readonly CallRecordState[] = ['routing', 'calling', 'ringing', 'answered', 'ending', 'ended', 'failed'];
const LEG_STATES: readonly LegState[] = ['initial', 'early', 'confirmed', 'terminated'];

/** Checks that a value read from elsewhere (the peer, a file) is a call record this code understands. */
export function validateCallRecord(value: unknown): string[] {
  const problems: string[] = [];
  const r = value as Partial<CallRecord> | null;
  if (typeof r !== 'object' || r === null) return ['record: not an object'];
  if (r.schemaVersion !== CALL_RECORD_SCHEMA_VERSION) problems.push(`schemaVersion: expected ${CALL_RECORD_SCHEMA_VERSION}`);
  if (typeof r.id !== 'string' || r.id === '') problems.push('id: must be a non-empty string');
  if (!Number.isInteger(r.version) || (r.version as number) < 1) problems.push('version: must be a positive integer');
  if (!Number.isInteger(r.epoch) || (r.epoch as number) < 0) problems.push('epoch: must be a non-negative integer');
  if (!STATES.includes(r.state as CallRecordState)) problems.push(`state: must be one of ${STATES.join(', ')}`);
  if (typeof r.createdAt !== 'number') problems.push('createdAt: must be a number');
  if (typeof r.route !== 'object' || r.route === null || typeof r.route.target !== 'string') problems.push('route: must have a target');
  for (const side of ['a', 'b'] as const) {
    const leg = r[side] as Partial<LegRecord> | undefined;
    if (typeof leg !== 'object' || leg === null) {
      problems.push(`${side}: must be an object`);
      continue;
    }
    if (typeof leg.callId !== 'string') problems.push(`${side}.callId: must be a string`);
    if (!Number.isInteger(leg.localCseq)) problems.push(`${side}.localCseq: must be an integer`);
    if (!Number.isInteger(leg.remoteCseq)) problems.push(`${side}.remoteCseq: must be an integer`);
    if (!Array.isArray(leg.routeSet)) problems.push(`${side}.routeSet: must be an array`);
    if (!LEG_STATES.includes(leg.state as LegState)) problems.push(`${side}.state: must be one of ${LEG_STATES.join(', ')}`);
  }
  return problems;
}
