// Binary operators of PromQL 2.42 (promql/engine.go VectorBinop/VectorAnd/Or/Unless,
// VectorscalarBinop, scalarBinop): element arithmetic and comparisons, vector matching with
// on/ignoring and group_left/group_right, and the set operators, over step-grid series.

import { getLabel, labelsGoString, METRIC_NAME, setLabel } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { type BinaryOp, isComparison, type VectorMatching } from "./ast.ts";
import { PromQLError, sameLabelsetError } from "./errors.ts";
import { goPow } from "./functions.ts";
import { StepCollector, type StepSeries } from "./value.ts";
import { recycleStepArrays, stepFlags, stepValues } from "./step_arrays.ts";
import { LabelSubsetMap } from "./label_subset_map.ts";

/** Operators whose vector result loses `__name__` (arithmetic except atan2, as 2.42). */
export function dropsMetricName(op: BinaryOp): boolean {
  return op === "+" || op === "-" || op === "*" || op === "/" || op === "%" || op === "^";
}

/** Arithmetic on two floats as Go computes it (`%` = math.Mod, `^` = math.Pow). */
export function arith(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
    case "%":
      return a % b;
    case "^":
      return goPow(a, b);
    case "atan2":
      return Math.atan2(a, b);
    default:
      return NaN;
  }
}

/** Comparison result of `a op b`. */
export function compare(op: BinaryOp, a: number, b: number): boolean {
  switch (op) {
    case "==":
      return a === b;
    case "!=":
      return a !== b;
    case ">":
      return a > b;
    case "<":
      return a < b;
    case ">=":
      return a >= b;
    case "<=":
      return a <= b;
    default:
      return false;
  }
}

/** scalar ∘ scalar (comparisons need `bool`, so they give 0/1). */
export function scalarBinop(op: BinaryOp, a: number, b: number): number {
  if (isComparison(op)) return compare(op, a, b) ? 1 : 0;
  return arith(op, a, b);
}

/** `ls` without `__name__`. */
export function dropName(ls: Labels): Labels {
  for (let i = 0; i < ls.length; i += 2) {
    if (ls[i] !== METRIC_NAME) continue;
    // the name sorts first unless a label name starts with a capital letter
    if (i === 0) return ls.slice(2);
    const out = ls.slice(0, ls.length - 2);
    for (let j = i; j < out.length; j++) out[j] = ls[j + 2];
    return out;
  }
  return ls;
}

/**
 * vector ∘ scalar for one series (scalar on the left when `swap`): arithmetic, or a filter
 * keeping the vector's value, or with `bool` 0/1 everywhere. Returns null when nothing remains.
 */
export function vectorScalarSeries(
  op: BinaryOp,
  s: StepSeries,
  scalar: Float64Array,
  swap: boolean,
  returnBool: boolean,
): StepSeries | null {
  const n = s.has.length;
  const vals = stepValues(n);
  const has = stepFlags(n);
  const cmp = isComparison(op);
  let any = false;
  for (let i = 0; i < n; i++) {
    if (s.has[i] === 0) continue;
    const v = s.vals[i];
    const k = scalar[i];
    if (cmp) {
      const keep = swap ? compare(op, k, v) : compare(op, v, k);
      if (returnBool) {
        vals[i] = keep ? 1 : 0;
      } else if (keep) {
        vals[i] = v;
      } else continue;
    } else {
      vals[i] = swap ? arith(op, k, v) : arith(op, v, k);
    }
    has[i] = 1;
    any = true;
  }
  if (!any) return null;
  const labels = dropsMetricName(op) || returnBool ? dropName(s.labels) : s.labels;
  return { labels, vals, has };
}

/** Labels `ls` restricted like the signature (Prometheus `MatchLabels`), for messages. */
function matchLabels(ls: Labels, matching: VectorMatching): Labels {
  const out: string[] = [];
  for (let i = 0; i < ls.length; i += 2) {
    const n = ls[i];
    const listed = matching.matchingLabels.includes(n);
    if (matching.on ? !listed : (listed || n === METRIC_NAME)) continue;
    out.push(n, ls[i + 1]);
  }
  return out;
}

