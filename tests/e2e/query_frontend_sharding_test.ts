// `thanos query-frontend --query-frontend.vertical-shards=N` in front of a real querier and store
// gateway over the PromQL corpus' data set: every shardable corpus query (Thanos' analyzer), as a
// range query over the harness' windows and as an instant query at the harness' times, answers
// what the querier answers directly, for N = 2 and 3; each shardable query costs exactly N
// downstream requests (each with its `shard_info`), a non-shardable one exactly 1 (passed on
// without). With split parts and a results cache, sharded answers are cached per shard: a warm
// pass equals the direct answers and asks the querier nothing.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc } from "../helpers/thanos.ts";
import {
  E,
  get,
  H,
  metricSum,
  rangeUrl,
  S,
  secs,
  startFrontend,
  startQuerierOverCorpusData,
  startRecordingProxy,
} from "../helpers/frontend_e2e.ts";
import { CORPUS } from "./promql_corpus.ts";
import { defaultEvalPlan } from "./promql_diff_harness.ts";
import { analyzeQuery, isShardable } from "../../queryfrontend/sharding.ts";

interface Eval {
  query: string;
  kind: "range" | "instant";
  start: number;
  end: number;
  step: number;
  shardable: boolean;
}

/**
 * The evaluations: every shardable corpus query over each range window and at each instant; of
 * the non-shardable ones every 8th, once per kind (the pass-through check).
 */
function evaluations(): Eval[] {
  const plan = defaultEvalPlan(S, E);
  const ranges = [
    ...plan.ranges,
    { start: S + 30 * 60_000 + 7_000, end: S + 4 * H + 13_000, step: 97_000 },
  ];
  const out: Eval[] = [];
  let other = 0;
  for (const e of CORPUS) {
    if (e.plan === "staleness") continue;
    const kinds = e.kinds ?? ["instant", "range"];
    const shardable = isShardable(analyzeQuery(e.query));
    if (!shardable && other++ % 8 !== 0) continue;
    if (kinds.includes("range")) {
      for (const r of shardable ? ranges : ranges.slice(0, 1)) {
        out.push({ query: e.query, kind: "range", ...r, shardable });
      }
    }
    if (kinds.includes("instant")) {
      for (const t of shardable ? plan.instantTimes : plan.instantTimes.slice(1, 2)) {
        out.push({ query: e.query, kind: "instant", start: t, end: t, step: 0, shardable });
      }
    }
  }
  return out;
}

function url(base: string, ev: Eval): string {
  return ev.kind === "range"
    ? rangeUrl(base, ev.query, ev.start, ev.end, ev.step)
    : `${base}/api/v1/query?query=${encodeURIComponent(ev.query)}&time=${secs(ev.start)}`;
}

/** An answer with an instant vector's samples in a canonical order (the order is not defined). */
function canonical(a: { status: number; text: string }): string {
  if (a.status !== 200) return a.text;
  const j = JSON.parse(a.text);
  if (j.data?.resultType === "vector") {
    j.data.result.sort((x: unknown, y: unknown) => JSON.stringify(x) < JSON.stringify(y) ? -1 : 1);
  }
  return JSON.stringify(j);
}

/**
 * Same answer: byte-equal, or (instant vectors) equal up to sample order, or both the same kind
 * of execution error (422), whose message may name other series.
 */
function compare(
  ev: Eval,
  got: { status: number; text: string },
  want: { status: number; text: string },
): "exact" | "reordered" | "error-kind" | "different" {
  if (got.status !== want.status) return "different";
  if (got.text === want.text) return "exact";
  if (want.status === 422) {
    const a = JSON.parse(got.text);
    const b = JSON.parse(want.text);
    return a.errorType === b.errorType ? "error-kind" : "different";
  }
  if (ev.kind === "instant" && canonical(got) === canonical(want)) return "reordered";
  return "different";
}

