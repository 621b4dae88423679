// The store side of vertical sharding hashes as Thanos does (storepb.ShardMatcher): the cases of
// Thanos' shard_info_test.go
// (https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/store/storepb/shard_info_test.go) and
// xxHash64 test vectors; a store behind withExternalLabels answers only its shard's series and
// the shards partition the series.

import { assert, assertEquals } from "../helpers/assert.ts";
import { shardHash, shardMatcher } from "../../storeapi/shard.ts";
import type { ShardInfo } from "../../storeapi/codec.ts";

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
