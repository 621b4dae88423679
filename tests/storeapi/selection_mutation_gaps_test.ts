// Gaps found by the mutation check (scripts/mutations.ts): store selection at the exact edge of
// an endpoint's time range, and which replica penalty dedup keeps when timestamps tie.

import { assertEquals } from "../helpers/assert.ts";
import { type ProxyEndpoint, StoreProxy } from "../../storeapi/proxy.ts";
import { penaltyMerge, type ReplicaSamples } from "../../storeapi/dedup.ts";

function endpoint(name: string, minTime: number, maxTime: number): ProxyEndpoint {
  return {
    name,
    info: { componentType: "store", labelSets: [], minTime, maxTime },
    client: {
      // deno-lint-ignore require-yield
      async *series() {
        return;
      },
      labelNames: () => Promise.resolve({ names: [], warnings: [] }),
      labelValues: () => Promise.resolve({ values: [], warnings: [] }),
    },
  };
}

Deno.test("a store is selected when the request touches its inclusive time range edges", () => {
  // StoreAPI Info times are inclusive: a store with maxTime 1000 has a sample at 1000
  const p = new StoreProxy({ endpoints: () => [endpoint("s", 0, 1000)] });
  const names = (mint: number, maxt: number) =>
    p.selectEndpoints(mint, maxt, []).map((e) => e.name);
  assertEquals(names(1000, 2000), ["s"]);
  assertEquals(names(1001, 2000), []);
  assertEquals(names(-500, 0), ["s"]);
  assertEquals(names(-500, -1), []);
});

function replica(ts: number[], vs: number[]): ReplicaSamples {
  return { ts: Float64Array.from(ts), vs: Float64Array.from(vs), n: ts.length };
}

Deno.test("penalty dedup keeps the first replica when both have the same timestamps", () => {
  const a = replica([0, 15_000, 30_000], [1, 2, 3]);
  const b = replica([0, 15_000, 30_000], [100, 200, 300]);
  const m = penaltyMerge(a, b, false);
  assertEquals([...m.ts.subarray(0, m.n)], [0, 15_000, 30_000]);
  assertEquals([...m.vs.subarray(0, m.n)], [1, 2, 3]);
  const r = penaltyMerge(b, a, false);
  assertEquals([...r.vs.subarray(0, r.n)], [100, 200, 300]);
});
