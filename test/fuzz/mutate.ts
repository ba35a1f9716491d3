/**
 * Mutators: each takes a message's bytes and returns new bytes. All sizes are
 * bounded (MAX_CASE_BYTES) so a case can never make the parser run long because
 * it is merely huge.
 */
import type { Rng } from './prng.js';

export const MAX_CASE_BYTES = 256 * 1024;

export interface Mutator {
  name: string;
  apply(b: Buffer, r: Rng): Buffer;
}

const CRLF = '\r\n';

/** Splits into [head lines, body] at the first empty line (CRLF or LF). */
function split(b: Buffer): { lines: string[]; body: Buffer; sep: string } {
  let i = b.indexOf('\r\n\r\n');
  let sep = '\r\n';
  let skip = 4;
  if (i === -1) {
    i = b.indexOf('\n\n');
    sep = '\n';
    skip = 2;
  }
  if (i === -1) return { lines: b.toString('latin1').split(/\r?\n/), body: Buffer.alloc(0), sep: CRLF };
  return { lines: b.toString('latin1', 0, i).split(/\r?\n/), body: b.subarray(i + skip), sep };
}

function join(lines: string[], body: Buffer, sep = CRLF): Buffer {
  return Buffer.concat([Buffer.from(lines.join(sep) + sep + sep, 'latin1'), body]);
}

function editLines(b: Buffer, f: (lines: string[], body: Buffer) => Buffer | string[] | void): Buffer {
  const { lines, body, sep } = split(b);
  const out = f(lines, body);
  if (Buffer.isBuffer(out)) return out;
  return join(out ?? lines, body, sep);
}

const MANDATORY = [/^(via|v)\s*:/i, /^(from|f)\s*:/i, /^(to|t)\s*:/i, /^(call-id|i)\s*:/i, /^cseq\s*:/i, /^max-forwards\s*:/i];

function replaceHeader(lines: string[], re: RegExp, value: string, name: string): string[] {
  const idx = lines.findIndex((l, i) => i > 0 && re.test(l));
  if (idx === -1) lines.splice(1, 0, `${name}: ${value}`);
  else lines[idx] = `${name}: ${value}`;
  return lines;
}

function randomAscii(r: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(r.range(32, 126));
  return s;
}

