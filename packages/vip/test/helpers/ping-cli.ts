/**
 * Pings each address once with createIcmpEcho and prints one JSON line per address
 * (run inside a namespace by icmp-echo.test.ts):
 *   node --import tsx ping-cli.ts [--interface IF] [--timeout MS] ADDRESS...
 */
import { createIcmpEcho } from '../../src/index.js';

const args = process.argv.slice(2);
let iface: string | undefined;
let timeoutMs = 300;
const addresses: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--interface') iface = args[++i];
  else if (args[i] === '--timeout') timeoutMs = Number(args[++i]);
  else addresses.push(args[i]!);
}
const echo = createIcmpEcho(iface ? { interface: iface } : {});
try {
  for (const address of addresses) {
    const r = await echo.ping(address, timeoutMs);
    console.log(JSON.stringify({ address, ...r }));
  }
} catch (err) {
  console.log(JSON.stringify({ error: (err as { code?: string }).code ?? String(err) }));
} finally {
  echo.close();
}
