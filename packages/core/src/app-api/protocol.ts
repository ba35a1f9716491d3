/**
 * The application API wire protocol: one JSON object per WebSocket text frame.
 *
 * Client → node: requests carry `id` (string or number) and get exactly one
 * reply, `{type:'result', id, data}` or `{type:'error', id, code, message}`.
 * Node → client: replies, `event` messages, and `route.request` (answered
 * by the client with `route.decision`).
 *
 * Every call event carries the call id and `seq`, the version of the call
 * record that produced it: the record (and so its version) is mirrored to the
 * peer, so after a takeover the new active continues the same sequence per call.
 * Pair events carry the emitting node, its boot id and a per-boot `seq`.
 */
import { isSipUri } from '../routing/sip-uri.js';
import type { CallOffer } from './route-hook.js';
import { AppApiError } from './errors.js';

export const APP_API_VERSION = 1;

export type RequestId = string | number;
export type Leg = 'a' | 'b';

export type ClientRequest =
  | { type: 'hello'; id: RequestId; token: string; name?: string }
  | { type: 'subscribe'; id: RequestId; calls?: boolean; pair?: boolean }
  | { type: 'unsubscribe'; id: RequestId; calls?: boolean; pair?: boolean }
  | { type: 'router.register'; id: RequestId }
  | { type: 'router.unregister'; id: RequestId }
  | { type: 'route.decision'; id?: RequestId; request: string; action: 'route'; target: string; headers?: Record<string, string> }
  | { type: 'route.decision'; id?: RequestId; request: string; action: 'reject'; status: number; reason?: string }
  | { type: 'route.decision'; id?: RequestId; request: string; action: 'static' }
  | { type: 'call.hangup'; id: RequestId; call: string; reason?: string }
  | { type: 'call.info'; id: RequestId; call: string; leg?: Leg; contentType?: string; body?: string; headers?: Record<string, string> }
  | { type: 'call.refer'; id: RequestId; call: string; leg?: Leg; referTo: string; headers?: Record<string, string> }
  | { type: 'call.reroute'; id: RequestId; call: string; target: string; headers?: Record<string, string> }
  | { type: 'query.pair'; id: RequestId }
  | { type: 'query.calls'; id: RequestId }
  | { type: 'query.call'; id: RequestId; call: string }
  | { type: 'ping'; id: RequestId };

export type ClientRequestType = ClientRequest['type'];

export type CallEventName = 'call.offered' | 'call.ringing' | 'call.answered' | 'call.modified' | 'call.ended';
export type PairEventName =
  | 'pair.role'
  | 'pair.takeoverStarted'
  | 'pair.takeoverFinished'
  | 'pair.peerLost'
  | 'pair.peerBack'
  | 'pair.syncNotReady'
  | 'pair.syncReady';

/** What every call event says about the call. */
export interface CallSummary {
  state: string;
  from: string;
  to: string;
  requestUri: string;
  target: string;
  rule: string;
  createdAt: number;
  answeredAt?: number;
  endedAt?: number;
  endReason?: string;
  endStatus?: number;
  /** Answered time in ms (0 when never answered); only on call.ended. */
  durationMs?: number;
  epoch: number;
  /** Custom headers of the caller's INVITE, when this node saw it. */
  headers?: Record<string, string>;
}

export interface CallEventMessage {
  type: 'event';
  event: CallEventName;
  node: string;
  call: string;
  seq: number;
  /** true when sent as part of the snapshot that follows subscribe. */
  replay?: boolean;
  data: CallSummary;
}

export interface PairEventMessage {
  type: 'event';
  event: PairEventName;
  node: string;
  boot: string;
  seq: number;
  data: Record<string, unknown>;
}

export interface PairView {
  node: string;
  /** 'standalone' for a node without HA. */
  role: string;
  epoch: number;
  ready: boolean;
  readyReasons: string[];
  /** Node id of the active, null when none is known. */
  active: string | null;
  peer: { id: string; alive: boolean; role: string | null } | null;
}

export type ServerMessage =
  | { type: 'result'; id: RequestId; data: unknown }
  | { type: 'error'; id: RequestId | null; code: string; message: string; status?: number; active?: string | null }
  | CallEventMessage
  | PairEventMessage
  | { type: 'route.request'; request: string; offer: CallOffer; timeoutMs: number };

const TYPES: ReadonlySet<string> = new Set<ClientRequestType>([
  'hello', 'subscribe', 'unsubscribe', 'router.register', 'router.unregister', 'route.decision',
  'call.hangup', 'call.info', 'call.refer', 'call.reroute', 'query.pair', 'query.calls', 'query.call', 'ping',
]);