export const MUTATORS: readonly Mutator[] = [
  {
    name: 'byte flips',
    apply(b, r) {
      const out = Buffer.from(b);
      const n = r.range(1, 8);
      for (let k = 0; k < n && out.length; k++) out[r.int(out.length)] ^= 1 << r.int(8);
      return out;
    },
  },
  {
    name: 'random bytes',
    apply(b, r) {
      const out = Buffer.from(b);
      const n = r.range(1, 32);
      for (let k = 0; k < n && out.length; k++) out[r.int(out.length)] = r.int(256);
      return out;
    },
  },
  { name: 'truncation', apply: (b, r) => b.subarray(0, r.int(b.length + 1)) },
  {
    name: 'duplicated header',
    apply: (b, r) =>
      editLines(b, (lines) => {
        if (lines.length < 2) return;
        const i = r.range(1, lines.length - 1);
        const times = r.chance(0.2) ? r.range(2, 50) : 1;
        for (let k = 0; k < times; k++) lines.splice(i, 0, lines[i]!);
      }),
  },
  {
    name: 'removed header',
    apply: (b, r) =>
      editLines(b, (lines) => {
        if (lines.length < 2) return;
        if (r.chance(0.6)) {
          const re = r.pick(MANDATORY);
          return lines.filter((l, i) => i === 0 || !re.test(l));
        }
        lines.splice(r.range(1, lines.length - 1), 1);
      }),
  },
  {
    name: 'huge header value',
    apply: (b, r) =>
      editLines(b, (lines) => {
        const size = r.pick([1000, 8000, 40_000, 70_000, 120_000]);
        const fill = r.chance(0.5) ? 'a'.repeat(size) : randomAscii(r, Math.min(size, 20_000)).repeat(Math.ceil(size / 20_000));
        if (lines.length > 1 && r.chance(0.5)) {
          const i = r.range(1, lines.length - 1);
          lines[i] = lines[i] + fill;
        } else lines.splice(1, 0, `X-Huge: ${fill}`);
      }),
  },
  {
    name: 'bad Content-Length',
    apply: (b, r) =>
      editLines(b, (lines, body) => {
        const v = r.pick(['-1', '-100', String(body.length + r.range(1, 5000)), String(Math.max(0, body.length - r.range(1, 50))), '99999999999', '1e3', '0x10', '', ' 12 34', '4294967296', 'abc']);
        replaceHeader(lines, /^(content-length|l)\s*:/i, v, r.chance(0.3) ? 'l' : 'Content-Length');
        if (r.chance(0.2)) lines.push(`Content-Length: ${r.int(500)}`);
      }),
  },
  {
    name: 'bad CSeq',
    apply: (b, r) =>
      editLines(b, (lines) => {
        const v = r.pick(['', 'abc INVITE', '99999999999 INVITE', '2147483648 INVITE', '1', '1 BYE', '-1 INVITE', '1 INV@TE', '1  ', ' INVITE', '0 INVITE', '1 INVITE extra']);
        replaceHeader(lines, /^cseq\s*:/i, v, 'CSeq');
      }),
  },
  {
    name: 'missing mandatory header',
    apply: (b, r) => editLines(b, (lines) => lines.filter((l, i) => i === 0 || !r.pick(MANDATORY).test(l))),
  },
  {
    name: 'invalid start line',
    apply: (b, r) =>
      editLines(b, (lines) => {
        const uri = 'sip:fuzz@192.0.2.1';
        lines[0] = r.pick([
          `INVITE ${uri} SIP/3.0`,
          `OPTIONS ${uri} SIP/1.0`,
          `INVITE  ${uri} SIP/2.0`,
          `INVITE ${uri} SIP/2.0 extra`,
          `INVITE mailto:fuzz@example.com SIP/2.0`,
          `OPTIONS http://example.com/ SIP/2.0`,
          `INVITE sip: SIP/2.0`,
          `INVITE sip:@192.0.2.1 SIP/2.0`,
          `INVITE sip:fuzz@[2001:db8::1 SIP/2.0`,
          `INVITE sip:fuzz@192.0.2.1:99999 SIP/2.0`,
          `INVITE ${uri}`,
          `INV(ITE ${uri} SIP/2.0`,
          `FOO ${uri} SIP/2.0`,
          '',
          ' ',
          'SIP/2.0 99 Too Low',
          'SIP/2.0 2000 OK',
          'SIP/2.0',
          'SIP/3.0 200 OK',
          'HTTP/1.1 200 OK',
          'GET / HTTP/1.1',
          randomAscii(r, r.range(1, 200)),
        ]);
      }),
  },
  {
    name: 'Max-Forwards edge',
    apply: (b, r) => editLines(b, (lines) => replaceHeader(lines, /^max-forwards\s*:/i, r.pick(['0', '1', '-1', 'abc', '', '70 70', '256', '99999999999']), 'Max-Forwards')),
  },
  {
    name: 'bad Via',
    apply: (b, r) =>
      editLines(b, (lines) =>
        replaceHeader(
          lines,
          /^(via|v)\s*:/i,
          r.pick([',', ', ,', 'SIP/2.0/UDP', 'SIP/2.0/UDP ;branch=x', 'SIP/2.0/UDP [2001:db8::1;branch=x', 'SIP/2.0/UDP host:70000', 'HTTP/1.1/TCP h', 'SIP/2.0/UDP h;rport=abc', 'SIP/2.0/UDP h;branch="unterminated', 'SIP/2.0/UDP h:5060 garbage', '']),
          r.chance(0.5) ? 'v' : 'Via',
        ),
      ),
  },
  {
    name: 'NUL bytes',
    apply(b, r) {
      const parts: Buffer[] = [];
      let at = 0;
      const n = r.range(1, 6);
      const cuts = Array.from({ length: n }, () => r.int(b.length + 1)).sort((x, y) => x - y);
      for (const c of cuts) {
        parts.push(b.subarray(at, c), Buffer.from([0]));
        at = c;
      }
      parts.push(b.subarray(at));
      return Buffer.concat(parts);
    },
  },
  {
    name: 'non-UTF-8',
    apply(b, r) {
      const bad = r.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf0, 0x28, 0x8c, 0xbc], [0x80], [0xfe, 0xfe, 0xff]]);
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), Buffer.from(bad), b.subarray(at)]);
    },
  },
  {
    name: 'very long line',
    apply: (b, r) =>
      editLines(b, (lines) => {
        const n = r.pick([5000, 65_000, 70_000, 200_000]);
        lines.splice(r.range(1, Math.max(1, lines.length - 1)), 0, r.chance(0.5) ? 'X-Long: ' + 'x'.repeat(n) : 'y'.repeat(n));
      }),
  },
  {
    name: 'header count explosion',
    apply: (b, r) =>
      editLines(b, (lines) => {
        const n = r.pick([500, 3000, 10_000]);
        const hs: string[] = [];
        for (let k = 0; k < n; k++) hs.push(r.chance(0.5) ? `X-H${k}: ${k}` : `Via: SIP/2.0/UDP 192.0.2.${k % 255}:5060;branch=z9hG4bK${k}`);
        lines.splice(1, 0, ...hs);
      }),
  },
  {
    name: 'line endings',
    apply(b, r) {
      const s = b.toString('latin1');
      const out = r.pick([
        () => s.replace(/\r\n/g, '\n'),
        () => s.replace(/\r\n/g, '\r'),
        () => s.replace(/\r\n/, '\n'),
        () => '\r\n\r\n' + s,
        () => s.replace(/\r\n\r\n/, '\r\n \r\n'),
        () => s.replace(/\r\n/g, (m) => (r.chance(0.2) ? '\r\n ' : m)),
      ])();
      return Buffer.from(out, 'latin1');
    },
  },
  {
    name: 'splice',
    apply(b, r) {
      const a = r.int(b.length + 1);
      const c = r.int(b.length + 1);
      const [lo, hi] = a < c ? [a, c] : [c, a];
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(lo, hi), b.subarray(at)]);
    },
  },
];

/** 1–3 mutations, capped at MAX_CASE_BYTES. Returns the bytes and the mutator names applied. */
export function mutate(b: Buffer, r: Rng, maxBytes = MAX_CASE_BYTES): { bytes: Buffer; applied: string[] } {
  const n = r.chance(0.7) ? 1 : r.range(2, 3);
  let out = b;
  const applied: string[] = [];
  for (let k = 0; k < n; k++) {
    const m = r.pick(MUTATORS);
    out = m.apply(out, r);
    applied.push(m.name);
    if (out.length > maxBytes) out = out.subarray(0, maxBytes);
  }
  return { bytes: out, applied };
}
