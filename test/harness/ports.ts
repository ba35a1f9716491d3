// Loopback addresses and ports for tests that run without namespaces. Other
// engineers' tests share the machine, so each run takes a random 127/8 address
// and a port checked free on both UDP and TCP.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** A random address in 127.0.0.0/8 (all of it routes to lo on Linux), avoiding 127.0.0.x. */
export function randomLoopbackAddress(): string {
  const b = () => 1 + Math.floor(Math.random() * 250);
  return `127.${b()}.${b()}.${b()}`;
}

function udpFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, address, () => s.close(() => resolve(true)));
  });
}

function tcpFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, address, () => srv.close(() => resolve(true)));
  });
}

/** A port free for both UDP and TCP on `address`, from 20000–59999, not in `exclude`. */
export async function freePort(address: string, exclude: ReadonlySet<number> = new Set()): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if (exclude.has(port)) continue;
    if ((await udpFree(address, port)) && (await tcpFree(address, port))) return port;
  }
  throw new Error(`no free port on ${address}`);
}

/** `n` distinct free ports on `address`. */
export async function freePorts(address: string, n: number): Promise<number[]> {
  const got = new Set<number>();
  while (got.size < n) got.add(await freePort(address, got));
  return [...got];
}
