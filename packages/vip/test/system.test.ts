import { describe, expect, it } from 'vitest';
import { isAddressPresent } from '../src/system.js';

describe('ip addr add: an address already on the interface is not an error (claim is idempotent)', () => {
  it('recognises both iproute2 wordings of EEXIST, and nothing else', () => {
    expect(isAddressPresent('RTNETLINK answers: File exists\n')).toBe(true);
    // iproute2 6.x with the kernel's extended ack (a restarted node found its predecessor's VIP still there).
    expect(isAddressPresent('Error: ipv4: Address already assigned.\n')).toBe(true);
    expect(isAddressPresent('Cannot find device "sip"\n')).toBe(false);
    expect(isAddressPresent('RTNETLINK answers: Operation not permitted\n')).toBe(false);
  });
});
