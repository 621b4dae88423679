// Postings set operations on lists of 10k–1M refs: `deno bench -A bench/postings_bench.ts`.

import { intersectPostings, mergePostings, subtractPostings } from "../tsdb/index/postings.ts";

/** Sorted list of `n` refs spread over [0, n * stride) (deterministic). */
function list(n: number, stride: number, phase: number): Uint32Array {
  const out = new Uint32Array(n);
  let v = phase;
  for (let i = 0; i < n; i++) {
    out[i] = v;
    v += 1 + ((i * 2654435761 + phase) >>> 0) % stride;
  }
  return out;
}

const l1M_a = list(1_000_000, 4, 0);
const l1M_b = list(1_000_000, 4, 1);
const l100k = list(100_000, 40, 2);
const l10k = list(10_000, 400, 3);
const ten100k = Array.from({ length: 10 }, (_, i) => list(100_000, 20, i));
const thousand1k = Array.from({ length: 1000 }, (_, i) => list(1_000, 4000, i));

Deno.bench("intersect 1M ∩ 1M", { group: "intersect", baseline: true }, () => {
  intersectPostings([l1M_a, l1M_b]);
});
Deno.bench("intersect 100k ∩ 1M", { group: "intersect" }, () => {
  intersectPostings([l100k, l1M_a]);
});
Deno.bench("intersect 10k ∩ 1M (galloping)", { group: "intersect" }, () => {
  intersectPostings([l10k, l1M_a]);
});
Deno.bench("intersect 10k ∩ 100k ∩ 1M ∩ 1M", { group: "intersect" }, () => {
  intersectPostings([l1M_a, l10k, l1M_b, l100k]);
});
Deno.bench("merge 1M ∪ 1M", { group: "merge", baseline: true }, () => {
  mergePostings([l1M_a, l1M_b]);
});
Deno.bench("merge 10 × 100k", { group: "merge" }, () => {
  mergePostings(ten100k);
});
Deno.bench("merge 1000 × 1k", { group: "merge" }, () => {
  mergePostings(thousand1k);
});
Deno.bench("subtract 1M − 1M", { group: "subtract", baseline: true }, () => {
  subtractPostings(l1M_a, l1M_b);
});
Deno.bench("subtract 10k − 1M (galloping)", { group: "subtract" }, () => {
  subtractPostings(l10k, l1M_a);
});
