// Penalty and chain deduplication on decoded samples, counter correction at replica switches, and
// the overlap split of chunks (https://thanos.io/tip/components/query.md/#deduplication-algorithms,
// https://github.com/thanos-io/thanos/blob/main/pkg/dedup/iter.go).

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  chainMerge,
  decodeReplica,
  dedupSeries,
  penaltyMerge,
  type ReplicaSamples,
  splitOverlappingChunks,
} from "../../storeapi/dedup.ts";
import { encodeXorChunks } from "../../storeapi/dedup.ts";

function samples(pairs: [number, number][]): ReplicaSamples {
  return {
    ts: Float64Array.from(pairs, (p) => p[0]),
    vs: Float64Array.from(pairs, (p) => p[1]),
    n: pairs.length,
  };
}

function pairs(s: ReplicaSamples): [number, number][] {
  return Array.from({ length: s.n }, (_, i) => [s.ts[i], s.vs[i]]);
}

Deno.test("penalty merge sticks to one replica and fills its gap from the other", () => {
  // A every 10 s with a gap 40–80 s; B offset by 3 s
  const a = samples([[0, 0], [10000, 1], [20000, 2], [30000, 3], [90000, 9], [100000, 10]]);
  const b = samples(
    [3000, 13000, 23000, 33000, 43000, 53000, 63000, 73000, 83000, 93000].map((
      t,
    ) => [t, t / 10000]),
  );
  const out = pairs(penaltyMerge(a, b, false));
  // after A's 30 s sample B is penalised by 2×10 s, so its 43 s sample is skipped; B then stays
  // chosen, and A is penalised in turn (its 100 s sample falls inside the penalty)
  assertEquals(
    out.map((p) => p[0]),
    [0, 10000, 20000, 30000, 53000, 63000, 73000, 83000, 93000],
  );
});

Deno.test("counter correction lifts a lower replica so rate sees no reset at the switch", () => {
  const a = samples([[0, 100], [10000, 110], [20000, 120]]);
  const b = samples([[3000, 5], [13000, 15], [23000, 25], [33000, 35], [43000, 45]]);
  const adjusted = pairs(penaltyMerge(a, b, true));
  for (let i = 1; i < adjusted.length; i++) {
    assert(adjusted[i][1] >= adjusted[i - 1][1], `decrease at ${adjusted[i][0]}: ${adjusted}`);
  }
  const raw = pairs(penaltyMerge(a, b, false));
  assert(raw.some((p, i) => i > 0 && p[1] < raw[i - 1][1]), "without correction a reset shows");
});

Deno.test("chain merge is the union with duplicate timestamps collapsed", () => {
  const out = pairs(chainMerge([samples([[1, 1], [3, 3]]), samples([[2, 2], [3, 30], [4, 4]])]));
  assertEquals(out, [[1, 1], [2, 2], [3, 3], [4, 4]]);
});

Deno.test("overlapping chunks split into replicas; one replica passes through unchanged", () => {
  const c1 = encodeXorChunks(samples([[0, 1], [10, 2]]))[0];
  const c2 = encodeXorChunks(samples([[5, 1], [15, 2]]))[0];
  const c3 = encodeXorChunks(samples([[20, 3], [30, 4]]))[0];
  assertEquals(splitOverlappingChunks([c1, c2, c3]).map((r) => r.length), [2, 1]);
  const single = { labels: ["a", "b"], chunks: [c1, c3] };
  assertEquals(dedupSeries(single, { func: "penalty" }).chunks, [c1, c3]);
  const merged = dedupSeries({ labels: ["a", "b"], chunks: [c1, c2, c3] }, { func: "chain" });
  assertEquals(pairs(decodeReplica(merged.chunks)).map((p) => p[0]), [0, 5, 10, 15, 20, 30]);
});
