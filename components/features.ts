// `--enable-feature` of query, rule, query-frontend and receive: Thanos v0.42's feature names and
// what this build does with each. Thanos reads each value as a feature name, acts on the ones it
// knows and ignores the rest (https://github.com/thanos-io/thanos/blob/v0.42.4/cmd/thanos/query.go,
// rule.go, query_frontend.go, receive.go). Here the values are also split at commas (the flag's
// help says "comma separated"), a name whose feature this build lacks is refused at start (exit 2)
// instead of silently doing nothing, and a no-op or unknown name is logged once at start.

import type { FlagValueCheck } from "./flags.ts";

/** What this build does with one feature name. */
export type FeatureState =
  /** Accepted; the role logs the note (e.g. Thanos's "permanently enabled, a no-op"). */
  | { accepted: string }
  /** Refused at start: the feature is not in this build (the reason). */
  | { refused: string };

/** The feature name enabling Prometheus's experimental PromQL functions. */
export const PROMQL_EXPERIMENTAL_FUNCTIONS = "promql-experimental-functions";

const EXPERIMENTAL_FUNCTIONS: Record<string, FeatureState> = {
  // Thanos logs "Experimental PromQL functions enabled." (info); `info()` is not in this build
  [PROMQL_EXPERIMENTAL_FUNCTIONS]: {
    accepted: "Experimental PromQL functions enabled (all of Prometheus v3's but info())",
  },
};

/** `thanos query --enable-feature` names (cmd/thanos/query.go's constants). */
export const QUERY_FEATURES: Record<string, FeatureState> = {
  ...EXPERIMENTAL_FUNCTIONS,
  "promql-at-modifier": {
    accepted: "this option for --enable-feature is now permanently enabled and therefore a no-op",
  },
  "promql-negative-offset": {
    accepted: "this option for --enable-feature is now permanently enabled and therefore a no-op",
  },
  "query-pushdown": {
    accepted: "this option for --enable-feature is now permanently deprecated and therefore " +
      "ignored",
  },
};

/** `thanos rule` and `thanos query-frontend` `--enable-feature` names. */
export const PROMQL_FEATURES: Record<string, FeatureState> = EXPERIMENTAL_FUNCTIONS;

/** `thanos receive --enable-feature` names. */
export const RECEIVE_FEATURES: Record<string, FeatureState> = {
  "metric-names-filter": {
    refused: "the metric-name filter of the per-tenant TSDBs is not in this build",
  },
};

/** True when `--enable-feature` values name promql-experimental-functions. */
export function experimentalFunctionsEnabled(values: readonly string[]): boolean {
  return featureNames(values).includes(PROMQL_EXPERIMENTAL_FUNCTIONS);
}

/** The feature names of a flag's values: split at commas, trimmed, empty ones dropped. */
export function featureNames(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((n) => n.trim()).filter((n) => n !== "");
}

/**
 * The value check of an `--enable-feature` flag with `table`: the first refused name refuses
 * the flag; accepted names give their note, unknown names a note that they are ignored (as
 * Thanos ignores them).
 */
export function featureCheck(table: Record<string, FeatureState>): FlagValueCheck {
  return (values) => {
    const notes: string[] = [];
    for (const name of new Set(featureNames(values))) {
      const st = Object.hasOwn(table, name) ? table[name] : undefined;
      if (st && "refused" in st) {
        return { refuse: `feature ${JSON.stringify(name)}: ${st.refused}` };
      }
      notes.push(
        st
          ? `--enable-feature=${name}: ${st.accepted}`
          : `--enable-feature=${name} is not a feature name of this command; ignored, as Thanos ` +
            `ignores it (known: ${Object.keys(table).join(", ")})`,
      );
    }
    return { notes };
  };
}
