/**
 * Cost of one CallRecordStore.update() on a realistic record (two SDPs, tags, URIs), as the
 * B2BUA makes about ten per call. Prints ns per update, and the old way (structuredClone +
 * deep freeze of the whole record) next to it for scale.
 *
 *   node --import tsx packages/core/bench/record-store.ts [--n 200000]
 */
import { parseArgs } from 'node:util';
import { CallRecordStore } from '../src/records/call-record-store.js';
import { emptyLeg, type CallRecord, type LegRecord } from '../src/records/call-record.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '200000' } } });
const N = Number(values.n);
const sdp = 'v=0\r\no=- 1 1 IN IP4 198.18.0.1\r\ns=-\r\nc=IN IP4 198.18.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n';
const leg = (role: 'uas' | 'uac'): LegRecord => ({
  ...emptyLeg(role), callId: 'a84b4c76e66710@198.18.0.1', localTag: '1928301774', remoteTag: 'a6c85cf', localCseq: 1, remoteCseq: 1,
  localUri: 'sip:bob@198.18.0.2', remoteUri: 'sip:alice@198.18.0.1', requestUri: 'sip:bob@198.18.0.2:5060', remoteTarget: '<sip:alice@198.18.0.1:5060>',
  localContact: '<sip:198.18.0.2:5060>', localAddress: '198.18.0.2:5060', remoteAddress: '198.18.0.1:5060', localSdp: sdp, remoteSdp: sdp, state: 'early', inviteBranch: 'z9hG4bK776asdhds',
});

function deepFreezeOld<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreezeOld(v);
  }
  return o;
}

function time(label: string, f: (i: number) => void): void {
  for (let i = 0; i < 20_000; i++) f(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f(i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${label}: ${ns.toFixed(0)} ns per update`);
}

const store = new CallRecordStore({ sink: { publish: () => {} } });
let k = 0;
let id = '';
time('CallRecordStore.update', (i) => {
  if (i % 10 === 0) {
    id = `c${k++}`;
    store.create({ id, a: leg('uas'), b: leg('uac') });
  }
  store.update(id, (r) => {
    r.a.remoteCseq++;
    if (i % 10 === 9) r.state = 'ended';
  });
});

let rec: CallRecord = deepFreezeOld({ schemaVersion: 1, id: 'x', version: 1, epoch: 0, state: 'ringing', createdAt: 0, route: { target: '', rule: '' }, a: leg('uas'), b: leg('uac') });
time('old way (structuredClone + deep freeze, no store)', () => {
  const d = structuredClone(rec) as CallRecord;
  d.a.remoteCseq++;
  d.version++;
  rec = deepFreezeOld(d);
});
