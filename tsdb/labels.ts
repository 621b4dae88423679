// Helpers over `Labels` (flat sorted name/value pairs). Label sets are compared byte-wise
// as Prometheus does (UTF-8 byte order equals UTF-16 code-unit order except for surrogates,
// so comparisons go through `compareStrings`).

import { goQuote } from "../strconv/quote.ts";
import type { Labels } from "./series.ts";

/** Name of the metric-name label. */
export const METRIC_NAME = "__name__";

/**
 * Compares two strings by their UTF-8 bytes, as Go does. Returns <0, 0 or >0.
 * Fast path: code-unit order is byte order unless a surrogate pair meets a char ≥ U+E000.
 */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      const sa = ca >= 0xd800 && ca <= 0xdfff;
      const sb = cb >= 0xd800 && cb <= 0xdfff;
      if (sa !== sb) {
        // a surrogate (code point ≥ U+10000) sorts after any BMP char in UTF-8
        return sa ? 1 : -1;
      }
      return ca - cb;
    }
  }
  return a.length - b.length;
}

/**
 * The union of string lists (label names or values), sorted by {@link compareStrings} and unique.
 * Lists each already so (blocks and stores answer sorted) are merged pairwise in linear passes,
 * empty lists skipped and a single one returned as it is: tens of thousands of label values are
 * not put through a set and sorted again on a thread that serves probes (issue 20). Any list out
 * of order: set and sort.
 */
export function unionSorted(lists: readonly string[][]): string[] {
  let parts = lists.filter((l) => l.length > 0);
  for (const l of parts) {
    for (let i = 1; i < l.length; i++) {
      if (compareStrings(l[i - 1], l[i]) >= 0) {
        return [...new Set(parts.flat())].sort(compareStrings);
      }
    }
  }
  if (parts.length === 0) return [];
  while (parts.length > 1) {
    const next: string[][] = [];
    for (let k = 0; k + 1 < parts.length; k += 2) next.push(mergeSorted(parts[k], parts[k + 1]));
    if (parts.length % 2 === 1) next.push(parts[parts.length - 1]);
    parts = next;
  }
  return parts[0];
}

/** Two sorted, unique lists merged into one. */
function mergeSorted(a: string[], b: string[]): string[] {
  const out: string[] = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const c = compareStrings(a[i], b[j]);
    if (c <= 0) {
      out.push(a[i++]);
      if (c === 0) j++;
    } else out.push(b[j++]);
  }
  while (i < a.length) out.push(a[i++]);
  while (j < b.length) out.push(b[j++]);
  return out;
}

/** Builds sorted labels from an object, dropping empty values. */
export function labelsFromObject(o: Record<string, string>): Labels {
  const names = Object.keys(o).filter((k) => o[k] !== "").sort(compareStrings);
  const out: string[] = [];
  for (const n of names) out.push(n, o[n]);
  return out;
}

/** Builds sorted labels from `[name, value]` pairs (last one wins on duplicates). */
export function labelsFromPairs(pairs: Iterable<readonly [string, string]>): Labels {
  const m = new Map<string, string>();
  for (const [k, v] of pairs) m.set(k, v);
  return labelsFromObject(Object.fromEntries(m));
}

/** Returns the labels as a plain object. */
export function labelsToObject(ls: Labels): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < ls.length; i += 2) o[ls[i]] = ls[i + 1];
  return o;
}

/** Value of label `name`, or "" when absent. */
export function getLabel(ls: Labels, name: string): string {
  for (let i = 0; i < ls.length; i += 2) if (ls[i] === name) return ls[i + 1];
  return "";
}

/** Compares label sets as Prometheus `labels.Compare`: by name, then value; shorter prefix first. */
export function compareLabels(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 2) {
    if (a[i] !== b[i]) return compareStrings(a[i], b[i]);
    if (a[i + 1] !== b[i + 1]) return compareStrings(a[i + 1], b[i + 1]);
  }
  return a.length - b.length;
}

