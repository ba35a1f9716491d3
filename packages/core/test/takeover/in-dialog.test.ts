import { describe, expect, it } from 'vitest';
import { emptyLeg, type LegRecord } from '../../src/records/call-record.js';
import { outboundProxyOf } from '../../src/takeover/in-dialog.js';

function leg(p: Partial<LegRecord>): LegRecord {
  return { ...emptyLeg('uas'), callId: 'c', remoteUri: 'sip:a@198.18.1.10', ...p };
}

describe('outboundProxyOf (the transport of an adopted leg)', () => {
  it('a TCP leg whose remote target names no transport: through the target with transport=tcp', () => {
    expect(outboundProxyOf(leg({ transport: 'tcp', remoteTarget: 'sip:caller@198.18.1.10:5070' }))).toBe('sip:198.18.1.10:5070;transport=tcp');
    expect(outboundProxyOf(leg({ transport: 'tcp', remoteTarget: '<sip:198.18.1.10>' }))).toBe('sip:198.18.1.10:5060;transport=tcp');
    expect(outboundProxyOf(leg({ transport: 'tcp', remoteTarget: 'sip:bob@[2001:db8::1]:5080;ob' }))).toBe('sip:[2001:db8::1]:5080;transport=tcp');
  });

  it('nothing to add: UDP legs, a target that names its transport, a route set that decides', () => {
    expect(outboundProxyOf(leg({ transport: 'udp', remoteTarget: 'sip:caller@198.18.1.10:5070' }))).toBeUndefined();
    expect(outboundProxyOf(leg({ transport: 'tcp', remoteTarget: 'sip:caller@198.18.1.10:5070;transport=TCP' }))).toBeUndefined();
    expect(outboundProxyOf(leg({ transport: 'tcp', remoteTarget: 'sip:caller@198.18.1.10:5070', routeSet: ['<sip:198.18.1.1;lr>'] }))).toBeUndefined();
  });
});
