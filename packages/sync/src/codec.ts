/**
 * Wire format of the change stream and the current-record hash.
 *
 * Stream entry fields (all strings):
 *   v  format version, currently "1"; anything else is skipped as 'unknownVersion'
 *   k  kind: "put" | "del" | "reset"
 *   e  writer epoch (the publisher's epoch when it wrote the entry)
 *   t  publish timestamp, ms since the epoch (sub-ms precision), for lag
 *   r  put: the record as JSON
 *   id, n   del: call id and the version that ended its retention
 *   g  reset: publisher generation (written after the publisher (re)wrote the whole hash)
 * Hash `<prefix>:records`: field = record id, value = record JSON.
 */
export const FORMAT_VERSION = '1';

export interface SyncRecord {
  id: string;
  version: number;
  epoch: number;
  ended?: boolean;
  [k: string]: unknown;
}

export type Entry =
  | { kind: 'put'; epoch: number; ts: number; record: SyncRecord }
  | { kind: 'del'; epoch: number; ts: number; id: string; version: number }
  | { kind: 'reset'; epoch: number; ts: number; generation: string };

export interface Keys {
  stream: string;
  records: string;
}

export function keysFor(prefix: string): Keys {
  return { stream: `${prefix}:changes`, records: `${prefix}:records` };
}

/** Returns a reason string when `r` is not a valid SyncRecord, else undefined. */
export function recordProblem(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'record is not an object';
  const o = r as Record<string, unknown>;
  if (typeof o.id !== 'string' || o.id.length === 0) return 'record.id must be a non-empty string';
  if (o.id.length > 1024) return 'record.id longer than 1024 characters';
  if (!Number.isSafeInteger(o.version) || (o.version as number) < 0) return 'record.version must be a non-negative integer';
  if (!Number.isSafeInteger(o.epoch) || (o.epoch as number) < 0) return 'record.epoch must be a non-negative integer';
  if (o.ended !== undefined && typeof o.ended !== 'boolean') return 'record.ended must be a boolean when present';
  return undefined;
}

export function encodePut(record: SyncRecord, json: string, epoch: number, ts: number): string[] {
  return ['v', FORMAT_VERSION, 'k', 'put', 'e', String(epoch), 't', ts.toFixed(3), 'r', json];
}

export function encodeDel(id: string, version: number, epoch: number, ts: number): string[] {
  return ['v', FORMAT_VERSION, 'k', 'del', 'e', String(epoch), 't', ts.toFixed(3), 'id', id, 'n', String(version)];
}

export function encodeReset(generation: string, epoch: number, ts: number): string[] {
  return ['v', FORMAT_VERSION, 'k', 'reset', 'e', String(epoch), 't', ts.toFixed(3), 'g', generation];
}

export class DecodeError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Decode one stream entry's field list. Throws DecodeError with a short reason. */
export function decodeEntry(fields: unknown): Entry {
  if (!Array.isArray(fields) || fields.length % 2 !== 0) throw new DecodeError('malformed field list');
  const f = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i];
    const v = fields[i + 1];
    if (typeof k !== 'string' || typeof v !== 'string') throw new DecodeError('non-string field');
    f.set(k, v);
  }
  const v = f.get('v');
  if (v === undefined) throw new DecodeError('missing format version');
  if (v !== FORMAT_VERSION) throw new DecodeError(`unknownVersion ${v.slice(0, 20)}`);
  const epoch = Number(f.get('e'));
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new DecodeError('bad epoch');
  const ts = Number(f.get('t'));
  if (!Number.isFinite(ts)) throw new DecodeError('bad timestamp');
  const kind = f.get('k');
  if (kind === 'put') {
    const raw = f.get('r');
    if (raw === undefined) throw new DecodeError('put without record');
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch {
      throw new DecodeError('record is not valid JSON');
    }
    const p = recordProblem(rec);
    if (p) throw new DecodeError(p);
    return { kind, epoch, ts, record: rec as SyncRecord };
  }
  if (kind === 'del') {
    const id = f.get('id');
    const version = Number(f.get('n'));
    if (!id) throw new DecodeError('del without id');
    if (!Number.isSafeInteger(version)) throw new DecodeError('del with bad version');
    return { kind, epoch, ts, id, version };
  }
  if (kind === 'reset') {
    return { kind, epoch, ts, generation: f.get('g') ?? '' };
  }
  throw new DecodeError(`unknown kind ${String(kind).slice(0, 20)}`);
}

/** Decode a hash value (snapshot). Returns undefined when corrupt. */
export function decodeRecord(json: string): SyncRecord | undefined {
  try {
    const r: unknown = JSON.parse(json);
    return recordProblem(r) ? undefined : (r as SyncRecord);
  } catch {
    return undefined;
  }
}

/** Stream id comparison ("ms-seq"). */
export function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const d = BigInt(am!) - BigInt(bm!);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}
