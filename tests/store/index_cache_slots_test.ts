// The in-memory index cache's item slots (store/index_cache_slots.ts): recency order, reuse of
// released slots, and the series table's lookups through collisions, removals and resizes.

import { assertEquals } from "../helpers/assert.ts";
import { CacheSlots, NO_SLOT } from "../../store/index_cache_slots.ts";

/** Slots from the oldest to the most recent. */
function order(s: CacheSlots): number[] {
  const out: number[] = [];
  for (let i = s.oldest; i !== NO_SLOT; i = s.newer[i]) out.push(i);
  return out;
}

Deno.test("slots keep recency order and reuse released slots before growing", () => {
  const s = new CacheSlots();
  const a = s.alloc(0, 0, 0, "a", "", 10);
  const b = s.alloc(0, 0, 0, "b", "", 10);
  const c = s.alloc(0, 0, 0, "c", "", 10);
  assertEquals(order(s), [a, b, c]);
  s.touch(a);
  assertEquals(order(s), [b, c, a]);
  s.release(c);
  assertEquals(order(s), [b, a]);
  // released slots are handed out again: churn does not grow the arrays
  for (let i = 0; i < 1000; i++) s.release(s.alloc(1, 0, i, "x", "", 10));
  assertEquals(s.length, 3);
  const d = s.alloc(0, 0, 0, "d", "", 10);
  assertEquals(d, c);
  assertEquals(order(s), [b, a, d]);
  assertEquals(s.values[d], "d");
});

Deno.test("the series table finds every indexed entry through growth, removals and shrinking", () => {
  const s = new CacheSlots();
  const live = new Map<string, number>();
  // refs of a few blocks that share low bits, so probe runs are long and wrap around
  for (let block = 0; block < 4; block++) {
    for (let i = 0; i < 3000; i++) {
      const ref = i * 4096 + block;
      const slot = s.alloc(1, block, ref, `${block}/${ref}`, "", 1);
      s.indexSeries(slot);
      live.set(`${block}/${ref}`, slot);
    }
  }
  // remove every other entry and all of block 2, then check every key either way
  for (const [k, slot] of [...live]) {
    const [block, ref] = k.split("/").map(Number);
    if (block === 2 || (ref >> 12) % 2 === 1) {
      s.unindexSeries(slot);
      s.release(slot);
      live.delete(k);
    }
  }
  for (let block = 0; block < 5; block++) {
    for (let i = 0; i < 3000; i++) {
      const ref = i * 4096 + block;
      assertEquals(s.findSeries(block, ref), live.get(`${block}/${ref}`) ?? NO_SLOT);
    }
  }
  // emptied, the table shrinks and still answers
  for (const slot of live.values()) {
    s.unindexSeries(slot);
    s.release(slot);
  }
  assertEquals(s.findSeries(0, 0), NO_SLOT);
  const again = s.alloc(1, 7, 99, "y", "", 1);
  s.indexSeries(again);
  assertEquals(s.findSeries(7, 99), again);
});
