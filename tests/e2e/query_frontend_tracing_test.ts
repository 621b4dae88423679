// `thanos query-frontend --tracing.config`: a frontend (2 vertical shards, split by 1h) and a
// querier as processes send spans to an OTLP receiver in this test. A range query sent with a
// W3C `traceparent` yields, in that one trace: the frontend's server span (child of the caller's
// span), one client span per downstream request (split part × shard), and for each of them the
// querier's HTTP server span as its child — the `traceparent` went with every downstream request.
// A passed-through request (the querier's build info) is traced the same way.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc } from "../helpers/thanos.ts";
import { otlpConfig, OtlpReceiver, type ReceivedSpan } from "../helpers/otlp_receiver.ts";
import { startQuerier, startStore, writeBlocks } from "../helpers/query_e2e.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { DEFAULT_DATASET } from "./promql_diff_harness.ts";
import { H, rangeUrl, S, startFrontend } from "../helpers/frontend_e2e.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

Deno.test({
  name: "query-frontend: spans per request and downstream call, traceparent to the querier",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    await using rx = OtlpReceiver.start();
    const procs: Proc[] = [];
    try {
      const dir = await dirs.make();
      await writeBlocks(dir, generateDataset({ ...DEFAULT_DATASET, series: 40 }).series);
      const store = await startStore(dir, {});
      procs.push(store);
      const q = await startQuerier([
        `--endpoint=127.0.0.1:${store.port}`,
        `--tracing.config=${otlpConfig(rx.endpoint, "querier")}`,
      ]);
      procs.push(q);
      const fe = await startFrontend([
        `--query-frontend.downstream-url=${q.url}`,
        "--query-frontend.vertical-shards=2",
        "--query-range.split-interval=1h",
        "--no-query-range.request-downsampled",
        `--tracing.config=${otlpConfig(rx.endpoint, "frontend")}`,
      ]);
      procs.push(fe);

      // 2 hours from a UTC hour boundary: 2 split parts × 2 shards
      const start = Math.ceil(S / H) * H;
      const res = await fetch(
        rangeUrl(
          fe.http,
          "sum by (job) (rate(http_requests_total[5m]))",
          start,
          start + 2 * H,
          60_000,
        ),
        { headers: { traceparent: `00-${TRACE}-${CALLER_SPAN}-01` } },
      );
      const text = await res.text();
      assertEquals(res.status, 200, text);
      const downstreamCalls = 2 * 2; // [start, start+1h) and [start+1h, start+2h]; 2 shards
      const inTrace = (s: ReceivedSpan[]) => s.filter((x) => x.traceId === TRACE);
      const count = (s: ReceivedSpan[], service: string, name: string) =>
        inTrace(s).filter((x) => x.service === service && x.name === name).length;
      await rx.waitFor((s) =>
        count(s, "frontend", "/api/v1/query_range") === 1 &&
        count(s, "frontend", "query_frontend_downstream") === downstreamCalls &&
        count(s, "querier", "/api/v1/query_range") === downstreamCalls
      );
      const spans = inTrace(rx.spans);
      const server = spans.find((x) =>
        x.service === "frontend" && x.name === "/api/v1/query_range"
      )!;
      assertEquals(server.parentSpanId, CALLER_SPAN);
      assertEquals(server.kind, 2);
      assertEquals(server.attributes["http.response.status_code"], 200);
      const calls = spans.filter((x) => x.name === "query_frontend_downstream");
      const queriers = spans.filter((x) =>
        x.service === "querier" && x.name === "/api/v1/query_range"
      );
      for (const c of calls) {
        assertEquals(c.parentSpanId, server.spanId);
        assertEquals(c.kind, 3);
        assertEquals(c.attributes["http.response.status_code"], 200);
        // the querier continued this call's trace: its server span is the call's child
        assertEquals(queriers.filter((x) => x.parentSpanId === c.spanId).length, 1);
      }

      // a passed-through request: frontend server span → downstream span → querier span
      const TRACE2 = "0af7651916cd43dd8448eb211c80319c";
      const bi = await fetch(`${fe.http}/api/v1/status/buildinfo`, {
        headers: { traceparent: `00-${TRACE2}-b7ad6b7169203331-01` },
      });
      assertEquals(bi.status, 200);
      await bi.body?.cancel();
      await rx.waitFor((s) =>
        s.some((x) => x.traceId === TRACE2 && x.service === "querier") &&
        s.some((x) => x.traceId === TRACE2 && x.name === "query_frontend_downstream")
      );
      const t2 = rx.spans.filter((x) => x.traceId === TRACE2);
      const call = t2.find((x) => x.name === "query_frontend_downstream")!;
      const fserver = t2.find((x) => x.service === "frontend" && x.kind === 2)!;
      assertEquals(fserver.parentSpanId, "b7ad6b7169203331");
      assertEquals(call.parentSpanId, fserver.spanId);
      assert(t2.some((x) => x.service === "querier" && x.parentSpanId === call.spanId));
      assertEquals(rx.badRequests, 0);
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
});
