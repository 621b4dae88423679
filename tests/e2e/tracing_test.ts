// `--tracing.config` end to end (issue 18, must-show 5): a real store gateway and querier
// (`main.ts store …`, `main.ts query …` as processes, each in its permission-scoped worker) send
// spans over OTLP/HTTP and over OTLP/gRPC to a receiver in this test. One query, sent with a W3C `traceparent`, yields
// spans from both processes in that one trace, linked HTTP → PromQL evaluation → proxy fan-out
// → store call → the store gateway's Series server span → its block reads. A collector that is down changes no
// answer and crashes no role; the failed exports are counted on /metrics.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../helpers/thanos.ts";
import { freePort } from "../helpers/ports.ts";
import {
  otlpConfig,
  OtlpGrpcReceiver,
  OtlpReceiver,
  type ReceivedSpan,
} from "../helpers/otlp_receiver.ts";
import { smallDataset, startQuerier, T0, withLabels, writeBlocks } from "../helpers/query_e2e.ts";

const END = T0 / 1000 + 3 * 3600;
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const RANGE_TRACE = "5ce0a1e84c1b4c7a9d2f6b3e8a7d9c10";

async function bucket(dirs: TempDirs): Promise<string> {
  const root = await dirs.make();
  await writeBlocks(`${root}/bucket`, withLabels(smallDataset(7, 20), {}));
  await Deno.writeTextFile(
    `${root}/bucket.yml`,
    `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
  );
  return root;
}

function startStore(root: string, tracing: string): Promise<ThanosProc> {
  return startComponent("store", [
    `--objstore.config-file=${root}/bucket.yml`,
    `--data-dir=${root}/store`,
    "--log.level=warn",
    `--tracing.config=${tracing}`,
  ]);
}

function one(spans: ReceivedSpan[], service: string, name: string): ReceivedSpan {
  const found = spans.filter((s) => s.service === service && s.name === name);
  assertEquals(found.length, 1, `${service}/${name}: ${JSON.stringify(spans.map((s) => s.name))}`);
  return found[0];
}

for (const client of ["http", "grpc"] as const) {
  Deno.test({
    name:
      `one query's spans from querier and store gateway arrive in one trace, linked (${client})`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => traceOneQuery(client),
  });
}

