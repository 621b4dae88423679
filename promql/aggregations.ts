// PromQL aggregation operators over one step's instant vector, with Prometheus 2.42's exact
// numerics and output order (promql/engine.go `aggregation`): plain summation, incremental
// mean, Welford variance, container/heap selection for topk/bottomk.

import { compareLabels, compareStrings, getLabel, METRIC_NAME, setLabel } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { separatedHash } from "../tsdb/label_hash.ts";
import type { AggregateOp } from "./ast.ts";
import { quantileOf } from "./functions.ts";
import { formatFloatGo } from "../strconv/float.ts";

/** Aggregation operators of PromQL 2.42: the AST's operator type under this module's name. */
export type AggregationOp = AggregateOp;

/** One float element of an instant vector. */
export interface VectorSample {
  labels: Labels;
  value: number;
}

/** Grouping clause and parameter of an aggregation. */
export interface AggregationOptions {
  /** Label names of `by (…)` / `without (…)`. */
  grouping: readonly string[];
  /** True for `without`, false for `by` (or no clause). */
  without: boolean;
  /** φ of quantile, k of topk/bottomk (numbers), label name of count_values (string). */
  param?: number | string;
}

/** An aggregation failed on its parameter (the engine reports an `execution` error). */
export class AggregationError extends Error {
  override name = "AggregationError";
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MAX_INT64 = 9223372036854775807;
const MIN_INT64 = -9223372036854775808;

interface Group {
  labels: Labels;
  value: number;
  mean: number;
  count: number;
  heap: VectorSample[];
}

/** Go's `%v` for a float64 (shortest digits, exponent form when exp < -4 or ≥ 21). */
function formatGoV(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  const s = String(v);
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

/**
 * Aggregates `samples` (in the evaluator's vector order) as Prometheus does and returns the
 * output vector in Prometheus' order: groups in order of first appearance; within a
 * topk/bottomk group, by value (desc/asc, NaN last), ties resolved by Go's heap and sort.
 * Labels: `by` keeps the grouping labels, `without` drops them and `__name__`, no clause gives
 * `{}`; topk/bottomk keep each winner's own labels; count_values adds `<param>=<value>`.
 * Throws {@link AggregationError} for a non-int64 k or an invalid count_values label.
 */
export function aggregate(
  op: AggregationOp,
  samples: readonly VectorSample[],
  opts: AggregationOptions,
): VectorSample[] {
  let grouping = opts.grouping;
  const without = opts.without;
  let k = 0;
  if (op === "topk" || op === "bottomk") {
    const f = Number(opts.param);
    if (!(f <= MAX_INT64 && f >= MIN_INT64)) {
      throw new AggregationError(`Scalar value ${formatGoV(f)} overflows int64`);
    }
    k = Math.trunc(f);
    if (k < 1) return [];
  }
  const q = op === "quantile" ? Number(opts.param) : 0;
  let valueLabel = "";
  if (op === "count_values") {
    valueLabel = String(opts.param ?? "");
    if (!LABEL_NAME.test(valueLabel)) {
      throw new AggregationError(`invalid label name ${JSON.stringify(valueLabel)}`);
    }
    if (!without) grouping = [...grouping, valueLabel];
  }
  if (op === "limitk" || op === "limit_ratio") {
    return limitAggregate(op, samples, opts, Number(opts.param));
  }
  const groupBy = new Grouping(grouping, without);

  const groups = new Map<string, Group>();
  const ordered: Group[] = [];
  for (const s of samples) {
    let metric = s.labels;
    if (op === "count_values") metric = setLabel(metric, valueLabel, formatFloatGo(s.value));
    const key = groupBy.key(metric);
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        labels: groupBy.labels(metric),
        value: s.value,
        mean: s.value,
        count: 1,
        heap: [],
      };
      if (op === "stddev" || op === "stdvar") g.value = 0;
      else if (op === "group") g.value = 1;
      else if (op === "topk" || op === "bottomk" || op === "quantile") {
        g.heap.push({ labels: s.labels, value: s.value });
      }
      groups.set(key, g);
      ordered.push(g);
      continue;
    }
    const v = s.value;
    switch (op) {
      case "sum":
        g.value += v;
        break;
      case "avg": {
        g.count++;
        const m = g.mean;
        if (m === Infinity || m === -Infinity) {
          // an infinite mean only changes for NaN or the opposite infinity
          if ((v === Infinity || v === -Infinity) && (m > 0) === (v > 0)) break;
          if (v !== Infinity && v !== -Infinity && v === v) break;
        }
        // both terms divided by n first, so large values do not overflow
        g.mean += v / g.count - m / g.count;
        break;
      }
      case "max":
        if (g.value < v || g.value !== g.value) g.value = v;
        break;
      case "min":
        if (g.value > v || g.value !== g.value) g.value = v;
        break;
      case "count":
      case "count_values":
        g.count++;
        break;
      case "stddev":
      case "stdvar": {
        g.count++;
        const d = v - g.mean;
        g.mean += d / g.count;
        g.value += d * (v - g.mean);
        break;
      }
      case "topk":
        heapOffer(g.heap, s, k, lessTop);
        break;
      case "bottomk":
        heapOffer(g.heap, s, k, lessBottom);
        break;
      case "quantile":
        g.heap.push(s);
        break;
      case "group":
        break;
    }
  }

