// With an evaluation pool, an instant query evaluates on the role's thread while no other
// query does (the hand-off to a Worker and back costs as much as a short query, issue 19); a
// second query arriving meanwhile goes to the pool. A range query evaluates here too until its
// selectors have read the work bound, then goes to the pool (query/api.ts, QueryApi.evaluate).
// Both paths give the same answer.

import { assertEquals } from "../helpers/assert.ts";
import { serveRoute, testQueryApi } from "../helpers/query_api.ts";
import type { EvalAnswer, EvalTask, LabelTask } from "../../query/eval_pool.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import type { Route } from "../../server/http.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { ChunkEncoding, type SeriesWithChunks } from "../../tsdb/series.ts";

const EMPTY_VECTOR = '{"resultType":"vector","result":[]}';

/** `n` series `up{i="<k>"}` with one sample every 10 s over [0, 100 s], value k. */
function upSeries(n: number): SeriesWithChunks[] {
  const out: SeriesWithChunks[] = [];
  for (let k = 0; k < n; k++) {
    const app = new XorAppender();
    for (let t = 0; t <= 100_000; t += 10_000) app.append(t, k);
    out.push({
      labels: labelsFromObject({ __name__: "up", i: String(k) }),
      chunks: [{ minTime: 0, maxTime: 100_000, encoding: ChunkEncoding.XOR, data: app.bytes() }],
    });
  }
  return out;
}

/**
 * The API over a pool that records tasks, and one store whose Series calls can be held and
 * answer `series`; `inlineRangeWork` is the API's option.
 */
function setup(series: SeriesWithChunks[] = [], inlineRangeWork?: number) {
  const pooled: (EvalTask | LabelTask)[] = [];
  let storeCalls = 0;
  let storeStreamsClosed = 0;
  let hold: Promise<void> = Promise.resolve();
  let entered: () => void = () => {};
  const proxy = new StoreProxy({
    endpoints: () => [{
      name: "store:10901",
      info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
      client: {
        async *series() {
          storeCalls++;
          try {
            entered();
            await hold;
            yield* series;
          } finally {
            storeStreamsClosed++;
          }
        },
        labelNames: () => Promise.resolve({ names: [], warnings: [] }),
        labelValues: () => Promise.resolve({ values: [], warnings: [] }),
      },
    }],
    unavailable: () => [],
    responseTimeoutMs: 0,
  });
  const routes = testQueryApi({
    proxy,
    evalPool: {
      evaluate: (task: EvalTask | LabelTask): Promise<EvalAnswer> => {
        pooled.push(task);
        const data = task.kind === "range" ? '{"resultType":"matrix","result":[]}' : EMPTY_VECTOR;
        return Promise.resolve({ data: new TextEncoder().encode(data), warnings: [] });
      },
    },
    inlineRangeWork,
  }).routes();
  return {
    routes,
    pooled,
    storeCalls: () => storeCalls,
    storeStreamsClosed: () => storeStreamsClosed,
    /** Holds the next Series calls until the returned release is called. */
    holdStore(): { entered: Promise<void>; release: () => void } {
      let release = () => {};
      hold = new Promise((r) => release = r);
      const e = new Promise<void>((r) => entered = r);
      return { entered: e, release };
    },
  };
}

async function call(routes: Route[], pathAndQuery: string): Promise<string> {
  const res = await serveRoute(routes, new Request(`http://querier${pathAndQuery}`));
  assertEquals(res.status, 200);
  return await res.text();
}

const body = (data: string) => `{"status":"success","data":${data}}`;

Deno.test("an instant query evaluates on the role's thread while no other one does; more go to the pool", async () => {
  const s = setup();
  // alone: evaluated here (the store is asked through this thread's proxy), not in the pool
  assertEquals(await call(s.routes, "/api/v1/query?query=up&time=100"), body(EMPTY_VECTOR));
  assertEquals(s.storeCalls(), 1);
  assertEquals(s.pooled.length, 0);

  // while one evaluates here, the next instant query goes to the pool
  const h = s.holdStore();
  const first = call(s.routes, "/api/v1/query?query=up&time=100");
  await h.entered;
  assertEquals(await call(s.routes, "/api/v1/query?query=up&time=200"), body(EMPTY_VECTOR));
  assertEquals(s.pooled.length, 1);
  assertEquals((s.pooled[0] as EvalTask).kind, "instant");
  assertEquals((s.pooled[0] as EvalTask).start, 200_000);
  h.release();
  assertEquals(await first, body(EMPTY_VECTOR));
  assertEquals(s.storeCalls(), 2);

  // once it finished, this thread takes the next one again
  await call(s.routes, "/api/v1/query?query=up&time=300");
  assertEquals(s.storeCalls(), 3);
  assertEquals(s.pooled.length, 1);
});

Deno.test("a small range query evaluates on the role's thread; one arriving meanwhile goes to the pool", async () => {
  const s = setup(upSeries(2), 1000);
  // 2 series × (11 samples + 10 steps) = 42 ≤ 1000: evaluated here, not in the pool
  const answer = await call(s.routes, "/api/v1/query_range?query=up&start=0&end=100&step=10");
  const parsed = JSON.parse(answer);
  assertEquals(parsed.data.resultType, "matrix");
  assertEquals(parsed.data.result.length, 2);
  assertEquals(parsed.data.result[1].values.length, 11);
  assertEquals(parsed.data.result[1].values[10], [100, "1"]);
  assertEquals(s.storeCalls(), 1);
  assertEquals(s.pooled.length, 0);

  // while an instant query evaluates here, a range query goes to the pool
  const h = s.holdStore();
  const first = call(s.routes, "/api/v1/query?query=up&time=100");
  await h.entered;
  assertEquals(
    await call(s.routes, "/api/v1/query_range?query=up&start=0&end=100&step=10"),
    body('{"resultType":"matrix","result":[]}'),
  );
  assertEquals(s.pooled.length, 1);
  assertEquals((s.pooled[0] as EvalTask).kind, "range");
  h.release();
  await first;
  assertEquals(s.storeCalls(), 2);
});

Deno.test("a range query past the work bound stops here, closes its store stream and goes to the pool", async () => {
  // 50 series × 21 = 1050 > 100: the attempt here stops after five series (at step 20, 50 ×
  // 16 > 100 too)
  const s = setup(upSeries(50), 100);
  assertEquals(
    await call(s.routes, "/api/v1/query_range?query=up&start=0&end=100&step=10"),
    body('{"resultType":"matrix","result":[]}'),
  );
  assertEquals(s.storeCalls(), 1);
  assertEquals(s.storeStreamsClosed(), 1);
  assertEquals(s.pooled.length, 1);
  const task = s.pooled[0] as EvalTask;
  assertEquals([task.kind, task.expr, task.start, task.end, task.step], [
    "range",
    "up",
    0,
    100_000,
    10_000,
  ]);
  // the pool got the task without a work bound, and this thread is free again
  assertEquals(task.engine.workLimit, undefined);
  await call(s.routes, "/api/v1/query?query=up&time=100");
  assertEquals(s.storeCalls(), 2);
  assertEquals(s.pooled.length, 1);

  // the same query later (same step and duration, shifted): to the pool without an attempt here
  await call(s.routes, "/api/v1/query_range?query=up&start=50&end=150&step=10");
  assertEquals(s.storeCalls(), 2);
  assertEquals(s.pooled.length, 2);
  // another step is another query: tried here first
  await call(s.routes, "/api/v1/query_range?query=up&start=0&end=100&step=20");
  assertEquals(s.storeCalls(), 3);
  assertEquals(s.pooled.length, 3);
});
