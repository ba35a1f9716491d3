import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  buildArpProbe,
  buildDadSolicitation,
  buildGratuitousArp,
  buildNaMessage,
  buildUnsolicitedNa,
  formatIpv6,
  parseAddress,
  parseArp,
  parseMac,
  parseNeighborMessage,
  VipError,
} from '../src/index.js';
import { ipv6Bytes } from '../src/address.js';

const mac = parseMac('02:00:5e:10:20:30');
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// npm raw-socket's own one's-complement checksum: an implementation independent of ours
const raw = createRequire(import.meta.url)('raw-socket') as { createChecksum(...b: Buffer[]): number };

function pseudoHeader(src: Buffer, dst: Buffer, len: number): Buffer {
  const p = Buffer.alloc(40);
  src.copy(p, 0);
  dst.copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = 58;
  return p;
}

describe('gratuitous ARP (RFC 5227 ARP announcement)', () => {
  it('is a broadcast ARP request with sender IP = target IP = the VIP, padded to 60 bytes', () => {
    const f = buildGratuitousArp({ srcMac: mac, ip: '198.18.0.100' });
    expect(f.toString('hex')).toBe(
      hex(`
        ffffffffffff 02005e102030 0806
        0001 0800 06 04 0001
        02005e102030 c6120064
        000000000000 c6120064
        000000000000000000000000000000000000`).toString('hex'),
    );
    expect(f.length).toBe(60);
  });

  it('can be an ARP reply (op 2) like arping -A', () => {
    const f = buildGratuitousArp({ srcMac: mac, ip: '198.19.255.1', op: 'reply' });
    expect(f.readUInt16BE(20)).toBe(2);
    expect(parseArp(f)).toEqual({
      ethSrc: '02:00:5e:10:20:30',
      op: 2,
      senderMac: '02:00:5e:10:20:30',
      senderIp: '198.19.255.1',
      targetMac: '00:00:00:00:00:00',
      targetIp: '198.19.255.1',
    });
  });

  it('ARP probe has sender IP 0.0.0.0 and asks for the VIP', () => {
    const f = buildArpProbe({ srcMac: mac, ip: '198.18.0.100' });
    expect(f.subarray(0, 42).toString('hex')).toBe(
      hex('ffffffffffff 02005e102030 0806 0001 0800 0604 0001 02005e102030 00000000 000000000000 c6120064').toString('hex'),
    );
  });

  it('rejects a MAC that is not 6 bytes and an address that is not IPv4', () => {
    expect(() => buildGratuitousArp({ srcMac: Buffer.alloc(5), ip: '198.18.0.1' })).toThrow(VipError);
    expect(() => buildGratuitousArp({ srcMac: mac, ip: 'fd00::1' })).toThrow(/not an IPv4/);
  });
});

describe('unsolicited Neighbor Advertisement (RFC 4861 §7.2.6)', () => {
  const vip = 'fd00:198:18::100';
  const f = buildUnsolicitedNa({ srcMac: mac, ip: vip });

  it('goes to all-nodes ff02::1 / 33:33:00:00:00:01 with hop limit 255, override set, our MAC as target link-layer option', () => {
    const ip = ipv6Bytes(vip).toString('hex');
    const expected =
      '333300000001 02005e102030 86dd' + // Ethernet
      '60000000 0020 3a ff' + // IPv6: payload 32, next header 58, hop limit 255
      ip + // source: the VIP
      'ff020000000000000000000000000001' + // destination: all-nodes
      '88 00 XXXX' + // type 136, code 0, checksum
      '20000000' + // R=0 S=0 O=1
      ip + // target
      '02 01 02005e102030'; // option 2 (target link-layer address), length 1
    const got = f.toString('hex');
    const cks = got.slice((14 + 40 + 2) * 2, (14 + 40 + 4) * 2);
    expect(got).toBe(expected.replace(/\s+/g, '').replace('XXXX', cks));
    expect(f.length).toBe(14 + 40 + 32);
  });

  it('carries a checksum that an independent implementation verifies', () => {
    const msg = f.subarray(54);
    const zeroed = Buffer.from(msg);
    zeroed.writeUInt16BE(0, 2);
    const sum = raw.createChecksum(pseudoHeader(ipv6Bytes(vip), ipv6Bytes('ff02::1'), msg.length), zeroed);
    expect(msg.readUInt16BE(2)).toBe(sum);
    expect(msg.readUInt16BE(2)).not.toBe(0);
  });

  it('parses back with the override flag and target', () => {
    const p = parseNeighborMessage(f);
    expect(p).toMatchObject({ type: 136, flags: 0x20, target: vip, lladdr: '02:00:5e:10:20:30', hopLimit: 255, dstIp: 'ff02::1', checksumOk: true });
    const bad = Buffer.from(f);
    bad[f.length - 1] ^= 1;
    expect(parseNeighborMessage(bad)?.checksumOk).toBe(false);
  });

  it('the ICMPv6-only message for a raw socket leaves the checksum to the kernel', () => {
    const m = buildNaMessage({ srcMac: mac, ip: vip });
    expect(m.toString('hex')).toBe(`88000000 20000000 ${ipv6Bytes(vip).toString('hex')} 0201 02005e102030`.replace(/\s+/g, ''));
  });

  it('DAD solicitation: source ::, to the solicited-node group, no options', () => {
    const s = buildDadSolicitation({ srcMac: mac, ip: 'fd00:198:18::1:2:3' });
    expect(s.subarray(0, 14).toString('hex')).toBe('3333ff020003' + '02005e102030' + '86dd');
    const p = parseNeighborMessage(s)!;
    expect(p).toMatchObject({ type: 135, srcIp: '::', dstIp: 'ff02::1:ff02:3', target: 'fd00:198:18::1:2:3', checksumOk: true, hopLimit: 255 });
    expect(p.lladdr).toBeUndefined();
  });
});

describe('address parsing', () => {
  it('accepts IPv4 and IPv6 with prefixes and canonicalizes IPv6', () => {
    expect(parseAddress('198.18.0.100/24')).toMatchObject({ family: 4, ip: '198.18.0.100', prefix: 24, cidr: '198.18.0.100/24' });
    expect(parseAddress('FD00:0198:0018:0000:0000:0000:0000:0100/64')).toMatchObject({ family: 6, ip: 'fd00:198:18::100', prefix: 64 });
    expect(parseAddress('198.18.0.100').prefix).toBe(32);
    expect(formatIpv6(ipv6Bytes('2001:db8:0:1:0:0:0:1'))).toBe('2001:db8:0:1::1');
    expect(formatIpv6(ipv6Bytes('::ffff:198.18.0.1'))).toBe('::ffff:c612:1');
  });

  it.each(['198.18.0.300/24', '198.18.0.1/33', '198.18.0.1/0', 'fd00::1/129', 'fd00::1/6x', 'eth0', '', '224.0.0.5/4', 'ff02::1/64', '198.18.0.1/24/1'])(
    'rejects %j with VIP_BAD_ADDRESS',
    (bad) => {
      try {
        parseAddress(bad);
        expect.unreachable();
      } catch (err) {
        expect((err as VipError).code).toBe('VIP_BAD_ADDRESS');
      }
    },
  );
});
