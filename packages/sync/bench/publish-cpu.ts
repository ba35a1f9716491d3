/**
 * CPU cost of SyncNode.publish() on the active node's main thread: one real redis-server on
 * loopback (its own process, not counted), a SyncNode primary in async mode, call records of
 * realistic size (two legs, two SDPs, ~2 KB of JSON) published as a call's 10 changes.
 *
 *   node --import tsx packages/sync/bench/publish-cpu.ts [--calls 20000] [--per-tick 200] [--same-tick 1]
 *
 * Each event-loop turn publishes `per-tick` changes; `same-tick` consecutive versions of one call
 * are published in the same turn (1 = every change of a call in a different turn, the worst case;
 * the B2BUA often makes 2-3 changes of a call while handling one message). Prints this process's
 * CPU time (user+sys) per change and per call, from the first publish until everything is written.
 */
import { parseArgs } from 'node:util';
import { SyncNode } from '../src/index.js';
import { RedisServer } from '../src/redis-server.js';
import type { SyncRecord } from '../src/codec.js';

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '20000' }, 'per-tick': { type: 'string', default: '200' }, 'same-tick': { type: 'string', default: '1' } },
});
const calls = Number(values.calls);
const perTick = Number(values['per-tick']);
const sameTick = Number(values['same-tick']);
const VERSIONS = 10;

const sdp = 'v=0\r\no=- 1 1 IN IP4 198.18.0.1\r\ns=-\r\nc=IN IP4 198.18.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';
const leg = (role: string, n: number) => ({
  role, callId: `a84b4c76e66710-${n}@198.18.0.1`, localTag: `lt${n}`, remoteTag: `rt${n}`, localCseq: 1, remoteCseq: 1,
  localUri: 'sip:bob@198.18.0.2', remoteUri: 'sip:alice@198.18.0.1', requestUri: 'sip:bob@198.18.0.2:5060', remoteTarget: '<sip:alice@198.18.0.1:5060>',
  localContact: '<sip:198.18.0.2:5060>', routeSet: [], transport: 'udp', localAddress: '198.18.0.2:5060', remoteAddress: '198.18.0.1:5060',
  localSdp: sdp, remoteSdp: sdp, state: 'confirmed', inviteBranch: `z9hG4bK${n}`,
});

/** Change number i (0-based) overall: call i / VERSIONS, version i % VERSIONS + 1, ordered so that
 *  `sameTick` consecutive versions of a call follow each other and then other calls interleave. */
function recordAt(i: number): SyncRecord {
  const group = Math.floor(i / (perTick * VERSIONS)); // perTick calls make progress together
  const inGroup = i % (perTick * VERSIONS);
  const chunk = Math.floor(inGroup / (perTick * sameTick));
  const inChunk = inGroup % (perTick * sameTick);
  const call = group * perTick + Math.floor(inChunk / sameTick);
  const version = chunk * sameTick + (inChunk % sameTick) + 1;
  return Object.freeze({
    schemaVersion: 1, id: `call-${call}`, version, epoch: 1, state: version < VERSIONS ? 'answered' : 'ended', createdAt: 1, route: { target: 'sip:x@198.18.0.3', rule: 'default' },
    a: leg('uas', call), b: leg('uac', call), ...(version === VERSIONS ? { ended: true } : {}),
  }) as SyncRecord;
}

async function main(): Promise<void> {
  if (VERSIONS % sameTick !== 0) throw new Error('--same-tick must divide 10');
  const redis = await RedisServer.start({});
  const node = new SyncNode({ redis: { host: redis.host, port: redis.port }, endedRetentionMs: 60_000, streamMaxLen: 1_000_000 });
  try {
    await node.becomePrimary(1);
    const total = calls * VERSIONS;
    const records = Array.from({ length: total }, (_, i) => recordAt(i));
    let failed = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let i = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const end = Math.min(total, i + perTick);
        for (; i < end; i++) node.publish(records[i]!).catch(() => failed++);
        if (i >= total) resolve();
        else setImmediate(tick);
      };
      tick();
    });
    await node.flush({ timeoutMs: 1 }).catch(() => undefined);
    while ((node.status().publisher?.queued ?? 0) > 0 || (node.status().publisher?.inFlight ?? 0) > 0) await new Promise((r) => setTimeout(r, 1));
    const cpu = process.cpuUsage(cpu0);
    const us = cpu.user + cpu.system;
    const wall = performance.now() - t0;
    console.log(
      `calls ${calls}, changes ${total}, per tick ${perTick}, same-tick ${sameTick}: ${(us / total).toFixed(2)} µs CPU per change, ${(us / calls).toFixed(1)} µs per call ` +
        `(sys ${(cpu.system / calls).toFixed(1)}), wall ${wall.toFixed(0)} ms, stream entries written ${node.status().publisher?.published}, failed ${failed}`,
    );
  } finally {
    await node.close();
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
