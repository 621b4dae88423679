import { assertEquals } from "../helpers/assert.ts";
import {
  intersectPostings,
  mergePostings,
  seekPostings,
  subtractPostings,
} from "../../tsdb/index/postings.ts";

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sorted unique random list of about `n` refs below `max` (some near 2^32). */
function randomList(r: () => number, n: number, max: number): Uint32Array {
  const s = new Set<number>();
  for (let i = 0; i < n; i++) s.add(Math.floor(r() * max));
  if (r() < 0.2) s.add(0xffffffff);
  return Uint32Array.from([...s].sort((a, b) => a - b));
}

// Reference implementations over Sets.
function refIntersect(lists: Uint32Array[]): Uint32Array {
  if (lists.length === 0) return new Uint32Array(0);
  let cur = new Set(lists[0]);
  for (const l of lists.slice(1)) {
    const s = new Set(l);
    cur = new Set([...cur].filter((v) => s.has(v)));
  }
  return Uint32Array.from([...cur].sort((a, b) => a - b));
}
function refMerge(lists: Uint32Array[]): Uint32Array {
  const s = new Set<number>();
  for (const l of lists) for (const v of l) s.add(v);
  return Uint32Array.from([...s].sort((a, b) => a - b));
}
function refSubtract(a: Uint32Array, b: Uint32Array): Uint32Array {
  const s = new Set(b);
  return Uint32Array.from([...a].filter((v) => !s.has(v)));
}

/** List sizes from empty to skewed (so both linear and galloping paths run). */
const SIZES = [0, 1, 3, 50, 400, 5000];

Deno.test("intersectPostings matches a Set reference on random lists of skewed sizes", () => {
  const r = rng(11);
  for (let round = 0; round < 300; round++) {
    const k = 1 + Math.floor(r() * 5);
    const max = r() < 0.5 ? 20000 : 2 ** 32;
    const lists: Uint32Array[] = [];
    for (let i = 0; i < k; i++) {
      lists.push(randomList(r, SIZES[Math.floor(r() * SIZES.length)], max));
    }
    const before = lists.map((l) => l.slice());
    assertEquals(intersectPostings(lists), refIntersect(lists), `round ${round}`);
    assertEquals(lists, before, "inputs are not modified");
  }
  assertEquals(intersectPostings([]), new Uint32Array(0));
});

Deno.test("mergePostings matches a Set reference and removes duplicates across lists", () => {
  const r = rng(12);
  for (let round = 0; round < 300; round++) {
    const k = Math.floor(r() * 12);
    const max = r() < 0.5 ? 5000 : 2 ** 32;
    const lists: Uint32Array[] = [];
    for (let i = 0; i < k; i++) {
      lists.push(randomList(r, SIZES[Math.floor(r() * SIZES.length)], max));
    }
    if (k > 0 && r() < 0.3) lists.push(lists[0]); // identical list twice
    assertEquals(mergePostings(lists), refMerge(lists), `round ${round}`);
  }
  // Many lists in a narrow range (bitmap union), also just below 2^32.
  for (const base of [0, 2 ** 32 - 3000]) {
    const lists = Array.from({ length: 20 }, () => {
      const l = randomList(r, 100, 3000);
      return l.map((v) => Math.min(base + v, 0xffffffff));
    }).map((l) => Uint32Array.from(new Set(l)));
    assertEquals(mergePostings(lists), refMerge(lists), `bitmap base ${base}`);
  }
  assertEquals(mergePostings([]), new Uint32Array(0));
  assertEquals(mergePostings([Uint32Array.of(1, 1, 2)]), Uint32Array.of(1, 2));
});

Deno.test("subtractPostings matches a Set reference, including a much longer b", () => {
  const r = rng(13);
  for (let round = 0; round < 400; round++) {
    const max = r() < 0.5 ? 10000 : 2 ** 32;
    const a = randomList(r, SIZES[Math.floor(r() * SIZES.length)], max);
    const b = r() < 0.3 ? a.filter(() => r() < 0.5) : randomList(
      r,
      SIZES[Math.floor(r() * SIZES.length)],
      max,
    );
    assertEquals(subtractPostings(a, b), refSubtract(a, b), `round ${round}`);
  }
});

Deno.test("seekPostings finds the first ref at or above the target from any start", () => {
  const r = rng(14);
  const list = randomList(r, 3000, 100000);
  for (let i = 0; i < 2000; i++) {
    const from = Math.floor(r() * (list.length + 1));
    const target = Math.floor(r() * 110000);
    let want = from;
    while (want < list.length && list[want] < target) want++;
    assertEquals(seekPostings(list, target, from), want);
  }
});
