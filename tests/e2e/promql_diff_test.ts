// Our PromQL engine against Prometheus 2.42 on the same TSDB blocks: the generated data set is
// turned into blocks by promtool, Prometheus serves a copy, our engine reads the originals
// through the block querier, and the ≥400-query corpus runs as instant queries (at and between
// samples, past the end) and range queries (several steps, some not dividing the range).

import { assert } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { openBlocks } from "../../tsdb/block.ts";
import { BlocksQuerier } from "../../tsdb/querier.ts";
import { Engine } from "../../promql/engine.ts";
import { PromQLError } from "../../promql/errors.ts";
import { resultToJSON } from "../../promql/value.ts";
import { CORPUS, type CorpusEntry } from "./promql_corpus.ts";
import {
  type CorpusFailure,
  type EngineFn,
  formatFailures,
  type InstantParams,
  prometheusEngine,
  type QueryData,
  type RangeParams,
  runCorpus,
  setupDiffEnvironment,
} from "./promql_diff_harness.ts";
import type { Queryable } from "../../tsdb/series.ts";

const INSTANT: ("instant" | "range")[] = ["instant"];

/**
 * Engine corners beyond H7's corpus: `@` inside per-step functions and subqueries, step
 * invariance, label-set collisions after dropping the name, per-step aggregations in range
 * queries.
 */
const ENGINE_EXTRAS: CorpusEntry[] = [
  { query: "predict_linear(node_temperature_celsius[10m] @ 1700003000, 60)" },
  { query: "timestamp(up @ 1700003000 offset 5m)" },
  { query: "max_over_time((up @ 1700003000)[10m:1m])" },
  { query: "rate(http_requests_total[5m:1m] @ 1700003000)" },
  { query: "sum_over_time(up[10m:2m] @ end() offset 3m)" },
  { query: "up offset 5m @ end()" },
  { query: "(up @ 1700003000) + up" },
  { query: "scalar(vector(1)) + up" },
  { query: "vector(1) or up" },
  { query: "time() > bool 1700010000" },
  { query: 'sum by (__name__) ({__name__=~"up|process_resident_memory_bytes"})' },
  {
    query: '-{__name__=~"up|process_resident_memory_bytes"}',
    expectError: "execution",
  },
  {
    query: 'rate({__name__=~"up|process_resident_memory_bytes"}[5m] offset -1m)',
    expectError: "execution",
  },
  { query: 'last_over_time({__name__=~"up|process_resident_memory_bytes"}[5m])' },
  { query: 'count_values("v", floor(rate(http_requests_total[5m])))' },
  { query: "quantile by (job) (0.5, rate(http_requests_total[5m]))" },
  { query: "topk by (job) (1, rate(http_requests_total[5m]))" },
  { query: "bottomk(2, rate(http_requests_total[5m]))" },
  { query: "sort_desc(sum by (job) (up))" },
  { query: 'absent_over_time(up{job="api"}[1m])' },
  { query: "round(up, 0.3)" },
  { query: "holt_winters(node_temperature_celsius[10m:1m], 0.5, 0.5)" },
  { query: "deriv(node_temperature_celsius[10m])" },
  { query: "day_of_week(up)" },
  { query: "changes(weird_values[10m])" },
  { query: "quantile_over_time(0.5, rate(http_requests_total[5m])[20m:2m])" },
  { query: "up * on() group_left vector(2)" },
  { query: 'up and on(job) (up{job="api"} offset 1h)' },
  { query: "sum(up) by (job) > bool on(job) count(up) by (job)" },
  { query: "avg_over_time(up[1h:5m] offset -10m)" },
  { query: "max_over_time(node_temperature_celsius[1h] @ start())" },
  { query: "http_requests_total[3m] @ 1700003000", kinds: INSTANT },
  { query: "(up[10m:3m] @ 1700003000)", kinds: INSTANT, expectError: "execution" },
];

/**
 * Queries whose answers cannot be made equal, with the reason. Each is still run; a listed
 * query that starts to agree is reported so the list stays honest.
 */
const KNOWN_DIFFERENCES: { query: string; reason: string }[] = [];

/** An {@link EngineFn} answering through our engine, shaped like Prometheus' API. */
export function ourEngine(engine: Engine, q: Queryable): EngineFn {
  return async (kind, query, params) => {
    try {
      const res = kind === "instant"
        ? await engine.instantQuery(q, query, (params as InstantParams).time)
        : await engine.rangeQuery(
          q,
          query,
          (params as RangeParams).start,
          (params as RangeParams).end,
          (params as RangeParams).step,
        );
      return { status: "success", data: resultToJSON(res.value) as QueryData };
    } catch (e) {
      if (e instanceof PromQLError) return { status: "error", errorType: e.type, error: e.message };
      throw e;
    }
  };
}

e2eTest(
  "our PromQL engine answers the corpus exactly like Prometheus 2.42 on the same blocks",
  { peers: ["prometheus", "promtool"] },
  async () => {
    const env = await setupDiffEnvironment();
    try {
      const blocks = await openBlocks(env.blocksDir);
      try {
        const querier = new BlocksQuerier(blocks);
        const engine = new Engine();
        const report = await runCorpus(ourEngine(engine, querier), {
          expected: prometheusEngine(env.prometheus.url),
          corpus: [...CORPUS, ...ENGINE_EXTRAS],
          plan: env.plan,
          stalenessPlan: env.stalenessPlan,
          concurrency: 4,
          maxFailures: 400,
        });
        const known = new Map(KNOWN_DIFFERENCES.map((k) => [k.query, k.reason]));
        const unexpected: CorpusFailure[] = report.failures.filter((f) => !known.has(f.query));
        const failingKnown = new Set(report.failures.map((f) => f.query));
        const healed = KNOWN_DIFFERENCES.filter((k) => !failingKnown.has(k.query));
        console.log(
          `promql diff: ${
            CORPUS.length + ENGINE_EXTRAS.length
          } queries, ${report.evaluations} evaluations in ` +
            `${Math.round(report.elapsedMs)} ms; ${report.failures.length} differ ` +
            `(${report.failures.length - unexpected.length} known); outcomes ${
              JSON.stringify(report.outcomeCounts)
            }`,
        );
        for (const k of KNOWN_DIFFERENCES) console.log(`known difference: ${k.query}: ${k.reason}`);
        assert(
          unexpected.length === 0,
          `${unexpected.length} evaluations differ from Prometheus:\n${
            formatFailures(unexpected, 60)
          }`,
        );
        assert(
          healed.length === 0,
          `known differences now agree, remove them from the list: ${
            healed.map((h) => h.query).join("; ")
          }`,
        );
      } finally {
        for (const b of blocks) await b.close();
      }
    } finally {
      await env.cleanup();
    }
  },
);
