// The querier's `--selector.relabel-config(-file)`: relabel rules over the external label sets
// (TSDBs) each endpoint announces in Info decide which of them are queried, as Thanos's
// TSDBSelector (https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/store/tsdb_selector.go,
// used by pkg/store/proxy.go). An endpoint none of whose label sets is kept is not queried and
// not announced; an endpoint some of whose label sets are dropped is asked only for the kept
// ones, by regex matchers on the external labels added to its requests.

import { Matcher, MatchType } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";

/** Relabel rules (relabel/relabel.ts's Relabeler): null when they drop the label set. */
export interface LabelSetSelector {
  process(ls: Labels): Labels | null;
}

/**
 * The label sets of an endpoint the selector keeps: all of them when there is no selector or the
 * endpoint announces none (Thanos keeps such endpoints); null when it keeps none.
 */
export function selectedLabelSets(
  selector: LabelSetSelector | undefined,
  sets: readonly Labels[],
): readonly Labels[] | null {
  if (!selector || sets.length === 0) return sets;
  const kept = sets.filter((ls) => selector.process(ls) !== null);
  return kept.length === 0 ? null : kept;
}

/** RE2 `QuoteMeta`: `s` as a regex matching only itself. */
function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

/**
 * Regex matchers that select exactly the series of `sets` by their external labels, as
 * Thanos's MatchersForLabelSets: one per label name, its values as alternatives (escaped here,
 * so a value with regex characters matches only itself), plus the empty value when a set lacks
 * the name. Sorted by name.
 */
export function matchersForLabelSets(sets: readonly Labels[]): Matcher[] {
  const values = new Map<string, Set<string>>();
  const counts = new Map<string, number>();
  for (const ls of sets) {
    for (let i = 0; i < ls.length; i += 2) {
      let v = values.get(ls[i]);
      if (!v) values.set(ls[i], v = new Set());
      v.add(ls[i + 1]);
      counts.set(ls[i], (counts.get(ls[i]) ?? 0) + 1);
    }
  }
  const out: Matcher[] = [];
  for (const name of [...values.keys()].sort()) {
    const alts = [...values.get(name)!].sort().map(quoteMeta);
    if (counts.get(name)! < sets.length) alts.push("");
    out.push(new Matcher(MatchType.Regexp, name, alts.join("|")));
  }
  return out;
}
