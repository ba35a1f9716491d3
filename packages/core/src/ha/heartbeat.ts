/**
 * Heartbeat messages between the two nodes of a pair, and the transport interface
 * they travel on.
 *
 * Wire format (one UDP datagram per heartbeat per path):
 *   "DSHB" | version (1 byte) | HMAC-SHA256(secret, magic|version|body) (32 bytes) | JSON body
 * A datagram whose MAC does not verify (stray traffic, another pair, forgery) is dropped
 * by decodeHeartbeat() with ERR_HA_HEARTBEAT_BAD_MAC before its body is even parsed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HaError } from './errors.js';
import { isRole, type Role } from './role-machine.js';

export const HEARTBEAT_MAGIC = Buffer.from('DSHB', 'ascii');
export const HEARTBEAT_VERSION = 1;
const MAC_LEN = 32;
const HEADER_LEN = HEARTBEAT_MAGIC.length + 1 + MAC_LEN;
/** Datagrams larger than this are not heartbeats. */
export const HEARTBEAT_MAX_BYTES = 1024;

export interface HeartbeatMessage {
  /** Sender's node id. */
  nodeId: string;
  /** Random per process start: sequence numbers are monotonic within one incarnation. */
  incarnation: string;
  role: Role;
  epoch: number;
  /** One sequence number per tick, the same on every path. */
  seq: number;
  /** Sender's clock, ms (informational: the pair's clocks are not assumed in sync). */
  sentAt: number;
  /** Sender's sync readiness (its mirror is complete and current, sync path up). */
  ready: boolean;
  /** Sender's own SIP interface is up. */
  sipUp: boolean;
  /** Sender is configured as the preferred active. */
  preferred: boolean;
  /** Sender handed over (or failed a takeover) and asks the peer to be active. */
  yielding: boolean;
}

export type HeartbeatSecret = string | Buffer;

function mac(secret: HeartbeatSecret, head: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(head).update(body).digest();
}

export function encodeHeartbeat(msg: HeartbeatMessage, secret: HeartbeatSecret): Buffer {
  const body = Buffer.from(
    JSON.stringify({
      n: msg.nodeId,
      i: msg.incarnation,
      r: msg.role,
      e: msg.epoch,
      s: msg.seq,
      t: msg.sentAt,
      f: (msg.ready ? 1 : 0) | (msg.sipUp ? 2 : 0) | (msg.preferred ? 4 : 0) | (msg.yielding ? 8 : 0),
    }),
    'utf8',
  );
  const head = Buffer.concat([HEARTBEAT_MAGIC, Buffer.from([HEARTBEAT_VERSION])]);
  return Buffer.concat([head, mac(secret, head, body), body]);
}

function malformed(why: string): HaError {
  return new HaError({ code: 'ERR_HA_HEARTBEAT_MALFORMED', message: `malformed heartbeat: ${why}` });
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

export function decodeHeartbeat(data: Buffer, secret: HeartbeatSecret): HeartbeatMessage {
  if (data.length < HEADER_LEN + 2 || data.length > HEARTBEAT_MAX_BYTES) throw malformed(`length ${data.length}`);
  if (!data.subarray(0, HEARTBEAT_MAGIC.length).equals(HEARTBEAT_MAGIC)) throw malformed('bad magic');
  const version = data[HEARTBEAT_MAGIC.length];
  if (version !== HEARTBEAT_VERSION) throw malformed(`unsupported version ${version}`);
  const head = data.subarray(0, HEARTBEAT_MAGIC.length + 1);
  const got = data.subarray(head.length, HEADER_LEN);
  const body = data.subarray(HEADER_LEN);
  if (!timingSafeEqual(got, mac(secret, head, body))) {
    throw new HaError({ code: 'ERR_HA_HEARTBEAT_BAD_MAC', message: 'heartbeat MAC does not verify' });
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw malformed('body is not JSON');
  }
  if (typeof o !== 'object' || o === null) throw malformed('body is not an object');
  const { n, i, r, e, s, t, f } = o;
  if (typeof n !== 'string' || n.length === 0 || n.length > 128) throw malformed('nodeId');
  if (typeof i !== 'string' || i.length === 0 || i.length > 64) throw malformed('incarnation');
  if (!isRole(r)) throw malformed('role');
  if (!isCount(e)) throw malformed('epoch');
  if (!isCount(s)) throw malformed('seq');
  if (typeof t !== 'number' || !Number.isFinite(t)) throw malformed('sentAt');
  if (!isCount(f) || f > 15) throw malformed('flags');
  return {
    nodeId: n,
    incarnation: i,
    role: r,
    epoch: e,
    seq: s,
    sentAt: t,
    ready: (f & 1) !== 0,
    sipUp: (f & 2) !== 0,
    preferred: (f & 4) !== 0,
    yielding: (f & 8) !== 0,
  };
}

/** Which network a path runs over: a lost sync path alone never triggers a takeover. */
export type PathNetwork = 'sync' | 'sip';

export interface HeartbeatPathInfo {
  /** Unique name, e.g. "sync" or "sip". */
  name: string;
  network: PathNetwork;
}

/** Receives one datagram that arrived on `path`; `from` is "address:port" for logs. */
export type HeartbeatReceiver = (path: string, data: Buffer, from: string) => void;

/**
 * Carries heartbeats to the peer on N paths (each path = a local bind address and the
 * peer's address on one network). send() is fire-and-forget: a heartbeat lost is just
 * a missed heartbeat.
 */
export interface HeartbeatTransport {
  readonly paths: readonly HeartbeatPathInfo[];
  start(receiver: HeartbeatReceiver): Promise<void>;
  send(path: string, data: Buffer): void;
  /** Stops receiving and sending; idempotent. */
  close(): Promise<void>;
}
