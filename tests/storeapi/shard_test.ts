// The store side of vertical sharding hashes as Thanos does (storepb.ShardMatcher): the cases of
// Thanos' shard_info_test.go
// (https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/store/storepb/shard_info_test.go) and
// xxHash64 test vectors; a store behind withExternalLabels answers only its shard's series and
// the shards partition the series.

import { assert, assertEquals } from "../helpers/assert.ts";
import { shardHash, shardMatcher } from "../../storeapi/shard.ts";
import type { SeriesRequest, ShardInfo } from "../../storeapi/codec.ts";
import type { SeriesItem, StoreBackend } from "../../storeapi/server.ts";
import { withExternalLabels } from "../../storeapi/external_labels.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const SERIES = ["container", "nginx", "node", "node-1", "pod", "nginx"];

Deno.test("shard matcher: Thanos' ShardInfo.Matcher cases", () => {
  const cases: [ShardInfo | undefined, boolean][] = [
    [undefined, true],
    [{ shardIndex: 0, totalShards: 1, by: true, labels: [] }, true],
    [{ shardIndex: 0, totalShards: 2, by: true, labels: [] }, false],
    [{ shardIndex: 0, totalShards: 2, by: false, labels: [] }, true],
    [{ shardIndex: 0, totalShards: 2, by: true, labels: ["pod", "node"] }, false],
    [{ shardIndex: 1, totalShards: 2, by: true, labels: ["pod", "node"] }, true],
    [{ shardIndex: 0, totalShards: 2, by: false, labels: ["node"] }, true],
    [{ shardIndex: 1, totalShards: 2, by: false, labels: ["node"] }, false],
  ];
  for (const [info, want] of cases) {
    const m = shardMatcher(info);
    assertEquals(m === null ? true : m(SERIES), want, JSON.stringify(info));
  }
});

Deno.test("shard hash: xxHash64 of name\\xffvalue\\xff (seed 0)", () => {
  // xxHash64("") = 0xef46db3751d8e999 (the reference implementation's test vector)
  assertEquals(shardHash(SERIES, true, new Set()), 0xef46db3751d8e999n);
  // one selected label: xxHash64 over "pod" 0xff "nginx" 0xff — UTF-8 names and values, 0xff bytes
  const utf8 = ["é", "ü", "pod", "nginx"];
  assertEquals(
    shardHash(utf8, true, new Set(["pod"])),
    shardHash(["pod", "nginx"], false, new Set()),
  );
  assert(shardHash(utf8, false, new Set(["pod"])) !== shardHash(utf8, true, new Set(["pod"])));
});

Deno.test("shards partition series: every series in exactly one of n shards", () => {
  for (const n of [2, 3, 5]) {
    const counts = new Array(n).fill(0);
    for (let i = 0; i < 300; i++) {
      const ls = ["instance", `host-${i}`, "job", `j${i % 7}`];
      const hits = [];
      for (let k = 0; k < n; k++) {
        if (shardMatcher({ shardIndex: k, totalShards: n, by: true, labels: ["job"] })!(ls)) {
          hits.push(k);
        }
      }
      assertEquals(hits.length, 1);
      counts[hits[0]]++;
    }
    assertEquals(counts.reduce((a, b) => a + b, 0), 300);
  }
});

function fakeStore(series: string[][], sharding: boolean): StoreBackend {
  return {
    info: () =>
      Promise.resolve({
        componentType: "store",
        labelSets: [],
        minTime: 0,
        maxTime: 1000,
        supportsSharding: sharding,
      }),
    async *series(): AsyncIterable<SeriesItem> {
      for (const labels of series) yield { labels, chunks: [] };
    },
    labelNames: () => Promise.resolve({ names: [], warnings: [] }),
    labelValues: () => Promise.resolve({ values: [], warnings: [] }),
  };
}

async function labelsOf(it: AsyncIterable<SeriesItem>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) if (!("warning" in x)) out.push(x.labels.join(","));
  return out;
}

const SERIES_SET = Array.from({ length: 40 }, (_, i) => ["i", `h${i}`, "job", `j${i % 9}`]);

Deno.test("stores behind withExternalLabels and the proxy's fallback answer one shard", async () => {
  const req = (info?: ShardInfo): SeriesRequest => ({
    minTime: 0,
    maxTime: 1000,
    matchers: [new Matcher(MatchType.Regexp, "job", ".+")],
    shardInfo: info,
  });
  for (const by of [true, false]) {
    const n = 3;
    const infos = [0, 1, 2].map((i) => ({ shardIndex: i, totalShards: n, by, labels: ["i"] }));
    // a store with external labels: hashed on the labels it sends (external labels included),
    // and it says it shards
    const store = withExternalLabels(fakeStore(SERIES_SET, false), ["region", "eu"]);
    assert((await store.info()).supportsSharding);
    const whole = await labelsOf(store.series(req(), new AbortController().signal));
    const parts = [];
    for (const info of infos) {
      const got = await labelsOf(store.series(req(info), new AbortController().signal));
      const m = shardMatcher(info)!;
      assertEquals(got, whole.filter((s) => m(s.split(","))), `by=${by} shard ${info.shardIndex}`);
      assert(got.length > 0 && got.length < whole.length);
      parts.push(...got);
    }
    assertEquals(parts.sort(), [...whole].sort());
    // the proxy shards for a store that does not (and trusts one that does)
    for (const sharding of [false, true]) {
      const proxy = new StoreProxy({
        endpoints: () => [{
          name: "s",
          info: {
            componentType: "store",
            labelSets: [],
            minTime: 0,
            maxTime: 1000,
            supportsSharding: sharding,
          },
          client: fakeStore(SERIES_SET, sharding),
        }],
      });
      const got = await labelsOf(proxy.series(req(infos[1]), new AbortController().signal));
      const m = shardMatcher(infos[1])!;
      const want = SERIES_SET.filter((s) => sharding || m(s)).map((s) => s.join(","));
      assertEquals(got, want, `proxy, store shards itself: ${sharding}`);
    }
  }
});
