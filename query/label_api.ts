// The work behind the querier's `/api/v1/series`, `/api/v1/labels` and
// `/api/v1/label/<name>/values` (https://prometheus.io/docs/prometheus/latest/querying/api/#querying-metadata):
// fan-out through one request's ProxyQueryable, the union over the `match[]` sets, sorted, as
// the `data` JSON Prometheus writes. One copy, run in an evaluation Worker (query/eval_worker.ts)
// or, without one, on the HTTP thread (query/api.ts). Store warnings collect in the queryable;
// failures are thrown as the queryable throws them (PromQLError `execution` under ABORT).

import { compareLabels, compareStrings } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";
import { goJSONString, labelsJSON } from "../strconv/json.ts";
import type { ProxyQueryable } from "./queryable.ts";

/** The three metadata requests, as the evaluation pool names them. */
export type LabelApiKind = "series" | "labels" | "label_values";

/** One metadata request: `match[]` sets (none: every series), a time range in ms. */
export interface LabelApiRequest {
  kind: LabelApiKind;
  matchers: Matcher[][];
  /** label_values: the label. */
  name?: string;
  start: number;
  end: number;
}

/** The request's `data` JSON (warnings are in `q.warnings`). */
export async function labelApiData(
  q: ProxyQueryable,
  r: LabelApiRequest,
  signal: AbortSignal,
): Promise<string> {
  if (r.kind === "series") {
    const seen = new Map<string, Labels>();
    for (const ms of r.matchers) {
      for await (
        const s of q.select(
          ms,
          { start: r.start, end: r.end, skipChunks: true, func: "series" },
          signal,
        )
      ) {
        seen.set(s.labels.join("\xff"), s.labels);
      }
    }
    const all = [...seen.values()].sort(compareLabels);
    return `[${all.map(labelsJSON).join(",")}]`;
  }
  const out = new Set<string>();
  const sets = r.matchers.length === 0 ? [[]] : r.matchers;
  for (const ms of sets) {
    const list = r.kind === "labels"
      ? await q.labelNames(ms, r.start, r.end, signal)
      : await q.labelValues(r.name ?? "", ms, r.start, r.end, signal);
    for (const v of list) out.add(v);
  }
  return `[${[...out].sort(compareStrings).map(goJSONString).join(",")}]`;
}
