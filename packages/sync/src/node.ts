import type { Redis } from 'ioredis';
import type { Clock } from './clock.js';
import type { SyncRecord } from './codec.js';
import { SyncError } from './errors.js';
import { silentLogger, TypedEmitter, type SyncLogger } from './events.js';
import { SyncMirror, type MirrorStatus, type SyncMirrorOptions } from './mirror.js';
import { SyncPublisher, type PublisherStatus, type SyncMode } from './publisher.js';
import { addressProblem, type RedisAddress } from './redis-conn.js';

/** Role of a node's sync layer. */
export enum SyncRole {
  Idle = 'idle',
  /** A role switch is under way. */
  Switching = 'switching',
  Primary = 'primary',
  Replica = 'replica',
  Closed = 'closed',
}

const R = SyncRole;
const ALLOWED: Record<SyncRole, readonly SyncRole[]> = {
  [R.Idle]: [R.Switching, R.Closed],
  [R.Switching]: [R.Primary, R.Replica, R.Idle, R.Closed],
  [R.Primary]: [R.Switching, R.Closed],
  [R.Replica]: [R.Switching, R.Closed],
  [R.Closed]: [],
};

export interface SyncNodeOptions {
  /** This node's own redis-server, bound to its sync address. */
  redis: RedisAddress;
  /** The peer's redis-server on the sync network (default for becomeReplica()). Its password/username
   *  become masterauth/masteruser; when omitted, the local credentials are used. */
  peer?: RedisAddress;
  mode?: SyncMode;
  ackTimeoutMs?: number;
  streamMaxLen?: number;
  endedRetentionMs?: number;
  keyPrefix?: string;
  /** Extra mirror tuning (poll period, readiness thresholds). */
  mirror?: Pick<SyncMirrorOptions, 'pollMs' | 'readyMaxLagEntries' | 'readyMaxLagMs' | 'readCount' | 'blockMs' | 'startWaitMs'>;
  clock?: Clock;
  logger?: SyncLogger;
}

export interface SyncNodeStatus {
  role: SyncRole;
  epoch: number;
  ready: boolean;
  reasons: string[];
  publisher?: PublisherStatus;
  mirror?: MirrorStatus;
}

export interface SyncNodeEvents {
  [k: string]: unknown[];
  role: [role: SyncRole, epoch: number];
  ready: [];
  notReady: [reasons: string[]];
  applied: [record: SyncRecord];
  removed: [id: string];
  skipped: [entryId: string, reason: string];
  replicaLink: [up: boolean];
}

/**
 * The facade the core uses, one per node. Primary: publish() every record change.
 * Replica: `mirror` (and the 'applied'/'removed' events) holds every call of the peer.
 */
export class SyncNode extends TypedEmitter<SyncNodeEvents> {
  readonly #o: SyncNodeOptions;
  readonly #log: SyncLogger;
  #role = R.Idle;
  #epoch = 0;
  #publisher?: SyncPublisher;
  #mirror?: SyncMirror;
  #lastRecords: SyncRecord[] = [];

  constructor(opts: SyncNodeOptions) {
    const log = opts?.logger ?? silentLogger;
    super(() => log);
    const p = addressProblem(opts?.redis, 'redis') ?? (opts.peer ? addressProblem(opts.peer, 'peer') : undefined);
    if (p) throw new SyncError('SYNC_BAD_OPTIONS', p);
    if (opts.mode !== undefined && opts.mode !== 'async' && opts.mode !== 'ack') {
      throw new SyncError('SYNC_BAD_OPTIONS', `mode must be 'async' or 'ack', got ${String(opts.mode)}`);
    }
    this.#o = opts;
    this.#log = log;
  }

