import { describe, expect, it } from 'vitest';
import { CallRecordStore } from '../src/records/call-record-store.js';
import { emptyLeg, validateCallRecord, type CallRecord } from '../src/records/call-record.js';

const clock = { t: 1000, now() { return this.t; }, setTimeout: () => 0, clearTimeout: () => {} };

function newStore(sink?: { publish(r: CallRecord): Promise<void> | void }, epoch = 0) {
  return new CallRecordStore({ sink, clock, epoch: () => epoch });
}

describe('CallRecordStore', () => {
  it('bumps the version and publishes every change, in order', () => {
    const published: CallRecord[] = [];
    const seen: number[] = [];
    const store = newStore({ publish: (r) => void published.push(r) }, 7);
    store.on('record', (r) => seen.push(r.version));
    store.create({ id: 'c1', a: emptyLeg('uas'), b: emptyLeg('uac') });
    store.update('c1', (r) => void (r.state = 'calling'));
    store.update('c1', (r) => void (r.a.remoteCseq = 3));
    expect(seen).toEqual([1, 2, 3]);
    expect(published.map((r) => [r.version, r.state, r.epoch])).toEqual([[1, 'routing', 7], [2, 'calling', 7], [3, 'calling', 7]]);
    expect(published[2]!.a.remoteCseq).toBe(3);
    expect(published[0]!.a.remoteCseq).toBe(0);
    expect(validateCallRecord(JSON.parse(JSON.stringify(published[2])))).toEqual([]);
  });

  it('records are frozen so a listener cannot corrupt the store', () => {
    const store = newStore();
    store.on('record', (r) => {
      (r as { state: string }).state = 'ended';
    });
    store.create({ id: 'c1', a: emptyLeg('uas'), b: emptyLeg('uac') });
    expect(store.get('c1')!.state).toBe('routing');
    expect(Object.isFrozen(store.get('c1')!.a)).toBe(true);
  });

  it('a published record never changes afterwards: later updates copy nested legs, arrays and added objects', () => {
    const published: CallRecord[] = [];
    const store = newStore({ publish: (r) => void published.push(r) });
    store.create({ id: 'c1', a: emptyLeg('uas'), b: { ...emptyLeg('uac'), routeSet: ['<sip:p1;lr>'] } });
    const v1 = JSON.stringify(published[0]);
    store.update('c1', (r) => {
      r.a.remoteCseq = 9;
      r.b.routeSet.push('<sip:p2;lr>');
      r.route.target = 'sip:x@198.18.0.9';
    });
    const added = { target: 'sip:y@198.18.0.10', rule: 'r' };
    store.update('c1', (r) => void (r.route = added));
    expect(JSON.stringify(published[0])).toBe(v1);
    expect(published[1]!.b.routeSet).toEqual(['<sip:p1;lr>', '<sip:p2;lr>']);
    expect(published[0]!.b.routeSet).not.toBe(published[1]!.b.routeSet);
    for (const r of published) {
      for (const o of [r, r.a, r.b, r.route, r.a.routeSet, r.b.routeSet]) expect(Object.isFrozen(o)).toBe(true);
    }
    // An object a mutator hands in is frozen with the record, so its owner cannot change the published version.
    expect(Object.isFrozen(added)).toBe(true);
    expect(() => {
      'use strict';
      (published[2]!.b.routeSet as string[]).push('x');
    }).toThrow(TypeError);
  });

  it('emits ended once, marks the record ended and moves it out of the live set', () => {
    const store = newStore();
    const ended: CallRecord[] = [];
    store.on('ended', (r) => ended.push(r));
    store.create({ id: 'c1', a: emptyLeg('uas'), b: emptyLeg('uac') });
    clock.t = 5000;
    store.update('c1', (r) => {
      r.state = 'failed';
      r.endStatus = 486;
    });
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ ended: true, endedAt: 5000, endStatus: 486, version: 2 });
    expect(store.live()).toEqual([]);
    expect(store.get('c1')?.ended).toBe(true);
    expect(() => store.update('c1', () => {})).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_CALL' }));
  });

  it('a failing sink never loses the record', async () => {
    const errors: unknown[] = [];
    const store = newStore({ publish: () => Promise.reject(new Error('redis down')) });
    const syncThrow = newStore({ publish: () => { throw new Error('boom'); } });
    store.on('sinkError', (e) => errors.push(e));
    syncThrow.on('sinkError', (e) => errors.push(e));
    store.create({ id: 'c1', a: emptyLeg('uas'), b: emptyLeg('uac') });
    syncThrow.create({ id: 'c2', a: emptyLeg('uas'), b: emptyLeg('uac') });
    await new Promise((r) => setImmediate(r));
    expect(errors.map((e) => (e as Error).message).sort()).toEqual(['boom', 'redis down']);
    expect(store.get('c1')?.version).toBe(1);
    expect(syncThrow.get('c2')?.version).toBe(1);
  });

  it('a mutator that throws changes nothing', () => {
    const store = newStore();
    store.create({ id: 'c1', a: emptyLeg('uas'), b: emptyLeg('uac') });
    expect(() => store.update('c1', (r) => { r.state = 'calling'; throw new Error('x'); })).toThrow('x');
    expect(store.get('c1')).toMatchObject({ state: 'routing', version: 1 });
  });

  it('adopts a valid mirrored record as is and refuses an invalid one', () => {
    const store = newStore();
    const rec = store.create({ id: 'c1', a: emptyLeg('uas'), b: emptyLeg('uac') });
    const other = newStore();
    const adopted = other.adopt({ ...structuredClone(rec), version: 9, epoch: 3 });
    expect(adopted).toMatchObject({ id: 'c1', version: 9, epoch: 3 });
    expect(other.update('c1', () => {}).version).toBe(10);
    expect(() => other.adopt({ id: 'x' } as unknown as CallRecord)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_RECORD' }));
  });
});
