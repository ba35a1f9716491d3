// The chaos lab: the pair of test/e2e (pairTopology, startPairNode: namespaces, a SIP and a
// sync bridge, each node with its own redis-server, floating IP) plus a witness host, both
// nodes' admin APIs, a journal of every node log line, and a tcpdump on the SIP bridge.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_MAIN, Sipp, type ManagedProcess, type SippRun, type StartedNode, type Topology } from '../harness/index.js';
import { ADDR, REDIS_PORT, pairTopology, startPairNode, stateDir, type NodeName, type PairNodeOptions } from '../e2e/pair-topology.js';
import { parseTcpdump, type Frame, type JournalEntry } from './invariants.js';

export const ADMIN_PORT = 7080;
export const TOKEN = 'chaos-admin-token';
export const HB_INTERVAL_MS = 100;
export const HB_MISS = 5;
/** One heartbeat window: a path is down after this long without a heartbeat. */
export const WINDOW_MS = HB_INTERVAL_MS * HB_MISS;
/** Callee ports: fault i's calls go to user c<ii> → callee port CALLEE_BASE_PORT + i; the final check's to 'fin'. */
export const CALLEE_BASE_PORT = 5100;
export const FINAL_CALLEE_PORT = 5099;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const other = (n: NodeName): NodeName => (n === 'a' ? 'b' : 'a');
export const service = (i: number) => `c${String(i).padStart(2, '0')}`;

export interface StatusView {
  nodeId: string;
  role: string;
  epoch: number;
  accepting: boolean;
  sync: { role: string; ready: boolean; reasons: string[]; lagEntries: number | null } | null;
  peer: { alive: boolean; role: string | null; epoch: number | null; ready: boolean | null } | null;
  pairReady: boolean | null;
  pairReasons: string[];
  calls: { connected: number; ringing: number; total: number };
  alarms: { code: string; text: string }[];
}

export class ChaosLab {
  topo!: Topology;
  dir!: string;
  /** The default callee (background load). */
  callee!: SippRun;
  readonly nodes: Partial<Record<NodeName, StartedNode>> = {};
  readonly journal: JournalEntry[] = [];
  readonly frames: Frame[] = [];
  private macs: Partial<Record<string, NodeName>> = {};
  private capture: ManagedProcess | undefined;
  private waiters = new Set<() => void>();

  constructor(readonly routes: number) {}

  nodeOptions(id: NodeName): PairNodeOptions & { routes: Record<string, string> } {
    const routes: Record<string, string> = { fin: `sip:${ADDR.callee}:${FINAL_CALLEE_PORT}` };
    for (let i = 0; i < this.routes; i++) routes[service(i)] = `sip:${ADDR.callee}:${CALLEE_BASE_PORT + i}`;
    return {
      preferred: id === 'a',
      intervalMs: HB_INTERVAL_MS,
      missCount: HB_MISS,
      witness: { addresses: [ADDR.gw], intervalMs: 500, timeoutMs: 300 },
      extraArgs: ['--admin-address', ADDR[id].sip, '--admin-port', String(ADMIN_PORT), '--admin-token', TOKEN],
      routes,
    };
  }

  async setup(): Promise<void> {
    this.topo = await pairTopology('chaos', { gw: true });
    this.dir = stateDir();
    for (const id of ['a', 'b'] as const) this.macs[await this.topo.mac(id, 'sip')] = id;
    // The SIP bridge is br0 (bridges ['sip', 'sync']); tcpdump puts it in promiscuous mode, so
    // it sees every frame the bridge forwards, i.e. what actually reached the wire.
    this.capture = this.topo.bridgeNs.spawn('tcpdump', ['-i', 'br0', '-n', '-e', '-tt', '-l', '-U', '-B', '8192', 'udp port 5060'], { name: 'tcpdump br0', ringLines: 50 });
    this.capture.onLine((l) => {
      const p = parseTcpdump(l.line);
      const node = p && this.macs[p.mac];
      if (p && node) this.frames.push({ t: p.t, node, line: l.line });
    });
    await this.capture.waitForLine((l) => /listening on br0/.test(l.line), { timeoutMs: 10_000 });
    this.callee = await Sipp.start({ scenario: 'uas', host: this.topo.host('callee'), localIp: ADDR.callee, localPort: 5060, recvTimeoutMs: 60_000, name: 'callee' });
    await Promise.all([this.start('a'), this.start('b')]);
  }

