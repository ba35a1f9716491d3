// Pure helpers of the memory benchmark (bench/memory.ts): least-squares line and
// the slopes between consecutive plateaus. Unit test: test/bench/fit.test.ts.

export interface LineFit {
  /** dy/dx of the least-squares line. */
  slope: number;
  intercept: number;
  /** Coefficient of determination (1: every point on the line; 0 when y is constant). */
  r2: number;
  n: number;
}

/** Ordinary least squares y = intercept + slope * x. Needs at least two distinct x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): LineFit {
  if (xs.length !== ys.length) throw new RangeError(`linearFit: ${xs.length} x values but ${ys.length} y values`);
  const n = xs.length;
  if (n < 2) throw new RangeError('linearFit: needs at least two points');
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) throw new RangeError('linearFit: all x values are equal');
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, r2: syy === 0 ? 0 : (sxy * sxy) / (sxx * syy), n };
}

/** (y[i] - y[i-1]) / (x[i] - x[i-1]) for each consecutive pair: the bytes per call between two plateaus. */
export function stepSlopes(xs: readonly number[], ys: readonly number[]): number[] {
  if (xs.length !== ys.length) throw new RangeError(`stepSlopes: ${xs.length} x values but ${ys.length} y values`);
  const out: number[] = [];
  for (let i = 1; i < xs.length; i++) {
    const dx = xs[i]! - xs[i - 1]!;
    out.push(dx === 0 ? Number.NaN : (ys[i]! - ys[i - 1]!) / dx);
  }
  return out;
}

export interface PlaneFit {
  intercept: number;
  /** dy/dx1 with x2 held constant (e.g. bytes per minute at a constant number of live calls). */
  slope1: number;
  /** dy/dx2 with x1 held constant (e.g. bytes per live call). */
  slope2: number;
  n: number;
}

/**
 * Least squares y = intercept + slope1 * x1 + slope2 * x2: a soak's memory trend over time
 * (x1) separated from the number of calls open at each sample (x2), which drifts when the
 * system under test falls behind. Throws when x1 and x2 are collinear or constant.
 */
export function planeFit(x1: readonly number[], x2: readonly number[], ys: readonly number[]): PlaneFit {
  const n = ys.length;
  if (x1.length !== n || x2.length !== n) throw new RangeError('planeFit: x1, x2 and y differ in length');
  if (n < 3) throw new RangeError('planeFit: needs at least three points');
  const mean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / n;
  const [m1, m2, my] = [mean(x1), mean(x2), mean(ys)];
  let s11 = 0;
  let s22 = 0;
  let s12 = 0;
  let s1y = 0;
  let s2y = 0;
  for (let i = 0; i < n; i++) {
    const a = x1[i]! - m1;
    const b = x2[i]! - m2;
    const y = ys[i]! - my;
    s11 += a * a;
    s22 += b * b;
    s12 += a * b;
    s1y += a * y;
    s2y += b * y;
  }
  const det = s11 * s22 - s12 * s12;
  if (!(Math.abs(det) > 1e-12 * Math.max(1, s11 * s22))) throw new RangeError('planeFit: x1 and x2 are collinear or constant');
  const slope1 = (s1y * s22 - s2y * s12) / det;
  const slope2 = (s2y * s11 - s1y * s12) / det;
  return { intercept: my - slope1 * m1 - slope2 * m2, slope1, slope2, n };
}
