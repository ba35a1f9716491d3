// Cleanup registry for everything the harness creates: processes, network
// namespaces, temporary directories. Entries are undone in reverse order of
// registration, asynchronously from afterAll (`cleanupAll()`), and
// synchronously from the process 'exit' / SIGINT / SIGTERM handlers so that a
// killed test run leaves nothing behind either.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CleanupEntry {
  /** Human readable, shown when an entry fails. */
  readonly label: string;
  /** Graceful undo, used by cleanupAll(). Falls back to `sync` when absent. */
  readonly async?: () => Promise<void>;
  /** Last-resort undo that must not block for long; used on exit and signals. */
  readonly sync: () => void;
}

const entries = new Map<number, CleanupEntry>();
let nextId = 1;
let handlersInstalled = false;

function runSyncAll(): void {
  const list = [...entries.entries()].reverse();
  entries.clear();
  for (const [, entry] of list) {
    try {
      entry.sync();
    } catch {
      // Best effort on the way out: keep going with the rest.
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', runSyncAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runSyncAll();
      // Re-raise with the default disposition so the exit status is honest.
      process.kill(process.pid, signal);
    });
  }
}

/** Registers an entry; returns a function that unregisters it (call it once undone). */
export function registerCleanup(entry: CleanupEntry): () => void {
  installHandlers();
  const id = nextId++;
  entries.set(id, entry);
  return () => {
    entries.delete(id);
  };
}

/** Undoes everything still registered, newest first. Errors are collected, not thrown one by one. */
export async function cleanupAll(): Promise<void> {
  const list = [...entries.entries()].reverse();
  const errors: string[] = [];
  for (const [id, entry] of list) {
    entries.delete(id);
    try {
      if (entry.async) await entry.async();
      else entry.sync();
    } catch (err) {
      errors.push(`${entry.label}: ${(err as Error).message}`);
      try {
        entry.sync();
      } catch {
        // already reported
      }
    }
  }
  if (errors.length > 0) throw new Error(`cleanup failed:\n${errors.join('\n')}`);
}

export function pendingCleanups(): string[] {
  return [...entries.values()].map((e) => e.label);
}

/** True when a process with this pid exists (EPERM counts as existing). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Synchronous `ip` call that never throws; returns stdout or '' on failure. */
export function ipSync(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    return '';
  }
}

const TEMP_RE = /^dsip-(?:sipp|redis)-(\d+)-/;
let tempSweepDone = false;

/** A fresh temporary directory `dsip-<kind>-<pid>-XXXXXX` (the pid lets a later run sweep it). */
export function makeTempDir(kind: 'sipp' | 'redis'): string {
  if (!tempSweepDone) {
    tempSweepDone = true;
    sweepStaleTempDirs();
  }
  return mkdtempSync(join(tmpdir(), `dsip-${kind}-${process.pid}-`));
}

/** Removes harness temp dirs whose creator pid is gone (runs killed with SIGKILL). */
export function sweepStaleTempDirs(): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(tmpdir())) {
    const m = TEMP_RE.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
