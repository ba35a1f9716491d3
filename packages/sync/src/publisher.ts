import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { encodeDel, encodePut, encodeReset, keysFor, recordProblem, type Keys, type SyncRecord } from './codec.js';
import { SyncError } from './errors.js';
import { silentLogger, TypedEmitter, type SyncLogger } from './events.js';
import { addressProblem, connect, parseInfo, type RedisAddress } from './redis-conn.js';

export type SyncMode = 'async' | 'ack';

const WAIT_SLICE_MS = 10;

/** Publisher states. */
export enum PublisherState {
  Idle = 'idle',
  Connecting = 'connecting',
  /** Rewriting the whole current state into Redis (first connect, or after Redis came back). */
  Resyncing = 'resyncing',
  Ready = 'ready',
  /** Local Redis unreachable: publish() keeps working in memory; republish on reconnect. */
  Down = 'down',
  Closing = 'closing',
  Closed = 'closed',
}

const P = PublisherState;
const ALLOWED: Record<PublisherState, readonly PublisherState[]> = {
  [P.Idle]: [P.Connecting, P.Closed],
  [P.Connecting]: [P.Resyncing, P.Down, P.Closing, P.Closed],
  [P.Resyncing]: [P.Ready, P.Down, P.Resyncing, P.Closing, P.Closed],
  [P.Ready]: [P.Down, P.Resyncing, P.Closing, P.Closed],
  [P.Down]: [P.Resyncing, P.Closing, P.Closed],
  [P.Closing]: [P.Closed],
  [P.Closed]: [],
};

export interface SyncPublisherOptions {
  /** The local Redis (this node's, on its sync address). */
  redis: RedisAddress;
  /** Writer epoch, carried in every entry. Records may not have a higher epoch. */
  epoch: number;
  /** 'async' (default): publish() resolves once the local Redis has the change (at once while Redis is down).
   *  'ack': resolves once a replica has it (WAIT 1); rejects SYNC_ACK_TIMEOUT / SYNC_NOT_READY. */
  mode?: SyncMode;
  ackTimeoutMs?: number;
  /** Approximate stream length cap (XADD MAXLEN ~). Default 100000. */
  streamMaxLen?: number;
  /** How long an ended record stays in the current state. Default 30000 ms. */
  endedRetentionMs?: number;
  /** Key prefix; default 'dualsip'. */
  keyPrefix?: string;
  /** Records the publisher starts with (e.g. the mirror when a replica is promoted). */
  seed?: Iterable<SyncRecord>;
  /** Max changes per pipeline. Default 2000. */
  maxBatch?: number;
  /** INFO replication poll period (replica link status). Default 500 ms. */
  pollMs?: number;
  /** Runs on every (re)connect before the republish, e.g. to assert REPLICAOF NO ONE. */
  onConnect?: (redis: Redis) => Promise<unknown>;
  clock?: Clock;
  logger?: SyncLogger;
}

export interface PublisherStatus {
  state: PublisherState;
  ready: boolean;
  reasons: string[];
  epoch: number;
  mode: SyncMode;
  liveRecords: number;
  queued: number;
  inFlight: number;
  /** Replicas the local Redis reports online (from INFO replication). */
  replicas: number;
  replicaLinkUp: boolean;
  published: number;
  republishes: number;
  lastError?: string;
}

export interface PublisherEvents {
  [k: string]: unknown[];
  ready: [];
  notReady: [reason: string];
  replicaLink: [up: boolean];
  /** An ended record left the current state after its retention. */
  expired: [id: string];
  stateChange: [to: PublisherState, from: PublisherState];
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * A record change waiting for the next pipeline. Changes of one record that arrive before
 * that pipeline is sent share one Pending: only the newest version is written (the mirror
 * only needs versions to increase per id, see isNewer), and every publish() it absorbed
 * settles with it. The JSON is made once, when the pipeline is built.
 */
interface Pending {
  id: string;
  record: SyncRecord;
  /** publish() time of the oldest change it carries: the lag a mirror computes starts there. */
  ts: number;
  waiters: Waiter[];
  /** The live entry before the first change it carries (restored if the record cannot be serialised). */
  prev?: Live;
}

interface Live {
  record: SyncRecord;
  /** Made lazily (at the pipeline, or at a republish). */
  json?: string;
  endedAt?: number;
}

function settle(p: Pending, err?: Error): void {
  for (const w of p.waiters) if (err) w.reject(err);
  else w.resolve();
}

/** Newer-than for (epoch, version). */
export function isNewer(a: { epoch: number; version: number }, b: { epoch: number; version: number }): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.version > b.version);
}