e2eTest("query-frontend: vertical sharding answers the corpus like the querier", {
  peers: [],
}, async (t) => {
  const dirs = new TempDirs();
  const procs: Proc[] = [];
  try {
    const querier = await startQuerierOverCorpusData(dirs, procs);
    const px = startRecordingProxy(querier);
    try {
      const evals = evaluations();
      const shardable = evals.filter((e) => e.shardable).length;
      assert(shardable >= 500 && evals.length - shardable >= 40, `${shardable}/${evals.length}`);
      const direct: { status: number; text: string }[] = [];
      for (const ev of evals) direct.push(await get(url(querier, ev)));
      assert(direct.filter((d) => d.status === 200).length > evals.length * 0.9);

      await t.step("the querier's shard_info: shards partition the answer", async () => {
        const queries = [
          "sum by (instance, method, code) (rate(http_requests_total[5m]))",
          "sum without (job) (http_requests_total)",
          'http_requests_total{code="200"} / on (job, instance, method) group_left ' +
          'http_requests_total{code="500"}',
        ];
        for (const q of queries) {
          const a = analyzeQuery(q);
          assert(isShardable(a), q);
          const at = `${querier}/api/v1/query?query=${encodeURIComponent(q)}&time=${
            secs(S + 3 * H)
          }`;
          const series = (text: string): string[] =>
            JSON.parse(text).data.result.map((r: { metric: unknown }) => JSON.stringify(r.metric));
          const w = await get(at);
          assertEquals(w.status, 200, w.text);
          const whole = series(w.text);
          assert(whole.length >= 8, `${q}: ${whole.length} series`);
          for (const n of [2, 3]) {
            const parts: string[][] = [];
            for (let i = 0; i < n; i++) {
              const info = JSON.stringify({
                shard_index: i,
                total_shards: n,
                by: a.by,
                labels: a.labels,
              });
              const r = await get(`${at}&shard_info=${encodeURIComponent(info)}`);
              assertEquals(r.status, 200, r.text);
              parts.push(series(r.text));
            }
            // disjoint, together the whole answer, and really split (no shard has everything)
            assertEquals(parts.flat().sort(), [...whole].sort(), `${q} in ${n} shards`);
            for (const p of parts) assert(p.length < whole.length, `${q}: a shard had it all`);
          }
        }
        const bad = await get(`${querier}/api/v1/query?query=up&shard_info=%7Bx`);
        assertEquals(bad.status, 400);
        assert(bad.text.includes("could not unmarshal parameter shard_info"), bad.text);
      });

      for (const n of [2, 3]) {
        await t.step(`${n} shards`, async () => {
          const fe = await startFrontend([
            `--query-frontend.downstream-url=${px.url}`,
            `--query-frontend.vertical-shards=${n}`,
            "--query-range.split-interval=0",
            "--no-query-range.request-downsampled",
            "--no-query-range.align-range-with-step",
          ], `query-frontend ${n} shards`);
          procs.push(fe);
          const tally = { exact: 0, reordered: 0, "error-kind": 0, different: 0 };
          const examples: string[] = [];
          for (let i = 0; i < evals.length; i++) {
            const ev = evals[i];
            const before = px.seen.length;
            const got = await get(url(fe.http, ev));
            const asked = px.seen.slice(before);
            const verdict = compare(ev, got, direct[i]);
            tally[verdict]++;
            if (verdict === "different" && examples.length < 3) {
              examples.push(
                `${ev.kind} ${ev.query} @${ev.start}: ${got.status} ${got.text.slice(0, 300)}\n` +
                  `  direct: ${direct[i].status} ${direct[i].text.slice(0, 300)}`,
              );
            }
            const want = ev.shardable ? n : 1;
            assertEquals(asked.length, want, `${ev.kind} ${ev.query}: downstream requests`);
            const infos = asked.map((a) => a.params.get("shard_info"));
            if (ev.shardable) {
              const idx = infos.map((s) => JSON.parse(s!).shard_index ?? 0).sort();
              assertEquals(idx, [...Array(n).keys()], ev.query);
              for (const s of infos) assertEquals(JSON.parse(s!).total_shards, n);
            } else {
              assertEquals(infos, [null], ev.query);
            }
          }
          assertEquals(tally.different, 0, `${n} shards:\n${examples.join("\n")}`);
          console.log(`${n} shards: ${evals.length} evaluations (${shardable} shardable):`, tally);
          const m = await (await fetch(`${fe.http}/metrics`)).text();
          assertEquals(
            metricSum(m, "thanos_frontend_sharding_middleware_queries_total", 'shardable="true"'),
            shardable,
          );
          await fe.stop();
        });
      }

      await t.step("3 shards, split by 1h, results cache: cold and warm", async () => {
        const fe = await startFrontend([
          `--query-frontend.downstream-url=${px.url}`,
          "--query-frontend.vertical-shards=3",
          "--query-range.split-interval=1h",
          "--no-query-range.align-range-with-step",
          "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: 256MB\n",
        ], "query-frontend 3 shards cached");
        procs.push(fe);
        const ranged = evals.map((ev, i) => ({ ev, want: direct[i] }))
          .filter((x) => x.ev.kind === "range" && x.ev.shardable);
        for (const pass of ["cold", "warm"]) {
          let different = 0;
          let warmAsked = 0;
          for (const { ev, want } of ranged) {
            const before = px.seen.length;
            const got = await get(url(fe.http, ev));
            if (compare(ev, got, want) === "different") different++;
            if (want.status === 200) warmAsked += px.seen.length - before;
          }
          assertEquals(different, 0, `${pass}: answers differ`);
          if (pass === "warm") assertEquals(warmAsked, 0, "warm answers went downstream");
        }
        await fe.stop();
      });
    } finally {
      await px.close();
    }
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await dirs.cleanup();
  }
});