  const out: VectorSample[] = [];
  for (const g of ordered) {
    switch (op) {
      case "avg":
        out.push({ labels: g.labels, value: g.mean });
        break;
      case "count":
      case "count_values":
        out.push({ labels: g.labels, value: g.count });
        break;
      case "stdvar":
        out.push({ labels: g.labels, value: g.value / g.count });
        break;
      case "stddev":
        out.push({ labels: g.labels, value: Math.sqrt(g.value / g.count) });
        break;
      case "topk":
      case "bottomk": {
        const less = op === "topk" ? lessTop : lessBottom;
        // the heap keeps the weakest winner on top; Go sorts it with sort.Reverse
        if (g.heap.length > 1) insertionSort(g.heap, (a, b) => less(b, a));
        for (const e of g.heap) out.push({ labels: e.labels, value: e.value });
        break;
      }
      case "quantile": {
        const vals = new Float64Array(g.heap.length);
        for (let i = 0; i < vals.length; i++) vals[i] = g.heap[i].value;
        out.push({ labels: g.labels, value: quantileOf(q, vals, 0, vals.length) });
        break;
      }
      default:
        out.push({ labels: g.labels, value: g.value });
    }
  }
  return out;
}

/**
 * An aggregation's `by (…)` / `without (…)` clause: which group a label set falls in, and the
 * group's output labels (`without` also leaves out `__name__`; an empty `by` and no clause both
 * give `{}`).
 */
export class Grouping {
  /** The clause's names, each once. */
  private readonly names: readonly string[];
  private readonly set: Set<string>;

  constructor(names: readonly string[], readonly without: boolean) {
    this.set = new Set(names);
    this.names = [...this.set];
  }

  /**
   * The identity of the group `ls` falls in, only used as a map key: distinct for distinct
   * groups whatever characters the values hold. A label with an empty value is an absent one
   * (Prometheus's labels). `by` with one label, the common case, is that label's value itself:
   * no string is built per series (issue 19).
   */
  key(ls: Labels): string {
    if (this.without) {
      let key = "";
      for (let i = 0; i < ls.length; i += 2) {
        const n = ls[i];
        if (n === METRIC_NAME || this.set.has(n)) continue;
        const v = ls[i + 1];
        // the value's length first: a separator inside a value cannot shift the next label
        key += n + "\xff" + v.length + "\xff" + v;
      }
      return key;
    }
    const names = this.names;
    if (names.length === 0) return "";
    if (names.length === 1) return getLabel(ls, names[0]);
    let key = "";
    for (let k = 0; k < names.length; k++) {
      const v = getLabel(ls, names[k]);
      key += v.length + "\xff" + v;
    }
    return key;
  }

