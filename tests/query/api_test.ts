// The querier HTTP API's label endpoints with a failing store: under partial response the answer
// carries the store's failure in `warnings` (and is not cacheable); with partial response off the
// request fails. Same contract as Thanos's querier
// (https://thanos.io/tip/components/query.md/#partial-response).

import { assertEquals } from "../helpers/assert.ts";
import { QueryApi } from "../../query/api.ts";
import { type ProxyEndpoint, StoreProxy } from "../../storeapi/proxy.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { directRequestInfo, type Route } from "../../server/http.ts";

function goodStore(): ProxyEndpoint {
  return {
    name: "good:10901",
    info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
    client: {
      // deno-lint-ignore require-yield
      async *series() {
        return;
      },
      labelNames: () => Promise.resolve({ names: ["__name__", "job"], warnings: [] }),
      labelValues: () => Promise.resolve({ values: ["node"], warnings: [] }),
    },
  };
}

function failingStore(): ProxyEndpoint {
  const fail = () => Promise.reject(new Error("store exploded"));
  return {
    name: "bad:10901",
    info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
    client: {
      // deno-lint-ignore require-yield
      async *series() {
        throw new Error("store exploded");
      },
      labelNames: fail,
      labelValues: fail,
    },
  };
}

function api(partialResponse: boolean): Route[] {
  const proxy = new StoreProxy({ endpoints: () => [goodStore(), failingStore()] });
  return new QueryApi({
    proxy,
    logger: new Logger("error", "logfmt", {}, () => {}),
    registry: new Registry(),
    endpoints: () => [],
    replicaLabels: [],
    dedupFunc: "penalty",
    partialResponse,
    queryTimeoutMs: 10_000,
    lookbackDeltaMs: 300_000,
    maxSamples: 1_000_000,
    maxConcurrent: 4,
    maxConcurrentSelect: 4,
    defaultStepMs: 1000,
    defaultEvaluationIntervalMs: 60_000,
    autoDownsampling: false,
    enableCors: false,
    flags: {},
    version: "test",
  }).routes();
}

async function call(
  routes: Route[],
  path: string,
  query: string,
): Promise<{ status: number; cache: string | null; body: string }> {
  const url = `http://querier${path}?${query}`;
  for (const r of routes) {
    const methods = typeof r.method === "string" ? [r.method] : r.method;
    if (!methods.includes("GET")) continue;
    const m = new URLPattern({ pathname: r.path }).exec(url);
    if (!m) continue;
    const groups = m.pathname.groups as Record<string, string>;
    const req = new Request(url);
    const res = await r.handler(req, groups, directRequestInfo(req, groups));
    return { status: res.status, cache: res.headers.get("cache-control"), body: await res.text() };
  }
  throw new Error(`no route for ${path}`);
}

for (
  const [path, data, what] of [
    ["/api/v1/labels", '["__name__","job"]', "label names"],
    ["/api/v1/label/job/values", '["node"]', "label values"],
  ] as const
) {
  Deno.test(`${path}: a failing store is a warning under partial_response=true`, async () => {
    for (const [partialDefault, query] of [[false, "partial_response=true"], [true, ""]] as const) {
      const r = await call(api(partialDefault), path, query);
      const warning = `fetch ${what} from bad:10901: store exploded`;
      assertEquals(r, {
        status: 200,
        cache: "no-store",
        body: `{"status":"success","data":${data},"warnings":[${JSON.stringify(warning)}]}`,
      }, `default ${partialDefault}, query "${query}"`);
    }
  });

  Deno.test(`${path}: a failing store is an error with partial response off`, async () => {
    for (
      const [partialDefault, query] of [[true, "partial_response=false"], [false, ""]] as const
    ) {
      const r = await call(api(partialDefault), path, query);
      assertEquals(r.status, 422, `default ${partialDefault}, query "${query}"`);
      assertEquals(
        JSON.parse(r.body),
        {
          status: "error",
          errorType: "execution",
          error: `fetch ${what} from bad:10901: store exploded`,
        },
      );
    }
  });
}
