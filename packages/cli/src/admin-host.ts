/**
 * Starts the admin API of a running node (standalone or one of a pair) on admin.address
 * (the node's own management address, never the floating IP). Off when admin.token is
 * empty (logged once).
 */
import type { Logger } from 'pino';
import { AdminServer, NodeOps, type OpsHa, type OpsSync } from '@dualsip/core';
import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';
import type { NodeConfig } from './config.js';
import type { RunningNode } from './commands/node.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export interface AdminHandle {
  server: AdminServer;
  ops: NodeOps;
  /** Shutdown started: /health answers 503 'closing', the rest of the API 503; close() after the node. */
  beginShutdown(): void;
  close(): Promise<void>;
}

export async function startAdminApi(opts: { node: RunningNode & { ha?: unknown; sync?: unknown }; config: NodeConfig; logger: Logger }): Promise<AdminHandle | undefined> {
  const { node, config, logger } = opts;
  const log = logger.child({ component: 'admin' });
  if (!config.admin.token) {
    log.warn({}, 'admin API off: admin.token is not set (DUALSIP_ADMIN_TOKEN)');
    return undefined;
  }
  const ops = new NodeOps({
    nodeId: config.node?.id || 'node',
    version: version(),
    callControl: node.calls,
    ...(node.ha ? { ha: node.ha as OpsHa } : {}),
    ...(node.sync ? { sync: node.sync as OpsSync } : {}),
    logger: log,
  });
  const server = new AdminServer({ node: ops, address: config.admin.address, port: config.admin.port, token: config.admin.token, healthProbe: config.admin.healthProbe, logger: log });
  try {
    await server.listen();
  } catch (err) {
    throw new CliError({
      code: 'ERR_CONFIG',
      message: `admin API cannot listen on ${config.admin.address}:${config.admin.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      hint: 'set admin.address to this node\'s own address and admin.port to a free port',
      cause: err,
    });
  }
  log.info({ url: server.url, healthProbe: config.admin.healthProbe ? 'no token' : 'token' }, 'admin API listening');
  return { server, ops, beginShutdown: () => server.beginShutdown(), close: () => server.close() };
}