/** True when both label sets are equal. */
export function labelsEqual(a: Labels, b: Labels): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A string key unique per label set (for maps and sets). Names and values joined by "\xff"
 * (U+00FF), as before, when no string holds that character — the keys of ordinary label sets,
 * their order and their log form stay as they were. A value may hold it, though (any UTF-8 is a
 * valid label value), and then a plain join is ambiguous: {a="x\xffb\xffy"} and {a="x", b="y"}
 * both join to "a\xffx\xffb\xffy". Such a set gets {@link escapedLabelsKey} instead.
 */
export function labelsKey(ls: Labels): string {
  for (let i = 0; i < ls.length; i++) if (ls[i].includes("\xff")) return escapedLabelsKey(ls);
  return ls.join("\xff");
}

/**
 * The key of a label set some string of which holds "\xff": every "\xff" in a string becomes
 * "\xff\x01", strings are separated by "\xff\x00" (so the key decodes back: each "\xff" is
 * followed by \x00 or \x01), and "\xff\x02" ends it when that makes the count of "\xff"
 * even. A plain key of n strings holds n − 1 of them: an odd count, since a label set has an even
 * number of strings. So an escaped key equals neither another escaped key nor any plain one.
 */
function escapedLabelsKey(ls: Labels): string {
  let key = "";
  let marks = 0;
  for (let i = 0; i < ls.length; i++) {
    if (i > 0) {
      key += "\xff\x00";
      marks++;
    }
    const parts = ls[i].split("\xff");
    marks += parts.length - 1;
    key += parts.join("\xff\x01");
  }
  return marks % 2 === 1 ? key + "\xff\x02" : key;
}

/** Labels with `name` set to `value` (added in sorted position), or removed when `value` is "". */
export function setLabel(ls: Labels, name: string, value: string): Labels {
  const out: string[] = [];
  let done = false;
  for (let i = 0; i < ls.length; i += 2) {
    if (!done && compareStrings(ls[i], name) >= 0) {
      if (value !== "") out.push(name, value);
      done = true;
      if (ls[i] === name) continue;
    }
    out.push(ls[i], ls[i + 1]);
  }
  if (!done && value !== "") out.push(name, value);
  return out;
}

/** Labels without the given names. */
export function dropLabels(ls: Labels, names: Iterable<string>): Labels {
  const drop = new Set(names);
  const out: string[] = [];
  for (let i = 0; i < ls.length; i += 2) if (!drop.has(ls[i])) out.push(ls[i], ls[i + 1]);
  return out;
}

/**
 * Merges `extra` into `ls`; on conflict `extra` wins when `override`, else `ls` keeps its value.
 */
export function mergeLabels(ls: Labels, extra: Labels, override = true): Labels {
  const m = new Map<string, string>();
  for (let i = 0; i < ls.length; i += 2) m.set(ls[i], ls[i + 1]);
  for (let i = 0; i < extra.length; i += 2) {
    if (override || !m.has(extra[i])) m.set(extra[i], extra[i + 1]);
  }
  return labelsFromPairs(m);
}

/**
 * Prometheus's `model.Metric.String()` form: `name{a="b", c="d"}` with the metric name outside
 * the braces (just `name` when it is the only label), values quoted as Go's `%q`.
 */
export function labelsToString(ls: Labels): string {
  let name = "";
  const parts: string[] = [];
  for (let i = 0; i < ls.length; i += 2) {
    if (ls[i] === METRIC_NAME) name = ls[i + 1];
    else parts.push(`${ls[i]}=${goQuote(ls[i + 1])}`);
  }
  return parts.length === 0 && name !== "" ? name : `${name}{${parts.join(", ")}}`;
}

/**
 * Prometheus 2.42 `labels.Labels.String()`: every label inside the braces,
 * `{__name__="up", job="api"}` (what promtool dump and PromQL's matching errors print).
 */
export function labelsGoString(ls: Labels): string {
  let out = "{";
  for (let i = 0; i < ls.length; i += 2) {
    if (i > 0) out += ", ";
    out += ls[i] + "=" + goQuote(ls[i + 1]);
  }
  return out + "}";
}
