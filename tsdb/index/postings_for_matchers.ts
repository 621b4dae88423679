// Label matchers → sorted series refs, with Prometheus's semantics (PostingsForMatchers in
// https://github.com/prometheus/prometheus/blob/main/tsdb/querier.go): a matcher that matches
// the empty string also selects series without the label, so it becomes a subtraction from the
// other matchers' result (or from all series); `!=`/`!~` on a label another matcher requires
// become subtractions too; `=` and `=~` literal sets look values up directly. One
// implementation for the block querier (a local IndexReader) and the store gateway (a bucket
// index behind its index cache): both hand in a PostingsReader.

import type { Matcher } from "../matchers.ts";
import { MatchType } from "../matchers.ts";
import { intersectPostings, mergePostings, subtractPostings } from "./postings.ts";

const EMPTY = new Uint32Array(0);

/**
 * The index reads postingsForMatchers makes. An IndexReader satisfies it as is; the store
 * gateway wraps one to add `memo`.
 */
export interface PostingsReader {
  /** Sorted refs of series whose label `name` equals any of `values` (merged). */
  postings(name: string, values: readonly string[]): Promise<Uint32Array>;
  /** Sorted refs of series whose value of label `name` satisfies `pred` (merged). */
  postingsForLabelMatching(name: string, pred: (value: string) => boolean): Promise<Uint32Array>;
  /** Sorted refs of every series. */
  allPostings(): Promise<Uint32Array>;
  /**
   * Optional wrapper around each lookup, e.g. a cache: `key` names the lookup within this
   * index ({@link ALL_POSTINGS_KEY}, `pos:<matcher>` for the series whose label matches,
   * `neg:<matcher>` for the series with the label set to a value that does not match) and
   * `fetch` performs it. The result must be what `fetch` returns (or returned earlier).
   */
  memo?(key: string, fetch: () => Promise<Uint32Array>): Promise<Uint32Array>;
}

/** The {@link PostingsReader.memo} key of the all-series lookup. */
export const ALL_POSTINGS_KEY = "all";

/** Runs `fetch` through `ix.memo` when present; the key is only built then. */
function lookup(
  ix: PostingsReader,
  kind: "pos" | "neg" | null,
  m: Matcher | null,
  fetch: () => Promise<Uint32Array>,
): Promise<Uint32Array> {
  if (!ix.memo) return fetch();
  return ix.memo(kind && m ? `${kind}:${m.toString()}` : ALL_POSTINGS_KEY, fetch);
}

/** Refs of every series, through `ix.memo` when present. */
export function allPostings(ix: PostingsReader): Promise<Uint32Array> {
  return lookup(ix, null, null, () => ix.allPostings());
}

/**
 * Refs of series that have label `m.name` with a value matching `m` (never the series without
 * the label). Prometheus's postingsForMatcher.
 */
export function postingsForMatcher(ix: PostingsReader, m: Matcher): Promise<Uint32Array> {
  return lookup(ix, "pos", m, () => {
    if (m.type === MatchType.Equal) return ix.postings(m.name, [m.value]);
    if (m.type === MatchType.Regexp) {
      const set = m.setMatches();
      if (set && set.length > 0) return ix.postings(m.name, set);
    }
    return ix.postingsForLabelMatching(m.name, (v) => m.matches(v));
  });
}

/**
 * Refs of series that have label `m.name` set to a value NOT matching `m`. Prometheus's
 * inversePostingsForMatcher: `!=` and `!~` literal sets look up the excluded values directly,
 * `=""`/`=~""` take every value of the label.
 */
export function inversePostingsForMatcher(ix: PostingsReader, m: Matcher): Promise<Uint32Array> {
  return lookup(ix, "neg", m, () => {
    if (m.type === MatchType.NotEqual) return ix.postings(m.name, [m.value]);
    if (m.type === MatchType.NotRegexp) {
      const set = m.inverse().setMatches();
      if (set && set.length > 0) return ix.postings(m.name, set);
    }
    if (m.value === "" && (m.type === MatchType.Equal || m.type === MatchType.Regexp)) {
      return ix.postingsForLabelMatching(m.name, () => true);
    }
    return ix.postingsForLabelMatching(m.name, (v) => !m.matches(v));
  });
}

/**
 * Sorted series refs selected by `matchers` with Prometheus semantics: a matcher that matches
 * the empty string also selects series without the label; `!=`/`!~` are subtracted from the
 * other matchers' result; no matchers selects nothing. Lookups that narrow the result run
 * first, and an empty intermediate result stops before the subtractions are fetched.
 */
export async function postingsForMatchers(
  ix: PostingsReader,
  matchers: readonly Matcher[],
): Promise<Uint32Array> {
  if (matchers.length === 0) return EMPTY;
  // Labels that some matcher requires to be set: lets `l!="x"` become a subtraction.
  const mustBeSet = new Set<string>();
  for (const m of matchers) if (!m.matches("")) mustBeSet.add(m.name);
  const isNot = (m: Matcher) => m.type === MatchType.NotEqual || m.type === MatchType.NotRegexp;
  const subtracting = (m: Matcher) =>
    !(m.name === "" && m.value === "") && (!mustBeSet.has(m.name) || (isNot(m) && m.matches("")));

  const its: Uint32Array[] = [];
  for (const m of matchers) {
    if (subtracting(m)) continue;
    let it: Uint32Array;
    if (m.name === "" && m.value === "") {
      it = await allPostings(ix);
    } else if (isNot(m)) {
      // l!="" or l!~"a|": every series with l set to a value the inner matcher rejects
      it = await inversePostingsForMatcher(ix, m.inverse());
    } else {
      // l="a", l=~"a|b", l=~"a.+"
      it = await postingsForMatcher(ix, m);
    }
    if (it.length === 0) return EMPTY;
    its.push(it);
  }
  // Nothing narrows the selection: subtract from every series.
  if (its.length === 0) its.push(await allPostings(ix));
  let res = its.length === 1 ? its[0] : intersectPostings(its);
  if (res.length === 0) return EMPTY;

  const notIts: Uint32Array[] = [];
  for (const m of matchers) {
    if (!subtracting(m)) continue;
    if (mustBeSet.has(m.name)) {
      // l!="foo" while another matcher needs l set: subtract l="foo"
      notIts.push(await postingsForMatcher(ix, m.inverse()));
    } else {
      // The matcher accepts "": series without the label match too, so subtract the series
      // whose value it rejects.
      notIts.push(await inversePostingsForMatcher(ix, m));
    }
  }
  if (notIts.length > 0) {
    const sub = notIts.length === 1 ? notIts[0] : mergePostings(notIts);
    if (sub.length > 0) res = subtractPostings(res, sub);
  }
  return res;
}