  /** The output labels of the group `ls` falls in. */
  labels(ls: Labels): Labels {
    const without = this.without;
    if (!without && this.names.length === 0) return [];
    const out: string[] = [];
    for (let i = 0; i < ls.length; i += 2) {
      const name = ls[i];
      const inGroup = this.set.has(name);
      if (without ? (inGroup || name === METRIC_NAME) : !inGroup) continue;
      out.push(name, ls[i + 1]);
    }
    return out;
  }
}

type Less = (a: VectorSample, b: VectorSample) => boolean;

/** Go's vectorByValueHeap.Less: NaN counts as smallest. */
const lessTop: Less = (a, b) => a.value !== a.value || a.value < b.value;
/** Go's vectorByReverseValueHeap.Less: NaN counts as "largest first" order's smallest. */
const lessBottom: Less = (a, b) => a.value !== a.value || a.value > b.value;

/** Prometheus' topk/bottomk admission, with Go's container/heap Push/Pop on `h`. */
function heapOffer(h: VectorSample[], s: VectorSample, k: number, less: Less): void {
  const top = h[0];
  const better = displaces(less, top, s);
  if (!(h.length < k || better)) return;
  if (h.length === k) {
    if (k === 1) {
      h[0] = s;
      return;
    }
    heapPop(h, less);
  }
  h.push(s);
  heapUp(h, h.length - 1, less);
}

/** `heap[0].V < s.V || isNaN(heap[0].V)` for topk (mirrored for bottomk). */
function displaces(less: Less, top: VectorSample, s: VectorSample): boolean {
  if (top.value !== top.value) return true;
  return less === lessTop ? top.value < s.value : top.value > s.value;
}

function heapUp(h: VectorSample[], j: number, less: Less): void {
  while (j > 0) {
    const i = (j - 1) >> 1;
    if (!less(h[j], h[i])) break;
    const t = h[i];
    h[i] = h[j];
    h[j] = t;
    j = i;
  }
}

function heapDown(h: VectorSample[], i0: number, n: number, less: Less): void {
  let i = i0;
  for (;;) {
    const j1 = 2 * i + 1;
    if (j1 >= n) break;
    let j = j1;
    const j2 = j1 + 1;
    if (j2 < n && less(h[j2], h[j1])) j = j2;
    if (!less(h[j], h[i])) break;
    const t = h[i];
    h[i] = h[j];
    h[j] = t;
    i = j;
  }
}

function heapPop(h: VectorSample[], less: Less): void {
  const n = h.length - 1;
  const t = h[0];
  h[0] = h[n];
  h[n] = t;
  heapDown(h, 0, n, less);
  h.pop();
}

/**
 * Go's insertionSort (what sort.Sort runs for ≤ 12 elements). Longer inputs get the same
 * insertion sort: equal values may then come out in another order than Go's pdqsort.
 */
function insertionSort(a: VectorSample[], less: Less): void {
  for (let i = 1; i < a.length; i++) {
    for (let j = i; j > 0 && less(a[j], a[j - 1]); j--) {
      const t = a[j];
      a[j] = a[j - 1];
      a[j - 1] = t;
    }
  }
}

/**
 * The order `sort()` (ascending) or `sort_desc()` gives an instant vector: returns a sorted
 * copy, NaN last. Equal values keep their input order (Go's unstable sort may differ there).
 */
export function sortByValue(v: readonly VectorSample[], desc: boolean): VectorSample[] {
  const out = v.slice();
  out.sort((a, b) => {
    const an = a.value !== a.value;
    const bn = b.value !== b.value;
    if (an || bn) return an === bn ? 0 : an ? 1 : -1;
    const c = a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
    return desc ? -c : c;
  });
  return out;
}

