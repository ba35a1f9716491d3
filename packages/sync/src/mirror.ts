import type { Redis } from 'ioredis';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { compareIds, decodeEntry, decodeRecord, DecodeError, keysFor, type Keys, type SyncRecord } from './codec.js';
import { SyncError } from './errors.js';
import { silentLogger, TypedEmitter, type SyncLogger } from './events.js';
import { isNewer } from './publisher.js';
import { addressProblem, connect, parseFlat, parseInfo, type RedisAddress } from './redis-conn.js';

/** Mirror states. */
export enum MirrorState {
  Idle = 'idle',
  /** Reading the snapshot (current-record hash + stream position) from the local replica. */
  Loading = 'loading',
  /** Following the stream with XREAD BLOCK. */
  Tailing = 'tailing',
  Closed = 'closed',
}

const M = MirrorState;
const ALLOWED: Record<MirrorState, readonly MirrorState[]> = {
  [M.Idle]: [M.Loading, M.Closed],
  [M.Loading]: [M.Tailing, M.Closed],
  [M.Tailing]: [M.Loading, M.Closed],
  [M.Closed]: [],
};

export interface SyncMirrorOptions {
  /** The local Redis (a replica of the peer's). */
  redis: RedisAddress;
  /** The peer's Redis (the primary) on the sync network; used only to measure lag in entries. */
  peer?: RedisAddress;
  keyPrefix?: string;
  /** Readiness/lag poll period. Default 100 ms. */
  pollMs?: number;
  /** Caught up means at most this many entries and this many ms behind. Defaults 1000 / 1000. */
  readyMaxLagEntries?: number;
  readyMaxLagMs?: number;
  /** XREAD COUNT and BLOCK. Defaults 1000 / 500 ms. */
  readCount?: number;
  blockMs?: number;
  /** start() stops waiting for the first snapshot after this long. Default 5000 ms. */
  startWaitMs?: number;
  /** Runs on every (re)connect of the local Redis, e.g. to (re)assert REPLICAOF peer after it restarted. */
  onConnect?: (redis: Redis) => Promise<unknown>;
  clock?: Clock;
  logger?: SyncLogger;
}

export interface MirrorStatus {
  state: MirrorState;
  ready: boolean;
  /** Why not ready: notStarted, redisDown, notReplica, linkDown, initialSync, loading, lagging, peerUnreachable. */
  reasons: string[];
  lagEntries: number;
  lagMs: number;
  linkUp: boolean;
  initialSyncDone: boolean;
  highestEpoch: number;
  records: number;
  applied: number;
  skipped: number;
  staleIgnored: number;
  snapshotLoads: number;
  lastEntryId: string;
  /** publish → applied delay of the last applied entry (same clock on both ends in tests). */
  lastApplyLagMs: number;
}

export interface MirrorEvents {
  [k: string]: unknown[];
  applied: [record: SyncRecord, info: { entryId: string; lagMs: number; fromSnapshot: boolean }];
  removed: [id: string];
  skipped: [entryId: string, reason: string];
  ready: [];
  notReady: [reasons: string[]];
  snapshot: [info: { records: number; lastId: string }];
}

/**
 * On the passive node: a warm in-memory map id → record, loaded from the local replica's
 * hash and kept current by tailing the change stream. Never throws on bad entries: they
 * are logged and skipped.
 */
export class SyncMirror extends TypedEmitter<MirrorEvents> {
  readonly #addr: RedisAddress;
  readonly #peerAddr?: RedisAddress;
  readonly #keys: Keys;
  readonly #clock: Clock;
  readonly #log: SyncLogger;
  readonly #pollMs: number;
  readonly #maxLagEntries: number;
  readonly #maxLagMs: number;
  readonly #readCount: number;
  readonly #blockMs: number;
  readonly #startWaitMs: number;
  readonly #onConnect?: (redis: Redis) => Promise<unknown>;
  #state = M.Idle;
  #reader?: Redis;
  #admin?: Redis;
  #peer?: Redis;
  readonly #map = new Map<string, SyncRecord>();
  #lastId = '0-0';
  #index = 0; // entries-added position of #lastId
  #highestEpoch = 0;
  #lastTs = 0;
  #lastApplyLagMs = 0;
  #snapshotAt = 0;
  #reloadWanted = false;
  #replid?: string;
  #snapshotReplid?: string;
  // from the last poll
  #localUp = false;
  #role = '';
  #linkUp = false;
  #syncInProgress = true;
  #snapshotLoaded = false;
  #targetAdded?: number;
  #peerOk = true;
  #ready = false;
  #counts = { applied: 0, skipped: 0, stale: 0, loads: 0 };
  #pollTimer?: TimerHandle;
  #loop?: Promise<void>;

