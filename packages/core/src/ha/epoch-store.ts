/**
 * Where the epoch survives restarts. A takeover persists the new epoch BEFORE acting,
 * so a node that crashes mid-takeover never comes back with an epoch lower than one it
 * may already have announced.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HaError } from './errors.js';

export interface EpochStore {
  /** The persisted epoch; 0 when none was ever saved. */
  load(): Promise<number>;
  save(epoch: number): Promise<void>;
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new HaError({ code: 'ERR_HA_EPOCH_STORE', message: `invalid epoch ${String(epoch)}` });
  }
}

/**
 * File-backed store: writes `{"epoch":N}` to a temporary file in the same directory,
 * fsyncs it, renames it over the target (atomic on POSIX), then fsyncs the directory so
 * the rename itself is durable. Saves are serialized.
 */
export class FileEpochStore implements EpochStore {
  readonly path: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(opts: { path: string }) {
    this.path = opts.path;
  }

  async load(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new HaError({ code: 'ERR_HA_EPOCH_STORE', message: `cannot read epoch file ${this.path}: ${(err as Error).message}`, cause: err });
    }
    let epoch: unknown;
    try {
      epoch = (JSON.parse(text) as { epoch?: unknown }).epoch;
    } catch (err) {
      throw new HaError({ code: 'ERR_HA_EPOCH_STORE', message: `epoch file ${this.path} is not valid JSON`, cause: err });
    }
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
      throw new HaError({ code: 'ERR_HA_EPOCH_STORE', message: `epoch file ${this.path} holds no valid epoch` });
    }
    return epoch;
  }

  save(epoch: number): Promise<void> {
    const run = this.chain.then(() => this.write(epoch));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(epoch: number): Promise<void> {
    checkEpoch(epoch);
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(JSON.stringify({ epoch }) + '\n', 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      const dh = await open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new HaError({ code: 'ERR_HA_EPOCH_STORE', message: `cannot save epoch ${epoch} to ${this.path}: ${(err as Error).message}`, cause: err });
    }
  }
}

/** In-memory store (tests, single-host demos). `failNext` makes the next save fail. */
export class MemoryEpochStore implements EpochStore {
  epoch: number;
  readonly saves: number[] = [];
  failNext = false;

  constructor(opts: { epoch?: number } = {}) {
    this.epoch = opts.epoch ?? 0;
  }

  async load(): Promise<number> {
    return this.epoch;
  }

  async save(epoch: number): Promise<void> {
    checkEpoch(epoch);
    if (this.failNext) {
      this.failNext = false;
      throw new HaError({ code: 'ERR_HA_EPOCH_STORE', message: 'injected save failure' });
    }
    this.epoch = epoch;
    this.saves.push(epoch);
  }
}