/**
 * On the active node: writes each record change to the local Redis (HSET current record,
 * then XADD to the change stream, in one pipeline per tick), keeps every live record in
 * memory and rewrites them all whenever the local Redis (re)connects.
 */
export class SyncPublisher extends TypedEmitter<PublisherEvents> {
  readonly #o: Required<Omit<SyncPublisherOptions, 'seed' | 'redis' | 'clock' | 'logger' | 'onConnect'>>;
  readonly #addr: RedisAddress;
  readonly #clock: Clock;
  readonly #log: SyncLogger;
  readonly #keys: Keys;
  readonly #onConnect?: (redis: Redis) => Promise<unknown>;
  #state = P.Idle;
  #redis?: Redis;
  readonly #live = new Map<string, Live>();
  #queue: Pending[] = [];
  /** The Pending of each id that is in #queue (not yet sent). */
  readonly #queued = new Map<string, Pending>();
  #flushScheduled = false;
  #inFlight = 0;
  readonly #inFlightWaiters: (() => void)[] = [];
  #replicas = 0;
  #replicaLinkUp = false;
  #published = 0;
  #republishes = 0;
  #lastError?: string;
  #pollTimer?: TimerHandle;
  #sweepTimer?: TimerHandle;
  #closePromise?: Promise<void>;
  readonly #maxInFlight = 4;

