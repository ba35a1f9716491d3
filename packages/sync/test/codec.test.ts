import { describe, expect, it } from 'vitest';
import { compareIds, decodeEntry, DecodeError, encodeDel, encodePut, encodeReset, recordProblem } from '../src/codec.js';

describe('codec', () => {
  it('round-trips put, del and reset entries', () => {
    const r = { id: 'c1', version: 3, epoch: 2, ended: false, x: { y: [1, 'z'] } };
    const put = decodeEntry(encodePut(r, JSON.stringify(r), 2, 1234.5));
    expect(put).toEqual({ kind: 'put', epoch: 2, ts: 1234.5, record: r });
    expect(decodeEntry(encodeDel('c1', 3, 2, 10))).toEqual({ kind: 'del', epoch: 2, ts: 10, id: 'c1', version: 3 });
    expect(decodeEntry(encodeReset('g', 4, 11))).toEqual({ kind: 'reset', epoch: 4, ts: 11, generation: 'g' });
  });

  it.each([
    [['v', '2', 'k', 'put', 'e', '1', 't', '1', 'r', '{}'], /unknownVersion/],
    [['k', 'put'], /missing format version/],
    [['v', '1', 'k', 'put', 'e', '1', 't', '1', 'r', '{not json'], /not valid JSON/],
    [['v', '1', 'k', 'put', 'e', '1', 't', '1', 'r', '{"id":"a","version":"x","epoch":1}'], /version/],
    [['v', '1', 'k', 'put', 'e', '-1', 't', '1', 'r', '{}'], /bad epoch/],
    [['v', '1', 'k', 'zap', 'e', '1', 't', '1'], /unknown kind/],
    [['v', '1', 'k'], /malformed/],
    ['not an array', /malformed/],
  ])('rejects a corrupt entry %j with a reason', (fields, reason) => {
    let err: unknown;
    try {
      decodeEntry(fields);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).reason).toMatch(reason);
  });

  it('validates records', () => {
    expect(recordProblem({ id: 'a', version: 0, epoch: 0 })).toBeUndefined();
    expect(recordProblem(null)).toMatch(/not an object/);
    expect(recordProblem({ id: '', version: 1, epoch: 1 })).toMatch(/id/);
    expect(recordProblem({ id: 'a', version: 1.5, epoch: 1 })).toMatch(/version/);
    expect(recordProblem({ id: 'a', version: 1, epoch: 1, ended: 'yes' })).toMatch(/ended/);
  });

  it('orders stream ids numerically', () => {
    expect(compareIds('10-0', '9-5')).toBe(1);
    expect(compareIds('10-2', '10-10')).toBe(-1);
    expect(compareIds('7-3', '7-3')).toBe(0);
  });
});
