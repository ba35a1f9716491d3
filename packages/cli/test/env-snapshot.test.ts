import { describe, expect, it } from 'vitest';
import { snapshotProcessEnv } from '../src/env-snapshot.js';

describe('snapshotProcessEnv', () => {
  it('replaces env with a plain object holding the same variables, still readable and writable', () => {
    const env: NodeJS.ProcessEnv = { A: '1', DRACHTIO_PRESERVE_HEADER_NAMES: 'Foo,Bar' };
    const proc = { env };
    const copy = snapshotProcessEnv(proc);
    expect(proc.env).toBe(copy);
    expect(copy).not.toBe(env);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(copy).toEqual({ A: '1', DRACHTIO_PRESERVE_HEADER_NAMES: 'Foo,Bar' });
    copy['B'] = '2';
    expect(proc.env['B']).toBe('2');
    expect(env['B']).toBeUndefined();
  });

  it('copies the real process environment', () => {
    const proc = { env: process.env };
    const copy = snapshotProcessEnv(proc);
    expect(Object.keys(copy).sort()).toEqual(Object.keys(process.env).sort());
    expect(copy['PATH']).toBe(process.env['PATH']);
  });
});
