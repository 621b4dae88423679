// tracing/setup.ts + tracing/tracer.ts in one thread: spans reach an OTLP receiver with their
// parent links, W3C trace context goes out and comes back in, tracing off costs a no-op span,
// untraced work (the start-up warm-ups) records none, and a collector that is down drops spans past the queue bound, counted, without blocking.

import { assert, assertEquals } from "../helpers/assert.ts";
import { OtlpReceiver } from "../helpers/otlp_receiver.ts";
import { freePort } from "../helpers/ports.ts";
import { parseTracingConfig } from "../../tracing/config.ts";
import { initTracing, MAX_QUEUED_SPANS } from "../../tracing/setup.ts";
import { tracingStats } from "../../tracing/stats.ts";
import {
  activeTraceparent,
  contextFromHeaders,
  inSpan,
  SpanKind,
  startSpan,
  traceHttpRequest,
  tracingEnabled,
  untraced,
  withTraceContext,
} from "../../tracing/tracer.ts";
import { warmInstantQueryPath } from "../../query/warmup.ts";

const cfg = (port: number) =>
  parseTracingConfig(
    `type: OTLP\nconfig: {client_type: http, endpoint: "127.0.0.1:${port}", insecure: true, ` +
      `service_name: unit, timeout: 1s}`,
  )!;

Deno.test({
  name: "tracing off: no-op spans, no trace context sent",
  fn: () => {
    assert(!tracingEnabled());
    const s = startSpan("x");
    assertEquals(s.isRecording(), false);
    assertEquals(withTraceContext(undefined), undefined);
    const md = { "thanos-tenant": "a" };
    assert(withTraceContext(md) === md);
    assertEquals(activeTraceparent(), "");
  },
});

/** A test with tracing on in this thread, exporting to a receiver it is given. */
function tracedTest(name: string, fn: (rx: OtlpReceiver) => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using rx = OtlpReceiver.start();
      const h = initTracing(cfg(rx.port), { defaultServiceName: "t", batchDelayMs: 50 });
      try {
        await fn(rx);
      } finally {
        await h.shutdown();
      }
    },
  });
}

tracedTest("spans reach the collector with parents; traceparent out and back in", async (rx) => {
  const incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  let sent: Record<string, string> | undefined;
  let handed = "";
  const res = await traceHttpRequest(
    new Request("http://x/api/v1/query", { headers: { traceparent: incoming } }),
    "/api/v1/query",
    () =>
      inSpan("child", undefined, () => {
        sent = withTraceContext({ "thanos-tenant": "a" });
        handed = activeTraceparent();
        return Promise.resolve(new Response("ok"));
      }),
  );
  assertEquals(res.status, 200);
  assertEquals(sent!["thanos-tenant"], "a");
  assert(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/.test(sent!.traceparent));
  assertEquals(handed, sent!.traceparent);
  // the receiving side continues that trace
  await inSpan(
    "server",
    undefined,
    () => Promise.resolve(),
    SpanKind.SERVER,
    contextFromHeaders(sent!),
  );
  await rx.waitFor((s) => s.length >= 3, 10_000);
  const by = Object.fromEntries(rx.spans.map((s) => [s.name, s]));
  assertEquals(by["/api/v1/query"].parentSpanId, "b7ad6b7169203331");
  assertEquals(by["/api/v1/query"].kind, 2);
  assertEquals(by["/api/v1/query"].attributes["http.response.status_code"], 200);
  assertEquals(by.child.parentSpanId, by["/api/v1/query"].spanId);
  assertEquals(by.server.parentSpanId, by.child.spanId);
  for (const s of rx.spans) {
    assertEquals(s.traceId, "0af7651916cd43dd8448eb211c80319c");
    assertEquals(s.service, "unit");
  }
  assertEquals(rx.badRequests, 0);
});

Deno.test({
  name: "collector down: spans past the bound are dropped and counted, nothing blocks",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const h = initTracing(cfg(freePort()), { defaultServiceName: "t", batchDelayMs: 10 });
    try {
      const before = tracingStats.droppedSpans;
      const n = MAX_QUEUED_SPANS * 3;
      for (let i = 0; i < n; i++) startSpan(`s${i}`).end();
      assert(
        tracingStats.droppedSpans - before >= n - 2 * MAX_QUEUED_SPANS,
        `dropped ${tracingStats.droppedSpans - before}`,
      );
      // failed exports are counted once the exporter gives up (bounded wait)
      for (let i = 0; i < 100 && tracingStats.failedExports === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert(tracingStats.failedExports > 0, "no failed export counted");
    } finally {
      await h.shutdown();
    }
  },
});

tracedTest(
  "untraced work records no span, nor its calls' server side; work after it is traced",
  async (rx) => {
    {
      {
        let sent: Record<string, string> | undefined = { x: "1" };
        await untraced(async () => {
          const s = startSpan("hidden");
          assertEquals(s.isRecording(), false);
          s.end();
          await inSpan("hidden-parent", undefined, async () => {
            await Promise.resolve();
            sent = withTraceContext({ x: "1" });
            // a server span continuing no trace, in the untraced work's context, and its child
            await inSpan(
              "hidden-server",
              undefined,
              () => inSpan("hidden-handler", undefined, () => Promise.resolve()),
              SpanKind.SERVER,
              contextFromHeaders(sent!),
            );
          });
        });
        // the querier's warm-up is untraced itself (its StoreAPI calls over its in-memory
        // connection, client and server side)
        await warmInstantQueryPath({ rounds: 1 });
        assertEquals(sent, { x: "1" }); // no trace context sent on
        await inSpan("visible", undefined, () => Promise.resolve());
        await rx.waitFor((s) => s.some((x) => x.name === "visible"), 10_000);
        await new Promise((r) => setTimeout(r, 200)); // anything batched with it is in
        assertEquals(rx.spans.map((x) => x.name), ["visible"]);
      }
    }
  },
);
