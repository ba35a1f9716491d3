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
