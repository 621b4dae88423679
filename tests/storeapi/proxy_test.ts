// The proxy over in-memory stores: k-way merge, equal label sets merged, store selection by
// external labels and time, and partial response (warning) versus abort (error).

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { StoreProxy, StoreRequestError } from "../../storeapi/proxy.ts";
import type { ProxyEndpoint } from "../../storeapi/proxy.ts";
import { PartialResponseStrategy, type SeriesRequest } from "../../storeapi/codec.ts";
import type { SeriesItem } from "../../storeapi/server.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";

function endpoint(name: string, series: string[][], ext: string[], fail = false): ProxyEndpoint {
  return {
    name,
    info: { componentType: "store", labelSets: [ext], minTime: 0, maxTime: 1000 },
    client: {
      async *series(): AsyncIterable<SeriesItem> {
        for (const ls of series) {
          yield {
            labels: ls,
            chunks: [{
              minTime: 0,
              maxTime: 1,
              encoding: ChunkEncoding.XOR,
              data: new Uint8Array([0, 0]),
            }],
          };
        }
        if (fail) throw new Error("store exploded");
      },
      labelNames: () => Promise.resolve({ names: ["a"], warnings: [] }),
      labelValues: () => Promise.resolve({ values: ["x"], warnings: [] }),
    },
  };
}

const all: SeriesRequest = {
  minTime: 0,
  maxTime: 100,
  matchers: [new Matcher(MatchType.Regexp, "a", ".*")],
};

async function collect(it: AsyncIterable<SeriesItem>) {
  const series: string[] = [];
  const warnings: string[] = [];
  for await (const x of it) {
    if ("warning" in x) warnings.push(x.warning);
    else series.push(x.labels.join(","));
  }
  return { series, warnings };
}

Deno.test("proxy merges sorted streams and joins equal label sets", async () => {
  const p = new StoreProxy({
    endpoints: () => [
      endpoint("s1", [["a", "1"], ["a", "3"]], []),
      endpoint("s2", [["a", "2"], ["a", "3"]], []),
    ],
  });
  const r = await collect(p.series(all, new AbortController().signal));
  assertEquals(r.series, ["a,1", "a,2", "a,3"]);
});

Deno.test("proxy skips stores whose external labels contradict the matchers", async () => {
  const p = new StoreProxy({
    endpoints: () => [
      endpoint("east", [["a", "1", "region", "east"]], ["region", "east"]),
      endpoint("west", [["a", "1", "region", "west"]], ["region", "west"]),
    ],
  });
  const req = { ...all, matchers: [new Matcher(MatchType.Equal, "region", "west")] };
  assertEquals((await collect(p.series(req, new AbortController().signal))).series, [
    "a,1,region,west",
  ]);
  assertEquals(p.selectEndpoints(2000, 3000, []).length, 0);
});

Deno.test("a failing store is a warning under WARN and an error naming it under ABORT", async () => {
  const eps = () => [endpoint("good", [["a", "1"]], []), endpoint("bad:1", [["a", "2"]], [], true)];
  const p = new StoreProxy({ endpoints: eps });
  const r = await collect(p.series(all, new AbortController().signal));
  assertEquals(r.series, ["a,1", "a,2"]);
  assert(r.warnings.length === 1 && r.warnings[0].includes("bad:1"), r.warnings.join());
  const abort = { ...all, partialResponseStrategy: PartialResponseStrategy.ABORT };
  const e = await assertRejects(
    () => collect(p.series(abort, new AbortController().signal)),
    StoreRequestError,
  );
  assert((e as Error).message.includes("bad:1"));
});

Deno.test("store selection honours =, !=, =~ and !~ on external labels (exact stores)", async () => {
  // The endpoints ignore matchers, so the proxy's selection by label sets is the only filter.
  const eps = () => [
    endpoint("east", [["__name__", "up", "region", "east"]], ["region", "east"]),
    endpoint("west", [["__name__", "up", "region", "west"]], ["region", "west"]),
    endpoint("unlabelled", [["__name__", "up"]], []),
  ];
  const p = new StoreProxy({ endpoints: eps });
  const up = new Matcher(MatchType.Equal, "__name__", "up");
  const cases: [Matcher, string[]][] = [
    [new Matcher(MatchType.Equal, "region", "east"), ["east", "unlabelled"]],
    [new Matcher(MatchType.NotEqual, "region", "east"), ["west", "unlabelled"]],
    [new Matcher(MatchType.NotEqual, "region", "north"), ["east", "west", "unlabelled"]],
    [new Matcher(MatchType.Regexp, "region", "ea.*"), ["east", "unlabelled"]],
    [new Matcher(MatchType.Regexp, "region", "east|west"), ["east", "west", "unlabelled"]],
    [new Matcher(MatchType.Regexp, "region", "eas"), ["unlabelled"]],
    [new Matcher(MatchType.NotRegexp, "region", "ea.*"), ["west", "unlabelled"]],
    [new Matcher(MatchType.NotRegexp, "region", "east|west"), ["unlabelled"]],
    [new Matcher(MatchType.NotRegexp, "region", "no.*"), ["east", "west", "unlabelled"]],
  ];
  for (const [rm, want] of cases) {
    const what = `${rm.name}${rm.type}"${rm.value}"`;
    assertEquals(p.selectEndpoints(0, 100, [up, rm]).map((e) => e.name), want, what);
    const req = { ...all, matchers: [up, rm] };
    const got = (await collect(p.series(req, new AbortController().signal))).series;
    const wantSeries = want.map((n) =>
      n === "unlabelled" ? "__name__,up" : `__name__,up,region,${n}`
    );
    assertEquals(got, wantSeries.sort(), what);
  }
});

