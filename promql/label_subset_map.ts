// A map keyed by a part of label sets (a vector match signature, an aggregation group, a whole
// label set) that builds no string per label set: hashed, then compared label by label (issue 19).

import { METRIC_NAME } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import type { VectorMatching } from "./ast.ts";

/** FNV-1a (32 bits) of `h` followed by the UTF-16 code units of `s` and a separator. */
function fnvString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ 0xffff, 0x01000193);
}

/** One label set's entry of a {@link LabelSubsetMap}, chained with others of the same hash. */
interface SubsetEntry<T> {
  labels: Labels;
  value: T;
  next: SubsetEntry<T> | null;
}

/**
 * A map keyed by a part of label sets: the match signature of `on (…)` / `ignoring (…)` (all
 * labels but the listed ones and the name), or the whole label set. Keys are a hash of the
 * part's names and values, checked label by label on every hit, so no string is built per series
 * (issue 19) and two different parts never share an entry, whatever characters they hold.
 */
export class LabelSubsetMap<T> {
  private readonly byHash = new Map<number, SubsetEntry<T>>();

  /** `names` with `on` true keeps only those labels; with `on` false keeps all but them and the name. */
  constructor(private readonly names: readonly string[] | null, private readonly on: boolean) {}

  /** A map over whole label sets. */
  static wholeLabelSets<T>(): LabelSubsetMap<T> {
    return new LabelSubsetMap<T>(null, false);
  }

  /** A map over match signatures of `matching` (Prometheus `signatureFunc`). */
  static signatures<T>(matching: VectorMatching): LabelSubsetMap<T> {
    return new LabelSubsetMap<T>(matching.matchingLabels, matching.on);
  }

  private keeps(name: string): boolean {
    const names = this.names;
    if (names === null) return true;
    const listed = names.includes(name);
    return this.on ? listed : !listed && name !== METRIC_NAME;
  }

  private hash(ls: Labels): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < ls.length; i += 2) {
      if (!this.keeps(ls[i])) continue;
      h = fnvString(fnvString(h, ls[i]), ls[i + 1]);
    }
    return h;
  }

  /** True when `a` and `b` agree on the kept labels. */
  private same(a: Labels, b: Labels): boolean {
    let i = 0;
    let j = 0;
    for (;;) {
      while (i < a.length && !this.keeps(a[i])) i += 2;
      while (j < b.length && !this.keeps(b[j])) j += 2;
      if (i >= a.length || j >= b.length) return i >= a.length && j >= b.length;
      if (a[i] !== b[j] || a[i + 1] !== b[j + 1]) return false;
      i += 2;
      j += 2;
    }
  }

  /** The value kept for the part of `ls`, or undefined. */
  get(ls: Labels): T | undefined {
    const h = this.hash(ls);
    this.lastLabels = ls;
    this.lastHash = h;
    for (let e = this.byHash.get(h) ?? null; e !== null; e = e.next) {
      if (this.same(e.labels, ls)) return e.value;
    }
    return undefined;
  }

  /** Keeps `value` for the part of `ls`, which must have no value yet (get() said undefined). */
  add(ls: Labels, value: T): void {
    const h = ls === this.lastLabels ? this.lastHash : this.hash(ls);
    this.byHash.set(h, { labels: ls, value, next: this.byHash.get(h) ?? null });
  }

  // the hash get() computed last, for the add() that usually follows it
  private lastLabels: Labels | null = null;
  private lastHash = 0;
}
