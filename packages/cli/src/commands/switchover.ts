/** `dualsip switchover`: graceful handover from the active node to the passive one. */
import type { NodeStatusView, SwitchoverReport } from '@dualsip/core';
import { CliError } from '../errors.js';
import { adminRequest, queryAll, resolveTarget, TARGET_FLAGS, TARGET_USAGE, type AdminTarget, type NodeRef, type TargetFlags } from '../admin-client.js';

export const SWITCHOVER_USAGE = `usage: dualsip switchover [options]
  --force                  switch even when the passive is not ready (calls may be lost)
  --timeout MS             how long the peer has to become active (default 5000)
${TARGET_USAGE}
exit code: 0 switched over and confirmed, 1 refused or failed (the reason is printed), 4 a node unreachable`;

export const SWITCHOVER_FLAGS = { ...TARGET_FLAGS, force: { type: 'boolean' }, timeout: { type: 'string' } } as const;

export interface SwitchoverFlags extends TargetFlags {
  json?: boolean;
  help?: boolean;
  force?: boolean;
  timeout?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function confirmRoles(target: AdminTarget, from: NodeRef, to: NodeRef, waitMs: number): Promise<{ from: NodeStatusView; to: NodeStatusView; confirmMs: number }> {
  const t0 = Date.now();
  let last: { from?: NodeStatusView; to?: NodeStatusView } = {};
  for (;;) {
    const [a, b] = await Promise.all([adminRequest<NodeStatusView>(target, from, '/v1/status'), adminRequest<NodeStatusView>(target, to, '/v1/status')]);
    last = { from: a, to: b };
    if (b.role === 'active' && a.role === 'passive' && b.epoch > 0) return { from: a, to: b, confirmMs: Date.now() - t0 };
    if (Date.now() - t0 > waitMs) {
      throw new CliError({
        code: 'ERR_NODE_FAILED',
        message: `switchover not confirmed within ${waitMs} ms: node ${from.name} is ${last.from?.role}, node ${to.name} is ${last.to?.role}`,
        hint: 'run `dualsip status` to see the pair',
      });
    }
    await sleep(50);
  }
}

export async function switchoverCommand(flags: SwitchoverFlags, env: NodeJS.ProcessEnv = process.env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (flags.help) {
    out(`${SWITCHOVER_USAGE}\n`);
    return 0;
  }
  const target = resolveTarget(flags, env);
  let timeoutMs: number | undefined;
  if (flags.timeout !== undefined) {
    timeoutMs = Number(flags.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new CliError({ code: 'ERR_USAGE', message: `--timeout must be a positive integer in ms (got ${flags.timeout})` });
  }
  if (target.nodes.length !== 2) throw new CliError({ code: 'ERR_USAGE', message: `dualsip switchover needs both nodes of the pair (got ${target.nodes.length})`, hint: 'pass --node A=URL --node B=URL' });
  const all = await queryAll<NodeStatusView>(target, '/v1/status');
  for (const r of all) if (r.error) throw r.error; // both must answer: the switchover needs both
  const active = all.filter((r) => r.value!.role === 'active');
  if (active.length !== 1) {
    throw new CliError({
      code: 'ERR_NODE_REFUSED',
      message: `switchover refused: ${active.length === 0 ? 'no node is active' : 'both nodes claim active'} (${all.map((r) => `${r.node.name} ${r.value!.role}`).join(', ')})`,
      hint: 'run `dualsip status`',
    });
  }
  const from = active[0]!.node;
  const to = all.find((r) => r.node !== from)!.node;
  const t0 = Date.now();
  let report: SwitchoverReport;
  try {
    report = await adminRequest<SwitchoverReport>(target, from, '/v1/switchover', {
      method: 'POST',
      body: { ...(flags.force ? { force: true } : {}), ...(timeoutMs ? { timeoutMs } : {}) },
      timeoutMs: Math.max(target.timeoutMs, (timeoutMs ?? 5000) + 5000),
    });
  } catch (err) {
    if (err instanceof CliError && err.code === 'ERR_NODE_REFUSED') {
      const remote = (err as CliError & { remoteCode?: string }).remoteCode;
      const hint =
        remote === 'ERR_HA_PAIR_NOT_READY'
          ? 'wait until `dualsip status` shows the passive ready, or use --force (calls may be lost)'
          : remote === 'ERR_HA_SWITCHOVER_IN_PROGRESS'
            ? 'a switchover is already running; wait for it'
            : 'run `dualsip status`';
      throw new CliError({ code: 'ERR_NODE_REFUSED', message: `switchover refused: ${err.message}`, hint });
    }
    throw err;
  }
  const requestMs = Date.now() - t0;
  const confirmed = await confirmRoles(target, from, to, 5000);
  const result = { ok: true, from: from.name, to: to.name, epoch: confirmed.to.epoch, handoverMs: report.ms, requestMs, confirmMs: confirmed.confirmMs, report, roles: { [from.name]: confirmed.from.role, [to.name]: confirmed.to.role } };
  if (flags.json) out(`${JSON.stringify(result, null, 2)}\n`);
  else {
    out(
      [
        `switchover ${from.name} -> ${to.name}: done in ${report.ms} ms (settle ${report.phases.settleMs} ms, sync flush ${report.phases.flushMs} ms, cut to peer active ${report.phases.handoverMs} ms)`,
        `calls handed over: ${report.callsAtStart.connected} connected, ${report.callsAtStart.ringing} ringing at the start${report.heldAtCut ? `; ${report.heldAtCut} new INVITE(s) arrived at the cut and were dropped` : ''}`,
        `new roles: ${from.name} ${confirmed.from.role}, ${to.name} ${confirmed.to.role} (epoch ${confirmed.to.epoch})`,
      ].join('\n') + '\n',
    );
  }
  return 0;
}
