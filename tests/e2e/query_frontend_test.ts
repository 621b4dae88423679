// `thanos query-frontend` in front of a real querier and store over test blocks, with real
// memcached and redis-server caches:
// 1. the PromQL corpus' range queries (with `@`, `offset`, steps that do not divide the range,
//    ranges crossing split boundaries) answer byte for byte what the querier answers directly (an
//    execution error: same status and type), with a cold and a warm cache, for every cache
//    backend; warm answers touch the querier only for queries that failed (never cached);
// 2. a dashboard (10 panels, 7-day range, sliding by a minute per refresh) asks the querier only
//    for the new minute of each panel after the first load;
// (faults and bad input: query_frontend_faults_test.ts).

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc } from "../helpers/thanos.ts";
import {
  BACKENDS,
  cacheYaml,
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
import {
  type CacheServer,
  MEMCACHED,
  REDIS,
  startMemcached,
  startRedis,
} from "../helpers/cache_servers.ts";
import { CORPUS } from "./promql_corpus.ts";
import { defaultEvalPlan } from "./promql_diff_harness.ts";

/**
 * Same answer: byte-equal bodies, except for execution errors (422), where status and error
 * type must match but the message may name other series: a split part selects only the series
 * of its own time range, so the first conflicting pair it reports can differ from the one the
 * whole range reports (Thanos' frontend splits the same way).
 */
function sameAnswer(
  got: { status: number; text: string },
  want: { status: number; text: string },
): boolean {
  if (got.status !== want.status) return false;
  if (got.text === want.text) return true;
  if (want.status !== 422) return false;
  const a = JSON.parse(got.text);
  const b = JSON.parse(want.text);
  return a.status === "error" && a.errorType === b.errorType && a.errorType === "execution";
}

/** The corpus' range-query evaluations: the harness' windows plus one across split boundaries. */
function evaluations(): { query: string; start: number; end: number; step: number }[] {
  const ranges = [
    ...defaultEvalPlan(S, E).ranges,
    // crosses several 1h split boundaries, with a step that does not divide anything
    { start: S + 30 * 60_000 + 7_000, end: S + 4 * H + 13_000, step: 97_000 },
  ];
  const out = [];
  for (const e of CORPUS) {
    if (e.plan === "staleness" || !(e.kinds ?? ["instant", "range"]).includes("range")) continue;
    for (const r of ranges) out.push({ query: e.query, ...r });
  }
  return out;
}

e2eTest("query-frontend: corpus range queries equal the querier's, cold and warm, per backend", {
  peers: [MEMCACHED, REDIS],
}, async (t) => {
  const dirs = new TempDirs();
  const procs: Proc[] = [];
  const servers: CacheServer[] = [];
  try {
    const env = { querier: await startQuerierOverCorpusData(dirs, procs) };
    const px = startRecordingProxy(env.querier);
    try {
      const evals = evaluations();
      const direct: { status: number; text: string }[] = [];
      for (const ev of evals) {
        direct.push(await get(rangeUrl(env.querier, ev.query, ev.start, ev.end, ev.step)));
      }
      const errors = direct.filter((d) => d.status !== 200).length;
      assert(errors > 0 && errors < evals.length / 4, `errors ${errors} of ${evals.length}`);
      for (const kind of BACKENDS) {
        await t.step(kind, async () => {
          let server: CacheServer | undefined;
          if (kind === "MEMCACHED") server = await startMemcached();
          if (kind === "REDIS") server = await startRedis();
          if (server) servers.push(server);
          const fe = await startFrontend([
            `--query-frontend.downstream-url=${px.url}`,
            "--query-range.split-interval=1h",
            "--no-query-range.align-range-with-step",
            `--query-range.response-cache-config=${cacheYaml(kind, server)}`,
            ...(kind === "REDIS" ? ["--cache-compression-type=snappy"] : []),
          ], `query-frontend ${kind}`);
          procs.push(fe);
          for (const pass of ["cold", "warm"]) {
            let mismatches = 0;
            let warmDownstream = 0;
            const examples: string[] = [];
            for (let i = 0; i < evals.length; i++) {
              const ev = evals[i];
              const before = px.seen.length;
              const got = await get(rangeUrl(fe.http, ev.query, ev.start, ev.end, ev.step));
              const asked = px.seen.length - before;
              if (!sameAnswer(got, direct[i])) {
                mismatches++;
                if (examples.length < 3) {
                  examples.push(
                    `${ev.query} [${ev.start},${ev.end},${ev.step}]: ${got.status} ` +
                      `${got.text.slice(0, 300)}\n  direct: ${direct[i].status} ` +
                      direct[i].text.slice(0, 300),
                  );
                }
              }
              if (pass === "warm" && direct[i].status === 200) warmDownstream += asked;
            }
            assertEquals(mismatches, 0, `${kind} ${pass}:\n${examples.join("\n")}`);
            if (pass === "warm") {
              assertEquals(warmDownstream, 0, `${kind}: warm answers went downstream`);
            }
          }
          const m = await (await fetch(`${fe.http}/metrics`)).text();
          const backendHits = kind === "IN-MEMORY"
            ? metricSum(m, "thanos_cache_inmemory_hits_total")
            : metricSum(m, `thanos_cache_${kind.toLowerCase()}_hits_total`);
          assert(backendHits > 0, `${kind}: no cache hits counted`);
          assert(metricSum(m, "thanos_frontend_split_queries_total") > evals.length);
          await fe.stop();
          await server?.stop();
        });
      }
    } finally {
      await px.close();
    }
  } finally {
    for (const p of procs.reverse()) await p.stop();
    for (const s of servers) await s.stop();
    await dirs.cleanup();
  }
});

const PANELS = [
  "sum by (job) (rate(http_requests_total[5m]))",
  "sum by (method) (rate(http_requests_total[5m]))",
  'sum(rate(http_requests_total{code="500"}[5m]))',
  "avg by (sensor) (node_temperature_celsius)",
  "max(process_resident_memory_bytes) by (job)",
  "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
  "count(up == 1) by (job)",
  "sum(increase(http_requests_total[1h]))",
  "avg_over_time(node_temperature_celsius[10m])",
  "topk(3, sum by (instance) (rate(http_requests_total[5m])))",
];

e2eTest("query-frontend: a sliding 7-day dashboard asks the querier only for new minutes", {
  peers: [],
}, async () => {
  const dirs = new TempDirs();
  const procs: Proc[] = [];
  try {
    const env = { querier: await startQuerierOverCorpusData(dirs, procs) };
    const px = startRecordingProxy(env.querier);
    try {
      const fe = await startFrontend([
        `--query-frontend.downstream-url=${px.url}`,
        "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: 256MB\n",
      ]);
      procs.push(fe);
      const step = 60_000;
      let end = S + 4 * H; // aligned to the step, like Grafana
      const load = async () => {
        const before = px.seen.length;
        const texts = await Promise.all(
          PANELS.map((q) => get(rangeUrl(fe.http, q, end - 7 * 24 * H, end, step))),
        );
        for (const t of texts) assertEquals(t.status, 200, t.text.slice(0, 300));
        return { texts, asked: px.seen.slice(before) };
      };
      const first = await load();
      // 7 days at a 24h split interval: 8 parts per panel
      assert(first.asked.length >= 10 * 7, `first load asked ${first.asked.length}`);
      for (let refresh = 1; refresh <= 5; refresh++) {
        end += step;
        const r = await load();
        assertEquals(r.asked.length, PANELS.length, `refresh ${refresh}`);
        for (const a of r.asked) {
          // only the new minute: one point at the new end
          assertEquals(a.params.get("start"), secs(end), `refresh ${refresh}`);
          assertEquals(a.params.get("end"), secs(end), `refresh ${refresh}`);
        }
        if (refresh === 5) {
          for (let i = 0; i < PANELS.length; i++) {
            const d = await get(rangeUrl(env.querier, PANELS[i], end - 7 * 24 * H, end, step));
            assertEquals(r.texts[i].text, d.text, PANELS[i]);
          }
        }
      }
    } finally {
      await px.close();
    }
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await dirs.cleanup();
  }
});