/** Go's strconv.Atoi of an all-digit chunk: null when it overflows int64 (then compared as text). */
function atoiDigits(s: string): bigint | null {
  const v = BigInt(s);
  return v > 9223372036854775807n ? null : v;
}

/**
 * facette/natsort's Compare (https://github.com/facette/natsort/blob/master/natsort.go), which
 * Prometheus's sort_by_label uses: true when `a` precedes `b`, comparing runs of digits as
 * integers and other runs as byte strings.
 */
export function natLess(a: string, b: string): boolean {
  const ca = a.match(/\d+|\D+/g) ?? [];
  const cb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < ca.length; i++) {
    if (i >= cb.length) return false;
    const digits = /^\d/.test(ca[i]) && /^\d/.test(cb[i]);
    const ai = digits ? atoiDigits(ca[i]) : null;
    const bi = digits ? atoiDigits(cb[i]) : null;
    const equal = ai !== null && bi !== null ? ai === bi : ca[i] === cb[i];
    if (equal) {
      if (i === ca.length - 1) return true;
      if (i === cb.length - 1) return false;
      continue;
    }
    if (ai !== null && bi !== null) return ai < bi;
    return compareStrings(ca[i], cb[i]) < 0;
  }
  return false;
}

/**
 * `sort_by_label(v, l…)` / `sort_by_label_desc`: by each label's value in natural order (equal
 * values go on to the next label), then by the whole label set.
 */
export function sortByLabels<T extends { labels: Labels }>(
  v: readonly T[],
  names: readonly string[],
  desc: boolean,
): T[] {
  const out = v.slice();
  out.sort((a, b) => {
    for (const n of names) {
      const x = getLabel(a.labels, n);
      const y = getLabel(b.labels, n);
      if (x === y) continue;
      const c = natLess(x, y) ? -1 : 1;
      return desc ? -c : c;
    }
    const c = compareLabels(a.labels, b.labels);
    return desc ? -c : c;
  });
  return out;
}

/**
 * `limitk(k, v)` and `limit_ratio(r, v)` (Prometheus v3, experimental): per group, the first k
 * samples in the vector's order, or the samples whose label-set hash, as a fraction of 2⁶⁴,
 * is below r (r < 0: at or above 1 + r; r is clamped to [−1, 1]). Each keeps its own labels.
 * https://prometheus.io/docs/prometheus/latest/querying/operators/#aggregation-operators
 */
function limitAggregate(
  op: "limitk" | "limit_ratio",
  samples: readonly VectorSample[],
  opts: AggregationOptions,
  param: number,
): VectorSample[] {
  let k = 0;
  let ratio = 0;
  if (op === "limitk") {
    if (param !== param) throw new AggregationError("Parameter value is NaN");
    if (param <= MIN_INT64) {
      throw new AggregationError(`Scalar value ${formatGoV(param)} underflows int64`);
    }
    if (param >= MAX_INT64) {
      throw new AggregationError(`Scalar value ${formatGoV(param)} overflows int64`);
    }
    k = Math.min(Math.trunc(param), samples.length);
    if (k < 1) return [];
  } else {
    if (param !== param) throw new AggregationError("Ratio value is NaN");
    if (param === 0) return [];
    ratio = Math.max(-1, Math.min(1, param));
  }
  const groupBy = new Grouping(opts.grouping, opts.without);
  const taken = new Map<string, number>();
  const out: VectorSample[] = [];
  for (const s of samples) {
    const key = groupBy.key(s.labels);
    const n = taken.get(key) ?? 0;
    if (op === "limitk") {
      if (n >= k) continue;
    } else {
      const offset = Number(separatedHash(null, s.labels)) / 2 ** 64;
      if (!(ratio >= 0 ? offset < ratio : offset >= 1 + ratio)) continue;
    }
    taken.set(key, n + 1);
    out.push({ labels: s.labels, value: s.value });
  }
  return out;
}
