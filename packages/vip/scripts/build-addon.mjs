// Builds the AF_PACKET addon (native/packet.c) with node-gyp during `pnpm install`.
// node-gyp would download Node's headers, which fails offline: Debian's nodejs ships them
// in /usr/include/node, so point nodedir at /usr when that folder exists. A failed build
// does not fail the install: at runtime the package falls back to `arping -U` (and to
// raw-socket for IPv6) with a logged warning, and its tests report the missing addon.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkgDir, 'package.json'));

function findNodeGyp() {
  try { return require.resolve('node-gyp/bin/node-gyp.js'); } catch { /* not a dependency */ }
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const npmExec = process.env.npm_execpath; // pnpm.cjs or npm-cli.js of the running client
  if (npmExec) {
    candidates.push(join(dirname(npmExec), 'node_modules/node-gyp/bin/node-gyp.js'));
    candidates.push(join(dirname(npmExec), '../node_modules/node-gyp/bin/node-gyp.js'));
  }
  const globalRoot = join(dirname(process.execPath), '../lib/node_modules');
  candidates.push(join(globalRoot, 'pnpm/dist/node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(join(globalRoot, 'npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((c) => existsSync(c));
}

const gyp = findNodeGyp();
if (!gyp) {
  console.warn('@dualsip/vip: node-gyp not found; the AF_PACKET addon is not built (arping fallback at runtime)');
  process.exit(0);
}
const env = { ...process.env };
if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: pkgDir, env, stdio: 'inherit' });
if (r.status !== 0) {
  console.warn(`@dualsip/vip: building the AF_PACKET addon failed (exit ${r.status}); arping fallback at runtime`);
}
process.exit(0);