  /** Starts (or restarts) node `id` and journals its log lines. */
  async start(id: NodeName): Promise<StartedNode> {
    mkdirSync(join(this.dir, `redis-${id}`), { recursive: true });
    this.note(id, '@start');
    const node = await startPairNode(this.topo, id, this.dir, this.nodeOptions(id));
    for (const l of node.process.lines()) this.record(id, l.line, l.json);
    node.process.onLine((l) => this.record(id, l.line, l.json));
    this.nodes[id] = node;
    return node;
  }

  /** SIGKILL of the node's process group (node, engine thread, its redis-server). */
  async kill(id: NodeName): Promise<void> {
    const n = this.nodes[id];
    if (!n) return;
    this.note(id, '@killed');
    n.process.kill('SIGKILL');
    await n.process.waitForExit(10_000).catch(() => undefined);
    delete this.nodes[id];
  }

  note(node: NodeName, msg: string, extra: Partial<JournalEntry> = {}): void {
    this.journal.push({ t: Date.now(), node, msg, line: `{"test":"${msg}"}`, ...extra });
    this.wake();
  }

  private record(node: NodeName, line: string, json: Record<string, unknown> | undefined): void {
    if (!json || typeof json['msg'] !== 'string') return;
    if (this.journal.some((e) => e.line === line && e.node === node)) return; // ring replay at start()
    this.journal.push({
      t: Number(json['time']),
      node,
      msg: json['msg'],
      ...(typeof json['role'] === 'string' ? { role: json['role'] } : {}),
      ...(json['epoch'] !== undefined ? { epoch: Number(json['epoch']) } : {}),
      ...(typeof json['reason'] === 'string' ? { reason: json['reason'] } : {}),
      ...(typeof json['code'] === 'string' ? { code: json['code'] } : {}),
      ...(typeof json['level'] === 'number' ? { level: json['level'] } : {}),
      line,
    });
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The first journal entry after `since` matching `pred`, or undefined after `timeoutMs`. */
  async waitJournal(pred: (e: JournalEntry) => boolean, since: number, timeoutMs: number): Promise<JournalEntry | undefined> {
    const find = () => this.journal.find((e) => e.t >= since && pred(e));
    const hit = find();
    if (hit) return hit;
    return new Promise((resolve) => {
      const done = (v: JournalEntry | undefined) => {
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(v);
      };
      const check = () => {
        const h = find();
        if (h) done(h);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.waiters.add(check);
    });
  }

  /** GET an admin API path of node `id` from the caller's namespace; undefined when it does not answer. */
  async admin<T>(id: NodeName, path: string): Promise<T | undefined> {
    const r = await this.topo.host('caller').exec(['curl', '-sS', '--max-time', '2', '-H', `authorization: Bearer ${TOKEN}`, `http://${ADDR[id].sip}:${ADMIN_PORT}${path}`], { allowFail: true });
    if (r.code !== 0) return undefined;
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      return undefined;
    }
  }

  status(id: NodeName): Promise<StatusView | undefined> {
    return this.admin<StatusView>(id, '/v1/status');
  }

  /** `dualsip <args>` in the caller's namespace against both nodes' admin APIs. */
  cli(args: string[]) {
    const nodes = (['a', 'b'] as const).flatMap((n) => ['--node', `${n.toUpperCase()}=http://${ADDR[n].sip}:${ADMIN_PORT}`]);
    return this.topo.host('caller').exec([process.execPath, '--import', 'tsx', CLI_MAIN, ...args, ...nodes, '--token', TOKEN], { allowFail: true, timeoutMs: 30_000 });
  }

  /** The pid of the node's redis-server (listening on its sync address). */
  async redisPid(id: NodeName): Promise<number | undefined> {
    const r = await this.topo.host(id).exec(['ss', '-Hltnp', 'src', `${ADDR[id].sync}:${REDIS_PORT}`], { allowFail: true });
    const m = /pid=(\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : undefined;
  }

  /** The call records in a node's Redis (`dualsip:records`) that are not ended. */
  async liveRecords(id: NodeName): Promise<Map<string, string>> {
    const r = await this.topo.host(id).exec(['redis-cli', '-h', ADDR[id].sync, '-p', String(REDIS_PORT), 'HGETALL', 'dualsip:records'], { allowFail: true });
    const lines = r.stdout.split('\n').filter(Boolean);
    const out = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) {
      try {
        const rec = JSON.parse(lines[i + 1]!) as { ended?: boolean };
        if (!rec.ended) out.set(lines[i]!, lines[i + 1]!);
      } catch {
        // not a record
      }
    }
    return out;
  }

  async stopCapture(): Promise<string> {
    if (!this.capture) return '';
    this.capture.kill('SIGINT');
    await this.capture.waitForExit(5000).catch(() => undefined);
    return this.capture.lines().map((l) => l.line).filter((l) => /packets/.test(l)).join('; ');
  }
}
