/** `dualsip status`: both nodes at a glance; the exit code tells healthy (0) / degraded (3) / down (4). */
import type { NodeStatusView } from '@dualsip/core';
import { CliError } from '../errors.js';
import { fmtMs, queryAll, resolveTarget, table, TARGET_FLAGS, TARGET_USAGE, type NodeRef, type TargetFlags } from '../admin-client.js';

export const STATUS_USAGE = `usage: dualsip status [options]
${TARGET_USAGE}
exit code: 0 healthy, 3 degraded, 4 down (no node reachable, or none active), 2 bad usage`;

export const STATUS_FLAGS = TARGET_FLAGS;

export type Health = 'healthy' | 'degraded' | 'down';
export const HEALTH_EXIT: Record<Health, number> = { healthy: 0, degraded: 3, down: 4 };

export interface NodeResult {
  node: NodeRef;
  status?: NodeStatusView;
  error?: string;
}

/** Judges the pair from what each node said. */
export function assess(results: NodeResult[]): { health: Health; problems: string[] } {
  const problems: string[] = [];
  const up = results.filter((r) => r.status);
  for (const r of results) if (!r.status) problems.push(`node ${r.node.name}: ${r.error ?? 'no answer'}`);
  if (up.length === 0) return { health: 'down', problems };
  const serving = up.filter((r) => r.status!.role === 'active' || (r.status!.role === 'standalone' && r.status!.state === 'running'));
  if (serving.length === 0) problems.push('no node is active: nobody takes calls');
  if (serving.filter((r) => r.status!.role === 'active').length > 1) problems.push(`more than one node claims active (${serving.map((r) => r.node.name).join(', ')})`);
  for (const r of up) {
    const s = r.status!;
    const n = `node ${r.node.name}`;
    for (const p of s.paths) if (!p.up) problems.push(`${n}: heartbeat path ${p.name} (${p.network}) down`);
    if (s.witness?.isolated) problems.push(`${n}: isolated (peer lost on every path and no witness answers)`);
    else if (s.witness && s.witness.reachable === false) problems.push(`${n}: no witness answers (${s.witness.targets.map((t) => t.address).join(', ')})`);
    if (s.mode === 'pair' && s.sync && !s.sync.ready) problems.push(`${n}: sync not ready (${s.sync.reasons.join(', ') || 'no reason given'})`);
    if (s.mode === 'pair' && s.pairReady === false) problems.push(`${n}: switchover not safe (${s.pairReasons.join('; ')})`);
    if (s.drain.state !== 'idle' && s.drain.state !== 'cancelled') problems.push(`${n}: drain ${s.drain.state}, refusing new calls`);
    for (const a of s.alarms) problems.push(`${n}: alarm ${a.code}: ${a.text}`);
    if (s.mode === 'pair' && s.peer && !s.peer.alive) problems.push(`${n}: peer ${s.peer.id} not heard`);
  }
  const unique = [...new Set(problems)];
  if (serving.length === 0) return { health: 'down', problems: unique };
  return { health: unique.length === 0 ? 'healthy' : 'degraded', problems: unique };
}

function syncText(s: NodeStatusView): string {
  if (!s.sync) return '-';
  const lag = s.sync.role === 'replica' ? ` lag ${s.sync.lagEntries ?? '?'}/${fmtMs(s.sync.lagMs)}` : '';
  return `${s.sync.role}${lag} ${s.sync.ready ? 'ready' : 'NOT READY'}`;
}

function witnessText(s: NodeStatusView): string {
  const w = s.witness;
  if (!w) return '-';
  const t = w.targets.map((x) => `${x.address}:${x.reachable === null ? '?' : x.reachable ? 'ok' : 'NO ANSWER'}`).join(' ');
  return w.isolated ? `ISOLATED ${t}` : t;
}

export function renderStatus(results: NodeResult[], health: Health, problems: string[]): string {
  const rows = [['NODE', 'ROLE', 'EPOCH', 'VIP', 'CALLS conn/ring', 'SYNC', 'HEARTBEAT PATHS', 'WITNESS', 'UPTIME', 'VERSION']];
  for (const r of results) {
    const s = r.status;
    if (!s) {
      rows.push([r.node.name, 'UNREACHABLE', '-', '-', '-', '-', '-', '-', '-', '-']);
      continue;
    }
    const vip = s.vip ? (s.vip.heldHere ? 'held' : s.vip.holder ? `-> ${s.vip.holder}` : 'nobody') : '-';
    const paths = s.paths.length ? s.paths.map((p) => `${p.name}:${p.up ? 'up' : 'DOWN'}`).join(' ') : '-';
    const role = s.role + (s.drain.state === 'draining' || s.drain.state === 'done' || s.drain.state === 'timedOut' ? ' (drain)' : '') + (s.switchover.running ? ' (switching)' : '');
    rows.push([r.node.name, role, String(s.epoch), vip, `${s.calls.connected}/${s.calls.ringing}`, syncText(s), paths, witnessText(s), fmtMs(s.uptimeMs), s.version]);
  }
  const lines = [`pair: ${health}`, table(rows)];
  if (problems.length) lines.push('problems:', ...problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}

export async function statusCommand(flags: TargetFlags & { json?: boolean; help?: boolean }, env: NodeJS.ProcessEnv = process.env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (flags.help) {
    out(`${STATUS_USAGE}\n`);
    return 0;
  }
  const target = resolveTarget(flags, env);
  const raw = await queryAll<NodeStatusView>(target, '/v1/status');
  // A wrong token is a usage problem, not a sick pair: say so and stop.
  const auth = raw.find((r) => r.error?.code === 'ERR_NODE_AUTH');
  if (auth?.error) throw auth.error;
  const results: NodeResult[] = raw.map((r) => ({ node: r.node, ...(r.value ? { status: r.value } : {}), ...(r.error ? { error: r.error.message.replace(/^node \S+ \([^)]*\): /, '') } : {}) }));
  const { health, problems } = assess(results);
  if (flags.json) {
    out(`${JSON.stringify({ health, problems, nodes: results.map((r) => ({ name: r.node.name, url: r.node.url, reachable: !!r.status, ...(r.error ? { error: r.error } : {}), status: r.status ?? null })) }, null, 2)}\n`);
  } else {
    out(`${renderStatus(results, health, problems)}\n`);
  }
  return HEALTH_EXIT[health];
}

export { CliError };
