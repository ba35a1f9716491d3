/**
 * Client of the nodes' admin API (status, switchover, drain, calls). Each node is
 * reached on its own management address; every failure names the node and what failed.
 *
 * Nodes: `--node NAME=URL` (repeatable), else DUALSIP_NODES=NAME=URL,NAME=URL, else the
 * config file's `admin.nodes` ({NAME: URL}). Token: --token, DUALSIP_ADMIN_TOKEN, or the
 * config file's `admin.token`.
 */
import fs from 'node:fs';
import { CliError } from './errors.js';

export interface NodeRef {
  name: string;
  url: string;
}

export interface AdminTarget {
  nodes: NodeRef[];
  token: string;
  timeoutMs: number;
}

export const TARGET_FLAGS = {
  node: { type: 'string', multiple: true },
  token: { type: 'string' },
  config: { type: 'string' },
  'request-timeout': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const TARGET_USAGE = `  --node NAME=URL          a node's admin API, repeatable (DUALSIP_NODES=A=http://..,B=http://..)
  --token TOKEN            admin token (DUALSIP_ADMIN_TOKEN, or admin.token in --config)
  --config FILE            JSON file with admin.nodes {NAME: URL} and admin.token
  --request-timeout MS     per request (default 5000)
  --json                   machine-readable output`;

export interface TargetFlags {
  node?: string[];
  token?: string;
  config?: string;
  'request-timeout'?: string;
}

function parseNodeSpec(spec: string, from: string): NodeRef {
  const i = spec.indexOf('=');
  const name = i > 0 ? spec.slice(0, i).trim() : '';
  let url = i > 0 ? spec.slice(i + 1).trim() : '';
  if (!name || !url) throw new CliError({ code: 'ERR_USAGE', message: `${from}: expected NAME=URL (got ${JSON.stringify(spec)})`, hint: 'e.g. --node A=http://198.18.2.1:7080' });
  if (!/^https?:\/\//.test(url)) url = `http://${url}`;
  try {
    new URL(url);
  } catch {
    throw new CliError({ code: 'ERR_USAGE', message: `${from}: node ${name}: ${JSON.stringify(url)} is not a URL`, hint: 'e.g. --node A=http://198.18.2.1:7080' });
  }
  return { name, url: url.replace(/\/+$/, '') };
}

/** Resolves nodes and token from flags, environment and config file. */
export function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): AdminTarget {
  let file: { admin?: { nodes?: Record<string, string>; token?: string } } = {};
  if (flags.config) {
    try {
      file = JSON.parse(fs.readFileSync(flags.config, 'utf8')) as typeof file;
    } catch (err) {
      throw new CliError({ code: 'ERR_CONFIG', message: `config error: --config: cannot read ${flags.config} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, hint: 'pass a JSON file with admin.nodes and admin.token' });
    }
  }
  let nodes: NodeRef[];
  if (flags.node && flags.node.length > 0) nodes = flags.node.map((s) => parseNodeSpec(s, '--node'));
  else if (env.DUALSIP_NODES) nodes = env.DUALSIP_NODES.split(',').filter((s) => s.trim()).map((s) => parseNodeSpec(s, 'DUALSIP_NODES'));
  else nodes = Object.entries(file.admin?.nodes ?? {}).map(([k, v]) => parseNodeSpec(`${k}=${v}`, 'admin.nodes'));
  if (nodes.length === 0) throw new CliError({ code: 'ERR_USAGE', message: 'no nodes given', hint: 'pass --node A=http://ADDR:PORT (and B=...), or set DUALSIP_NODES' });
  const names = new Set<string>();
  for (const n of nodes) {
    if (names.has(n.name)) throw new CliError({ code: 'ERR_USAGE', message: `node ${n.name} given twice`, hint: 'each --node needs its own name' });
    names.add(n.name);
  }
  const token = flags.token ?? env.DUALSIP_ADMIN_TOKEN ?? file.admin?.token ?? '';
  if (!token) throw new CliError({ code: 'ERR_USAGE', message: 'no admin token given', hint: 'pass --token or set DUALSIP_ADMIN_TOKEN' });
  const t = flags['request-timeout'] === undefined ? 5000 : Number(flags['request-timeout']);
  if (!Number.isInteger(t) || t <= 0) throw new CliError({ code: 'ERR_USAGE', message: `--request-timeout must be a positive integer (got ${flags['request-timeout']})` });
  return { nodes, token, timeoutMs: t };
}

/** Picks the named node (or the only one). */
export function pickNode(target: AdminTarget, name: string | undefined, command: string): NodeRef {
  if (name === undefined) {
    if (target.nodes.length === 1) return target.nodes[0]!;
    throw new CliError({ code: 'ERR_USAGE', message: `dualsip ${command}: name the node (${target.nodes.map((n) => n.name).join(' or ')})`, hint: `e.g. dualsip ${command} ${target.nodes[0]!.name}` });
  }
  const n = target.nodes.find((x) => x.name === name);
  if (!n) throw new CliError({ code: 'ERR_USAGE', message: `dualsip ${command}: unknown node ${JSON.stringify(name)} (known: ${target.nodes.map((x) => x.name).join(', ')})`, hint: 'node names come from --node NAME=URL' });
  return n;
}

export interface AdminCallOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  timeoutMs?: number;
}

/** Calls one node's admin API; resolves with the parsed JSON, or throws a CliError naming the node. */
export async function adminRequest<T>(target: AdminTarget, node: NodeRef, path: string, opts: AdminCallOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const timeoutMs = opts.timeoutMs ?? target.timeoutMs;
  const where = `node ${node.name} (${node.url})`;
  let res: Response;
  try {
    res = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new CliError({ code: 'ERR_NODE_UNREACHABLE', message: `${where}: ${method} ${path} failed: ${why}`, hint: 'is the node running and its admin API on that address? (admin.address, admin.port)' });
  }
  const text = await res.text().catch(() => '');
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.status === 401) throw new CliError({ code: 'ERR_NODE_AUTH', message: `${where}: wrong admin token (401)`, hint: 'use the node\'s admin.token (--token or DUALSIP_ADMIN_TOKEN)' });
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const msg = err?.message ?? (text.slice(0, 200) || res.statusText);
    const refused = res.status === 409 || res.status === 400;
    const e = new CliError({ code: refused ? 'ERR_NODE_REFUSED' : 'ERR_NODE_FAILED', message: `${where}: ${msg}${err?.code ? ` [${err.code}]` : ''}` });
    (e as CliError & { remoteCode?: string; httpStatus?: number }).remoteCode = err?.code;
    (e as CliError & { remoteCode?: string; httpStatus?: number }).httpStatus = res.status;
    throw e;
  }
  return json as T;
}

/** Queries every node; a node that fails gives its error instead of a value. */
export async function queryAll<T>(target: AdminTarget, path: string): Promise<Array<{ node: NodeRef; value?: T; error?: CliError }>> {
  return Promise.all(
    target.nodes.map(async (node) => {
      try {
        return { node, value: await adminRequest<T>(target, node, path) };
      } catch (err) {
        if (err instanceof CliError) return { node, error: err };
        throw err;
      }
    }),
  );
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h${String(m % 60).padStart(2, '0')}m` : `${Math.floor(h / 24)}d${h % 24}h`;
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
