/**
 * Turns the stream of call-record changes into the call events applications
 * see: offered, ringing, answered, modified (SDP changed while answered) and
 * ended. `seq` is the record version, so it continues across a takeover.
 */
import type { CallRecord } from '../records/call-record.js';
import type { CallEventName, CallSummary } from './protocol.js';

export interface CallEvent {
  event: CallEventName;
  call: string;
  seq: number;
  data: CallSummary;
}

interface Seen {
  state: string;
  aSdp?: string;
  bSdp?: string;
}

export function summarize(r: CallRecord, headers?: Record<string, string>): CallSummary {
  const s: CallSummary = {
    state: r.state,
    from: r.a.remoteUri,
    to: r.a.localUri,
    requestUri: r.a.requestUri,
    target: r.route.target,
    rule: r.route.rule,
    createdAt: r.createdAt,
    epoch: r.epoch,
  };
  if (r.answeredAt !== undefined) s.answeredAt = r.answeredAt;
  if (r.endedAt !== undefined) s.endedAt = r.endedAt;
  if (r.endReason !== undefined) s.endReason = r.endReason;
  if (r.endStatus !== undefined) s.endStatus = r.endStatus;
  if (r.ended) s.durationMs = r.answeredAt !== undefined && r.endedAt !== undefined ? Math.max(0, r.endedAt - r.answeredAt) : 0;
  if (headers && Object.keys(headers).length > 0) s.headers = headers;
  return s;
}

/** The event that describes a record's current state (for the snapshot after subscribe). */
export function stateEvent(r: CallRecord): CallEventName | undefined {
  switch (r.state) {
    case 'routing':
    case 'calling':
      return 'call.offered';
    case 'ringing':
      return 'call.ringing';
    case 'answered':
    case 'ending':
      return 'call.answered';
    default:
      return r.ended ? 'call.ended' : undefined;
  }
}

export class CallEventMapper {
  readonly #seen = new Map<string, Seen>();

  /** The events a record change produces (zero or one). */
  map(r: CallRecord, headers?: Record<string, string>): CallEvent | undefined {
    const prev = this.#seen.get(r.id);
    const ev = this.#classify(r, prev);
    if (r.ended) this.#seen.delete(r.id);
    else this.#seen.set(r.id, { state: r.state, aSdp: r.a.remoteSdp, bSdp: r.b.remoteSdp });
    if (!ev) return undefined;
    return { event: ev, call: r.id, seq: r.version, data: summarize(r, headers) };
  }

  #classify(r: CallRecord, prev: Seen | undefined): CallEventName | undefined {
    if (r.ended) return 'call.ended';
    if (!prev) {
      // First sight: a new call, or one adopted at takeover (its earlier events came from the old active).
      return r.version === 1 ? 'call.offered' : undefined;
    }
    if (r.state === prev.state) {
      if (r.state === 'answered' && (r.a.remoteSdp !== prev.aSdp || r.b.remoteSdp !== prev.bSdp)) return 'call.modified';
      return undefined;
    }
    if (r.state === 'ringing') return 'call.ringing';
    if (r.state === 'answered') return 'call.answered';
    return undefined;
  }

  /** Forgets every call (the node stepped down). */
  clear(): void {
    this.#seen.clear();
  }
}
