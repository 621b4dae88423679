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

// Two replicas of the counter c(t) = 100 + t/1000 (one unit per second). A scrapes at 0, 10, 20 s,
// misses 30–70 s, then scrapes 80…130 s. B scrapes 3 s later, restarted before the query so it
// reads c − 75 up to 63 s, and restarted again during its gap (64–152 s) so it reads c − 175 from
// 153 s. With a 10 s interval the penalty is 2 × 10 s, so the merge switches A → B at 43 s (A's
// next sample is 80 s), B → A at 90 s (B has nothing after 63 s), and A → B at 153 s (A ends).
const A_COUNTER: [number, number][] = [
  [0, 100],
  [10000, 110],
  [20000, 120],
  ...[80, 90, 100, 110, 120, 130].map((s): [number, number] => [s * 1000, 100 + s]),
];
const B_COUNTER: [number, number][] = [
  ...[3, 13, 23, 33, 43, 53, 63].map((s): [number, number] => [s * 1000, 100 + s - 75]),
  ...[153, 163].map((s): [number, number] => [s * 1000, 100 + s - 175]),
];

Deno.test("counter correction: exact values around each replica switch", () => {
  const corrected = pairs(penaltyMerge(samples(A_COUNTER), samples(B_COUNTER), true));
  assertEquals(corrected, [
    [0, 100],
    [10000, 110],
    [20000, 120],
    // switch A → B: B reads 68, below the last emitted 120, so B is lifted by 52 from here on
    [43000, 120],
    [53000, 130],
    [63000, 140],
    // switch B → A: A reads 190, not below 140, so A is not lifted
    [90000, 190],
    [100000, 200],
    [110000, 210],
    [120000, 220],
    [130000, 230],
    // switch A → B: B reads 78 (+52 = 130), below 230, so B's lift grows by 100 to 152
    [153000, 230],
    [163000, 240],
  ]);
  // Without correction the same samples are picked with their raw values.
  assertEquals(pairs(penaltyMerge(samples(A_COUNTER), samples(B_COUNTER), false)), [
    [0, 100],
    [10000, 110],
    [20000, 120],
    [43000, 68],
    [53000, 78],
    [63000, 88],
    [90000, 190],
    [100000, 200],
    [110000, 210],
    [120000, 220],
    [130000, 230],
    [153000, 78],
    [163000, 88],
  ]);
});

Deno.test("dedupSeries corrects counters only for counter functions (exact values)", () => {
  const chunks = [
    ...encodeXorChunks(samples(A_COUNTER)),
    ...encodeXorChunks(samples(B_COUNTER)),
  ];
  const run = (selectFunc?: string) =>
    pairs(decodeReplica(
      dedupSeries({ labels: ["__name__", "c"], chunks }, { func: "penalty", selectFunc }).chunks,
    )).map((p) => p[1]);
  const corrected = [100, 110, 120, 120, 130, 140, 190, 200, 210, 220, 230, 230, 240];
  const raw = [100, 110, 120, 68, 78, 88, 190, 200, 210, 220, 230, 78, 88];
  for (const f of ["rate", "increase", "irate", "resets"]) assertEquals(run(f), corrected, f);
  for (const f of [undefined, "sum_over_time", "max_over_time", "delta"]) {
    assertEquals(run(f), raw, String(f));
  }
});

Deno.test("counter correction lifts the first replica too when the merge switches back to it", () => {
  // A: 0–20s, then B takes over (B's 40s is within A's penalty, A's 90–110s within B's); at
  // 200s the merge returns to A, which reads 80, below B's last emitted 160: A is lifted by 80.
  const a = samples([
    [0, 100],
    [10000, 110],
    [20000, 120],
    [90000, 50],
    [100000, 60],
    [110000, 70],
    [200000, 80],
    [210000, 90],
  ]);
  const b = samples([[40000, 140], [50000, 150], [60000, 160]]);
  assertEquals(pairs(penaltyMerge(a, b, true)), [
    [0, 100],
    [10000, 110],
    [20000, 120],
    [50000, 150],
    [60000, 160],
    [200000, 160],
    [210000, 170],
  ]);
  assertEquals(pairs(penaltyMerge(a, b, false)).slice(-2), [[200000, 80], [210000, 90]]);
});
