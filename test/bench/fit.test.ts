import { describe, expect, it } from 'vitest';
import { linearFit, planeFit, stepSlopes } from '../../bench/fit.js';

describe('bench fit helpers', () => {
  it('recovers slope and intercept of an exact line', () => {
    const f = linearFit([0, 1000, 5000, 10000], [50e6, 52e6, 60e6, 70e6]);
    expect(f.slope).toBeCloseTo(2000, 6);
    expect(f.intercept).toBeCloseTo(50e6, 0);
    expect(f.r2).toBeCloseTo(1, 12);
    expect(f.n).toBe(4);
  });

  it('gives slope 0 and r2 0 for a flat series, and a noisy trend its least-squares slope', () => {
    expect(linearFit([1, 2, 3], [7, 7, 7])).toMatchObject({ slope: 0, intercept: 7, r2: 0 });
    const f = linearFit([0, 1, 2, 3], [1, 3, 2, 4]);
    expect(f.slope).toBeCloseTo(0.8, 12);
    expect(f.intercept).toBeCloseTo(1.3, 12);
    expect(f.r2).toBeCloseTo(0.64, 12);
  });

  it('rejects fewer than two points, mismatched lengths and a single x', () => {
    expect(() => linearFit([1], [1])).toThrow(RangeError);
    expect(() => linearFit([1, 2], [1])).toThrow(RangeError);
    expect(() => linearFit([3, 3], [1, 2])).toThrow(RangeError);
  });

  it('gives the slope between consecutive plateaus', () => {
    expect(stepSlopes([0, 1000, 5000], [10, 2010, 10010])).toEqual([2, 2]);
    expect(stepSlopes([0, 0], [1, 2])[0]).toBeNaN();
  });

  it('separates a trend over time from the number of open calls', () => {
    // y = 100e6 + 5000 * minute + 20000 * calls, with calls drifting up and down
    const t = [0, 1, 2, 3, 4, 5];
    const calls = [100, 150, 700, 300, 1200, 200];
    const y = t.map((m, i) => 100e6 + 5000 * m + 20000 * calls[i]!);
    const f = planeFit(t, calls, y);
    expect(f.slope1).toBeCloseTo(5000, 4);
    expect(f.slope2).toBeCloseTo(20000, 6);
    expect(f.intercept).toBeCloseTo(100e6, 0);
    expect(() => planeFit(t, t.map((m) => 2 * m), y)).toThrow(RangeError);
    expect(() => planeFit([1, 2], [3, 4], [5, 6])).toThrow(RangeError);
  });
});
