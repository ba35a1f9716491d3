import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeHeartbeat,
  encodeHeartbeat,
  FileEpochStore,
  HaError,
  ManualClock,
  PathLiveness,
  PathState,
  Role,
  type HeartbeatMessage,
} from '../../src/ha/index.js';

const msg: HeartbeatMessage = {
  nodeId: 'node-a',
  incarnation: 'abc123',
  role: Role.Active,
  epoch: 7,
  seq: 42,
  sentAt: 1234567,
  ready: true,
  sipUp: false,
  preferred: true,
  yielding: false,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as HaError).code;
  }
  return undefined;
}

describe('heartbeat codec', () => {
  it('round-trips every field', () => {
    const data = encodeHeartbeat(msg, 'secret');
    expect(decodeHeartbeat(data, 'secret')).toEqual(msg);
    const other = { ...msg, ready: false, sipUp: true, preferred: false, yielding: true, role: Role.Passive };
    expect(decodeHeartbeat(encodeHeartbeat(other, 'secret'), 'secret')).toEqual(other);
  });

  it('drops a heartbeat signed with another secret (stray pair or forgery)', () => {
    expect(codeOf(() => decodeHeartbeat(encodeHeartbeat(msg, 'other'), 'secret'))).toBe('ERR_HA_HEARTBEAT_BAD_MAC');
  });

  it('drops a heartbeat whose body was altered after signing', () => {
    const data = encodeHeartbeat(msg, 'secret');
    const tampered = Buffer.from(data.toString('latin1').replace('"e":7', '"e":9'), 'latin1');
    expect(tampered.equals(data)).toBe(false);
    expect(codeOf(() => decodeHeartbeat(tampered, 'secret'))).toBe('ERR_HA_HEARTBEAT_BAD_MAC');
  });

  it('rejects truncated, foreign and oversized datagrams as malformed', () => {
    const data = encodeHeartbeat(msg, 'secret');
    expect(codeOf(() => decodeHeartbeat(data.subarray(0, 20), 'secret'))).toBe('ERR_HA_HEARTBEAT_MALFORMED');
    expect(codeOf(() => decodeHeartbeat(Buffer.from('INVITE sip:x SIP/2.0\r\n\r\n' + 'x'.repeat(40)), 'secret'))).toBe('ERR_HA_HEARTBEAT_MALFORMED');
    expect(codeOf(() => decodeHeartbeat(Buffer.alloc(2000, 1), 'secret'))).toBe('ERR_HA_HEARTBEAT_MALFORMED');
  });
});

describe('PathLiveness', () => {
  it('goes down after interval x misses of silence, not before, and up again on the next heartbeat', () => {
    const clock = new ManualClock();
    const seen: string[] = [];
    const p = new PathLiveness({ name: 'sip', network: 'sip', clock, timeoutMs: 300, onChange: (x, from) => seen.push(`${from}>${x.state}`) });
    expect(p.state).toBe(PathState.Unknown);
    p.heard();
    expect(p.up).toBe(true);
    clock.advance(299);
    expect(p.up).toBe(true);
    p.heard(); // re-arms the deadline
    clock.advance(299);
    expect(p.up).toBe(true);
    clock.advance(1);
    expect(p.state).toBe(PathState.Down);
    p.heard();
    expect(seen).toEqual(['unknown>up', 'up>down', 'down>up']);
  });
});

describe('FileEpochStore', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('loads 0 when nothing was saved, then persists atomically and leaves no temp file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dualsip-epoch-'));
    const path = join(dir, 'epoch.json');
    const store = new FileEpochStore({ path });
    expect(await store.load()).toBe(0);
    await Promise.all([store.save(3), store.save(4)]);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ epoch: 4 });
    expect(await new FileEpochStore({ path }).load()).toBe(4);
    expect(await readdir(dir)).toEqual(['epoch.json']);
  });

  it('refuses a corrupt file and an invalid epoch with ERR_HA_EPOCH_STORE', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dualsip-epoch-'));
    const path = join(dir, 'epoch.json');
    await writeFile(path, '{"epoch":');
    await expect(new FileEpochStore({ path }).load()).rejects.toMatchObject({ code: 'ERR_HA_EPOCH_STORE' });
    await expect(new FileEpochStore({ path }).save(-1)).rejects.toMatchObject({ code: 'ERR_HA_EPOCH_STORE' });
  });
});