/** Result labels of a matched pair (Prometheus `resultMetric`); `one` is the "one" side. */
function resultMetric(
  many: Labels,
  one: Labels,
  op: BinaryOp,
  matching: VectorMatching,
  returnBool: boolean,
): Labels {
  let out: Labels = many;
  if (dropsMetricName(op)) out = dropName(out);
  if (matching.card === "one-to-one") {
    const names = matching.matchingLabels;
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) {
      const listed = names.includes(out[i]);
      if (matching.on ? listed : !listed) kept.push(out[i], out[i + 1]);
    }
    out = kept;
  }
  for (const ln of matching.include) out = setLabel(out, ln, getLabel(one, ln));
  if (returnBool) out = dropName(out);
  return out;
}

/**
 * `lhs op rhs` for arithmetic and comparison operators with vector matching, over `n` steps.
 * Errors as Prometheus: duplicate series on the "one" side, many-to-one without group_x,
 * non-unique group_x results, and duplicate output label sets.
 */
export function vectorBinop(
  op: BinaryOp,
  lhsIn: readonly StepSeries[],
  rhsIn: readonly StepSeries[],
  matching: VectorMatching,
  returnBool: boolean,
  n: number,
  /**
   * The operands' step arrays are theirs alone and read by nothing after this: each series of
   * the "many" side is given back once matched, and later results reuse its memory (issue 19).
   */
  giveBack = false,
): StepSeries[] {
  if (lhsIn.length === 0 || rhsIn.length === 0) return [];
  const swapped = matching.card === "one-to-many";
  // after the swap, `many` is iterated and `one` is the side whose signatures must be unique
  const many = swapped ? rhsIn : lhsIn;
  const one = swapped ? lhsIn : rhsIn;
  const cmp = isComparison(op);

  // the "one" side grouped by signature, with per step 1 + the index of the present "one"
  // series (0 none; duplicates fail). Step arrays from the shared buffers: a typed array with its
  // own buffer costs a microsecond.
  const groups = LabelSubsetMap.signatures<OneSideGroup>(matching);
  for (let j = 0; j < one.length; j++) {
    const ls = one[j].labels;
    let g = groups.get(ls);
    if (g === undefined) {
      g = { present: stepValues(n), matched: null };
      groups.add(ls, g);
    }
    const p = g.present;
    const h = one[j].has;
    for (let i = 0; i < n; i++) {
      if (h[i] === 0) continue;
      if (p[i] !== 0) {
        const b = one[p[i] - 1].labels;
        throw new PromQLError(
          "execution",
          `found duplicate series for the match group ${
            labelsGoString(matchLabels(ls, matching))
          } on the ${swapped ? "left" : "right"} hand-side of the operation: [${
            labelsGoString(ls)
          }, ${
            labelsGoString(b)
          }];many-to-many matching not allowed: matching labels must be unique on one side`,
        );
      }
      p[i] = j + 1;
    }
  }

  const out: StepSeries[] = [];
  const outIndex = LabelSubsetMap.wholeLabelSets<StepSeries>();
  // a matched pair's output series (by its labels), found once for all its steps
  const outputs = new Map<number, StepSeries>();

  for (let li = 0; li < many.length; li++) {
    const ls = many[li];
    const g = groups.get(ls.labels);
    if (g === undefined) continue;
    const p = g.present;
    for (let i = 0; i < n; i++) {
      if (ls.has[i] === 0) continue;
      const ri = p[i] - 1;
      if (ri === -1) continue;
      const rs = one[ri];
      const vl = swapped ? rs.vals[i] : ls.vals[i];
      const vr = swapped ? ls.vals[i] : rs.vals[i];
      let value: number;
      let keep = true;
      if (cmp) {
        keep = compare(op, vl, vr);
        value = vl;
      } else {
        value = arith(op, vl, vr);
      }
      if (returnBool) value = keep ? 1 : 0;
      else if (!keep) continue;

      const cacheKey = li * one.length + ri;
      let dst = outputs.get(cacheKey);
      if (dst === undefined) {
        const metric = resultMetric(ls.labels, rs.labels, op, matching, returnBool);
        dst = outIndex.get(metric);
        if (dst === undefined) {
          dst = { labels: metric, vals: stepValues(n), has: stepFlags(n) };
          outIndex.add(metric, dst);
          out.push(dst);
        }
        outputs.set(cacheKey, dst);
      }
      if (matching.card === "one-to-one") {
        let m = g.matched as Uint8Array | null;
        if (m === null) {
          m = stepFlags(n);
          g.matched = m;
        }
        if (m[i] !== 0) {
          throw new PromQLError(
            "execution",
            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
          );
        }
        m[i] = 1;
      } else {
        // per output label set (one series each): already matched at this step in this group
        let m = g.matched as Map<StepSeries, Uint8Array> | null;
        if (m === null) {
          m = new Map();
          g.matched = m;
        }
        let steps = m.get(dst);
        if (steps === undefined) {
          steps = stepFlags(n);
          m.set(dst, steps);
        }
        if (steps[i] !== 0) {
          throw new PromQLError(
            "execution",
            "multiple matches for labels: grouping labels must ensure unique matches",
          );
        }
        steps[i] = 1;
      }
      if (dst.has[i] !== 0) throw sameLabelsetError();
      dst.vals[i] = value;
      dst.has[i] = 1;
    }
    if (giveBack) recycleStepArrays(ls.vals, ls.has);
  }
  return out;
}

