// PromQL function kernels with Prometheus 2.42 numerics (promql/functions.go). Range-vector
// kernels read one series' window as `(ts, vs, from, to)`: the samples `ts[from..to)` /
// `vs[from..to)` (ms timestamps, float values, stale markers already removed, `to` exclusive),
// so the evaluator can slide a window over one decoded buffer without copying or allocating.
// Kernels that Prometheus drops for too few samples return `undefined` ("no output").

import { formatGoPercentF } from "../strconv/float.ts";

/** A PromQL function failed on its arguments (the engine reports it as an `execution` error). */
export class FunctionArgumentError extends Error {
  override name = "FunctionArgumentError";
}

// ---------------------------------------------------------------------------------------------
// Go math shared by kernels.

/**
 * Go's `math.Pow` (the `^` operator): differs from JS `**` for `(-1)^±Inf` = 1 and `1^NaN` = 1.
 */
export function goPow(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if ((x === -1) && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

// ---------------------------------------------------------------------------------------------
// Range-vector kernels.

/**
 * `rate`/`increase`/`delta` core (`extrapolatedRate`): difference between the first and last
 * sample in the window (with counter-reset correction when `isCounter`), extrapolated towards
 * the window boundaries `[rangeStartMs, rangeEndMs]` (= eval time − offset − range, eval time −
 * offset) unless the gap exceeds 1.1× the average sample interval, never extrapolating a counter
 * below zero; divided by the range in seconds when `isRate`. `undefined` for < 2 samples.
 */
export function extrapolatedRate(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  rangeStartMs: number,
  rangeEndMs: number,
  isCounter: boolean,
  isRate: boolean,
): number | undefined {
  const n = to - from;
  if (n < 2) return undefined;
  const first = vs[from];
  const last = to - 1;
  let result = vs[last] - first;
  if (isCounter) {
    let prev = first;
    for (let i = from + 1; i < to; i++) {
      const cur = vs[i];
      if (cur < prev) result += prev;
      prev = cur;
    }
  }
  let durationToStart = (ts[from] - rangeStartMs) / 1000;
  const durationToEnd = (rangeEndMs - ts[last]) / 1000;
  const sampledInterval = (ts[last] - ts[from]) / 1000;
  const avgInterval = sampledInterval / (n - 1);
  if (isCounter && result > 0 && first >= 0) {
    // A counter cannot go below zero: extrapolate at most to where it would have been zero.
    const durationToZero = sampledInterval * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = avgInterval * 1.1;
  let interval = sampledInterval;
  interval += durationToStart < threshold ? durationToStart : avgInterval / 2;
  interval += durationToEnd < threshold ? durationToEnd : avgInterval / 2;
  let factor = interval / sampledInterval;
  if (isRate) factor /= (rangeEndMs - rangeStartMs) / 1000;
  return result * factor;
}

/** `rate(v[r])`: per-second counter increase, see {@link extrapolatedRate}. */
export function rate(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  rangeStartMs: number,
  rangeEndMs: number,
): number | undefined {
  return extrapolatedRate(ts, vs, from, to, rangeStartMs, rangeEndMs, true, true);
}

/** `increase(v[r])`: counter increase over the range, see {@link extrapolatedRate}. */
export function increase(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  rangeStartMs: number,
  rangeEndMs: number,
): number | undefined {
  return extrapolatedRate(ts, vs, from, to, rangeStartMs, rangeEndMs, true, false);
}

/** `delta(v[r])`: gauge difference over the range, see {@link extrapolatedRate}. */
export function delta(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  rangeStartMs: number,
  rangeEndMs: number,
): number | undefined {
  return extrapolatedRate(ts, vs, from, to, rangeStartMs, rangeEndMs, false, false);
}

function instantValue(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  isRate: boolean,
): number | undefined {
  if (to - from < 2) return undefined;
  const lastV = vs[to - 1];
  const prevV = vs[to - 2];
  // irate treats a drop as a counter reset: the increase is the new value itself
  let result = isRate && lastV < prevV ? lastV : lastV - prevV;
  const dt = ts[to - 1] - ts[to - 2];
  if (dt === 0) return undefined;
  if (isRate) result /= dt / 1000;
  return result;
}

/** `irate(v[r])`: per-second rate between the last two samples. */
export function irate(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
): number | undefined {
  return instantValue(ts, vs, from, to, true);
}

/** `idelta(v[r])`: difference between the last two samples. */
export function idelta(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
): number | undefined {
  return instantValue(ts, vs, from, to, false);
}

/** `resets(v[r])`: number of decreases between consecutive samples (window must be non-empty). */
export function resets(_ts: Float64Array, vs: Float64Array, from: number, to: number): number {
  let n = 0;
  let prev = vs[from];
  for (let i = from + 1; i < to; i++) {
    const cur = vs[i];
    if (cur < prev) n++;
    prev = cur;
  }
  return n;
}

/** `changes(v[r])`: number of value changes (NaN→NaN is no change). */
export function changes(_ts: Float64Array, vs: Float64Array, from: number, to: number): number {
  let n = 0;
  let prev = vs[from];
  for (let i = from + 1; i < to; i++) {
    const cur = vs[i];
    if (cur !== prev && !(cur !== cur && prev !== prev)) n++;
    prev = cur;
  }
  return n;
}

// linearRegression results, kept in module state so the kernel allocates nothing.
let regSlope = 0;
let regIntercept = 0;

/**
 * Least-squares fit with Kahan–Neumaier compensated sums, x = (t − interceptMs)/1000. Sets
 * regSlope/regIntercept. All-equal y gives slope 0 (or NaN, NaN when y is ±Inf).
 */
function linearRegression(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  interceptMs: number,
): void {
  let n = 0;
  let sumX = 0, cX = 0, sumY = 0, cY = 0, sumXY = 0, cXY = 0, sumX2 = 0, cX2 = 0;
  const initY = vs[from];
  let constY = true;
  for (let i = from; i < to; i++) {
    const y = vs[i];
    if (constY && i > from && y !== initY) constY = false;
    n += 1;
    const x = (ts[i] - interceptMs) / 1e3;
    let t = sumX + x;
    cX += Math.abs(sumX) >= Math.abs(x) ? (sumX - t) + x : (x - t) + sumX;
    sumX = t;
    t = sumY + y;
    cY += Math.abs(sumY) >= Math.abs(y) ? (sumY - t) + y : (y - t) + sumY;
    sumY = t;
    const xy = x * y;
    t = sumXY + xy;
    cXY += Math.abs(sumXY) >= Math.abs(xy) ? (sumXY - t) + xy : (xy - t) + sumXY;
    sumXY = t;
    const x2 = x * x;
    t = sumX2 + x2;
    cX2 += Math.abs(sumX2) >= Math.abs(x2) ? (sumX2 - t) + x2 : (x2 - t) + sumX2;
    sumX2 = t;
  }
  if (constY) {
    if (initY === Infinity || initY === -Infinity) {
      regSlope = NaN;
      regIntercept = NaN;
    } else {
      regSlope = 0;
      regIntercept = initY;
    }
    return;
  }
  sumX += cX;
  sumY += cY;
  sumXY += cXY;
  sumX2 += cX2;
  const covXY = sumXY - sumX * sumY / n;
  const varX = sumX2 - sumX * sumX / n;
  regSlope = covXY / varX;
  regIntercept = sumY / n - regSlope * sumX / n;
}

/** `deriv(v[r])`: least-squares slope per second (x relative to the first sample). */
export function deriv(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
): number | undefined {
  if (to - from < 2) return undefined;
  linearRegression(ts, vs, from, to, ts[from]);
  return regSlope;
}

/**
 * `predict_linear(v[r], seconds)`: the fitted line (intercept at the evaluation time `evalMs`,
 * the step's timestamp, not offset-adjusted) extended `seconds` ahead.
 */
export function predictLinear(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  evalMs: number,
  seconds: number,
): number | undefined {
  if (to - from < 2) return undefined;
  linearRegression(ts, vs, from, to, evalMs);
  return regSlope * seconds + regIntercept;
}

/**
 * Validates holt_winters' factors; throws {@link FunctionArgumentError} with Prometheus'
 * message. Prometheus checks per call, i.e. only when some series has samples in the window.
 */
export function checkHoltWintersFactors(sf: number, tf: number): void {
  // NaN passes these comparisons, as it does in Go
  if (sf <= 0 || sf >= 1) {
    throw new FunctionArgumentError(
      `invalid smoothing factor. Expected: 0 < sf < 1, got: ${formatGoPercentF(sf)}`,
    );
  }
  if (tf <= 0 || tf >= 1) {
    throw new FunctionArgumentError(
      `invalid trend factor. Expected: 0 < tf < 1, got: ${formatGoPercentF(tf)}`,
    );
  }
}

/**
 * `holt_winters(v[r], sf, tf)` (double exponential smoothing). Throws
 * {@link FunctionArgumentError} unless 0 < sf < 1 and 0 < tf < 1; `undefined` for < 2 samples.
 */
export function holtWinters(
  _ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  sf: number,
  tf: number,
): number | undefined {
  checkHoltWintersFactors(sf, tf);
  if (to - from < 2) return undefined;
  let s0 = 0;
  let s1 = vs[from];
  let b = vs[from + 1] - vs[from];
  for (let i = 1; i < to - from; i++) {
    const x = sf * vs[from + i];
    // the first step keeps the initial trend; later ones blend the last smoothed slope in
    if (i > 1) b = tf * (s1 - s0) + (1 - tf) * b;
    const y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  return s1;
}

/** `avg_over_time`: incremental mean with Kahan compensation and Prometheus' ±Inf handling. */
export function avgOverTime(_ts: Float64Array, vs: Float64Array, from: number, to: number): number {
  let mean = 0, count = 0, c = 0;
  for (let i = from; i < to; i++) {
    const v = vs[i];
    count++;
    if (mean === Infinity || mean === -Infinity) {
      // an infinite mean stays as it is unless a NaN or an opposite infinity arrives
      if ((v === Infinity || v === -Infinity) && (mean > 0) === (v > 0)) continue;
      if (v !== Infinity && v !== -Infinity && v === v) continue;
    }
    const inc = v / count - mean / count;
    const t = mean + inc;
    c += Math.abs(mean) >= Math.abs(inc) ? (mean - t) + inc : (inc - t) + mean;
    mean = t;
  }
  if (mean === Infinity || mean === -Infinity) return mean;
  return mean + c;
}

/** `sum_over_time`: Kahan–Neumaier compensated sum. */
export function sumOverTime(_ts: Float64Array, vs: Float64Array, from: number, to: number): number {
  let sum = 0, c = 0;
  for (let i = from; i < to; i++) {
    const v = vs[i];
    const t = sum + v;
    c += Math.abs(sum) >= Math.abs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  }
  if (sum === Infinity || sum === -Infinity) return sum;
  return sum + c;
}

/** `count_over_time`. */
export function countOverTime(
  _ts: Float64Array,
  _vs: Float64Array,
  from: number,
  to: number,
): number {
  return to - from;
}

/** `min_over_time`: a NaN is replaced by any later value; all-NaN gives NaN. */
export function minOverTime(_ts: Float64Array, vs: Float64Array, from: number, to: number): number {
  let m = vs[from];
  for (let i = from; i < to; i++) {
    const v = vs[i];
    if (v < m || m !== m) m = v;
  }
  return m;
}

/** `max_over_time`: a NaN is replaced by any later value; all-NaN gives NaN. */
export function maxOverTime(_ts: Float64Array, vs: Float64Array, from: number, to: number): number {
  let m = vs[from];
  for (let i = from; i < to; i++) {
    const v = vs[i];
    if (v > m || m !== m) m = v;
  }
  return m;
}

/** `last_over_time`: the newest value (the function keeps the metric name). */
export function lastOverTime(
  _ts: Float64Array,
  vs: Float64Array,
  _from: number,
  to: number,
): number {
  return vs[to - 1];
}

/** `present_over_time`: 1 for every series with a sample in the window. */
export function presentOverTime(
  _ts: Float64Array,
  _vs: Float64Array,
  _from: number,
  _to: number,
): number {
  return 1;
}

function welford(vs: Float64Array, from: number, to: number): number {
  let count = 0, mean = 0, cMean = 0, aux = 0, cAux = 0;
  for (let i = from; i < to; i++) {
    const v = vs[i];
    count++;
    const d = v - (mean + cMean);
    const inc = d / count;
    let t = mean + inc;
    cMean += Math.abs(mean) >= Math.abs(inc) ? (mean - t) + inc : (inc - t) + mean;
    mean = t;
    const inc2 = d * (v - (mean + cMean));
    t = aux + inc2;
    cAux += Math.abs(aux) >= Math.abs(inc2) ? (aux - t) + inc2 : (inc2 - t) + aux;
    aux = t;
  }
  return (aux + cAux) / count;
}

/** `stdvar_over_time`: population variance (compensated Welford). */
export function stdvarOverTime(
  _ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
): number {
  return welford(vs, from, to);
}

/** `stddev_over_time`: population standard deviation (compensated Welford). */
export function stddevOverTime(
  _ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
): number {
  return Math.sqrt(welford(vs, from, to));
}

let quantileScratch = new Float64Array(256);

/**
 * φ-quantile of `values[from..to)` as Prometheus' `quantile()`: NaN for no values or φ NaN,
 * −Inf for φ < 0, +Inf for φ > 1; else sorted (NaNs first, as Go's comparator puts them) and
 * linearly interpolated at rank φ·(n−1). Does not modify `values`.
 */
export function quantileOf(q: number, values: Float64Array, from: number, to: number): number {
  const n = to - from;
  if (n === 0 || q !== q) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  if (quantileScratch.length < n) {
    quantileScratch = new Float64Array(Math.max(n, quantileScratch.length * 2));
  }
  const s = quantileScratch.subarray(0, n);
  // NaNs go to the front (Go's Less treats NaN as smallest), then ascending numbers
  let nan = 0;
  let m = n;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v !== v) s[nan++] = v;
    else s[--m] = v;
  }
  s.subarray(nan).sort();
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return s[lower] * (1 - weight) + s[upper] * weight;
}

/** `quantile_over_time(φ, v[r])`. */
export function quantileOverTime(
  q: number,
  _ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
): number {
  return quantileOf(q, vs, from, to);
}

// Experimental range functions of Prometheus v3 (https://prometheus.io/docs/prometheus/latest/querying/functions/),
// enabled by `--enable-feature=promql-experimental-functions`.

/** `first_over_time`: the oldest value (the function keeps the metric name). */
export function firstOverTime(
  _ts: Float64Array,
  vs: Float64Array,
  from: number,
  _to: number,
): number {
  return vs[from];
}

/** `mad_over_time`: the median of the absolute deviations from the median. */
export function madOverTime(_ts: Float64Array, vs: Float64Array, from: number, to: number): number {
  const median = quantileOf(0.5, vs, from, to);
  const dev = new Float64Array(to - from);
  for (let i = from; i < to; i++) dev[i - from] = Math.abs(vs[i] - median);
  return quantileOf(0.5, dev, 0, dev.length);
}

/** `ts_of_first_over_time`: the oldest sample's timestamp in seconds. */
export function tsOfFirstOverTime(
  ts: Float64Array,
  _vs: Float64Array,
  from: number,
  _to: number,
): number {
  return ts[from] / 1000;
}

/** `ts_of_last_over_time`: the newest sample's timestamp in seconds. */
export function tsOfLastOverTime(
  ts: Float64Array,
  _vs: Float64Array,
  _from: number,
  to: number,
): number {
  return ts[to - 1] / 1000;
}

/**
 * The timestamp (s) of the newest sample holding the window's maximum (`max`) or minimum: a
 * later equal value wins, a NaN is replaced by any later value.
 */
function tsOfExtreme(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  max: boolean,
): number {
  let m = vs[from];
  let at = ts[from];
  for (let i = from; i < to; i++) {
    const v = vs[i];
    if ((max ? v >= m : v <= m) || m !== m) {
      m = v;
      at = ts[i];
    }
  }
  return at / 1000;
}

/** `ts_of_max_over_time`. */
export function tsOfMaxOverTime(ts: Float64Array, vs: Float64Array, from: number, to: number) {
  return tsOfExtreme(ts, vs, from, to, true);
}

/** `ts_of_min_over_time`. */
export function tsOfMinOverTime(ts: Float64Array, vs: Float64Array, from: number, to: number) {
  return tsOfExtreme(ts, vs, from, to, false);
}

/**
 * Thanos promql-engine's extended rate (xrate, xincrease, xdelta; ringbuffer/functions.go
 * `extendedRate` of https://github.com/thanos-io/promql-engine). `ts/vs[from..to)` are the
 * window's samples, the first of which may be the newest one before the window (at most the
 * extended lookback before it). `windowEnd` is the step time minus offset; `appeared` the
 * timestamp of the series's first sample the query read. Counter resets are corrected for
 * xrate and xincrease; xincrease does not extrapolate; a series that only just appeared with
 * one repeated value gives xincrease that value. Ranges divide in whole seconds, as Go's integer
 * division does there.
 */
export function extendedRate(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  isCounter: boolean,
  isRate: boolean,
  windowEnd: number,
  range: number,
  appeared: number,
): number | undefined {
  const n = to - from;
  if (n === 0) return undefined;
  const rangeStart = windowEnd - range;
  const isIncrease = isCounter && !isRate;
  let sameVals = true;
  for (let i = from + 1; i < to; i++) {
    if (vs[i - 1] !== vs[i]) {
      sameVals = false;
      break;
    }
  }
  if (isIncrease && sameVals && windowEnd <= range + appeared) return vs[from];

  let sampled = ts[to - 1] - ts[from];
  let avgGap = sampled / (n - 1);
  let first = from;
  if (!isIncrease && rangeStart - ts[from] > avgGap) {
    // the sample before the window is too far from its start: drop it
    if (n < 3) return 0;
    first = from + 1;
    sampled = ts[to - 1] - ts[first];
    avgGap = sampled / (n - 2);
  }
  let correction = 0;
  if (isCounter) {
    let last = 0;
    for (let i = first; i < to; i++) {
      if (vs[i] < last) correction += last;
      last = vs[i];
    }
  }
  let result = vs[to - 1] - vs[first] + correction;
  const toEnd = windowEnd - ts[to - 1];
  const rangeSeconds = Math.trunc(range / 1000);
  if (!isIncrease && ts[first] <= rangeStart && toEnd < avgGap) {
    result = result * (rangeSeconds / (sampled / 1000));
  }
  if (isRate) result = result / rangeSeconds;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Instant-vector kernels: one value in, one value out (the evaluator drops `__name__`).

/** `abs`. */
export const abs: (v: number) => number = Math.abs;
/** `ceil`. */
export const ceil: (v: number) => number = Math.ceil;
/** `floor`. */
export const floor: (v: number) => number = Math.floor;
/** `exp`. */
export const exp: (v: number) => number = Math.exp;
/** `sqrt`. */
export const sqrt: (v: number) => number = Math.sqrt;
const MIN_NORMAL = 2.2250738585072014e-308;

/**
 * `ln`: Go's `math.Log` as built for amd64 (Prometheus' release platform). Its assembly reads the
 * exponent bits without normalising subnormal inputs, so for 0 < v < 2^-1022 it returns
 * ln(0.5·(1 + mantissa/2^52)) − 1022·ln 2 (e.g. ln(5e-324) = −1023·ln 2), not the true value.
 */
export function ln(v: number): number {
  if (v > 0 && v < MIN_NORMAL) {
    const mantissa = v / 5e-324; // exact: subnormals are integer multiples of 2^-1074
    return Math.log(0.5 * (1 + mantissa / 4503599627370496)) - 1022 * Math.LN2;
  }
  return Math.log(v);
}

/** `log10`: Go computes `math.Log(v) · (1/ln 10)`, inheriting {@link ln}'s subnormal quirk. */
export function log10(v: number): number {
  if (v > 0 && v < MIN_NORMAL) return ln(v) * Math.LOG10E;
  return Math.log10(v);
}
/** `sin`. */
export const sin: (v: number) => number = Math.sin;
/** `cos`. */
export const cos: (v: number) => number = Math.cos;
/** `tan`. */
export const tan: (v: number) => number = Math.tan;
/** `asin`. */
export const asin: (v: number) => number = Math.asin;
/** `acos`. */
export const acos: (v: number) => number = Math.acos;
/** `atan`. */
export const atan: (v: number) => number = Math.atan;
/** `sinh`. */
export const sinh: (v: number) => number = Math.sinh;
/** `cosh`. */
export const cosh: (v: number) => number = Math.cosh;
/** `tanh`. */
export const tanh: (v: number) => number = Math.tanh;
/** `asinh`. */
export const asinh: (v: number) => number = Math.asinh;
/** `acosh`. */
export const acosh: (v: number) => number = Math.acosh;
/** `atanh`. */
export const atanh: (v: number) => number = Math.atanh;

/**
 * `log2`: Go's frexp-based `math.Log2` (exact for powers of two, `ln(frac)/ln 2 + exp`
 * otherwise, which can differ from JS Math.log2 in the last bit).
 */
export function log2(v: number): number {
  if (!(v > 0) || v === Infinity) return Math.log2(v);
  // frexp: v = frac · 2^e with frac in [0.5, 1)
  let e = Math.floor(Math.log2(v)) + 1;
  let frac = v / 2 ** e;
  // guard the estimate of e against rounding at bucket edges and subnormal scaling
  if (frac >= 1) {
    frac /= 2;
    e++;
  } else if (frac < 0.5) {
    frac *= 2;
    e--;
  }
  if (!Number.isFinite(frac) || frac === 0) return Math.log2(v);
  if (frac === 0.5) return e - 1;
  return Math.log(frac) * Math.LOG2E + e;
}

/** `deg`: radians to degrees (`v·180/π`, in that order, as Prometheus). */
export function deg(v: number): number {
  return v * 180 / Math.PI;
}

/** `rad`: degrees to radians (`v·π/180`). */
export function rad(v: number): number {
  return v * Math.PI / 180;
}

/** `sgn`: −1, 1, or the value itself for ±0 and NaN. */
export function sgn(v: number): number {
  return v < 0 ? -1 : v > 0 ? 1 : v;
}

/** `round(v, toNearest)`: `floor(v·(1/toNearest) + 0.5) / (1/toNearest)` (ties round up). */
export function round(v: number, toNearest = 1): number {
  const inv = 1 / toNearest;
  return Math.floor(v * inv + 0.5) / inv;
}

/**
 * `clamp(v, min, max)` = max(min, min(max, v)) with Go's NaN-propagating min/max. The evaluator
 * returns an empty vector when max < min.
 */
export function clamp(v: number, min: number, max: number): number {
  return goMax(min, goMin(max, v));
}

/** `clamp_min(v, min)`. */
export function clampMin(v: number, min: number): number {
  return goMax(min, v);
}

/** `clamp_max(v, max)`. */
export function clampMax(v: number, max: number): number {
  return goMin(max, v);
}

/** Go's `math.Max`: +Inf wins over NaN, then NaN wins; +0 beats −0. */
export function goMax(a: number, b: number): number {
  if (a === Infinity || b === Infinity) return Infinity;
  return Math.max(a, b);
}

/** Go's `math.Min`: −Inf wins over NaN, then NaN wins; −0 beats +0. */
export function goMin(a: number, b: number): number {
  if (a === -Infinity || b === -Infinity) return -Infinity;
  return Math.min(a, b);
}

// ---------------------------------------------------------------------------------------------
// Date functions (UTC). Prometheus converts the argument with Go's int64(v) (truncation), then
// time.Unix(sec, 0).UTC(). Non-finite or out-of-range values become Go's amd64 conversion
// result, math.MinInt64.

const MIN_INT64_SECONDS = -9223372036854775808;

// civil date of the last conversion, module state so the date kernels allocate nothing
let cYear = 0, cMonth = 0, cDay = 0, cYday = 0, cWday = 0, cHour = 0, cMinute = 0;

function toCivil(v: number): void {
  let sec = Math.trunc(v);
  if (!(sec > -9.223372036854776e18 && sec < 9.223372036854776e18)) {
    sec = MIN_INT64_SECONDS;
    // Go's time arithmetic wraps for math.MinInt64 seconds: Prometheus 2.42 answers
    // 292277026596-12-04T15:30 UTC (day of year 339); its weekday equals the one computed here
    cYear = 292277026596;
    cMonth = 12;
    cDay = 4;
    cYday = 339;
    cHour = 15;
    cMinute = 30;
    cWday = (((Math.floor(sec / 86400) + 4) % 7) + 7) % 7;
    return;
  }
  const days = Math.floor(sec / 86400);
  const rem = sec - days * 86400;
  cHour = Math.floor(rem / 3600);
  cMinute = Math.floor((rem - cHour * 3600) / 60);
  cWday = ((days + 4) % 7 + 7) % 7; // 1970-01-01 was a Thursday
  // days → proleptic Gregorian date via 400-year eras (era starts on March 1st)
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
      Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  cDay = doy - Math.floor((153 * mp + 2) / 5) + 1;
  cMonth = mp < 10 ? mp + 3 : mp - 9;
  cYear = yoe + era * 400 + (cMonth <= 2 ? 1 : 0);
  cYday = dayOfYearFor(cYear, cMonth, cDay);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const CUMULATIVE_DAYS = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

function dayOfYearFor(y: number, m: number, d: number): number {
  return CUMULATIVE_DAYS[m - 1] + d + (m > 2 && isLeap(y) ? 1 : 0);
}

/** `year(v)` of Unix seconds `v` (UTC). */
export function year(v: number): number {
  toCivil(v);
  return cYear;
}

/** `month(v)`: 1–12. */
export function month(v: number): number {
  toCivil(v);
  return cMonth;
}

/** `day_of_month(v)`: 1–31. */
export function dayOfMonth(v: number): number {
  toCivil(v);
  return cDay;
}

/** `day_of_year(v)`: 1–366. */
export function dayOfYear(v: number): number {
  toCivil(v);
  return cYday;
}

/** `day_of_week(v)`: 0 (Sunday) – 6. */
export function dayOfWeek(v: number): number {
  toCivil(v);
  return cWday;
}

/** `hour(v)`: 0–23. */
export function hour(v: number): number {
  toCivil(v);
  return cHour;
}

/** `minute(v)`: 0–59. */
export function minute(v: number): number {
  toCivil(v);
  return cMinute;
}

/** `days_in_month(v)`: 28–31. */
export function daysInMonth(v: number): number {
  toCivil(v);
  if (cMonth === 2) return isLeap(cYear) ? 29 : 28;
  return cMonth === 4 || cMonth === 6 || cMonth === 9 || cMonth === 11 ? 30 : 31;
}

/** Instant functions of one float argument, by PromQL name (for table-driven evaluators). */
export const SIMPLE_FUNCTIONS: Readonly<Record<string, (v: number) => number>> = {
  abs,
  ceil,
  floor,
  exp,
  sqrt,
  ln,
  log2,
  log10,
  sin,
  cos,
  tan,
  asin,
  acos,
  atan,
  sinh,
  cosh,
  tanh,
  asinh,
  acosh,
  atanh,
  deg,
  rad,
  sgn,
  day_of_month: dayOfMonth,
  day_of_week: dayOfWeek,
  day_of_year: dayOfYear,
  days_in_month: daysInMonth,
  hour,
  minute,
  month,
  year,
};

/** Signature shared by the plain range-vector kernels. */
export type RangeKernel = (
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
) => number | undefined;

/** Range-vector functions without extra arguments or range boundaries, by PromQL name. */
export const RANGE_FUNCTIONS: Readonly<Record<string, RangeKernel>> = {
  irate,
  idelta,
  resets,
  changes,
  deriv,
  avg_over_time: avgOverTime,
  min_over_time: minOverTime,
  max_over_time: maxOverTime,
  sum_over_time: sumOverTime,
  count_over_time: countOverTime,
  stddev_over_time: stddevOverTime,
  stdvar_over_time: stdvarOverTime,
  last_over_time: lastOverTime,
  present_over_time: presentOverTime,
};

/** Prometheus v3's experimental plain range-vector kernels, by PromQL name. */
export const EXPERIMENTAL_RANGE_FUNCTIONS: Readonly<Record<string, RangeKernel>> = {
  first_over_time: firstOverTime,
  mad_over_time: madOverTime,
  ts_of_first_over_time: tsOfFirstOverTime,
  ts_of_last_over_time: tsOfLastOverTime,
  ts_of_max_over_time: tsOfMaxOverTime,
  ts_of_min_over_time: tsOfMinOverTime,
};
