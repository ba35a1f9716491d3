import { CoreError } from '../errors.js';
import { TypedEmitter } from '../typed-emitter.js';
import { systemClock, type Clock } from '../clock.js';
import {
  CALL_RECORD_SCHEMA_VERSION,
  isTerminalState,
  validateCallRecord,
  type CallRecord,
  type CallRecordState,
  type LegRecord,
} from './call-record.js';

/** Where every record change goes (the sync layer's `SyncNode` implements it). */
export interface RecordSink {
  publish(record: CallRecord): Promise<void> | void;
}

export type CallRecordStoreEvents = {
  /** Every change of every record, in order; the record is frozen. */
  record: (record: CallRecord) => void;
  /** A call's final record (state 'ended' or 'failed'). */
  ended: (record: CallRecord) => void;
  /** The sink refused or failed a record; the store keeps the record regardless. */
  sinkError: (err: unknown, record: CallRecord) => void;
};

export interface CallRecordStoreOptions {
  sink?: RecordSink;
  /** Current HA epoch, stamped on each change. Default: always 0. */
  epoch?: () => number;
  clock?: Clock;
  /** How many ended records to keep for inspection. Default 1000. */
  retainEnded?: number;
}

/**
 * Freezes `o` and every object reachable from it that is not frozen yet. Objects
 * that are already frozen (shared with an earlier version) are not walked again.
 */
function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) freezeTree(o as object);
  return o;
}

function freezeTree(o: object): void {
  Object.freeze(o);
  const rec = o as Record<string, unknown>;
  for (const k in rec) {
    const v = rec[k];
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) freezeTree(v);
  }
}

/**
 * Deep copy of a call record, which is plain JSON data (objects, arrays, strings,
 * numbers, booleans, undefined). About 8x cheaper than structuredClone for a
 * record with two SDPs (packages/core/bench/record-store.ts), and it is on every
 * change of every call.
 */
function copyPlain<T>(o: T): T {
  if (Array.isArray(o)) {
    const out = new Array<unknown>(o.length);
    for (let i = 0; i < o.length; i++) {
      const v: unknown = o[i];
      out[i] = v !== null && typeof v === 'object' ? copyPlain(v) : v;
    }
    return out as T;
  }
  const src = o as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k in src) {
    const v = src[k];
    out[k] = v !== null && typeof v === 'object' ? copyPlain(v) : v;
  }
  return out as T;
}

/**
 * Owner of all call records. Each change produces a new frozen record whose
 * version is one higher, emits `record`, and hands it to the sink. Final
 * records also emit `ended` and move from the live set to a bounded history.
 */
export class CallRecordStore extends TypedEmitter<CallRecordStoreEvents> {
  readonly #live = new Map<string, CallRecord>();
  readonly #ended = new Map<string, CallRecord>();
  readonly #sink?: RecordSink;
  readonly #epoch: () => number;
  readonly #clock: Clock;
  readonly #retainEnded: number;

  constructor(opts: CallRecordStoreOptions = {}) {
    super();
    this.#sink = opts.sink;
    this.#epoch = opts.epoch ?? (() => 0);
    this.#clock = opts.clock ?? systemClock;
    this.#retainEnded = opts.retainEnded ?? 1000;
  }

  now(): number {
    return this.#clock.now();
  }

  /** Creates the first version (1) of a call's record. */
  create(init: { id: string; state?: CallRecordState; route?: { target: string; rule: string }; a: LegRecord; b: LegRecord }): CallRecord {
    if (this.#live.has(init.id) || this.#ended.has(init.id)) {
      throw new CoreError({ code: 'ERR_INVALID_RECORD', message: `call ${init.id} already exists` });
    }
    const record: CallRecord = {
      schemaVersion: CALL_RECORD_SCHEMA_VERSION,
      id: init.id,
      version: 1,
      epoch: this.#epoch(),
      state: init.state ?? 'routing',
      createdAt: this.#clock.now(),
      route: init.route ?? { target: '', rule: '' },
      a: init.a,
      b: init.b,
    };
    return this.#commit(record);
  }

  /**
   * Applies `mutate` to a copy of the current record and commits it as the
   * next version. If `mutate` throws, nothing changes.
   */
  update(id: string, mutate: (draft: CallRecord) => void): CallRecord {
    const current = this.#live.get(id);
    if (!current) {
      throw new CoreError({ code: 'ERR_UNKNOWN_CALL', message: `no live call ${id}` });
    }
    const draft = copyPlain(current);
    mutate(draft);
    draft.id = current.id;
    draft.schemaVersion = CALL_RECORD_SCHEMA_VERSION;
    draft.version = current.version + 1;
    draft.epoch = this.#epoch();
    if (isTerminalState(draft.state)) {
      draft.ended = true;
      draft.endedAt ??= this.#clock.now();
    }
    return this.#commit(draft);
  }

  /**
   * Adopts a record made elsewhere (the peer's mirror, at takeover) as it is,
   * version included. It is not re-published: it is already known downstream.
   */
  adopt(record: CallRecord): CallRecord {
    const problems = validateCallRecord(record);
    if (problems.length > 0) {
      throw new CoreError({ code: 'ERR_INVALID_RECORD', message: `invalid call record: ${problems.join('; ')}` });
    }
    const copy = deepFreeze(structuredClone(record));
    if (copy.ended) this.#ended.set(copy.id, copy);
    else this.#live.set(copy.id, copy);
    return copy;
  }

  /**
   * Drops every live record without a change, event or publish (this node lost the
   * active role: the records live on in the new active's store). Returns how many.
   */
  forgetLive(): number {
    const n = this.#live.size;
    this.#live.clear();
    return n;
  }

  get(id: string): CallRecord | undefined {
    return this.#live.get(id) ?? this.#ended.get(id);
  }

  /** Records of calls not yet over. */
  live(): CallRecord[] {
    return [...this.#live.values()];
  }

  /** The most recent final records (bounded). */
  recentlyEnded(): CallRecord[] {
    return [...this.#ended.values()];
  }

  get size(): number {
    return this.#live.size;
  }

  #commit(record: CallRecord): CallRecord {
    const frozen = deepFreeze(record);
    if (frozen.ended) {
      this.#live.delete(frozen.id);
      this.#ended.set(frozen.id, frozen);
      if (this.#ended.size > this.#retainEnded) {
        const oldest = this.#ended.keys().next().value;
        if (oldest !== undefined) this.#ended.delete(oldest);
      }
    } else {
      this.#live.set(frozen.id, frozen);
    }
    this.emit('record', frozen);
    if (frozen.ended) this.emit('ended', frozen);
    this.#publish(frozen);
    return frozen;
  }

  #publish(record: CallRecord): void {
    if (!this.#sink) return;
    try {
      const p = this.#sink.publish(record);
      if (p && typeof (p as Promise<void>).then === 'function') {
        (p as Promise<void>).then(undefined, (err: unknown) => this.emit('sinkError', err, record));
      }
    } catch (err) {
      this.emit('sinkError', err, record);
    }
  }
}
