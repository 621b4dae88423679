// ProxyQueryable's Series requests: what the querier asks of its stores.

import { assertEquals } from "../helpers/assert.ts";
import { ProxyQueryable, SERIES_RESPONSE_BATCH_SIZE } from "../../query/queryable.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import type { SeriesRequest } from "../../storeapi/codec.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

Deno.test("select asks the stores for batched Series responses (Thanos's 64 per message)", async () => {
  const reqs: SeriesRequest[] = [];
  const proxy = new StoreProxy({
    endpoints: () => [{
      name: "s:1",
      info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
      client: {
        // deno-lint-ignore require-yield
        async *series(r: SeriesRequest) {
          reqs.push(r);
          return;
        },
        labelNames: () => Promise.resolve({ names: [], warnings: [] }),
        labelValues: () => Promise.resolve({ values: [], warnings: [] }),
      },
    }],
  });
  const q = new ProxyQueryable(proxy, {
    partialResponse: true,
    dedup: false,
    replicaLabels: [],
    dedupFunc: "penalty",
  });
  const m = [new Matcher(MatchType.Equal, "__name__", "up")];
  for await (const _ of q.select(m, { start: 0, end: 1000 })) { /* none */ }
  assertEquals(SERIES_RESPONSE_BATCH_SIZE, 64);
  assertEquals(reqs.map((r) => r.responseBatchSize), [64]);
});
