// `/api/v1/series`, `labels` and `label/<name>/values` with an evaluation pool: the request goes to
// the pool as data (selectors, range, the request's proxy options), its encoded bytes and warnings
// are the answer, its failures map to the API's errors as before, and a cancelled request cancels
// the pool's task; the HTTP thread's proxy is not used. Without a pool the same work
// (query/label_api.ts) runs on the HTTP thread, and the store calls get the request's signal.

import { assert, assertEquals } from "../helpers/assert.ts";
import { serveRoute, testQueryApi } from "../helpers/query_api.ts";
import type { EvalAnswer, EvalTask, LabelTask } from "../../query/eval_pool.ts";
import { ProxyQueryable } from "../../query/queryable.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import type { Route } from "../../server/http.ts";
import { PromQLError } from "../../promql/errors.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

interface Seen {
  task: LabelTask;
  signal?: AbortSignal;
}

/** The API over a pool that records tasks; the HTTP thread's proxy fails when used. */
function apiWithPool(answer: (t: LabelTask) => Promise<EvalAnswer>): {
  routes: Route[];
  seen: Seen[];
} {
  const seen: Seen[] = [];
  const proxy = new StoreProxy({
    endpoints: () => {
      throw new Error("the HTTP thread's proxy was used");
    },
  });
  const routes = testQueryApi({
    proxy,
    evalPool: {
      evaluate: (task: EvalTask | LabelTask, signal?: AbortSignal) => {
        seen.push({ task: task as LabelTask, signal });
        return answer(task as LabelTask);
      },
    },
    replicaLabels: ["replica"],
  }).routes();
  return { routes, seen };
}

