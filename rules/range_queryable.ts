// A `Queryable` answered by range queries against the queriers, for restoring alerts' `for`
// state in the stateless ruler, which has no local series: Thanos's `PromClientsQueryable`
// (pkg/rules/queryable.go in thanos-io/thanos) turns the matchers into a selector (leaving out
// the `--restore-ignored-label` names), asks `/api/v1/query_range` over the hinted range with
// `--query.default-step`, and serves the samples. Here they come back as XOR chunks, the one
// data shape readers of a `Queryable` take (tsdb/series.ts). Samples Prometheus's range query
// does not return (stale markers are gaps) cannot be seen, as in Thanos.

import { matchersToSelector } from "../promclient/client.ts";
import { compareLabels } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import {
  type Chunk,
  ChunkEncoding,
  type Labels,
  type Queryable,
  type SelectHints,
  type SeriesSet,
} from "../tsdb/series.ts";
import { SAMPLES_PER_CHUNK, XorAppender } from "../tsdb/chunkenc/xor.ts";

/** A range query: series with their samples over [start, end] every `step` ms. */
export type RangeQueryFunc = (
  expr: string,
  start: number,
  end: number,
  step: number,
  signal?: AbortSignal,
) => Promise<{ labels: Labels; ts: number[]; vs: number[] }[]>;

/** Samples as XOR chunks of at most 120 samples each. */
function xorChunks(ts: readonly number[], vs: readonly number[]): Chunk[] {
  const out: Chunk[] = [];
  for (let i = 0; i < ts.length; i += SAMPLES_PER_CHUNK) {
    const a = new XorAppender();
    const end = Math.min(ts.length, i + SAMPLES_PER_CHUNK);
    for (let k = i; k < end; k++) a.append(ts[k], vs[k]);
    out.push({
      minTime: ts[i],
      maxTime: ts[end - 1],
      encoding: ChunkEncoding.XOR,
      data: a.bytes(),
    });
  }
  return out;
}

/** The queriers as a Queryable (select only; label names and values are empty). */
export function rangeQueryable(
  query: RangeQueryFunc,
  opts: { stepMs: number; ignoredLabels: readonly string[] },
): Queryable {
  return {
    select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet {
      const kept = matchers.filter((m) => !opts.ignoredLabels.includes(m.name));
      return (async function* () {
        const step = Math.max(1, opts.stepMs);
        const series = await query(matchersToSelector(kept), hints.start, hints.end, step, signal);
        series.sort((a, b) => compareLabels(a.labels, b.labels));
        for (const s of series) {
          if (s.ts.length === 0) continue;
          yield { labels: s.labels, chunks: xorChunks(s.ts, s.vs) };
        }
      })();
    },
    labelNames: () => Promise.resolve([]),
    labelValues: () => Promise.resolve([]),
  };
}
