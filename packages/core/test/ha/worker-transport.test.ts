// Heartbeats from a dedicated thread: the peer keeps hearing a node whose main loop is
// busy, but only while the main loop is alive within mainStallLimitMs.
import { afterEach, describe, expect, it } from 'vitest';
import { decodeHeartbeat, encodeHeartbeat, Role, WorkerHeartbeatTransport, type HeartbeatMessage } from '../../src/ha/index.js';

const SECRET = 'worker-transport-secret';
const open: WorkerHeartbeatTransport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* the main event loop is blocked */
  }
}

async function pair(mainStallLimitMs: number) {
  const mk = () =>
    new WorkerHeartbeatTransport({ paths: [{ name: 'sip', network: 'sip', local: { address: '127.0.0.1', port: 0 } }], secret: SECRET, intervalMs: 50, mainStallLimitMs });
  const a = mk();
  const b = mk();
  open.push(a, b);
  const got: HeartbeatMessage[] = [];
  await a.start(() => undefined);
  await b.start((_path, data) => got.push(decodeHeartbeat(data, SECRET)));
  a.setPeer('sip', b.localEndpoint('sip'));
  b.setPeer('sip', a.localEndpoint('sip'));
  const msg: HeartbeatMessage = { nodeId: 'a', incarnation: 'i1', role: Role.Active, epoch: 3, seq: 1, sentAt: Date.now(), ready: true, sipUp: true, preferred: false, yielding: false };
  await new Promise((r) => setTimeout(r, 50));
  a.send('sip', encodeHeartbeat(msg, SECRET));
  return { got };
}

describe('WorkerHeartbeatTransport', () => {
  it('keeps sending while the main loop is blocked (shorter than the limit), re-signed with increasing seq and the same role and epoch', async () => {
    const { got } = await pair(1500);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    busy(600);
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 100));
    const during = got.filter((m) => m.sentAt > t0 + 50 && m.sentAt < t1 - 50);
    expect(during.length).toBeGreaterThanOrEqual(5);
    expect(new Set(got.map((m) => `${m.role}@${m.epoch}`))).toEqual(new Set(['active@3']));
    const seqs = got.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('goes silent when the main loop is stuck longer than mainStallLimitMs (a hung node must look dead)', async () => {
    const { got } = await pair(200);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    busy(900);
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 100));
    const late = got.filter((m) => m.sentAt > t0 + 350 && m.sentAt < t1);
    const early = got.filter((m) => m.sentAt > t0 && m.sentAt < t0 + 150);
    expect(early.length).toBeGreaterThan(0);
    expect(late).toEqual([]);
    // And it speaks again once the main loop runs.
    expect(got.some((m) => m.sentAt >= t1)).toBe(true);
  });

  it('a heartbeat sent just before close() still leaves (the goodbye that spares the peer its misses)', async () => {
    const { got } = await pair(1500);
    await new Promise((r) => setTimeout(r, 80));
    const a = open[0]!;
    const bye: HeartbeatMessage = { nodeId: 'a', incarnation: 'i1', role: Role.Closed, epoch: 3, seq: 2, sentAt: Date.now(), ready: false, sipUp: true, preferred: false, yielding: false };
    a.send('sip', encodeHeartbeat(bye, SECRET));
    await a.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(got.at(-1)?.role).toBe(Role.Closed);
  });
});