/** Headers an application may not set: the B2BUA owns the dialog. */
const RESERVED_HEADERS = new Set(
  ['via', 'call-id', 'cseq', 'from', 'to', 'contact', 'route', 'record-route', 'content-length', 'max-forwards', 'refer-to'].map((s) => s),
);
const TOKEN = /^[A-Za-z0-9!%*_+`'~.-]+$/;

function bad(message: string): AppApiError {
  return new AppApiError({ code: 'ERR_BAD_MESSAGE', message });
}

function str(m: Record<string, unknown>, key: string, opts: { optional?: boolean; max?: number } = {}): void {
  const v = m[key];
  if (v === undefined && opts.optional) return;
  if (typeof v !== 'string' || (!opts.optional && v === '')) throw bad(`${key}: must be a ${opts.optional ? '' : 'non-empty '}string`);
  if (v.length > (opts.max ?? 4096)) throw bad(`${key}: longer than ${opts.max ?? 4096} characters`);
}

function bool(m: Record<string, unknown>, key: string): void {
  if (m[key] !== undefined && typeof m[key] !== 'boolean') throw bad(`${key}: must be a boolean`);
}

function leg(m: Record<string, unknown>): void {
  if (m['leg'] !== undefined && m['leg'] !== 'a' && m['leg'] !== 'b') throw bad(`leg: must be 'a' (caller) or 'b' (callee)`);
}

/** Checks application-supplied SIP headers: names are tokens, values single-line strings, dialog headers reserved. */
export function checkHeaders(v: unknown, key = 'headers', extraReserved: readonly string[] = []): void {
  if (v === undefined) return;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${key}: must be an object of header name → string`);
  const entries = Object.entries(v);
  if (entries.length > 32) throw bad(`${key}: at most 32 headers`);
  for (const [name, value] of entries) {
    if (!TOKEN.test(name)) throw bad(`${key}: ${JSON.stringify(name)} is not a header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase()) || extraReserved.includes(name.toLowerCase())) throw bad(`${key}: ${name} is set by the B2BUA and cannot be given`);
    if (typeof value !== 'string' || /[\r\n]/.test(value) || value.length > 1024) throw bad(`${key}.${name}: must be a single-line string of at most 1024 characters`);
  }
}

/** The id of a message, if it has a usable one (for error replies to bad messages). */
export function requestIdOf(m: unknown): RequestId | null {
  const id = (m as { id?: unknown } | null)?.id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
}

/** Parses one text frame into a request; throws AppApiError (ERR_BAD_JSON, ERR_BAD_MESSAGE, ERR_UNKNOWN_TYPE). */
export function parseClientMessage(text: string): ClientRequest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new AppApiError({ code: 'ERR_BAD_JSON', message: `not JSON: ${(err as Error).message}` });
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad('a message is a JSON object');
  const o = m as Record<string, unknown>;
  if (typeof o['type'] !== 'string') throw bad('type: must be a string');
  const type = o['type'];
  if (!TYPES.has(type)) throw new AppApiError({ code: 'ERR_UNKNOWN_TYPE', message: `unknown message type ${JSON.stringify(type).slice(0, 80)}` });
  if (type !== 'route.decision' && requestIdOf(o) === null) throw bad('id: must be a string or a number');
  if (type === 'route.decision' && o['id'] !== undefined && requestIdOf(o) === null) throw bad('id: must be a string or a number');
  switch (type) {
    case 'hello':
      str(o, 'token', { max: 512 });
      str(o, 'name', { optional: true, max: 128 });
      break;
    case 'subscribe':
    case 'unsubscribe':
      bool(o, 'calls');
      bool(o, 'pair');
      break;
    case 'route.decision': {
      str(o, 'request', { max: 128 });
      const action = o['action'];
      if (action === 'route') {
        str(o, 'target', { max: 1024 });
        if (!isSipUri(o['target'] as string)) throw bad(`target: must be a SIP URI (got ${JSON.stringify(o['target']).slice(0, 100)})`);
        checkHeaders(o['headers']);
      } else if (action === 'reject') {
        const s = o['status'];
        if (typeof s !== 'number' || !Number.isInteger(s) || s < 300 || s > 699) throw bad('status: must be an integer SIP status from 300 to 699');
        str(o, 'reason', { optional: true, max: 128 });
        if (typeof o['reason'] === 'string' && /[\r\n]/.test(o['reason'])) throw bad('reason: must be one line');
      } else if (action !== 'static') {
        throw bad(`action: must be 'route', 'reject' or 'static'`);
      }
      break;
    }
    case 'call.hangup':
      str(o, 'call', { max: 128 });
      str(o, 'reason', { optional: true, max: 128 });
      break;
    case 'call.info':
      str(o, 'call', { max: 128 });
      leg(o);
      str(o, 'contentType', { optional: true, max: 256 });
      str(o, 'body', { optional: true, max: 65536 });
      checkHeaders(o['headers'], 'headers', ['content-type']);
      if (o['body'] !== undefined && o['contentType'] === undefined) throw bad('contentType: required with a body');
      break;
    case 'call.refer':
      str(o, 'call', { max: 128 });
      leg(o);
      str(o, 'referTo', { max: 1024 });
      if (!isSipUri(o['referTo'] as string)) throw bad('referTo: must be a SIP URI');
      checkHeaders(o['headers']);
      break;
    case 'call.reroute':
      str(o, 'call', { max: 128 });
      str(o, 'target', { max: 1024 });
      if (!isSipUri(o['target'] as string)) throw bad('target: must be a SIP URI');
      checkHeaders(o['headers'], 'headers', ['content-type']);
      break;
    case 'query.call':
      str(o, 'call', { max: 128 });
      break;
  }
  return o as unknown as ClientRequest;
}
