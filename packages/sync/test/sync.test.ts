import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePut, keysFor } from '../src/codec.js';
import { RedisServer, SyncError, SyncMirror, SyncNode, SyncPublisher, type SyncRecord } from '../src/index.js';
import { call, Servers, sleep, until } from './helpers.js';

const PW = 'sync-secret';
const servers = new Servers();
const closers: (() => Promise<unknown> | unknown)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  await servers.stopAll();
});

async function pair(opts: { mode?: 'async' | 'ack'; ackTimeoutMs?: number; endedRetentionMs?: number; streamMaxLen?: number } = {}) {
  const a = await servers.start({ password: PW });
  const b = await servers.start({ password: PW });
  const na = new SyncNode({ redis: { host: a.host, port: a.port, password: PW }, ...opts });
  const nb = new SyncNode({ redis: { host: b.host, port: b.port, password: PW }, peer: { host: a.host, port: a.port }, ...opts });
  closers.push(() => na.close(), () => nb.close());
  await na.becomePrimary(1);
  await nb.becomeReplica();
  await nb.mirror!.waitReady(10_000);
  return { a, b, na, nb };
}

function bySorted(records: Iterable<SyncRecord>): SyncRecord[] {
  return [...records].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

function expectEqual(source: Iterable<SyncRecord>, mirror: Map<string, SyncRecord>) {
  const src = bySorted(source);
  expect(mirror.size).toBe(src.length);
  for (const r of src) expect(mirror.get(r.id)).toStrictEqual(r);
}

describe('sync over two real redis-servers', () => {
  it('5,000 calls published: the mirror equals the source field by field', async () => {
    const { na, nb } = await pair();
    const ps: Promise<void>[] = [];
    for (let v = 1; v <= 4; v++) for (let i = 0; i < 5000; i++) ps.push(na.publish(call(i, v)));
    await Promise.all(ps);
    const s = await nb.mirror!.waitCaughtUp(15_000);
    expect(s.lagEntries).toBe(0);
    expectEqual(na.records(), nb.mirror!.all());
    expect(nb.mirror!.get('call-4999')).toStrictEqual(call(4999, 4));
    const st = await nb.mirror!.waitReady(5000);
    expect(st).toMatchObject({ ready: true, linkUp: true, initialSyncDone: true, highestEpoch: 1 });
    expect(na.status().publisher?.replicaLinkUp).toBe(true);
  });

  it('changes of one record queued in the same turn share one stream entry (the newest); changes in later turns each get one', async () => {
    const { a, na, nb } = await pair();
    const r = new Redis({ host: a.host, port: a.port, password: PW });
    closers.push(() => r.quit());
    const keys = keysFor('dualsip');
    const before = await r.xlen(keys.stream);
    // Same turn: v1..v3 of call-1 and v1 of call-2.
    const same = [na.publish(call(1, 1)), na.publish(call(1, 2)), na.publish(call(2, 1)), na.publish(call(1, 3))];
    await Promise.all(same);
    const entries = (await r.xrange(keys.stream, '-', '+')).slice(before);
    const puts = entries.map(([, f]) => JSON.parse(f[f.indexOf('r') + 1]!) as SyncRecord).map((x) => `${x.id}@${x.version}`);
    expect(puts).toEqual(['call-1@3', 'call-2@1']);
    expect(JSON.parse((await r.hget(keys.records, 'call-1'))!)).toStrictEqual(call(1, 3));
    // Later turns: every version is written.
    await na.publish(call(1, 4));
    await na.publish(call(1, 5));
    expect(await r.xlen(keys.stream)).toBe(before + 4);
    // An older version than the queued one is still refused.
    const late = [na.publish(call(3, 2)), na.publish(call(3, 1))];
    await expect(late[1]).rejects.toMatchObject({ code: 'SYNC_BAD_RECORD' });
    await late[0];
    await nb.mirror!.waitCaughtUp(5000);
    expect(nb.mirror!.get('call-1')).toStrictEqual(call(1, 5));
    expect(nb.mirror!.get('call-3')).toStrictEqual(call(3, 2));
  });

  it('the passive restarted mid-stream ends equal', async () => {
    const { a, b, na, nb } = await pair();
    let stop = false;
    const versions = new Map<number, number>();
    const load = (async () => {
      for (let n = 0; !stop; n++) {
        const i = n % 800;
        const v = (versions.get(i) ?? 0) + 1;
        versions.set(i, v);
        await na.publish(call(i, v, 1, { ended: v >= 6 && i % 7 === 0 }));
        if (n % 50 === 0) await sleep(1);
      }
    })();
    await sleep(300);
    // The passive dies: its mirror and its redis-server.
    nb.destroy();
    b.kill('SIGKILL');
    await b.exited();
    await sleep(300);
    const b2 = await servers.restart(b);
    const nb2 = new SyncNode({ redis: { host: b2.host, port: b2.port, password: PW }, peer: { host: a.host, port: a.port } });
    closers.push(() => nb2.close());
    await nb2.becomeReplica();
    await sleep(300);
    stop = true;
    await load;
    await until(async () => (await nb2.mirror!.refresh()).ready, 10_000, 'restarted replica ready');
    await nb2.mirror!.waitCaughtUp(10_000);
    expectEqual(na.records(), nb2.mirror!.all());
    expect(versions.size).toBe(800);
  });

  it('records from a lower epoch are ignored', async () => {
    const { a, na, nb } = await pair();
    await na.becomePrimary(3); // same node, new epoch: republishes at epoch 3
    await na.publish(call(1, 1, 3));
    await nb.mirror!.waitCaughtUp(5000);
    expect(nb.mirror!.status().highestEpoch).toBe(3);
    const skipped: [string, string][] = [];
    nb.mirror!.on('skipped', (id, reason) => skipped.push([id, reason]));
    // A stale writer (epoch 2) appends a "newer" version of the same call.
    const raw = new Redis({ host: a.host, port: a.port, password: PW });
    closers.push(() => raw.quit());
    const stale = call(1, 99, 2);
    const staleId = await raw.xadd(keysFor('dualsip').stream, '*', ...encodePut(stale, JSON.stringify(stale), 2, Date.now()));
    await na.publish(call(1, 2, 3));
    await nb.mirror!.waitCaughtUp(5000);
    expect(nb.mirror!.get('call-1')).toStrictEqual(call(1, 2, 3));
    expect(skipped).toEqual([[staleId, expect.stringMatching(/staleEpoch 2 < 3/)]]);
  });

  it('a corrupt or unknown-version entry is skipped and the mirror keeps going', async () => {
    const { a, na, nb } = await pair();
    const skipped: string[] = [];
    nb.on('skipped', (_id, reason) => skipped.push(reason));
    // A listener that throws must not break the mirror either.
    nb.on('applied', () => {
      throw new Error('listener bug');
    });
    const raw = new Redis({ host: a.host, port: a.port, password: PW });
    closers.push(() => raw.quit());
    const stream = keysFor('dualsip').stream;
    await raw.xadd(stream, '*', 'v', '1', 'k', 'put', 'e', '1', 't', '1', 'r', '{"id":"x",');
    await raw.xadd(stream, '*', 'v', '7', 'k', 'put', 'e', '1', 't', '1', 'r', '{}');
    await raw.xadd(stream, '*', 'garbage', 'yes');
    await raw.hset(keysFor('dualsip').records, 'bad', 'not json');
    await na.publish(call(5, 1));
    await nb.mirror!.waitCaughtUp(5000);
    expect(skipped).toEqual([expect.stringMatching(/JSON/), 'unknownVersion 7', 'missing format version']);
    expect(nb.mirror!.get('call-5')).toStrictEqual(call(5, 1));
    expect(nb.mirror!.status().state).toBe('tailing');
  });

  it('redis killed and restarted under load loses nothing the active still holds', async () => {
    const { a, b, na, nb } = await pair();
    const notReady: string[][] = [];
    na.on('notReady', (r) => notReady.push(r));
    let stop = false;
    let published = 0;
    const errors: unknown[] = [];
    const load = (async () => {
      for (let n = 0; !stop; n++) {
        const i = n % 1000;
        await na.publish(call(i, Math.floor(n / 1000) + 1)).catch((e) => errors.push(e));
        published++;
        if (n % 100 === 0) await sleep(1);
      }
    })();
    await sleep(300);
    a.kill('SIGKILL');
    await a.exited();
    await until(() => na.status().ready === false, 2000, 'publisher not ready');
    expect(na.status().reasons).toContain('redisDown');
    await until(async () => (await nb.mirror!.refresh()).linkUp === false, 3000, 'replica link down');
    expect(nb.status().reasons).toContain('linkDown');
    const during = published;
    await sleep(300);
    expect(published).toBeGreaterThan(during); // the active keeps going
    const a2 = await servers.restart(a);
    await until(() => na.status().ready, 5000, 'publisher ready again');
    await sleep(200);
    stop = true;
    await load;
    expect(errors).toEqual([]);
    await until(async () => (await nb.mirror!.refresh()).ready, 10_000, 'mirror ready again');
    await nb.mirror!.waitCaughtUp(10_000);
    expect(na.records()).toHaveLength(1000);
    expectEqual(na.records(), nb.mirror!.all());
    expect(notReady.length).toBeGreaterThan(0);
    expect(na.status().publisher!.republishes).toBeGreaterThanOrEqual(2);
    // And the restarted Redis itself holds exactly the active's records.
    const raw = new Redis({ host: a2.host, port: a2.port, password: PW });
    closers.push(() => raw.quit());
    expect(await raw.hlen(keysFor('dualsip').records)).toBe(1000);
    void b;
  });

  it('acknowledged mode commits only once the replica has it, and times out without one', async () => {
    const { b, na, nb } = await pair({ mode: 'ack', ackTimeoutMs: 300 });
    let appliedBeforeResolve = false;
    await na.publish(call(1, 1));
    await nb.mirror!.waitCaughtUp(5000);
    expect(nb.mirror!.get('call-1')).toStrictEqual(call(1, 1));
    // Kill the replica: ack must fail with a stable code, not hang.
    nb.destroy();
    b.kill('SIGKILL');
    await b.exited();
    const t0 = Date.now();
    const err = await na.publish(call(1, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect([(err as SyncError).code, (err as SyncError).message]).toEqual(['SYNC_ACK_TIMEOUT', expect.stringMatching(/no replica/)]);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(appliedBeforeResolve).toBe(false);
    // The change is still held and in the local Redis.
    expect(na.records().find((r) => r.id === 'call-1')!.version).toBe(2);
    appliedBeforeResolve = true;
  });

  it('ended calls leave the state after the retention, on both sides', async () => {
    const { na, nb } = await pair({ endedRetentionMs: 200 });
    const removed: string[] = [];
    nb.on('removed', (id) => removed.push(id));
    await na.publish(call(1, 1));
    await na.publish(call(2, 1));
    await na.publish(call(1, 2, 1, { ended: true }));
    await nb.mirror!.waitCaughtUp(5000);
    expect(nb.mirror!.get('call-1')?.ended).toBe(true);
    await until(() => removed.includes('call-1'), 3000, 'call-1 removed on the mirror');
    expect(nb.mirror!.get('call-1')).toBeUndefined();
    expect(nb.mirror!.get('call-2')).toStrictEqual(call(2, 1));
    expect(na.records().map((r) => r.id)).toEqual(['call-2']);
  });

  it('the stream is trimmed to about streamMaxLen', async () => {
    const { a, na, nb } = await pair({ streamMaxLen: 500 });
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 5000; i++) ps.push(na.publish(call(i, 1)));
    await Promise.all(ps);
    await nb.mirror!.waitCaughtUp(10_000);
    const raw = new Redis({ host: a.host, port: a.port, password: PW });
    closers.push(() => raw.quit());
    const len = await raw.xlen(keysFor('dualsip').stream);
    expect(len).toBeLessThan(1000);
    expect(nb.mirror!.size).toBe(5000);
  });

  it('switchover: the replica takes over with its mirror, the old primary rejoins as replica with nothing stale', async () => {
    const { a, b, na, nb } = await pair();
    for (let i = 0; i < 100; i++) await na.publish(call(i, 1));
    await nb.mirror!.waitCaughtUp(5000);
    await na.becomeReplica({ host: b.host, port: b.port }); // demote first: no two writers
    await nb.becomePrimary(2);
    expect(nb.role).toBe('primary');
    await nb.publish(call(1, 2, 2));
    await nb.publish(call(100, 1, 2));
    await until(async () => (await na.mirror!.refresh()).ready, 10_000, 'old primary mirrors the new one');
    await na.mirror!.waitCaughtUp(5000);
    expect(nb.records()).toHaveLength(101);
    expectEqual(nb.records(), na.mirror!.all());
    expect(na.mirror!.status().highestEpoch).toBe(2);
    const err = await na.publish(call(3, 5, 2)).catch((e: unknown) => e);
    expect((err as SyncError).code).toBe('SYNC_NOT_PRIMARY');
    void a;
  });

  it('answers bad input with a clear error code and never crashes', async () => {
    const { na } = await pair();
    const bad: unknown[] = [null, 42, { id: 1, version: 1, epoch: 1 }, { id: 'x', version: -1, epoch: 1 }, { id: 'x', version: 1, epoch: 9 }];
    for (const r of bad) {
      const err = await na.publish(r as SyncRecord).catch((e: unknown) => e);
      expect((err as SyncError).code).toBe('SYNC_BAD_RECORD');
    }
    const cyclic: Record<string, unknown> = { id: 'cyc', version: 1, epoch: 1 };
    cyclic.self = cyclic;
    expect(((await na.publish(cyclic as SyncRecord).catch((e) => e)) as SyncError).code).toBe('SYNC_BAD_RECORD');
    await na.publish(call(1, 2));
    const stale = await na.publish(call(1, 2)).catch((e: unknown) => e);
    expect((stale as SyncError).message).toMatch(/not newer/);
    expect(() => new SyncNode({ redis: { host: '', port: 1 } })).toThrow(expect.objectContaining({ code: 'SYNC_BAD_OPTIONS' }));
    expect(() => new SyncNode({ redis: { host: '127.0.0.1', port: 70000 } })).toThrow(/port/);
    expect(() => new SyncPublisher({ redis: { host: '127.0.0.1', port: 1 }, epoch: 1, mode: 'fast' as never })).toThrow(/mode/);
    expect(na.records().map((r) => r.id)).toEqual(['call-1']);
  });

  it('works with a Redis ACL user (masteruser/masterauth) in the pair set-up', async () => {
    const acl = ['--user', 'default', 'off', '--user', 'dualsip', 'on', '>acl-pw', '~*', '&*', '+@all'];
    const a = await servers.start({ extraArgs: acl });
    const b = await servers.start({ extraArgs: acl });
    const cred = { username: 'dualsip', password: 'acl-pw' };
    const na = new SyncNode({ redis: { host: a.host, port: a.port, ...cred } });
    const nb = new SyncNode({ redis: { host: b.host, port: b.port, ...cred }, peer: { host: a.host, port: a.port } });
    closers.push(() => na.close(), () => nb.close());
    await na.becomePrimary(1);
    await nb.becomeReplica();
    await na.publish(call(7, 1));
    await nb.mirror!.waitReady(10_000);
    await nb.mirror!.waitCaughtUp(5000);
    expect(nb.mirror!.get('call-7')).toStrictEqual(call(7, 1));
    // Without credentials the server refuses us: the mirror reports it instead of crashing.
    const m = new SyncMirror({ redis: { host: b.host, port: b.port }, startWaitMs: 300 });
    closers.push(() => m.close());
    await m.start();
    expect(m.status().ready).toBe(false);
    expect(m.status().reasons).toContain('redisDown');
  });

  it('RedisServer reports a failed start with a stable code', async () => {
    const a = await servers.start();
    const err = await RedisServer.start({ port: a.port, startTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect((err as SyncError).code).toBe('SYNC_REDIS_START_FAILED');
  });
});
