/** `dualsip drain`: stop new calls on a node, show progress, finish when no call is left or at a timeout. */
import type { DrainStatus } from '@dualsip/core';
import { CliError } from '../errors.js';
import { adminRequest, fmtMs, pickNode, resolveTarget, TARGET_FLAGS, TARGET_USAGE, type TargetFlags } from '../admin-client.js';

export const DRAIN_USAGE = `usage: dualsip drain [NODE] [options]
  --code N                 final response to new INVITEs (default 503)
  --retry-after SECONDS    Retry-After on the 503 (default 30, 0 = none)
  --redirect SIP-URI       answer new INVITEs 302 with this Contact (e.g. the peer) instead
  --timeout SECONDS        stop waiting after this long (default: until the last call ends)
  --no-wait                start the drain and return at once
  --cancel                 cancel the drain: take new calls again
${TARGET_USAGE}
exit code: 0 drained (or cancelled), 1 timed out with calls left or refused, 4 node unreachable`;

export const DRAIN_FLAGS = {
  ...TARGET_FLAGS,
  code: { type: 'string' },
  'retry-after': { type: 'string' },
  redirect: { type: 'string' },
  timeout: { type: 'string' },
  'no-wait': { type: 'boolean' },
  cancel: { type: 'boolean' },
} as const;

export interface DrainFlags extends TargetFlags {
  json?: boolean;
  help?: boolean;
  code?: string;
  'retry-after'?: string;
  redirect?: string;
  timeout?: string;
  'no-wait'?: boolean;
  cancel?: boolean;
}

function intFlag(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new CliError({ code: 'ERR_USAGE', message: `--${name} must be ${min}..${max} (got ${v})` });
  return n;
}

export function progressBar(s: DrainStatus, width = 30): string {
  const total = Math.max(s.callsAtStart, s.callsLeft, 1);
  const done = Math.max(0, total - s.callsLeft);
  const fill = Math.round((done / total) * width);
  return `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${s.callsLeft} call(s) left of ${s.callsAtStart}, ${s.refused} refused, ${fmtMs(s.elapsedMs)}`;
}

export interface DrainIo {
  out: (s: string) => void;
  isTTY: boolean;
  pollMs: number;
}

export async function drainCommand(flags: DrainFlags, positionals: string[], env: NodeJS.ProcessEnv = process.env, io: Partial<DrainIo> = {}): Promise<number> {
  const out = io.out ?? ((s: string) => process.stdout.write(s));
  const isTTY = io.isTTY ?? (process.stdout.isTTY === true && !flags.json);
  if (flags.help) {
    out(`${DRAIN_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1) throw new CliError({ code: 'ERR_USAGE', message: `dualsip drain: one node name at most (got ${positionals.join(' ')})` });
  const target = resolveTarget(flags, env);
  const node = pickNode(target, positionals[0], 'drain');
  if (flags.cancel) {
    const s = await adminRequest<DrainStatus>(target, node, '/v1/drain', { method: 'DELETE' });
    if (flags.json) out(`${JSON.stringify({ node: node.name, drain: s }, null, 2)}\n`);
    else out(`node ${node.name}: drain cancelled, taking new calls again (${s.callsLeft} call(s) in progress, ${s.refused} refused while draining)\n`);
    return 0;
  }
  const code = intFlag(flags.code, 'code', 300, 699);
  const retryAfter = intFlag(flags['retry-after'], 'retry-after', 0, 86_400);
  const timeoutS = intFlag(flags.timeout, 'timeout', 0, 7 * 86_400);
  if (flags.redirect !== undefined && !/^sips?:/i.test(flags.redirect)) throw new CliError({ code: 'ERR_USAGE', message: `--redirect must be a SIP URI (got ${flags.redirect})`, hint: 'e.g. --redirect sip:198.18.1.2:5060' });
  if (flags.redirect !== undefined && code !== undefined) throw new CliError({ code: 'ERR_USAGE', message: '--redirect answers 302; do not combine it with --code' });
  const body = {
    ...(code !== undefined ? { code } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {}),
    ...(flags.redirect ? { redirect: flags.redirect } : {}),
    ...(timeoutS !== undefined ? { timeoutMs: Math.round(timeoutS * 1000) } : {}),
  };
  let s = await adminRequest<DrainStatus>(target, node, '/v1/drain', { method: 'POST', body });
  const how = s.redirect ? `302 -> ${s.redirect}` : `${s.code}${s.retryAfter ? ` (Retry-After ${s.retryAfter})` : ''}`;
  if (!flags.json) out(`node ${node.name}: draining, new calls answered ${how}; ${s.callsLeft} call(s) in progress\n`);
  if (flags['no-wait']) {
    if (flags.json) out(`${JSON.stringify({ node: node.name, drain: s }, null, 2)}\n`);
    return 0;
  }
  let lastLine = '';
  const pollMs = io.pollMs ?? 250;
  while (s.state === 'draining') {
    const line = progressBar(s);
    if (!flags.json) {
      if (isTTY) out(`\r${line}\x1b[K`);
      else if (line.replace(/, \S+$/, '') !== lastLine.replace(/, \S+$/, '')) out(`${line}\n`);
    }
    lastLine = line;
    await new Promise((r) => setTimeout(r, pollMs));
    s = await adminRequest<DrainStatus>(target, node, '/v1/drain');
  }
  if (isTTY && !flags.json) out(`\r${progressBar(s)}\x1b[K\n`);
  if (flags.json) out(`${JSON.stringify({ node: node.name, drain: s }, null, 2)}\n`);
  if (s.state === 'done') {
    if (!flags.json) out(`node ${node.name}: drained in ${fmtMs(s.elapsedMs)}: no calls left (${s.refused} new call(s) refused); still refusing new calls until \`dualsip drain --cancel\`\n`);
    return 0;
  }
  if (s.state === 'timedOut') {
    throw new CliError({ code: 'ERR_NODE_FAILED', message: `node ${node.name}: drain timed out after ${fmtMs(s.elapsedMs)} with ${s.callsLeft} call(s) left`, hint: 'the node still refuses new calls; `dualsip drain --cancel` takes calls again' });
  }
  throw new CliError({ code: 'ERR_NODE_FAILED', message: `node ${node.name}: drain ended as ${s.state}` });
}
