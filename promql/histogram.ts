// histogram_quantile over classic (`le`-labelled) bucket series, as Prometheus 2.42 computes it
// (promql/quantile.go: bucketQuantile, coalesceBuckets, ensureMonotonic).

import { dropLabels, getLabel, labelsKey, METRIC_NAME } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";

const DECIMAL_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const HEX_FLOAT = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/;
const SPECIAL_FLOAT = /^([+-]?)(inf|infinity|nan)$/i;

/**
 * Parses a string as Go's `strconv.ParseFloat(s, 64)` does for the forms seen in `le` labels:
 * decimals with exponent, `Inf`/`Infinity`/`NaN` in any case with a sign, hex floats with a
 * `p` exponent. Returns `undefined` when Go would report a syntax error.
 */
export function parseGoFloat(s: string): number | undefined {
  if (DECIMAL_FLOAT.test(s)) return Number(s);
  const sp = SPECIAL_FLOAT.exec(s);
  if (sp) {
    if (sp[2].toLowerCase() === "nan") return NaN;
    return sp[1] === "-" ? -Infinity : Infinity;
  }
  const hx = HEX_FLOAT.exec(s);
  if (hx && (hx[2] !== "" || (hx[3] ?? "") !== "")) {
    const frac = hx[3] ?? "";
    const mant = parseInt(hx[2] + frac || "0", 16);
    const v = mant * 2 ** (Number(hx[4]) - 4 * frac.length);
    return hx[1] === "-" ? -v : v;
  }
  return undefined;
}

/**
 * φ-quantile from classic buckets: `upper[i]` upper bounds and `counts[i]` cumulative counts for
 * i < n. Sorts and coalesces the arrays in place (pass scratch copies). NaN for φ NaN, −Inf for
 * φ < 0, +Inf for φ > 1, NaN when the highest bound is not +Inf, fewer than 2 distinct bounds,
 * or no observations. Counts are made monotonic (a lower count takes the previous one).
 * Linear interpolation inside the bucket, lower bound 0 for the first bucket when its upper
 * bound is positive; in the +Inf bucket the second-highest bound is returned.
 */
export function bucketQuantile(
  q: number,
  upper: Float64Array,
  counts: Float64Array,
  n: number,
): number {
  if (q !== q) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  if (n === 0) return NaN;
  sortBuckets(upper, counts, n);
  if (upper[n - 1] !== Infinity) return NaN;
  // merge buckets with the same bound
  let m = 0;
  let lastU = upper[0];
  let lastC = counts[0];
  for (let i = 1; i < n; i++) {
    if (upper[i] === lastU) {
      lastC += counts[i];
    } else {
      upper[m] = lastU;
      counts[m] = lastC;
      m++;
      lastU = upper[i];
      lastC = counts[i];
    }
  }
  upper[m] = lastU;
  counts[m] = lastC;
  n = m + 1;
  // envelope: non-atomic scrapes/rates can make a higher bucket count lower than a lower one
  let max = counts[0];
  for (let i = 1; i < n; i++) {
    if (counts[i] > max) max = counts[i];
    else if (counts[i] < max) counts[i] = max;
  }
  if (n < 2) return NaN;
  const observations = counts[n - 1];
  if (observations === 0) return NaN;
  let rank = q * observations;
  // first bucket (all but the last) whose count reaches rank; binary search like sort.Search
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (!(counts[mid] >= rank)) lo = mid + 1;
    else hi = mid;
  }
  const b = lo;
  if (b === n - 1) return upper[n - 2];
  if (b === 0 && upper[0] <= 0) return upper[0];
  let start = 0;
  const end = upper[b];
  let count = counts[b];
  if (b > 0) {
    start = upper[b - 1];
    count -= counts[b - 1];
    rank -= counts[b - 1];
  }
  return start + (end - start) * (rank / count);
}

/** Stable insertion sort of the (upper, count) pairs by upper bound (bucket lists are short). */
function sortBuckets(upper: Float64Array, counts: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const u = upper[i];
    const c = counts[i];
    let j = i - 1;
    while (j >= 0 && u < upper[j]) {
      upper[j + 1] = upper[j];
      counts[j + 1] = counts[j];
      j--;
    }
    upper[j + 1] = u;
    counts[j + 1] = c;
  }
}

/** One float sample of an instant vector. */
export interface HistogramInputSample {
  labels: Labels;
  value: number;
}

/** One output element of {@link histogramQuantileVector}. */
export interface HistogramQuantileOutput {
  /** Input labels without `__name__` and `le`. */
  labels: Labels;
  value: number;
}

/**
 * `histogram_quantile(φ, v)` over classic buckets: series are grouped by all labels except
 * `le` (the metric name is part of the group, as in Prometheus, so two families with the same
 * other labels give two outputs with equal labels — the evaluator's duplicate-labelset check
 * then fails the query, as Prometheus does). Series without a parsable `le` are skipped.
 * Output order is the order in which groups first appear.
 */
export function histogramQuantileVector(
  q: number,
  samples: readonly HistogramInputSample[],
): HistogramQuantileOutput[] {
  const groups = new Map<string, { labels: Labels; upper: number[]; counts: number[] }>();
  for (const s of samples) {
    const bound = parseGoFloat(getLabel(s.labels, "le"));
    // no or malformed `le`: Prometheus skips the series
    if (bound === undefined) continue;
    const sig = dropLabels(s.labels, ["le"]);
    const key = labelsKey(sig);
    let g = groups.get(key);
    if (!g) {
      g = { labels: dropLabels(sig, [METRIC_NAME]), upper: [], counts: [] };
      groups.set(key, g);
    }
    g.upper.push(bound);
    g.counts.push(s.value);
  }
  const out: HistogramQuantileOutput[] = [];
  for (const g of groups.values()) {
    const u = Float64Array.from(g.upper);
    const c = Float64Array.from(g.counts);
    out.push({ labels: g.labels, value: bucketQuantile(q, u, c, u.length) });
  }
  return out;
}
