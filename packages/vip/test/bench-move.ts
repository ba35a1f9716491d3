/**
 * Measures the time from claim() on the new owner to the first answer from it at a watcher,
 * for repeated VIP moves A ↔ B in namespaces (needs root):
 *   node --import tsx packages/vip/test/bench-move.ts [moves per family, default 10]
 * Prints one JSON line per family with min / median / p95 / max in ms.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT, createLab, JsonChild, PROBER } from './helpers/lab.js';

const moves = Number(process.argv[2] ?? 10);
const lab = await createLab(['A', 'B', 'C'], 5);
const children: JsonChild[] = [];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
try {
  for (const [family, vip, prefix] of [[4, '198.18.5.100', 24], [6, 'fd00:198:18:5::100', 64]] as const) {
    const agents = Object.fromEntries(
      ['A', 'B'].map((n) => {
        const c = new JsonChild(lab.nodes[n]!.ns, [AGENT, '--address', `${vip}/${prefix}`, '--interface', 'eth0', '--name', n, '--echo-port', '7071', '--second-burst-delay', '0']);
        children.push(c);
        return [n, c];
      }),
    ) as Record<'A' | 'B', JsonChild>;
    for (const c of Object.values(agents)) await c.waitFor((l) => l.event === 'ready', 15_000);
    await agents.A.call('claim');
    const prober = new JsonChild(lab.nodes.C!.ns, [PROBER, '--target', vip, '--port', '7071', '--interval', '1']);
    children.push(prober);
    await prober.waitFor((l) => l.name === 'A', 10_000);
    const times: number[] = [];
    let owner: 'A' | 'B' = 'A';
    for (let i = 0; i < moves; i++) {
      await sleep(1100); // past the ARP locktime
      const next: 'A' | 'B' = owner === 'A' ? 'B' : 'A';
      const mark = prober.lines.length;
      await agents[owner].call('release');
      const claim = await agents[next].call('claim');
      if (!claim.ok) throw new Error(JSON.stringify(claim.error));
      const reached = await prober.waitFor((l) => l.name === next && prober.lines.indexOf(l) >= mark, 10_000);
      times.push((reached.t as number) - claim.t0);
      owner = next;
    }
    console.log(JSON.stringify({ family, method: 'addon', moves, minMs: Math.min(...times).toFixed(1), medianMs: pct(times, 50).toFixed(1), p95Ms: pct(times, 95).toFixed(1), maxMs: Math.max(...times).toFixed(1) }));
    for (const c of [...children]) await c.stop();
    children.length = 0;
  }
} finally {
  for (const c of children) await c.stop().catch(() => undefined);
  await lab.destroy();
}