  constructor(opts: SyncMirrorOptions) {
    const log = opts.logger ?? silentLogger;
    super(() => log);
    const p = addressProblem(opts?.redis, 'redis') ?? (opts.peer ? addressProblem(opts.peer, 'peer') : undefined);
    if (p) throw new SyncError('SYNC_BAD_OPTIONS', p);
    this.#addr = opts.redis;
    this.#peerAddr = opts.peer;
    this.#keys = keysFor(opts.keyPrefix ?? 'dualsip');
    this.#clock = opts.clock ?? systemClock;
    this.#log = log;
    this.#pollMs = opts.pollMs ?? 100;
    this.#maxLagEntries = opts.readyMaxLagEntries ?? 1000;
    this.#maxLagMs = opts.readyMaxLagMs ?? 1000;
    this.#readCount = opts.readCount ?? 1000;
    this.#blockMs = opts.blockMs ?? 500;
    this.#startWaitMs = opts.startWaitMs ?? 5000;
    this.#onConnect = opts.onConnect;
  }

  get state(): MirrorState {
    return this.#state;
  }

  get(id: string): SyncRecord | undefined {
    return this.#map.get(id);
  }

  all(): Map<string, SyncRecord> {
    return new Map(this.#map);
  }

  get size(): number {
    return this.#map.size;
  }

  #transition(to: MirrorState): void {
    const from = this.#state;
    if (from === to) return;
    if (!ALLOWED[from].includes(to)) throw new SyncError('SYNC_ILLEGAL_TRANSITION', `mirror: ${from} -> ${to} is not allowed`);
    this.#state = to;
  }