async function call(
  routes: Route[],
  pathAndQuery: string,
  signal?: AbortSignal,
): Promise<{ status: number; cache: string | null; body: string }> {
  const res = await serveRoute(routes, new Request(`http://querier${pathAndQuery}`, { signal }));
  return { status: res.status, cache: res.headers.get("cache-control"), body: await res.text() };
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("label APIs go to the evaluation pool as data; its bytes and warnings are the answer", async () => {
  const { routes, seen } = apiWithPool((t) =>
    Promise.resolve(
      t.kind === "series"
        ? { data: bytes('[{"__name__":"up","job":"a"}]'), warnings: ["store x: slow"] }
        : { data: bytes(`["${t.kind}"]`), warnings: [] },
    )
  );
  const s = await call(
    routes,
    "/api/v1/series?match[]=up&match[]=" + encodeURIComponent('{job=~"a|b"}') +
      "&start=10&end=20&dedup=false&partial_response=false",
  );
  assertEquals(s.status, 200);
  assertEquals(
    s.body,
    '{"status":"success","data":[{"__name__":"up","job":"a"}],"warnings":["store x: slow"]}',
  );
  assertEquals(s.cache, "no-store");
  const l = await call(routes, "/api/v1/labels?storeMatch[]=" + encodeURIComponent('{a="b"}'));
  assertEquals(l.body, '{"status":"success","data":["labels"]}');
  assertEquals(l.cache, null);
  const v = await call(routes, "/api/v1/label/job/values?match[]=up");
  assertEquals(v.body, '{"status":"success","data":["label_values"]}');

  assertEquals(seen.map((x) => x.task.kind), ["series", "labels", "label_values"]);
  const [series, labels, values] = seen.map((x) => x.task);
  assertEquals(series.matchers, [[["=", "__name__", "up"]], [["=~", "job", "a|b"]]]);
  assertEquals([series.start, series.end], [10_000, 20_000]);
  assertEquals(series.queryable.partialResponse, false);
  assertEquals(series.queryable.dedup, false);
  assertEquals(series.queryable.replicaLabels, ["replica"]);
  assertEquals(labels.matchers, []);
  assertEquals(labels.queryable.storeMatchers, [[["=", "a", "b"]]]);
  assertEquals(labels.queryable.partialResponse, true);
  assertEquals(values.name, "job");
  assertEquals(values.matchers, [[["=", "__name__", "up"]]]);
  // bad input is answered on the HTTP thread, before any task
  const bad = await call(routes, "/api/v1/series?match[]={}");
  assertEquals(bad.status, 400);
  const badName = await call(routes, "/api/v1/label/a-b/values");
  assertEquals(badName.status, 400);
  assertEquals(seen.length, 3);
});

Deno.test("label APIs: the pool's failures are the API's errors", async () => {
  const { routes } = apiWithPool((t) =>
    Promise.reject(
      t.kind === "labels"
        ? new PromQLError("execution", "store s is unhealthy and was not queried: down")
        : new PromQLError("internal", "query evaluation worker 1 crashed during the query"),
    )
  );
  const l = await call(routes, "/api/v1/labels");
  assertEquals(l.status, 422);
  assertEquals(
    l.body,
    '{"status":"error","errorType":"execution","error":"store s is unhealthy and was not queried: down"}',
  );
  const s = await call(routes, "/api/v1/series?match[]=up");
  assertEquals(s.status, 500);
  assert(s.body.includes('"errorType":"internal"'), s.body);
});

Deno.test("label APIs: a cancelled request cancels the pool's task", async () => {
  let started = () => {};
  const { routes, seen } = apiWithPool(() => {
    started();
    return new Promise<EvalAnswer>((_, reject) => {
      const s = seen[seen.length - 1].signal!;
      s.addEventListener("abort", () => reject(new PromQLError("canceled", "query canceled")));
    });
  });
  for (const path of ["/api/v1/series?match[]=up", "/api/v1/labels", "/api/v1/label/a/values"]) {
    const ac = new AbortController();
    const running = new Promise<void>((r) => started = r);
    const res = call(routes, path, ac.signal);
    await running;
    const sig = seen[seen.length - 1].signal;
    assert(sig !== undefined && !sig.aborted, path);
    ac.abort();
    assertEquals((await res).status, 499, path);
    assert(sig.aborted, path);
  }
});

Deno.test("label names and values: the store calls get the request's signal", async () => {
  const signals: AbortSignal[] = [];
  const proxy = new StoreProxy({
    endpoints: () => [{
      name: "s:1",
      info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
      client: {
        // deno-lint-ignore require-yield
        async *series() {
          return;
        },
        labelNames: (_r, signal) => {
          signals.push(signal);
          return Promise.resolve({ names: ["a"], warnings: [] });
        },
        labelValues: (_r, signal) => {
          signals.push(signal);
          return Promise.resolve({ values: ["b"], warnings: [] });
        },
      },
    }],
  });
  const q = new ProxyQueryable(proxy, {
    partialResponse: true,
    dedup: false,
    replicaLabels: [],
    dedupFunc: "penalty",
  });
  const ac = new AbortController();
  const m = [new Matcher(MatchType.Equal, "__name__", "up")];
  assertEquals(await q.labelNames(m, 0, 1, ac.signal), ["a"]);
  assertEquals(await q.labelValues("x", m, 0, 1, ac.signal), ["b"]);
  ac.abort();
  assertEquals(signals.length, 2);
  assert(signals.every((s) => s.aborted), "a store call did not get the request's signal");
});

Deno.test("a pool's streamed answer is framed piece by piece, with its warnings at the end", async () => {
  const pieces = ['["a",', '"b",', '"c"]'];
  let pulled = 0;
  const { routes } = apiWithPool(() =>
    Promise.resolve({
      data: new ReadableStream<Uint8Array>({
        pull(ctrl) {
          const p = pieces[pulled++];
          if (p === undefined) ctrl.close();
          else ctrl.enqueue(bytes(p));
        },
      }, { highWaterMark: 0 }),
      warnings: ["store x: slow"],
    })
  );
  const l = await call(routes, "/api/v1/labels");
  assertEquals(l.status, 200);
  assertEquals(
    l.body,
    '{"status":"success","data":["a","b","c"],"warnings":["store x: slow"]}',
  );
  assertEquals(l.cache, "no-store");
});
