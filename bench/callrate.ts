// Call-rate benchmark: the highest call rate with zero failed calls for
//   (a) SIPp uac -> SIPp uas directly, and
//   (b) SIPp uac -> dualsip node -> SIPp uas,
// each with zero call hold and with a long hold (cap on concurrent calls),
// stepping the rate up until a step fails (a failed call on either side, or
// SIPp not keeping up with the target rate). Loopback only. Reports CPU time
// per call of the node's process tree (/proc utime+stime, threads and
// children included) and writes bench/out/callrate-<time>.json.
//
//   node --import tsx bench/callrate.ts [--quick] [--modes direct,node]
//     [--rates 200,500,1000] [--step-sec 5] [--holds 0,30000] [--cap 20000]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Sipp, cleanupAll, nodeArgv, randomLoopbackAddress, startNode, summarize, type SippResult, type StartedNode } from '../test/harness/index.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    modes: { type: 'string', default: 'direct,node' },
    rates: { type: 'string' },
    'step-sec': { type: 'string' },
    holds: { type: 'string' },
    cap: { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
  },
});

const quick = flags.quick!;
const modes = flags.modes!.split(',').filter(Boolean) as Array<'direct' | 'node'>;
const rates = (flags.rates ?? (quick ? '200,500,1000,2000' : '200,500,1000,1500,2000,3000,4000,5000,6000,8000,10000')).split(',').map(Number);
const stepSec = Number(flags['step-sec'] ?? (quick ? 2 : 5));
const holds = (flags.holds ?? (quick ? '0,5000' : '0,30000')).split(',').map(Number);
const cap = Number(flags.cap ?? 20000);

interface StepResult {
  mode: 'direct' | 'node';
  holdMs: number;
  targetRate: number;
  calls: number;
  limit: number;
  ok: boolean;
  reason: string;
  callerOk: number;
  callerFailed: number;
  calleeOk: number;
  calleeFailed: number;
  retransmissions: number;
  elapsedSec: number;
  /** calls / (elapsed - hold): the rate SIPp actually achieved while placing calls. */
  achievedRate: number;
  nodeCpuMs?: number;
  nodeCpuMsPerCall?: number;
  caller: string;
  callee: string;
}

function check(caller: SippResult, callee: SippResult, calls: number, rate: number, holdMs: number, wallSec: number): { ok: boolean; reason: string; achievedRate: number } {
  // SIPp's ElapsedTime is in whole seconds: time the run ourselves (SIPp's start-up, ~50 ms, included).
  const placing = Math.max(0.001, wallSec - holdMs / 1000);
  const achievedRate = caller.created / placing;
  if (caller.failed > 0 || callee.failed > 0) return { ok: false, reason: `failed calls (caller ${caller.failed}, callee ${callee.failed})`, achievedRate };
  if (caller.successful !== calls || callee.successful !== calls)
    return { ok: false, reason: `incomplete (caller ${caller.successful}/${calls}, callee ${callee.successful}/${calls})`, achievedRate };
  // SIPp throttles silently when it cannot keep up: require the calls to be placed within 20 % (+1 s) of the plan.
  const planned = calls / rate;
  if (placing > planned * 1.2 + 1) return { ok: false, reason: `rate not kept: ${achievedRate.toFixed(0)}/s placed`, achievedRate };
  return { ok: true, reason: '', achievedRate };
}

