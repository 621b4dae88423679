// The querier HTTP API's label endpoints with a failing store: under partial response the answer
// carries the store's failure in `warnings` (and is not cacheable); with partial response off the
// request fails. Same contract as Thanos's querier
// (https://thanos.io/tip/components/query.md/#partial-response).

import { assert, assertEquals } from "../helpers/assert.ts";
import { minuteSeriesStore, serveRoute, testQueryApi } from "../helpers/query_api.ts";
import { type ProxyEndpoint, StoreProxy } from "../../storeapi/proxy.ts";
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

function api(partialResponse: boolean, endpoints?: ProxyEndpoint[]): Route[] {
  const proxy = new StoreProxy({
    endpoints: () => endpoints ?? [goodStore(), failingStore()],
  });
  return testQueryApi({
    proxy,
    partialResponse,
  }).routes();
}

async function call(
  routes: Route[],
  path: string,
  query: string,
): Promise<{ status: number; cache: string | null; body: string }> {
  const res = await serveRoute(routes, new Request(`http://querier${path}?${query}`));
  return { status: res.status, cache: res.headers.get("cache-control"), body: await res.text() };
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

Deno.test("a large query answer is streamed in pieces with the same text; a small one is one string", async () => {
  const routes = api(true, [minuteSeriesStore(200, 600)]);
  const route = routes.find((r) => r.path === "/api/v1/query_range")!;
  const url = "http://querier/api/v1/query_range?query=x&start=0&end=36000&step=60";
  const req = new Request(url);
  const res = await route.handler(req, {}, directRequestInfo(req, {}));
  assertEquals(res.status, 200);
  // pulled piece by piece: several reads, none near the whole answer
  const reader = res.body!.getReader();
  const parts: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert(parts.length > 10, `${parts.length} pieces of ${total} bytes`);
  assert(Math.max(...parts.map((p) => p.length)) < 80_000, "pieces are bounded");
  const body = JSON.parse(new TextDecoder().decode(concat(parts)));
  assertEquals(body.status, "success");
  assertEquals(body.data.result.length, 200);
  assertEquals(body.data.result[7].metric, { __name__: "x", id: "0007" });
  assertEquals(body.data.result[7].values.length, 601);
  assertEquals(body.data.result[7].values[600], [36000, "607"]);
  // a small answer: the same format, in one piece
  const small = await call(
    api(true, [minuteSeriesStore(1, 600)]),
    "/api/v1/query",
    "query=x&time=60",
  );
  assertEquals(
    small.body,
    '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"x",' +
      '"id":"0000"},"value":[60,"1"]}]}}',
  );
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
