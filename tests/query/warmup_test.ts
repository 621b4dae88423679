// The querier's start-up warm-up (query/warmup.ts): every query of a round evaluates over the
// synthetic series through the SeriesResponse codec (the one-series ones through a StoreAPI
// server and client over an in-memory connection), the proxy and the engine, and answers with
// data; rounds, the time budget and the role's shutdown signal bound it.

import { assert, assertEquals } from "../helpers/assert.ts";
import { warmInstantQueryPath, WIRE_QUERIES_PER_ROUND, wireQuery } from "../../query/warmup.ts";

Deno.test("warm-up queries all answer with data from the synthetic series", async () => {
  const answers = new Map<string, string>();
  let answered = 0;
  const r = await warmInstantQueryPath({
    rounds: 1,
    onAnswer: (q, json) => {
      answers.set(q, json);
      answered++;
    },
  });
  assertEquals(r.rounds, 1);
  assertEquals(r.queries, answered);
  // the dashboard queries, then one-series queries over the in-memory StoreAPI connection
  const wire = [...answers.keys()].filter((q) => q.startsWith("warmup_gauge{instance="));
  assertEquals(wire.length, Math.min(WIRE_QUERIES_PER_ROUND, 48));
  assert(answered - WIRE_QUERIES_PER_ROUND >= 15, `${answered} queries`);
  for (let i = 0; i < WIRE_QUERIES_PER_ROUND; i++) {
    const one = JSON.parse(answers.get(wireQuery(0, i))!).result as {
      metric: Record<string, string>;
    }[];
    assertEquals(one.length, 1);
    assertEquals(one[0].metric.instance, `host-${i % 48}:9100`);
  }
  for (const [q, json] of answers) {
    const v = JSON.parse(json) as { resultType: string; result: unknown[] };
    assertEquals(v.resultType, "vector", q);
    assert(v.result.length > 0, `${q} answered no series`);
  }
  // the selector answers every gauge series, their labels as the store sent them
  const gauges = JSON.parse(answers.get("warmup_gauge")!).result as {
    metric: Record<string, string>;
  }[];
  assertEquals(gauges.length, 48);
  assertEquals(gauges[0].metric, {
    __name__: "warmup_gauge",
    instance: "host-0:9100",
    job: "api",
  });
  // a histogram's quantile comes out finite for each job
  const q = JSON.parse(
    answers.get(
      "histogram_quantile(0.9, sum by (job, le) (rate(warmup_duration_seconds_bucket[5m])))",
    )!,
  ).result as { value: [number, string] }[];
  assertEquals(q.length, 2);
  assert(q.every((s) => Number.isFinite(Number(s.value[1]))), JSON.stringify(q));
});

Deno.test("warm-up stops at its round limit and at its time budget", async () => {
  const two = await warmInstantQueryPath({ rounds: 2 });
  assertEquals(two.rounds, 2);
  assertEquals(two.queries % 2, 0);
  const none = await warmInstantQueryPath({ rounds: 5, budgetMs: 0 });
  assertEquals(none, { rounds: 0, queries: 0, ms: none.ms });
});

Deno.test("an aborted signal stops the warm-up between queries, without an error", async () => {
  const ac = new AbortController();
  ac.abort(new Error("shutting down"));
  const r = await warmInstantQueryPath({ rounds: 3, signal: ac.signal });
  assertEquals(r.queries, 0);
  // aborted while a round runs: it returns after the query in flight
  const ac2 = new AbortController();
  let seen = 0;
  const r2 = await warmInstantQueryPath({
    rounds: 3,
    signal: ac2.signal,
    onAnswer: () => {
      if (++seen === 3) ac2.abort(new Error("shutting down"));
    },
  });
  assertEquals(r2.queries, 3);
  assertEquals(r2.rounds, 0);
});