Deno.test("a store's gRPC error appears once in the partial-response warning", async () => {
  const failing: ProxyEndpoint = {
    name: "store-a:10901",
    info: null,
    client: {
      // deno-lint-ignore require-yield
      async *series() {
        throw new GrpcError(GrpcStatus.UNAVAILABLE, "connection refused");
      },
      labelNames() {
        return Promise.reject(new GrpcError(GrpcStatus.UNAVAILABLE, "connection refused"));
      },
      labelValues() {
        return Promise.reject(new GrpcError(GrpcStatus.UNAVAILABLE, "connection refused"));
      },
    } as unknown as ProxyEndpoint["client"],
  };
  const proxy = new StoreProxy({ endpoints: () => [failing] });
  const res = await proxy.labelNames(
    {
      start: 0,
      end: 1000,
      matchers: [],
      partialResponseStrategy: PartialResponseStrategy.WARN,
    },
    new AbortController().signal,
  );
  assertEquals(res.warnings.length, 1);
  assert(
    res.warnings[0].endsWith(
      "from store-a:10901: rpc error: code = Unavailable desc = connection refused",
    ),
    res.warnings[0],
  );
});

Deno.test("an unhealthy store that could answer is named in a warning (an error under ABORT)", async () => {
  const down = [
    // could hold the data: warned about
    { name: "down:1", info: null, error: "connection refused" },
    // its external labels cannot match: pruned, no warning
    {
      name: "west:1",
      info: { componentType: "store", labelSets: [["region", "west"]], minTime: 0, maxTime: 1000 },
      error: "connection refused",
    },
    // its time range cannot match: pruned, no warning
    {
      name: "old:1",
      info: { componentType: "store", labelSets: [], minTime: 5000, maxTime: 6000 },
      error: "deadline exceeded",
    },
  ];
  const p = new StoreProxy({
    endpoints: () => [endpoint("east:1", [["a", "1", "region", "east"]], ["region", "east"])],
    unavailable: () => down,
  });
  const req = { ...all, matchers: [new Matcher(MatchType.Equal, "region", "east")] };
  const r = await collect(p.series(req, new AbortController().signal));
  assertEquals(r.series, ["a,1,region,east"]);
  assertEquals(r.warnings.length, 1, r.warnings.join("\n"));
  assert(r.warnings[0].includes("down:1") && r.warnings[0].includes("connection refused"));
  const names = await p.labelNames(
    { start: 0, end: 100, matchers: req.matchers },
    new AbortController().signal,
  );
  assertEquals(names.warnings.length, 1);
  assert(names.warnings[0].includes("down:1"));
  // with no healthy store at all the answer is still not a silent empty success
  const none = new StoreProxy({ endpoints: () => [], unavailable: () => down });
  const e = await collect(none.series(req, new AbortController().signal));
  assertEquals(e.series, []);
  assert(e.warnings.some((w) => w.includes("down:1")), e.warnings.join("\n"));
  await assertRejects(
    () =>
      collect(p.series(
        { ...req, partialResponseStrategy: PartialResponseStrategy.ABORT },
        new AbortController().signal,
      )),
    StoreRequestError,
    "down:1",
  );
});

Deno.test("label names and values: the sorted union of the stores; one store's list is sorted and deduplicated too", async () => {
  const store = (name: string, values: string[]): ProxyEndpoint => ({
    name,
    info: null,
    client: {
      async *series() {},
      labelNames: () => Promise.resolve({ names: values, warnings: [] }),
      labelValues: () => Promise.resolve({ values, warnings: [] }),
    } as unknown as ProxyEndpoint["client"],
  });
  const req = { start: 0, end: 100, matchers: [] };
  const signal = new AbortController().signal;
  const values = async (...eps: ProxyEndpoint[]) =>
    (await new StoreProxy({ endpoints: () => eps }).labelValues({ ...req, label: "a" }, signal))
      .values;
  assertEquals(await values(store("s1", ["a", "b", "c"])), ["a", "b", "c"]);
  assertEquals(await values(store("s1", ["c", "a", "b", "a"])), ["a", "b", "c"]);
  assertEquals(await values(store("s1", ["a", "b", "b", "c"])), ["a", "b", "c"]);
  assertEquals(await values(store("s1", ["a", "c"]), store("s2", ["b", "c"])), ["a", "b", "c"]);
  const names = await new StoreProxy({ endpoints: () => [store("s1", ["b", "a"])] })
    .labelNames(req, signal);
  assertEquals(names.names, ["a", "b"]);
});

Deno.test("a request's abort check and store selection see one snapshot of the endpoints", async () => {
  // an endpoint set that changes while the request starts: the first look has the store
  let calls = 0;
  const p = new StoreProxy({
    endpoints: () => calls++ === 0 ? [endpoint("s1", [["a", "1"]], [])] : [],
  });
  const abort = { ...all, partialResponseStrategy: PartialResponseStrategy.ABORT };
  assertEquals(await collect(p.series(abort, new AbortController().signal)), {
    series: ["a,1"],
    warnings: [],
  });
  assertEquals(calls, 1);
  calls = 0;
  const names = await p.labelNames(
    { start: 0, end: 100, matchers: [], partialResponseStrategy: PartialResponseStrategy.ABORT },
    new AbortController().signal,
  );
  assertEquals(names.names, ["a"]);
  assertEquals(calls, 1);
});
