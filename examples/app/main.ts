// dualsip example application: connects to both nodes of a pair with the
// client library, routes every new call by number prefix, logs every call and
// pair event as one JSON line, and (optionally) hangs calls up after a
// maximum duration. See README.md.
//
//   node --import tsx examples/app/main.ts --node ws://198.18.1.1:7700 --node ws://198.18.1.2:7700 \
//        --token s3cret-token --route 44=sip:198.18.1.20:5060 [--route-default URI] [--max-call-ms 60000]
import { parseArgs } from 'node:util';
import { DualsipClient, type CallEvent, type CallOffer, type PairEvent, type RouteDecision } from '../../packages/client/src/index.js';

const USAGE = `usage: main.ts --node URL [--node URL] --token TOKEN [--name APP] [--route PREFIX=URI]... [--route-default URI] [--reject PREFIX=STATUS]... [--max-call-ms MS]
  env: DUALSIP_APP_NODES=url,url DUALSIP_APP_TOKEN=token`;

function log(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: Date.now(), msg, ...fields })}\n`);
}

function main(): void {
  let args;
  try {
    args = parseArgs({
      options: {
        node: { type: 'string', multiple: true },
        token: { type: 'string' },
        name: { type: 'string' },
        route: { type: 'string', multiple: true },
        'route-default': { type: 'string' },
        reject: { type: 'string', multiple: true },
        'max-call-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const nodes = args.node ?? (process.env['DUALSIP_APP_NODES'] ?? '').split(',').filter(Boolean);
  const token = args.token ?? process.env['DUALSIP_APP_TOKEN'] ?? '';
  if (nodes.length === 0 || !token) {
    process.stderr.write(`need --node and --token\n${USAGE}\n`);
    process.exit(2);
  }
  const routes = (args.route ?? []).map((s) => ({ prefix: s.slice(0, s.indexOf('=')), target: s.slice(s.indexOf('=') + 1) })).sort((x, y) => y.prefix.length - x.prefix.length);
  const rejects = (args.reject ?? []).map((s) => ({ prefix: s.slice(0, s.indexOf('=')), status: Number(s.slice(s.indexOf('=') + 1)) }));
  const maxCallMs = args['max-call-ms'] ? Number(args['max-call-ms']) : 0;

  // The routing decision: reject list first, then the longest prefix, then the default, else static routing on the node.
  const router = (offer: CallOffer): RouteDecision | undefined => {
    const rej = rejects.find((r) => offer.user.startsWith(r.prefix));
    if (rej) return { action: 'reject', status: rej.status };
    const hit = routes.find((r) => offer.user.startsWith(r.prefix));
    const target = hit?.target ?? args['route-default'];
    if (!target) return undefined;
    return { action: 'route', target, headers: { 'X-Routed-By': args.name ?? 'example-app' } };
  };

  const client = new DualsipClient({ nodes, token, ...(args.name ? { name: args.name } : {}), router });
  const timers = new Map<string, NodeJS.Timeout>();
  const onCall = (ev: CallEvent): void => {
    log('call', { event: ev.event, call: ev.call, seq: ev.seq, node: ev.node, state: ev.data.state, rule: ev.data.rule, target: ev.data.target, endReason: ev.data.endReason, endStatus: ev.data.endStatus, durationMs: ev.data.durationMs, replay: ev.replay, synthesized: ev.synthesized });
    if (ev.event === 'call.answered' && maxCallMs > 0) {
      timers.set(ev.call, setTimeout(() => {
        client.hangup(ev.call, { reason: 'max-duration' }).catch((err: { code?: string; message: string }) => log('hangup failed', { call: ev.call, code: err.code, err: err.message }));
      }, maxCallMs));
    }
    if (ev.event === 'call.ended') {
      clearTimeout(timers.get(ev.call));
      timers.delete(ev.call);
    }
  };
  for (const e of ['callOffered', 'callRinging', 'callAnswered', 'callModified', 'callEnded'] as const) client.on(e, onCall);
  client.on('pair', (ev: PairEvent) => log('pair', { event: ev.event, node: ev.node, seq: ev.seq, ...ev.data }));
  client.on('activeChanged', (node, previous) => log('active', { node, previous }));
  client.on('connection', (c) => log('connection', c));
  client.on('error', (err) => log('error', { code: err.code, err: err.message }));

  client.start().then(
    () => log('app ready', { nodes, active: client.active }),
    (err: { code?: string; message: string }) => {
      log('error', { code: err.code, err: err.message });
      process.exitCode = 1;
      void client.close();
    },
  );
  const stop = (): void => {
    for (const t of timers.values()) clearTimeout(t);
    void client.close().then(() => log('app stopped'));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main();