  constructor(opts: SyncPublisherOptions) {
    const log = opts.logger ?? silentLogger;
    super(() => log);
    const p = addressProblem(opts?.redis, 'redis');
    if (p) throw new SyncError('SYNC_BAD_OPTIONS', p);
    if (!Number.isSafeInteger(opts.epoch) || opts.epoch < 0) throw new SyncError('SYNC_BAD_OPTIONS', 'epoch must be a non-negative integer');
    const mode = opts.mode ?? 'async';
    if (mode !== 'async' && mode !== 'ack') throw new SyncError('SYNC_BAD_OPTIONS', `mode must be 'async' or 'ack', got ${String(mode)}`);
    this.#o = {
      epoch: opts.epoch,
      mode,
      ackTimeoutMs: positive(opts.ackTimeoutMs, 'ackTimeoutMs', 1000),
      streamMaxLen: positive(opts.streamMaxLen, 'streamMaxLen', 100_000),
      endedRetentionMs: nonNegative(opts.endedRetentionMs, 'endedRetentionMs', 30_000),
      keyPrefix: opts.keyPrefix ?? 'dualsip',
      maxBatch: positive(opts.maxBatch, 'maxBatch', 2000),
      pollMs: positive(opts.pollMs, 'pollMs', 500),
    };
    this.#addr = opts.redis;
    this.#onConnect = opts.onConnect;
    this.#clock = opts.clock ?? systemClock;
    this.#log = log;
    this.#keys = keysFor(this.#o.keyPrefix);
    for (const r of opts.seed ?? []) {
      const prob = recordProblem(r);
      if (prob) throw new SyncError('SYNC_BAD_RECORD', `seed: ${prob}`);
      this.#live.set(r.id, { record: r, json: JSON.stringify(r), endedAt: r.ended ? this.#clock.now() : undefined });
    }
  }

  get state(): PublisherState {
    return this.#state;
  }

  get epoch(): number {
    return this.#o.epoch;
  }

  /** The live records as the publisher holds them (what a republish writes). */
  records(): SyncRecord[] {
    return [...this.#live.values()].map((l) => l.record);
  }

  #transition(to: PublisherState): void {
    const from = this.#state;
    if (from === to && to !== P.Resyncing) return;
    if (!ALLOWED[from].includes(to)) {
      throw new SyncError('SYNC_ILLEGAL_TRANSITION', `publisher: ${from} -> ${to} is not allowed`);
    }
    this.#state = to;
    this.emit('stateChange', to, from);
    if (to === P.Ready) this.emit('ready');
  }

  /** Connect to the local Redis and write the full current state. Resolves when first ready. */
  async start(): Promise<void> {
    if (this.#state !== P.Idle) throw new SyncError('SYNC_ILLEGAL_TRANSITION', `publisher.start() in state ${this.#state}`);
    this.#transition(P.Connecting);
    const r = connect(this.#addr, { name: 'dualsip-sync-publisher' });
    this.#redis = r;
    r.on('ready', () => void this.#onRedisReady());
    r.on('close', () => this.#onRedisLost('local redis connection closed'));
    r.on('error', (err: Error) => {
      this.#lastError = err.message;
    });
    this.#schedulePoll();
    this.#scheduleSweep();
    await new Promise<void>((resolve) => {
      const done = () => {
        this.off('ready', done);
        this.off('stateChange', onState);
        resolve();
      };
      const onState = (to: PublisherState) => {
        if (to === P.Closed) done();
      };
      this.on('ready', done);
      this.on('stateChange', onState);
    });
  }

  async #onRedisReady(): Promise<void> {
    if (this.#state === P.Closing || this.#state === P.Closed) return;
    this.#transition(P.Resyncing);
    try {
      if (this.#onConnect) await this.#onConnect(this.#redis!);
      await this.#republish();
    } catch (err) {
      this.#lastError = (err as Error).message;
      this.#log.warn({ err }, 'sync publisher: republish failed, will retry on next connect');
      if (this.#state === P.Resyncing) {
        this.#transition(P.Down);
        this.emit('notReady', `republish failed: ${(err as Error).message}`);
        // Force a reconnect so that 'ready' fires again.
        this.#redis?.disconnect(true);
      }
      return;
    }
    if (this.#state !== P.Resyncing) return;
    this.#transition(P.Ready);
    this.#scheduleFlush();
  }

  #onRedisLost(reason: string): void {
    if (this.#state === P.Ready || this.#state === P.Resyncing || this.#state === P.Connecting) {
      this.#transition(P.Down);
      this.#lastError = reason;
      this.#log.warn({ reason }, 'sync publisher: local redis lost; keeping records in memory');
      this.emit('notReady', reason);
      if (this.#replicaLinkUp) {
        this.#replicaLinkUp = false;
        this.emit('replicaLink', false);
      }
      // What was queued is in #live; ack waiters cannot be committed now.
      this.#failQueue(new SyncError('SYNC_NOT_READY', `local redis unavailable: ${reason}`));
    }
  }

  /** Rewrite the whole current state atomically: DEL hash, HSET all live, XADD reset marker. */
  async #republish(): Promise<void> {
    const r = this.#redis!;
    const m = r.multi();
    m.del(this.#keys.records);
    let args: string[] = [];
    for (const [id, l] of this.#live) {
      try {
        l.json ??= JSON.stringify(l.record);
      } catch (err) {
        // Only a change still queued can be unserialisable (it is checked when its pipeline is built).
        this.#live.delete(id);
        this.#log.warn({ id, err: (err as Error).message }, 'sync publisher: record not serialisable, not republished');
        continue;
      }
      args.push(id, l.json);
      if (args.length >= 2000) {
        m.hset(this.#keys.records, ...args);
        args = [];
      }
    }
    if (args.length) m.hset(this.#keys.records, ...args);
    m.xadd(this.#keys.stream, 'MAXLEN', '~', String(this.#o.streamMaxLen), '*', ...encodeReset(randomUUID(), this.#o.epoch, this.#clock.now()));
    const res = await m.exec();
    for (const [err] of res ?? []) if (err) throw err;
    this.#republishes++;
    // Everything queued before now is covered by the rewrite; async waiters are done.
    const q = this.#queue;
    this.#queue = [];
    this.#queued.clear();
    if (this.#o.mode === 'async') for (const p of q) settle(p);
    else {
      // ack waiters still need WAIT: flush them (harmless duplicates)
      this.#queue = q;
      for (const p of q) this.#queued.set(p.id, p);
    }
  }

  /**
   * Publish one record change. Validates, keeps it in memory, queues it for the next
   * pipeline. See the mode option for when the promise resolves. The record must not
   * change afterwards (it is serialised when the pipeline is built). A newer version of a
   * record whose previous change is still queued replaces that change: one stream entry
   * carries the newest version, and both promises settle with it.
   */
  publish(record: SyncRecord): Promise<void> {
    if (this.#state === P.Closing || this.#state === P.Closed || this.#state === P.Idle) {
      return Promise.reject(new SyncError(this.#state === P.Idle ? 'SYNC_NOT_READY' : 'SYNC_CLOSED', `publisher is ${this.#state}`));
    }
    const prob = recordProblem(record);
    if (prob) return Promise.reject(new SyncError('SYNC_BAD_RECORD', prob));
    if (record.epoch > this.#o.epoch) {
      return Promise.reject(new SyncError('SYNC_BAD_RECORD', `record ${record.id} epoch ${record.epoch} is above the writer epoch ${this.#o.epoch}`));
    }
    const cur = this.#live.get(record.id);
    const queued = this.#queued.get(record.id);
    if (queued && isNewer(record, queued.record)) {
      // A newer version of a change not sent yet: it replaces that change in the pipeline.
      queued.record = record;
      this.#live.set(record.id, { record, endedAt: record.ended ? this.#clock.now() : undefined });
      return new Promise<void>((resolve, reject) => queued.waiters.push({ resolve, reject }));
    }
    if (cur && !isNewer(record, cur.record)) {
      return Promise.reject(
        new SyncError('SYNC_BAD_RECORD', `record ${record.id} version ${record.version}@${record.epoch} is not newer than ${cur.record.version}@${cur.record.epoch}`),
      );
    }
    const endedAt = record.ended ? this.#clock.now() : undefined;
    if (this.#state === P.Down) {
      let json: string;
      try {
        json = JSON.stringify(record);
      } catch (err) {
        return Promise.reject(notSerialisable(record, err));
      }
      this.#live.set(record.id, { record, json, endedAt });
      if (this.#o.mode === 'async') return Promise.resolve();
      return Promise.reject(new SyncError('SYNC_NOT_READY', 'local redis unavailable; change kept in memory'));
    }
    this.#live.set(record.id, { record, endedAt });
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { id: record.id, record, ts: this.#clock.now(), waiters: [{ resolve, reject }], prev: cur };
      this.#queue.push(p);
      this.#queued.set(p.id, p);
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#state !== P.Ready || this.#queue.length === 0) return;
    if (this.#inFlight >= this.#maxInFlight) return; // resumed when a batch completes
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(draining = false): void {
    if ((this.#state !== P.Ready && !draining) || this.#queue.length === 0) return;
    const taken = this.#queue.length <= this.#o.maxBatch ? this.#queue : this.#queue.slice(0, this.#o.maxBatch);
    this.#queue = taken === this.#queue ? [] : this.#queue.slice(taken.length);
    const batch: Pending[] = [];
    const jsons: string[] = [];
    for (const p of taken) {
      this.#queued.delete(p.id);
      let json: string;
      try {
        json = JSON.stringify(p.record);
      } catch (err) {
        // Not written: the publisher keeps what it had before this change.
        if (this.#live.get(p.id)?.record === p.record) {
          if (p.prev) this.#live.set(p.id, p.prev);
          else this.#live.delete(p.id);
        }
        settle(p, notSerialisable(p.record, err));
        continue;
      }
      const live = this.#live.get(p.id);
      if (live && live.record === p.record) live.json = json;
      batch.push(p);
      jsons.push(json);
    }
    if (batch.length === 0) return;
    const r = this.#redis!;
    const pl = r.pipeline();
    const h: string[] = [];
    for (let i = 0; i < batch.length; i++) h.push(batch[i]!.id, jsons[i]!);
    // HSET before XADD: any entry a reader sees has its current record in the hash.
    pl.hset(this.#keys.records, ...h);
    const maxLen = String(this.#o.streamMaxLen);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      pl.xadd(this.#keys.stream, 'MAXLEN', '~', maxLen, '*', ...encodePut(p.record, jsons[i]!, this.#o.epoch, p.ts));
    }
    const ack = this.#o.mode === 'ack';
    // WAIT in short slices, re-issued until ackTimeoutMs: each WAIT makes the primary ask the
    // replica for an ACK at once, where one long WAIT can sit until the replica's periodic
    // (1 s) ACK when its GETACK was missed (measured with Redis 7.0: p99 ~1 s otherwise).
    const deadline = this.#clock.now() + this.#o.ackTimeoutMs;
    const slice = Math.max(1, Math.ceil(Math.min(WAIT_SLICE_MS, this.#o.ackTimeoutMs)));
    if (ack) pl.wait(1, slice);
    this.#inFlight++;
    pl.exec()
      .then(async (res) => {
        if (ack && res) {
          let n = Number(res[res.length - 1]![1]);
          while (n < 1 && this.#clock.now() < deadline && this.#redis) {
            n = Number(await this.#redis.wait(1, Math.max(1, Math.ceil(Math.min(slice, deadline - this.#clock.now())))));
          }
          res[res.length - 1]![1] = n;
        }
        const firstErr = res?.find(([e]) => e)?.[0];
        if (firstErr) throw firstErr;
        this.#published += batch.length;
        if (ack) {
          const n = Number(res![res!.length - 1]![1]);
          if (n >= 1) for (const p of batch) settle(p);
          else {
            const e = new SyncError('SYNC_ACK_TIMEOUT', `no replica acknowledged within ${this.#o.ackTimeoutMs} ms`);
            for (const p of batch) settle(p, e);
          }
        } else for (const p of batch) settle(p);
      })
      .catch((err: Error) => {
        this.#lastError = err.message;
        if (ack) {
          const e = new SyncError('SYNC_NOT_READY', `write failed: ${err.message}`, { cause: err });
          for (const p of batch) settle(p, e);
        } else for (const p of batch) settle(p); // kept in memory; republished on reconnect
        this.#log.warn({ err: err.message }, 'sync publisher: batch write failed');
      })
      .finally(() => {
        this.#inFlight--;
        if (this.#inFlight === 0) for (const w of this.#inFlightWaiters.splice(0)) w();
        this.#scheduleFlush();
      });
  }

  #failQueue(err: SyncError): void {
    const q = this.#queue;
    this.#queue = [];
    this.#queued.clear();
    for (const p of q) settle(p, this.#o.mode === 'async' ? undefined : err);
  }

  #schedulePoll(): void {
    if (this.#state === P.Closed || this.#state === P.Closing) return;
    this.#pollTimer = this.#clock.setTimeout(() => void this.#poll(), this.#o.pollMs);
  }

  async #poll(): Promise<void> {
    try {
      if (this.#state === P.Ready || this.#state === P.Resyncing) {
        const info = parseInfo(await this.#redis!.info('replication'));
        let online = 0;
        for (const [k, v] of info) if (/^slave\d+$/.test(k) && v.includes('state=online')) online++;
        this.#replicas = online;
        const up = online > 0;
        if (up !== this.#replicaLinkUp) {
          this.#replicaLinkUp = up;
          this.emit('replicaLink', up);
        }
      }
    } catch {
      /* connection trouble is reported through 'close' */
    }
    this.#schedulePoll();
  }

  #scheduleSweep(): void {
    if (this.#state === P.Closed || this.#state === P.Closing) return;
    const period = Math.max(10, Math.min(1000, this.#o.endedRetentionMs / 2 || 10));
    this.#sweepTimer = this.#clock.setTimeout(() => {
      void this.sweep().finally(() => this.#scheduleSweep());
    }, period);
  }

  /**
   * Drop ended records older than endedRetentionMs: from memory, from the hash, and a
   * 'del' entry for the mirrors. Runs on a timer; callable directly. Returns how many left.
   */
  async sweep(): Promise<number> {
    const now = this.#clock.now();
    const gone: Live[] = [];
    for (const [id, l] of this.#live) {
      if (l.endedAt !== undefined && now - l.endedAt >= this.#o.endedRetentionMs) {
        this.#live.delete(id);
        gone.push(l);
      }
    }
    if (gone.length === 0) return 0;
    for (const l of gone) this.emit('expired', l.record.id);
    if (this.#state === P.Ready) {
      const pl = this.#redis!.pipeline();
      pl.hdel(this.#keys.records, ...gone.map((l) => l.record.id));
      for (const l of gone) {
        pl.xadd(this.#keys.stream, 'MAXLEN', '~', String(this.#o.streamMaxLen), '*', ...encodeDel(l.record.id, l.record.version, this.#o.epoch, now));
      }
      // Failures are repaired by the republish after the next reconnect.
      await pl.exec().catch(() => undefined);
    }
    return gone.length;
  }

  status(): PublisherStatus {
    const reasons: string[] = [];
    if (this.#state !== P.Ready) reasons.push(this.#state === P.Down ? 'redisDown' : this.#state);
    return {
      state: this.#state,
      ready: this.#state === P.Ready,
      reasons,
      epoch: this.#o.epoch,
      mode: this.#o.mode,
      liveRecords: this.#live.size,
      queued: this.#queue.length,
      inFlight: this.#inFlight,
      replicas: this.#replicas,
      replicaLinkUp: this.#replicaLinkUp,
      published: this.#published,
      republishes: this.#republishes,
      lastError: this.#lastError,
    };
  }

  /**
   * Switchover flush: waits until everything queued is written (queue empty, nothing in
   * flight), then WAITs for one replica to acknowledge it. Resolves with the number of
   * replicas that acknowledged (0 when none did within `timeoutMs`); rejects when the
   * publisher is not ready.
   */
  async flush(opts: { timeoutMs?: number } = {}): Promise<{ replicas: number; published: number }> {
    if (this.#state !== P.Ready) throw new SyncError('SYNC_NOT_READY', `publisher is ${this.#state}`);
    const deadline = this.#clock.now() + (opts.timeoutMs ?? this.#o.ackTimeoutMs);
    while (this.#queue.length > 0 || this.#inFlight > 0) {
      if (this.#clock.now() >= deadline) return { replicas: 0, published: this.#published };
      if (this.#queue.length > 0 && this.#inFlight === 0) this.#scheduleFlush();
      await new Promise<void>((res) => {
        if (this.#inFlight === 0 && this.#queue.length === 0) return res();
        if (this.#inFlight > 0) this.#inFlightWaiters.push(res);
        else setImmediate(res);
      });
    }
    const redis = this.#redis;
    if (!redis) throw new SyncError('SYNC_NOT_READY', 'publisher has no connection');
    const published = this.#published;
    let n = 0;
    while (n < 1 && this.#clock.now() < deadline) {
      n = Number(await redis.wait(1, Math.max(1, Math.ceil(Math.min(WAIT_SLICE_MS, deadline - this.#clock.now())))));
    }
    return { replicas: n, published };
  }

  /** Stop accepting, write what is queued (bounded by timeoutMs), disconnect. Idempotent. */
  close(timeoutMs = 2000): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    if (this.#state === P.Closed) return (this.#closePromise = Promise.resolve());
    if (this.#state === P.Idle) {
      this.#transition(P.Closed);
      return (this.#closePromise = Promise.resolve());
    }
    const wasReady = this.#state === P.Ready;
    this.#transition(P.Closing);
    this.#closePromise = (async () => {
      if (wasReady) {
        // Drain: flush the remaining queue directly (state is Closing, so bypass #flush's guard).
        const deadline = Date.now() + timeoutMs;
        while ((this.#queue.length > 0 || this.#inFlight > 0) && Date.now() < deadline) {
          if (this.#queue.length > 0 && this.#inFlight < this.#maxInFlight) {
            this.#flush(true);
          } else await new Promise<void>((res) => this.#inFlightWaiters.push(res));
        }
      }
      this.#shutdown(new SyncError('SYNC_CLOSED', 'publisher closed'));
      try {
        await this.#redis?.quit();
      } catch {
        this.#redis?.disconnect();
      }
    })();
    return this.#closePromise;
  }

  /** Abort: fail what is pending, drop the connection. Idempotent. */
  destroy(err?: Error): void {
    if (this.#state === P.Closed) return;
    if (this.#state !== P.Closing) this.#transition(P.Closing);
    this.#shutdown(err instanceof SyncError ? err : new SyncError('SYNC_CLOSED', err?.message ?? 'publisher destroyed', { cause: err }));
    this.#redis?.disconnect();
    this.#closePromise ??= Promise.resolve();
  }

  #shutdown(err: SyncError): void {
    this.#clock.clearTimeout(this.#pollTimer);
    this.#clock.clearTimeout(this.#sweepTimer);
    const q = this.#queue;
    this.#queue = [];
    this.#queued.clear();
    for (const p of q) settle(p, err);
    if (this.#state !== P.Closed) this.#transition(P.Closed);
  }
}

function notSerialisable(record: SyncRecord, err: unknown): SyncError {
  return new SyncError('SYNC_BAD_RECORD', `record ${record.id} is not serialisable: ${(err as Error).message}`);
}

function positive(v: number | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new SyncError('SYNC_BAD_OPTIONS', `${name} must be a positive number`);
  return v;
}

function nonNegative(v: number | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0) throw new SyncError('SYNC_BAD_OPTIONS', `${name} must be a non-negative number`);
  return v;
}