  /**
   * Connect, then load the snapshot and tail in the background. Resolves once the first
   * snapshot is loaded, or after startWaitMs if the local Redis is not reachable (status() tells).
   */
  async start(): Promise<void> {
    if (this.#state !== M.Idle) throw new SyncError('SYNC_ILLEGAL_TRANSITION', `mirror.start() in state ${this.#state}`);
    this.#reader = connect(this.#addr, { name: 'dualsip-sync-mirror-reader' });
    this.#admin = connect(this.#addr, { name: 'dualsip-sync-mirror-admin' });
    const hook = this.#onConnect;
    if (hook) {
      const admin = this.#admin;
      admin.on('ready', () => {
        hook(admin).catch((err: Error) => this.#log.warn({ err: err.message }, 'sync mirror: onConnect failed'));
      });
    }
    if (this.#peerAddr) this.#peer = connect(this.#peerAddr, { name: 'dualsip-sync-mirror-peer' });
    this.#transition(M.Loading);
    const first = new Promise<void>((resolve) => {
      const done = () => {
        this.off('snapshot', done);
        resolve();
      };
      this.on('snapshot', done);
      this.#firstDone = done;
    });
    this.#loop = this.#run();
    await this.#poll();
    const t = setTimeout(() => this.#firstDone?.(), this.#startWaitMs);
    await first;
    clearTimeout(t);
  }

  #firstDone?: () => void;

  #reloadWhy = 'start';
  #requestReload(why: string): void {
    this.#reloadWanted = true;
    this.#reloadWhy = why;
  }

  #isClosed(): boolean {
    return this.#state === M.Closed;
  }

  async #run(): Promise<void> {
    while (!this.#isClosed()) {
      try {
        if (this.#reloadWanted && this.#state === M.Tailing) {
          this.#reloadWanted = false;
          this.#transition(M.Loading);
        }
        if (this.#state === M.Loading) {
          await this.#loadSnapshot();
          if (this.#isClosed()) break;
          this.#transition(M.Tailing);
          continue;
        }
        // XINFO then XREAD in one pipeline: Redis runs them back to back, so entries-added and
        // length describe the stream exactly where the read starts. More unread entries than
        // the stream holds means trimming took some we never saw: reload the snapshot.
        const res = await this.#reader!.pipeline()
          .call('XINFO', 'STREAM', this.#keys.stream)
          .xread('COUNT', this.#readCount, 'BLOCK', this.#blockMs, 'STREAMS', this.#keys.stream, this.#lastId)
          .exec();
        if (!res) continue;
        const [[xerr, xinfo], [rerr, rep]] = res;
        if (rerr) throw rerr;
        if (xerr && /no such key/i.test(xerr.message) && this.#lastId !== '0-0') {
          this.#log.warn({ lastId: this.#lastId }, 'sync mirror: stream is gone; reloading');
          this.#requestReload('streamGone');
          continue;
        }
        if (!xerr) {
          const f = parseFlat(xinfo);
          const added = Number(f.get('entries-added') ?? 0);
          const length = Number(f.get('length') ?? 0);
          const lastGen = String(f.get('last-generated-id') ?? '0-0');
          if (compareIds(lastGen, this.#lastId) < 0) {
            this.#log.warn({ lastGen, lastId: this.#lastId }, 'sync mirror: stream was recreated; reloading');
            this.#requestReload('streamRecreated');
            continue;
          }
          if (added - this.#index > length) {
            this.#log.warn({ unread: added - this.#index, length }, 'sync mirror: fell behind the stream trimming; reloading');
            this.#requestReload('trimmedUnread');
            continue;
          }
        }
        const reply = rep as [string, [string, string[]][]][] | null;
        if (this.#isClosed()) break;
        if (reply) for (const [, entries] of reply) for (const [id, fields] of entries) this.#applyEntry(id, fields);
      } catch (err) {
        if (this.#isClosed()) break;
        this.#log.debug({ err: (err as Error).message }, 'sync mirror: read failed, retrying');
        await sleep(50);
      }
    }
  }

  async #loadSnapshot(): Promise<void> {
    // Atomic on the replica: stream position and the hash it corresponds to (or newer).
    const res = await this.#admin!.multi()
      .call('XINFO', 'STREAM', this.#keys.stream)
      .hgetall(this.#keys.records)
      .info('replication')
      .exec();
    if (!res) throw new Error('snapshot transaction aborted');
    const [[xerr, xinfo], [herr, hash], [ierr, info]] = res as [[Error | null, unknown], [Error | null, Record<string, string>], [Error | null, string]];
    if (herr) throw herr;
    if (ierr) throw ierr;
    const ri = parseInfo(info);
    // Which dataset this snapshot belongs to; a later full resync changes master_replid.
    this.#snapshotReplid = ri.get('master_sync_in_progress') === '1' ? undefined : ri.get('master_replid');
    let lastId = '0-0';
    let added = 0;
    if (!xerr) {
      const f = parseFlat(xinfo);
      lastId = String(f.get('last-generated-id') ?? '0-0');
      added = Number(f.get('entries-added') ?? 0);
    } else if (!/no such key/i.test(xerr.message)) throw xerr;
    const next = new Map<string, SyncRecord>();
    for (const [id, json] of Object.entries(hash)) {
      const r = decodeRecord(json);
      if (!r || r.id !== id) {
        this.#skip(`hash:${id}`, 'corrupt record in snapshot');
        continue;
      }
      next.set(id, r);
    }
    // The snapshot is authoritative: what is not in it is gone, what differs is applied.
    for (const id of [...this.#map.keys()]) {
      if (!next.has(id)) {
        this.#map.delete(id);
        this.emit('removed', id);
      }
    }
    for (const [id, r] of next) {
      const cur = this.#map.get(id);
      this.#map.set(id, r);
      if (r.epoch > this.#highestEpoch) this.#highestEpoch = r.epoch;
      if (!cur || cur.version !== r.version || cur.epoch !== r.epoch) {
        this.#counts.applied++;
        this.emit('applied', r, { entryId: lastId, lagMs: 0, fromSnapshot: true });
      }
    }
    this.#lastId = lastId;
    this.#index = added;
    this.#snapshotAt = this.#clock.now();
    this.#lastTs = 0;
    this.#snapshotLoaded = true;
    this.#counts.loads++;
    this.#log.info({ records: next.size, lastId, why: this.#reloadWhy }, 'sync mirror: snapshot loaded');
    this.emit('snapshot', { records: next.size, lastId });
  }

  #skip(entryId: string, reason: string): void {
    this.#counts.skipped++;
    this.#log.warn({ entryId, reason }, 'sync mirror: entry skipped');
    this.emit('skipped', entryId, reason);
  }

  #applyEntry(entryId: string, fields: unknown): void {
    this.#lastId = entryId;
    this.#index++;
    let e;
    try {
      e = decodeEntry(fields);
    } catch (err) {
      this.#skip(entryId, err instanceof DecodeError ? err.reason : 'undecodable entry');
      return;
    }
    if (e.epoch < this.#highestEpoch) {
      this.#skip(entryId, `staleEpoch ${e.epoch} < ${this.#highestEpoch}`);
      return;
    }
    this.#highestEpoch = e.epoch;
    const now = this.#clock.now();
    this.#lastTs = e.ts;
    this.#lastApplyLagMs = now - e.ts;
    if (e.kind === 'put') {
      const cur = this.#map.get(e.record.id);
      if (cur && !isNewer(e.record, cur)) {
        this.#counts.stale++;
        return;
      }
      this.#map.set(e.record.id, e.record);
      this.#counts.applied++;
      this.emit('applied', e.record, { entryId, lagMs: this.#lastApplyLagMs, fromSnapshot: false });
    } else if (e.kind === 'del') {
      const cur = this.#map.get(e.id);
      if (cur && (cur.epoch < e.epoch || cur.version <= e.version)) {
        this.#map.delete(e.id);
        this.emit('removed', e.id);
      }
    } else {
      // The publisher rewrote the whole hash: reload to drop anything it no longer holds.
      this.#requestReload('publisherReset');
    }
  }

  #schedulePoll(): void {
    if (this.#state === M.Closed) return;
    this.#clock.clearTimeout(this.#pollTimer);
    this.#pollTimer = this.#clock.setTimeout(() => void this.#poll(), this.#pollMs);
  }

  /** One readiness/lag measurement. */
  async #poll(): Promise<void> {
    if (this.#state === M.Closed) return;
    try {
      const [info, xinfo] = await Promise.all([
        this.#admin!.info('replication'),
        this.#admin!.call('XINFO', 'STREAM', this.#keys.stream).catch((e: Error) => (/no such key/i.test(e.message) ? null : Promise.reject(e))),
      ]);
      this.#localUp = true;
      const i = parseInfo(info);
      this.#role = i.get('role') ?? '';
      this.#linkUp = this.#role === 'slave' && i.get('master_link_status') === 'up';
      this.#syncInProgress = i.get('master_sync_in_progress') !== '0';
      const replid = i.get('master_replid');
      const f = xinfo ? parseFlat(xinfo) : undefined;
      const localAdded = f ? Number(f.get('entries-added') ?? 0) : 0;
      if (this.#state === M.Tailing && !this.#syncInProgress) {
        // A full resync (new replication id): the only safe answer is a fresh snapshot. The read
        // loop picks the request up within blockMs.
        if (this.#linkUp && replid !== this.#snapshotReplid && !this.#reloadWanted) this.#requestReload('fullResync');
      }
      if (!this.#syncInProgress) this.#replid = replid;
      this.#targetAdded = localAdded;
    } catch {
      this.#localUp = false;
      this.#linkUp = false;
    }
    if (this.#peer) {
      try {
        const px = await this.#peer.call('XINFO', 'STREAM', this.#keys.stream).catch((e: Error) => (/no such key/i.test(e.message) ? null : Promise.reject(e)));
        this.#peerOk = true;
        this.#targetAdded = px ? Number(parseFlat(px).get('entries-added') ?? 0) : 0;
      } catch {
        this.#peerOk = false;
      }
    }
    const s = this.status();
    if (s.ready !== this.#ready) {
      this.#ready = s.ready;
      if (s.ready) this.emit('ready');
      else this.emit('notReady', s.reasons);
    }
    this.#schedulePoll();
  }

  status(): MirrorStatus {
    const reasons: string[] = [];
    const lagEntries = Math.max(0, (this.#targetAdded ?? this.#index) - this.#index);
    const now = this.#clock.now();
    const lagMs = lagEntries === 0 ? 0 : Math.max(0, now - (this.#lastTs || this.#snapshotAt || now));
    const initialSyncDone =
      this.#linkUp && !this.#syncInProgress && this.#snapshotLoaded && this.#replid !== undefined && this.#snapshotReplid === this.#replid;
    if (this.#state === M.Idle || this.#state === M.Closed) reasons.push('notStarted');
    else {
      if (!this.#localUp) reasons.push('redisDown');
      else if (this.#role !== 'slave') reasons.push('notReplica');
      else if (!this.#linkUp) reasons.push('linkDown');
      if (this.#localUp && this.#role === 'slave' && !initialSyncDone) reasons.push('initialSync');
      if (this.#state === M.Loading) reasons.push('loading');
      if (lagEntries > this.#maxLagEntries || lagMs > this.#maxLagMs) reasons.push('lagging');
      if (this.#peer && !this.#peerOk) reasons.push('peerUnreachable');
    }
    return {
      state: this.#state,
      ready: reasons.length === 0,
      reasons,
      lagEntries,
      lagMs,
      linkUp: this.#linkUp,
      initialSyncDone,
      highestEpoch: this.#highestEpoch,
      records: this.#map.size,
      applied: this.#counts.applied,
      skipped: this.#counts.skipped,
      staleIgnored: this.#counts.stale,
      snapshotLoads: this.#counts.loads,
      lastEntryId: this.#lastId,
      lastApplyLagMs: this.#lastApplyLagMs,
    };
  }

  /** Measure now (not at the next poll) and report. */
  async refresh(): Promise<MirrorStatus> {
    await this.#poll();
    return this.status();
  }

  /**
   * Resolve once the mirror has everything the primary has written so far (lagEntries 0
   * on a fresh measurement) and is tailing; reject SYNC_TIMEOUT after timeoutMs.
   */
  async waitCaughtUp(timeoutMs = 5000): Promise<MirrorStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.refresh();
      if (s.state === M.Tailing && s.lagEntries === 0 && this.#targetAdded !== undefined && !this.#reloadWanted) return s;
      if (Date.now() > deadline) throw new SyncError('SYNC_TIMEOUT', `mirror not caught up after ${timeoutMs} ms: ${JSON.stringify(s)}`);
      await sleep(20);
    }
  }

  /** Resolve when ready; reject SYNC_TIMEOUT after timeoutMs. */
  async waitReady(timeoutMs = 5000): Promise<MirrorStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.refresh();
      if (s.ready) return s;
      if (Date.now() > deadline) throw new SyncError('SYNC_TIMEOUT', `mirror not ready after ${timeoutMs} ms: ${s.reasons.join(',')}`);
      await sleep(20);
    }
  }

  /** Stop tailing and disconnect; the in-memory map stays readable. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === M.Closed) return;
    this.#transition(M.Closed);
    this.#clock.clearTimeout(this.#pollTimer);
    this.#firstDone?.();
    this.#reader?.disconnect();
    this.#admin?.disconnect();
    this.#peer?.disconnect();
    await this.#loop?.catch(() => undefined);
  }

  /** Same as close(), without waiting for the read loop; `err` is logged. Idempotent. */
  destroy(err?: Error): void {
    if (this.#state === M.Closed) return;
    if (err) this.#log.warn({ err: err.message }, 'sync mirror destroyed');
    void this.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