/** The "one" side's series of one match signature in vectorBinop. */
interface OneSideGroup {
  /** Per step, 1 + the index of the "one" series present there (0: none). */
  present: Float64Array;
  /** Steps already matched: one-to-one per group, many-to-one per group and output series. */
  matched: Uint8Array | Map<StepSeries, Uint8Array> | null;
}

/** Per match signature of `side`: the steps where some series of that signature is present. */
function signaturePresence(
  side: readonly StepSeries[],
  matching: VectorMatching,
  n: number,
): LabelSubsetMap<Uint8Array> {
  const presence = LabelSubsetMap.signatures<Uint8Array>(matching);
  for (let j = 0; j < side.length; j++) {
    const ls = side[j].labels;
    let p = presence.get(ls);
    if (p === undefined) {
      p = stepFlags(n);
      presence.add(ls, p);
    }
    const h = side[j].has;
    for (let i = 0; i < n; i++) if (h[i] !== 0) p[i] = 1;
  }
  return presence;
}

/** `lhs and rhs`: left elements whose signature is present on the right at the same step. */
export function vectorAnd(
  lhs: readonly StepSeries[],
  rhs: readonly StepSeries[],
  matching: VectorMatching,
  n: number,
): StepSeries[] {
  if (lhs.length === 0 || rhs.length === 0) return [];
  return filterBySignature(lhs, rhs, matching, n, true);
}

/** `lhs unless rhs`: left elements whose signature is absent on the right at that step. */
export function vectorUnless(
  lhs: readonly StepSeries[],
  rhs: readonly StepSeries[],
  matching: VectorMatching,
  n: number,
): StepSeries[] {
  if (lhs.length === 0 || rhs.length === 0) return lhs.slice();
  return filterBySignature(lhs, rhs, matching, n, false);
}

/** Left elements kept at the steps where their signature is (or is not) present on the right. */
function filterBySignature(
  lhs: readonly StepSeries[],
  rhs: readonly StepSeries[],
  matching: VectorMatching,
  n: number,
  keepWherePresent: boolean,
): StepSeries[] {
  const right = signaturePresence(rhs, matching, n);
  const out: StepSeries[] = [];
  for (const s of lhs) {
    const p = right.get(s.labels);
    if (p === undefined) {
      if (!keepWherePresent) out.push(s);
      continue;
    }
    const has = stepFlags(n);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (s.has[i] !== 0 && (p[i] !== 0) === keepWherePresent) {
        has[i] = 1;
        any = true;
      }
    }
    if (any) out.push({ labels: s.labels, vals: s.vals, has });
  }
  return out;
}

/**
 * `lhs or rhs`: all left elements, then right elements whose signature is absent on the left at
 * that step. Output label sets must be unique per step (rangeEval's check).
 */
export function vectorOr(
  lhs: readonly StepSeries[],
  rhs: readonly StepSeries[],
  matching: VectorMatching,
  n: number,
): StepSeries[] {
  const out = new StepCollector("merge");
  for (const s of lhs) out.add(copySeries(s));
  if (lhs.length === 0) {
    for (const s of rhs) out.add(copySeries(s));
    return out.series;
  }
  const left = signaturePresence(lhs, matching, n);
  for (const s of rhs) {
    const p = left.get(s.labels);
    if (p === undefined) {
      out.add(copySeries(s));
      continue;
    }
    const has = stepFlags(n);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (s.has[i] !== 0 && p[i] === 0) {
        has[i] = 1;
        any = true;
      }
    }
    if (any) out.add({ labels: s.labels, vals: s.vals.slice(), has });
  }
  return out.series;
}

function copySeries(s: StepSeries): StepSeries {
  return { labels: s.labels, vals: s.vals.slice(), has: s.has.slice() };
}
