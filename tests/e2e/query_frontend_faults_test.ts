// `thanos query-frontend` under faults, against a real querier and store and real memcached and
// redis-server: the cache server killed mid-run (answers stay right, cache errors are counted
// misses), a querier answering 5xx twice (retried and answered; 4xx not retried), a querier down
// (an error in Prometheus' JSON format); bad input gets the querier's own status and body; the
// UI and instant queries pass through.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc } from "../helpers/thanos.ts";
import { freePort } from "../helpers/ports.ts";
import {
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

const QUERIES = [
  "sum by (job) (rate(http_requests_total[5m]))",
  "sum by (method) (rate(http_requests_total[5m]))",
  'sum(rate(http_requests_total{code="500"}[5m]))',
  "avg by (sensor) (node_temperature_celsius)",
];

e2eTest("query-frontend: cache killed, querier 5xx and down, bad input", {
  peers: [MEMCACHED, REDIS],
}, async (t) => {
  const dirs = new TempDirs();
  const procs: Proc[] = [];
  const servers: CacheServer[] = [];
  try {
    const env = { querier: await startQuerierOverCorpusData(dirs, procs) };
    const px = startRecordingProxy(env.querier);
    // within one day (S + 2h is midnight UTC): one part at the default 24h split interval
    const queries = QUERIES.map((q) => rangeUrl("", q, S + 2 * H, S + 5 * H, 60_000));
    try {
      for (const kind of ["MEMCACHED", "REDIS"] as const) {
        await t.step(`${kind} killed mid-run: answers stay right, errors counted`, async () => {
          const server = kind === "MEMCACHED" ? await startMemcached() : await startRedis();
          servers.push(server);
          const fe = await startFrontend([
            `--query-frontend.downstream-url=${px.url}`,
            "--query-range.split-interval=1h",
            `--query-range.response-cache-config=${cacheYaml(kind, server)}`,
          ]);
          procs.push(fe);
          for (let round = 0; round < 3; round++) {
            if (round === 2) await server.stop();
            for (const q of queries) {
              const got = await get(fe.http + q);
              const want = await get(env.querier + q);
              assertEquals(got.status, 200, got.text.slice(0, 200));
              assert(got.text === want.text, `round ${round}: ${q}: ${got.text.slice(0, 300)}`);
            }
          }
          const m = await (await fetch(`${fe.http}/metrics`)).text();
          const lower = kind.toLowerCase();
          assert(metricSum(m, `thanos_cache_${lower}_hits_total`) > 0, "hits before the kill");
          assert(
            metricSum(m, `thanos_${lower}_operation_failures_total`, 'operation="getmulti"') > 0,
            `${kind} failures counted:\n${
              m.split("\n").filter((l) => l.includes(lower)).join("\n")
            }`,
          );
          await fe.stop();
        });
      }

      const fe = await startFrontend([
        `--query-frontend.downstream-url=${px.url}`,
        "--query-range.max-retries-per-request=3",
        "--labels.max-retries-per-request=3",
        "--query.max-retries-per-request=3",
        "--query-range.max-query-length=30d",
        "--query-frontend.forward-header=Authorization",
      ]);
      procs.push(fe);

      await t.step("a querier answering 5xx twice is retried and answered", async () => {
        const q = queries[0];
        const want = await get(env.querier + q);
        const before = px.seen.length;
        px.failNext(2, 503);
        const got = await get(fe.http + q);
        assertEquals(got.status, 200, got.text.slice(0, 300));
        assert(got.text === want.text, got.text.slice(0, 300));
        assertEquals(px.seen.length - before, 3, "two failures and one success");
        px.failNext(2, 500);
        const labels = await get(`${fe.http}/api/v1/labels?start=${secs(S)}&end=${secs(E)}`);
        assertEquals(labels.status, 200, labels.text);
        assert(labels.text.includes('"__name__"'), labels.text);
        // instant queries are passed through with retries too (--query.max-retries-per-request)
        px.failNext(2, 502);
        const inst = `/api/v1/query?query=up&time=${secs(S + H)}`;
        assertEquals(await get(fe.http + inst), await get(env.querier + inst));
        // a 4xx is not retried
        px.failNext(1, 422);
        const before4 = px.seen.length;
        const r422 = await get(fe.http + queries[1]);
        assertEquals(r422.status, 422);
        assertEquals(px.seen.length - before4, 1);
        // 5xx more often than the retries allow: the querier's error comes back
        px.failNext(3, 500);
        const r500 = await get(fe.http + queries[2]);
        assertEquals(r500.status, 500);
        assert(r500.text.includes("injected 500"), r500.text);
      });

      await t.step(
        "only --query-frontend.forward-header headers reach split requests",
        async () => {
          const before = px.seen.length;
          const r = await fetch(fe.http + queries[3], {
            headers: { Authorization: "Bearer t0k", "X-Other": "no" },
          });
          assertEquals(r.status, 200);
          await r.body?.cancel();
          const asked = px.seen.slice(before);
          assert(asked.length > 0);
          for (const a of asked) {
            assertEquals(a.headers.get("authorization"), "Bearer t0k");
            assertEquals(a.headers.get("x-other"), null);
          }
        },
      );

      await t.step("bad input gets the querier's status and body", async () => {
        const bad = [
          rangeUrl("", "up", S, S + H, 0),
          rangeUrl("", "up", S, S + H, -60_000),
          `/api/v1/query_range?query=up&start=${secs(S)}&end=${secs(S + H)}&step=abc`,
          rangeUrl("", "up", S + H, S, 60_000),
          `/api/v1/query_range?query=up&end=${secs(S + H)}&step=60`,
          `/api/v1/query_range?query=up&start=yesterday&end=${secs(S + H)}&step=60`,
          rangeUrl("", "up", S, S + 2 * 24 * H, 1000),
          rangeUrl("", "sum(", S, S + H, 60_000),
          rangeUrl("", "", S, S + H, 60_000),
          `/api/v1/query_range?query=up&start=${secs(S)}&end=${secs(S + H)}&step=60&dedup=maybe`,
          `/api/v1/query_range?query=up&start=${secs(S)}&end=${secs(S + H)}&step=60` +
          "&max_source_resolution=fast",
          `/api/v1/query_range?${"x".repeat(2000)}=1&query=up`,
          `/api/v1/labels?start=foo`,
          `/api/v1/series?start=${secs(S)}`,
          `/api/v1/label/${encodeURIComponent("bad-name")}/values`,
          `/api/v1/query?query=up&time=notatime`,
        ];
        for (const path of bad) {
          const want = await get(env.querier + path);
          const got = await get(fe.http + path);
          assert(want.status >= 400, `${path}: querier answered ${want.status}`);
          assertEquals({ status: got.status, text: got.text }, want, path);
        }
        // the frontend's own limit
        const long = await get(fe.http + rangeUrl("", "up", S - 31 * 24 * H, S, 3600_000));
        assertEquals(long.status, 400);
        assertEquals(
          long.text,
          '{"status":"error","errorType":"bad_data","error":"the query time range exceeds the ' +
            'limit (query length: 744h0m0s, limit: 720h0m0s)"}',
        );
      });

      await t.step("ranges are aligned to the step (Grafana's alignment)", async () => {
        const q = "sum by (job) (rate(http_requests_total[5m]))";
        const got = await get(fe.http + rangeUrl("", q, S + H + 7_000, S + 3 * H + 13_000, 97_000));
        const aligned = (t: number) => t - (t % 97_000);
        const want = await get(
          env.querier +
            rangeUrl("", q, aligned(S + H + 7_000), aligned(S + 3 * H + 13_000), 97_000),
        );
        assertEquals(got.status, 200);
        assert(got.text === want.text, got.text.slice(0, 300));
      });

      await t.step("labels, label values and series split by day equal the querier's", async () => {
        // S + 2h is a UTC midnight: two parts at the default 24h labels split interval
        const range = `start=${secs(S)}&end=${secs(E)}`;
        const before = px.seen.length;
        for (
          const path of [
            `/api/v1/labels?${range}`,
            `/api/v1/label/job/values?${range}`,
            `/api/v1/series?match[]=up&${range}`,
            `/api/v1/series?match[]=${
              encodeURIComponent('http_requests_total{code="500"}')
            }&${range}`,
          ]
        ) {
          const want = await get(env.querier + path);
          const got = await get(fe.http + path);
          assertEquals(got.status, 200, got.text.slice(0, 300));
          assert(got.text === want.text, `${path}: ${got.text.slice(0, 300)}`);
        }
        assertEquals(px.seen.length - before, 8, "two parts per request");
      });

      await t.step("whole past label intervals come from the labels cache", async () => {
        const lf = await startFrontend([
          `--query-frontend.downstream-url=${px.url}`,
          "--labels.split-interval=1h",
          "--labels.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size_items: 100\n",
        ]);
        procs.push(lf);
        const path = `/api/v1/label/job/values?start=${secs(S)}&end=${secs(E)}`;
        const want = await get(env.querier + path);
        const b0 = px.seen.length;
        assertEquals(await get(lf.http + path), want);
        assertEquals(px.seen.length - b0, 7, "6 whole hours and the instant at the end");
        const b1 = px.seen.length;
        assertEquals(await get(lf.http + path), want);
        assertEquals(px.seen.length - b1, 1, "only the partial interval again");
        await lf.stop();
      });

      await t.step("the query UI and instant queries pass through", async () => {
        const ui = await fetch(`${fe.http}/graph`);
        assertEquals(ui.status, 200);
        assert((await ui.text()).includes("<html"), "UI page");
        const inst = `/api/v1/query?query=up&time=${secs(S + H)}`;
        assertEquals(await get(fe.http + inst), await get(env.querier + inst));
      });

      await t.step("a querier that is down gives a Prometheus JSON error", async () => {
        const down = await startFrontend([
          `--query-frontend.downstream-url=http://127.0.0.1:${freePort()}`,
          "--query-range.max-retries-per-request=2",
        ]);
        procs.push(down);
        const r = await get(down.http + queries[0]);
        assertEquals(r.status, 503);
        const body = JSON.parse(r.text);
        assertEquals(body.status, "error");
        assertEquals(body.errorType, "unavailable");
        assert(/downstream http:\/\/127\.0\.0\.1:\d+: /.test(body.error), body.error);
        const inst = await get(`${down.http}/api/v1/query?query=up`);
        assertEquals(inst.status, 503);
        assertEquals(JSON.parse(inst.text).errorType, "unavailable");
      });
    } finally {
      await px.close();
    }
  } finally {
    for (const p of procs.reverse()) await p.stop();
    for (const s of servers) await s.stop();
    await dirs.cleanup();
  }
});
