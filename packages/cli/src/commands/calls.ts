/** `dualsip calls`: the calls in progress on each node (or one named node). */
import type { CallView } from '@dualsip/core';
import { CliError } from '../errors.js';
import { adminRequest, fmtMs, pickNode, resolveTarget, table, TARGET_FLAGS, TARGET_USAGE, type TargetFlags } from '../admin-client.js';

export const CALLS_USAGE = `usage: dualsip calls [NODE] [options]
  --state S                connected, ringing, or a call state (routing, calling, ringing, answered, ending)
  --min-age SECONDS        only calls at least this old
  --match TEXT             only calls whose id, Call-ID or URI contains TEXT
  --limit N                at most N calls per node
${TARGET_USAGE}`;

export const CALLS_FLAGS = {
  ...TARGET_FLAGS,
  state: { type: 'string' },
  'min-age': { type: 'string' },
  match: { type: 'string' },
  limit: { type: 'string' },
} as const;

export interface CallsFlags extends TargetFlags {
  json?: boolean;
  help?: boolean;
  state?: string;
  'min-age'?: string;
  match?: string;
  limit?: string;
}

const STATES = ['connected', 'ringing', 'routing', 'calling', 'answered', 'ending'];

export async function callsCommand(flags: CallsFlags, positionals: string[], env: NodeJS.ProcessEnv = process.env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (flags.help) {
    out(`${CALLS_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1) throw new CliError({ code: 'ERR_USAGE', message: `dualsip calls: one node name at most (got ${positionals.join(' ')})` });
  const target = resolveTarget(flags, env);
  const nodes = positionals[0] !== undefined ? [pickNode(target, positionals[0], 'calls')] : target.nodes;
  const q = new URLSearchParams();
  if (flags.state) {
    if (!STATES.includes(flags.state)) throw new CliError({ code: 'ERR_USAGE', message: `--state must be one of ${STATES.join(', ')} (got ${flags.state})` });
    q.set('state', flags.state);
  }
  if (flags['min-age'] !== undefined) {
    const s = Number(flags['min-age']);
    if (!(s >= 0)) throw new CliError({ code: 'ERR_USAGE', message: `--min-age must be seconds >= 0 (got ${flags['min-age']})` });
    q.set('minAgeMs', String(Math.round(s * 1000)));
  }
  if (flags.match) q.set('match', flags.match);
  if (flags.limit !== undefined) {
    const n = Number(flags.limit);
    if (!Number.isInteger(n) || n < 1) throw new CliError({ code: 'ERR_USAGE', message: `--limit must be a positive integer (got ${flags.limit})` });
    q.set('limit', String(n));
  }
  const qs = q.toString() ? `?${q}` : '';
  const results = await Promise.allSettled(nodes.map((n) => adminRequest<CallView[]>(target, n, `/v1/calls${qs}`)));
  const failed = results.map((r, i) => ({ r, n: nodes[i]! })).filter((x) => x.r.status === 'rejected');
  // With one node asked, its failure is the answer; with several, list what we have and name the failures.
  if (failed.length === nodes.length) throw (failed[0]!.r as PromiseRejectedResult).reason;
  const byNode = nodes.map((n, i) => ({ node: n.name, calls: results[i]!.status === 'fulfilled' ? (results[i] as PromiseFulfilledResult<CallView[]>).value : null }));
  if (flags.json) {
    out(`${JSON.stringify({ nodes: byNode.map((b, i) => ({ ...b, ...(results[i]!.status === 'rejected' ? { error: ((results[i] as PromiseRejectedResult).reason as Error).message } : {}) })) }, null, 2)}\n`);
  } else {
    const rows = [['NODE', 'CALL', 'STATE', 'AGE', 'A-LEG (caller)', 'B-LEG (callee)']];
    let n = 0;
    for (const b of byNode) {
      for (const c of b.calls ?? []) {
        n++;
        rows.push([b.node, c.id, c.state, fmtMs(c.ageMs), `${c.legs.a.callId} ${c.legs.a.state}`, `${c.legs.b.callId || '-'} ${c.legs.b.state}`]);
      }
    }
    out(`${n === 0 ? 'no calls' : table(rows)}\n`);
    for (const f of failed) process.stderr.write(`${((f.r as PromiseRejectedResult).reason as Error).message}\n`);
  }
  return failed.length > 0 ? 1 : 0;
}
