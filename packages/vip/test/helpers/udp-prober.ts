/**
 * Watcher-side prober: sends a numbered UDP datagram to --target:--port every --interval ms and
 * prints {"t":<wall ms>,"name":<who answered>,"seq":n} each time the answering node changes.
 * t is performance.timeOrigin + performance.now(), comparable with the agent's t0.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: { target: { type: 'string' }, port: { type: 'string' }, interval: { type: 'string', default: '2' } } });
const target = a.target!;
const sock = createSocket(isIPv6(target) ? 'udp6' : 'udp4');
const now = () => performance.timeOrigin + performance.now();
let last = '';
let seq = 0;
sock.on('message', (msg) => {
  const [name, , n] = msg.toString().split(' ');
  if (name !== last) {
    last = name!;
    process.stdout.write(JSON.stringify({ t: now(), name, seq: Number(n) }) + '\n');
  }
});
sock.on('error', () => {});
sock.bind(0, () => process.stdout.write(JSON.stringify({ event: 'ready', t: now() }) + '\n'));
const timer = setInterval(() => sock.send(`probe ${++seq}`, Number(a.port), target), Number(a.interval));
process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  sock.close();
});