async function traceOneQuery(client: "http" | "grpc"): Promise<void> {
  await using dirs = new TempDirs();
  await using rx = client === "http" ? OtlpReceiver.start() : await OtlpGrpcReceiver.start();
  const procs: ThanosProc[] = [];
  try {
    const root = await bucket(dirs);
    const store = await startStore(root, otlpConfig(rx.endpoint, "store-gw", "", client));
    procs.push(store);
    const q = await startQuerier([
      `--store=${store.grpc}`,
      `--tracing.config=${otlpConfig(rx.endpoint, "querier", "", client)}`,
    ]);
    procs.push(q);
    const url = `${q.url}/api/v1/query?query=${
      encodeURIComponent("sum(http_requests_total)")
    }&time=${END}`;
    const res = await fetch(url, {
      headers: { traceparent: `00-${TRACE}-${CALLER_SPAN}-01` },
    });
    const body = await res.json();
    assertEquals(res.status, 200, JSON.stringify(body));
    assertEquals(body.data.result.length, 1, JSON.stringify(body));

    const inTrace = (s: ReceivedSpan[]) => s.filter((x) => x.traceId === TRACE);
    // each process, and each evaluation Worker, exports on its own schedule: wait for all
    const want = [
      "/api/v1/query",
      "promql_instant_query",
      "proxy_series",
      "store_series",
      "/thanos.Store/Series",
      "bucket_store_block_series",
    ];
    await rx.waitFor((s) => want.every((n) => inTrace(s).some((x) => x.name === n)));
    const spans = inTrace(rx.spans);
    const http = one(spans, "querier", "/api/v1/query");
    const evalSpan = one(spans, "querier", "promql_instant_query");
    const proxy = one(spans, "querier", "proxy_series");
    const call = one(spans, "querier", "store_series");
    const server = one(spans, "store-gw", "/thanos.Store/Series");
    // the caller's span → HTTP server span → evaluation (on the role's thread) → fan-out
    // → one call per store → the store gateway's server span (another process)
    assertEquals(http.parentSpanId, CALLER_SPAN);
    assertEquals(http.kind, 2);
    assertEquals(http.attributes["http.response.status_code"], 200);
    assertEquals(evalSpan.parentSpanId, http.spanId);
    assertEquals(proxy.parentSpanId, evalSpan.spanId);
    assertEquals(call.parentSpanId, proxy.spanId);
    assertEquals(call.attributes["store.address"], store.grpc);
    assertEquals(call.kind, 3);
    assertEquals(server.parentSpanId, call.spanId);
    assertEquals(server.kind, 2);
    // inside the store gateway: a span per block read, each with its postings lookup
    // (block and postings spans end before the Series span: exported with it or before)
    const blocks = inTrace(rx.spans).filter((x) => x.name === "bucket_store_block_series");
    assert(blocks.length >= 1, "no block spans");
    for (const b of blocks) {
      assertEquals(b.service, "store-gw");
      assertEquals(b.parentSpanId, server.spanId);
    }
    const blockIds = new Set(blocks.map((b) => b.spanId));
    const postings = inTrace(rx.spans).filter((x) => x.name === "bucket_store_postings");
    assertEquals(postings.length, blocks.length);
    for (const p of postings) assert(blockIds.has(p.parentSpanId), JSON.stringify(p));
    assertEquals(rx.badRequests, 0);

    // labels: HTTP → its work (in an evaluation Worker) → proxy_label_names →
    // store_label_names → the store's LabelNames, and a request without traceparent starts its
    // own trace
    const lr = await fetch(`${q.url}/api/v1/labels`);
    assertEquals(lr.status, 200);
    await lr.body?.cancel();
    const labelSpans = [
      "/api/v1/labels",
      "query_labels",
      "proxy_label_names",
      "store_label_names",
      "/thanos.Store/LabelNames",
    ];
    await rx.waitFor((s) => labelSpans.every((n) => s.some((x) => x.name === n)));
    const ln = rx.spans.find((x) => x.name === "/thanos.Store/LabelNames")!;
    const lt = rx.spans.filter((x) => x.traceId === ln.traceId);
    assert(ln.traceId !== TRACE);
    const lh = one(lt, "querier", "/api/v1/labels");
    assertEquals(lh.parentSpanId, "");
    const lw = one(lt, "querier", "query_labels");
    const lp = one(lt, "querier", "proxy_label_names");
    const lc = one(lt, "querier", "store_label_names");
    assertEquals(lw.parentSpanId, lh.spanId);
    assertEquals(lp.parentSpanId, lw.spanId);
    assertEquals(lc.parentSpanId, lp.spanId);
    assertEquals(ln.parentSpanId, lc.spanId);

    // a range query past the querier's work bound for its own thread (20 series × 10,801 steps
    // > 100,000) evaluates in an evaluation Worker, at once from its second time on: the Worker's
    // spans continue the request's trace too
    const heavyRange = `${q.url}/api/v1/query_range?query=${
      encodeURIComponent('count({__name__=~".+"})')
    }&start=${END - 10_800}&end=${END}&step=1`;
    const first = await fetch(heavyRange);
    assertEquals(first.status, 200);
    await first.body?.cancel();
    const rr = await fetch(heavyRange, {
      headers: { traceparent: `00-${RANGE_TRACE}-${CALLER_SPAN}-01` },
    });
    assertEquals(rr.status, 200);
    await rr.body?.cancel();
    const inRange = (s: ReceivedSpan[]) => s.filter((x) => x.traceId === RANGE_TRACE);
    const rangeSpans = ["/api/v1/query_range", "promql_range_query", "proxy_series"];
    await rx.waitFor((s) => rangeSpans.every((n) => inRange(s).some((x) => x.name === n)));
    const rh = one(inRange(rx.spans), "querier", "/api/v1/query_range");
    const re = one(inRange(rx.spans), "querier", "promql_range_query");
    const rp = one(inRange(rx.spans), "querier", "proxy_series");
    assertEquals(rh.parentSpanId, CALLER_SPAN);
    assertEquals(re.parentSpanId, rh.spanId);
    assertEquals(rp.parentSpanId, re.spanId);
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const l = text.split("\n").find((x) => x.startsWith(name + " "));
  return l ? Number(l.slice(name.length + 1)) : 0;
}

Deno.test({
  name: "collector down: queries are answered, roles stay up, failed exports are counted",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const procs: ThanosProc[] = [];
    // nothing listens on this port
    const dead = `127.0.0.1:${freePort()}`;
    try {
      const root = await bucket(dirs);
      // the store exports over gRPC, the querier over HTTP: both to nothing
      const store = await startStore(root, otlpConfig(dead, "store-gw", "", "grpc"));
      procs.push(store);
      const q = await startQuerier([
        `--store=${store.grpc}`,
        `--tracing.config=${otlpConfig(dead, "querier")}`,
        "--query.eval-workers=0",
      ]);
      procs.push(q);
      for (let i = 0; i < 5; i++) {
        const r = await fetch(
          `${q.url}/api/v1/query?query=${encodeURIComponent("count(http_requests_total)")}&time=${
            END - i * 60
          }`,
        );
        const body = await r.json();
        assertEquals(r.status, 200, JSON.stringify(body));
        assertEquals(body.data.result.length, 1);
      }
      // bounded wait for the exporters to give up on the dead collector
      for (let i = 0; i < 150; i++) {
        if (
          await metric(store.http, "thanos_tracing_export_failures_total") > 0 &&
          await metric(q.http, "thanos_tracing_export_failures_total") > 0
        ) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert(await metric(store.http, "thanos_tracing_export_failures_total") > 0, store.logs());
      assert(await metric(q.http, "thanos_tracing_export_failures_total") > 0, q.logs());
      assert(store.alive && q.alive);
      const r = await fetch(`${q.url}/api/v1/labels`);
      assertEquals(r.status, 200);
      await r.body?.cancel();
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
});