async function step(mode: 'direct' | 'node', holdMs: number, rate: number): Promise<StepResult> {
  const ip = randomLoopbackAddress();
  const calls = holdMs > 0 ? Math.min(rate * stepSec, cap) : rate * stepSec;
  // Zero hold: a generous cap that only an overloaded system reaches. Long hold: every call of the step open at once, within `cap`.
  const limit = holdMs > 0 ? Math.min(calls, cap) : Math.max(1000, rate * 5);
  // The callee waits the whole hold for the BYE: the receive timeout must outlast it.
  const recvTimeoutMs = 10_000 + holdMs;
  const uas = await Sipp.start({ scenario: 'uas-basic', localIp: ip, recvTimeoutMs, name: 'callee' });
  let node: StartedNode | undefined;
  if (mode === 'node') {
    node = await startNode({ sipAddress: ip, routeDefault: `sip:${uas.address}`, transports: ['udp'], logLevel: flags['log-level'], readyTimeoutMs: 60_000 });
  }
  const target = node ? node.sipTarget : uas.address;
  const cpu0 = node?.cpuMs();
  const t0 = performance.now();
  const caller = await Sipp.run({
    scenario: 'uac-basic',
    localIp: ip,
    remote: target,
    rate,
    calls,
    limit,
    holdMs,
    recvTimeoutMs,
    timeoutSec: Math.ceil(calls / rate) * 3 + Math.ceil(holdMs / 1000) + 30,
    name: 'caller',
  });
  const wallSec = (performance.now() - t0) / 1000;
  const callee = await uas.stop({ idleTimeoutMs: recvTimeoutMs + 2000 });
  const cpu1 = node?.cpuMs();
  await node?.stop();
  const verdict = check(caller, callee, calls, rate, holdMs, wallSec);
  const nodeCpuMs = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
  return {
    mode,
    holdMs,
    targetRate: rate,
    calls,
    limit,
    ok: verdict.ok,
    reason: verdict.reason,
    callerOk: caller.successful,
    callerFailed: caller.failed,
    calleeOk: callee.successful,
    calleeFailed: callee.failed,
    retransmissions: caller.retransmissions + callee.retransmissions,
    elapsedSec: Math.round(wallSec * 1000) / 1000,
    achievedRate: Math.round(verdict.achievedRate),
    nodeCpuMs,
    nodeCpuMsPerCall: nodeCpuMs !== undefined ? nodeCpuMs / calls : undefined,
    caller: summarize(caller),
    callee: summarize(callee),
  };
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  const steps: StepResult[] = [];
  const best: Array<{ mode: string; holdMs: number; maxCleanRate: number | null; firstFailure: string; nodeCpuMsPerCall?: number }> = [];
  for (const mode of modes) {
    for (const holdMs of holds) {
      let maxClean: number | null = null;
      let firstFailure = 'none up to the highest rate tried';
      let cpuAtBest: number | undefined;
      for (const rate of rates) {
        let r: StepResult;
        try {
          r = await step(mode, holdMs, rate);
        } catch (err) {
          // e.g. the node did not start: record the step as failed and stop this series.
          console.error((err as Error).message);
          await cleanupAll();
          firstFailure = `${rate}/s: error ${(err as Error).message.split('\n')[0]}`;
          break;
        }
        steps.push(r);
        const cpu = r.nodeCpuMsPerCall !== undefined ? ` node ${r.nodeCpuMsPerCall.toFixed(3)} ms CPU/call` : '';
        console.error(`${mode} hold=${holdMs}ms rate=${rate}: ${r.ok ? 'clean' : `FAIL ${r.reason}`} (${r.callerOk}/${r.calls}, achieved ${r.achievedRate}/s, retrans ${r.retransmissions})${cpu}`);
        if (!r.ok) {
          firstFailure = `${rate}/s: ${r.reason}`;
          break;
        }
        maxClean = rate;
        cpuAtBest = r.nodeCpuMsPerCall;
      }
      best.push({ mode, holdMs, maxCleanRate: maxClean, firstFailure, nodeCpuMsPerCall: cpuAtBest });
    }
  }
  const table = [
    '| path | hold | highest clean rate (calls/s) | first failing step | node CPU ms/call at that rate |',
    '|---|---|---|---|---|',
    ...best.map(
      (b) =>
        `| ${b.mode === 'direct' ? 'SIPp → SIPp' : 'SIPp → node → SIPp'} | ${b.holdMs / 1000} s | ${b.maxCleanRate ?? '< ' + rates[0]} | ${b.firstFailure} | ${b.nodeCpuMsPerCall !== undefined ? b.nodeCpuMsPerCall.toFixed(3) : '–'} |`,
    ),
  ].join('\n');
  const stepsTable = [
    '| path | hold | target/s | calls | ok | achieved/s | retrans | node CPU ms/call |',
    '|---|---|---|---|---|---|---|---|',
    ...steps.map(
      (s) =>
        `| ${s.mode} | ${s.holdMs / 1000} s | ${s.targetRate} | ${s.calls} | ${s.ok ? 'yes' : 'NO: ' + s.reason} | ${s.achievedRate} | ${s.retransmissions} | ${s.nodeCpuMsPerCall?.toFixed(3) ?? '–'} |`,
    ),
  ].join('\n');
  const loadAfter = loadavg().map((x) => x.toFixed(2)).join(' ');
  const command = `node --import tsx bench/callrate.ts ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`\n## Call rate (${started.toISOString()}, ${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'}, load average ${loadBefore} before, ${loadAfter} after: the machine is shared)\n\n\`${command}\`\n\n${table}\n\n### Steps\n\n${stepsTable}\n`);
  const outDir = fileURLToPath(new URL('./out/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const file = `${outDir}callrate-${started.toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        started: started.toISOString(),
        command,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        loadBefore,
        loadAfter,
        options: { quick, modes, rates, stepSec, holds, cap },
        nodeCommand: `node ${nodeArgv({ sipAddress: '<ip>', sipPort: 0, routeDefault: 'sip:<uas>', transports: ['udp'], logLevel: flags['log-level'] }).join(' ')}`,
        best,
        steps,
      },
      null,
      2,
    ),
  );
  console.error(`wrote ${file}`);
}

try {
  await main();
} finally {
  await cleanupAll();
}