  get role(): SyncRole {
    return this.#role;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** The mirror while this node is a replica (undefined otherwise). */
  get mirror(): SyncMirror | undefined {
    return this.#mirror;
  }

  get publisher(): SyncPublisher | undefined {
    return this.#publisher;
  }

  #transition(to: SyncRole): void {
    const from = this.#role;
    if (!ALLOWED[from].includes(to)) throw new SyncError('SYNC_ILLEGAL_TRANSITION', `sync node: ${from} -> ${to} is not allowed`);
    this.#role = to;
    if (to === R.Primary || to === R.Replica) this.emit('role', to, this.#epoch);
  }

  /** Records known right now: the publisher's live set (primary) or the mirror (replica). */
  records(): SyncRecord[] {
    if (this.#publisher) return this.#publisher.records();
    if (this.#mirror) return [...this.#mirror.all().values()];
    return this.#lastRecords;
  }

  /**
   * Promote the local Redis (REPLICAOF NO ONE, reasserted on every reconnect) and start
   * publishing at `epoch`. The mirror's records (if this node was a replica) seed the
   * publisher so nothing is lost. Resolves when the local Redis has the full state, or
   * after `waitMs` while it is unreachable (publish() works meanwhile; status() says why).
   */
  async becomePrimary(epoch: number, opts: { waitMs?: number } = {}): Promise<void> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new SyncError('SYNC_BAD_OPTIONS', 'epoch must be a non-negative integer');
    if (epoch < this.#epoch) throw new SyncError('SYNC_BAD_OPTIONS', `epoch ${epoch} is below the current epoch ${this.#epoch}`);
    this.#transition(R.Switching);
    try {
      const seed = await this.#stopAll();
      this.#epoch = epoch;
      const pub = new SyncPublisher({
        redis: this.#o.redis,
        epoch,
        mode: this.#o.mode,
        ackTimeoutMs: this.#o.ackTimeoutMs,
        streamMaxLen: this.#o.streamMaxLen,
        endedRetentionMs: this.#o.endedRetentionMs,
        keyPrefix: this.#o.keyPrefix,
        seed,
        clock: this.#o.clock,
        logger: this.#log,
        onConnect: (r: Redis) => r.call('REPLICAOF', 'NO', 'ONE'),
      });
      pub.on('ready', () => this.emit('ready'));
      pub.on('notReady', (reason) => this.emit('notReady', [reason]));
      pub.on('replicaLink', (up) => this.emit('replicaLink', up));
      this.#publisher = pub;
      const started = pub.start();
      await Promise.race([started, sleep(opts.waitMs ?? 3000)]);
      this.#transition(R.Primary);
    } catch (err) {
      this.#log.error({ err }, 'sync node: becomePrimary failed');
      if (this.#role === R.Switching) this.#transition(R.Idle);
      throw err;
    }
  }

  /**
   * Become a replica of `peer` (default: options.peer): stop publishing, REPLICAOF peer
   * with masterauth/masteruser, and start the mirror (snapshot, then tail). Resolves once
   * the first snapshot is loaded (or after the mirror's startWaitMs).
   */
  async becomeReplica(peer?: RedisAddress): Promise<void> {
    const target = peer ?? this.#o.peer;
    const p = addressProblem(target, 'peer');
    if (p) throw new SyncError('SYNC_BAD_OPTIONS', p);
    this.#transition(R.Switching);
    try {
      await this.#stopAll();
      const t = target!;
      const password = t.password ?? this.#o.redis.password;
      const username = t.username ?? this.#o.redis.username;
      const assert = async (r: Redis) => {
        if (username !== undefined) await r.call('CONFIG', 'SET', 'masteruser', username);
        if (password !== undefined) await r.call('CONFIG', 'SET', 'masterauth', password);
        const info = await r.info('replication');
        // Re-issuing REPLICAOF for the same master would force a full resync: only do it when needed.
        if (!info.includes(`master_host:${t.host}\r`) || !info.includes(`master_port:${t.port}\r`)) {
          await r.call('REPLICAOF', t.host, String(t.port));
        }
      };
      const m = new SyncMirror({
        ...this.#o.mirror,
        redis: this.#o.redis,
        peer: { ...t, password, username },
        keyPrefix: this.#o.keyPrefix,
        clock: this.#o.clock,
        logger: this.#log,
        onConnect: assert,
      });
      m.on('applied', (r) => this.emit('applied', r));
      m.on('removed', (id) => this.emit('removed', id));
      m.on('skipped', (id, reason) => this.emit('skipped', id, reason));
      m.on('ready', () => this.emit('ready'));
      m.on('notReady', (reasons) => this.emit('notReady', reasons));
      this.#mirror = m;
      await m.start();
      this.#transition(R.Replica);
    } catch (err) {
      this.#log.error({ err }, 'sync node: becomeReplica failed');
      if (this.#role === R.Switching) this.#transition(R.Idle);
      throw err;
    }
  }

  /** Stop whichever side runs; return the records it held (seed for the next role). */
  async #stopAll(): Promise<SyncRecord[]> {
    let seed = this.#lastRecords;
    if (this.#publisher) {
      seed = this.#publisher.records();
      await this.#publisher.close();
      this.#publisher = undefined;
    }
    if (this.#mirror) {
      seed = [...this.#mirror.all().values()];
      await this.#mirror.close();
      this.#mirror = undefined;
    }
    this.#lastRecords = seed;
    return seed;
  }

  /** Publish one record change (primary only). Resolves per the mode; see SyncPublisher.publish. */
  publish(record: SyncRecord): Promise<void> {
    if (this.#role !== R.Primary || !this.#publisher) {
      return Promise.reject(new SyncError('SYNC_NOT_PRIMARY', `publish() while ${this.#role}`));
    }
    return this.#publisher.publish(record);
  }

  /** Primary only: write everything queued and WAIT for the replica (see SyncPublisher.flush). */
  flush(opts: { timeoutMs?: number } = {}): Promise<{ replicas: number; published: number }> {
    if (this.#role !== R.Primary || !this.#publisher) {
      return Promise.reject(new SyncError('SYNC_NOT_PRIMARY', `flush() while ${this.#role}`));
    }
    return this.#publisher.flush(opts);
  }

  status(): SyncNodeStatus {
    const publisher = this.#publisher?.status();
    const mirror = this.#mirror?.status();
    const reasons = publisher?.reasons ?? mirror?.reasons ?? [this.#role];
    return { role: this.#role, epoch: this.#epoch, ready: reasons.length === 0, reasons, publisher, mirror };
  }

  /** Drain the publisher / stop the mirror, disconnect. Idempotent. */
  async close(): Promise<void> {
    if (this.#role === R.Closed) return;
    this.#transition(R.Closed);
    await this.#stopAll();
  }

  /** Abort without draining. Idempotent. */
  destroy(err?: Error): void {
    if (this.#role === R.Closed) return;
    this.#transition(R.Closed);
    this.#publisher?.destroy(err);
    this.#mirror?.destroy(err);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
