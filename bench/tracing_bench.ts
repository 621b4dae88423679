// What tracing costs a traced call site (`deno bench bench/tracing_bench.ts`): the same async
// call made plainly, through tracing/tracer.ts with tracing off (the default: a flag check and a
// shared no-op span), and with tracing on (real spans, exported to a collector that is down, so
// they are dropped past the queue bound). Compare the groups' ratios; no time is asserted.

import { initTracing } from "../tracing/setup.ts";
import { parseTracingConfig } from "../tracing/config.ts";
import { inSpan, setTracingEnabled, startSpan, withTraceContext } from "../tracing/tracer.ts";
import { freePort } from "../tests/helpers/ports.ts";

const work = (i: number) => Promise.resolve(i + 1);
const md = { "thanos-tenant": "a" };

initTracing(
  parseTracingConfig(
    `type: OTLP\nconfig: {client_type: http, endpoint: "127.0.0.1:${freePort()}", insecure: true}`,
  )!,
  { defaultServiceName: "bench" },
);

Deno.bench({ name: "plain call", group: "call", baseline: true }, async () => {
  await work(1);
});

Deno.bench({ name: "inSpan, tracing off", group: "call" }, async () => {
  setTracingEnabled(false);
  await inSpan("x", { a: 1 }, () => work(1));
});

Deno.bench({ name: "inSpan, tracing on", group: "call" }, async () => {
  setTracingEnabled(true);
  await inSpan("x", { a: 1 }, () => work(1));
});

Deno.bench({ name: "metadata, tracing off", group: "metadata", baseline: true }, () => {
  setTracingEnabled(false);
  withTraceContext(md);
});

Deno.bench({ name: "metadata with traceparent, tracing on", group: "metadata" }, () => {
  setTracingEnabled(true);
  const s = startSpan("y");
  withTraceContext(md);
  s.end();
});
