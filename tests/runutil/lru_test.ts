import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { CountLru } from "../../runutil/lru.ts";

Deno.test("CountLru: bounded by count, the least recently used dropped first, onEvict told", () => {
  const evicted: [string, number][] = [];
  const lru = new CountLru<string, number>(3, (k, v) => evicted.push([k, v]));
  assertEquals(lru.set("a", 1), 0);
  lru.set("b", 2);
  lru.set("c", 3);
  assertEquals(lru.get("a"), 1); // a is now the most recently used
  assertEquals(lru.set("d", 4), 1);
  assertEquals(evicted, [["b", 2]]);
  assertEquals(lru.size, 3);
  assertEquals(lru.entries().map(([k]) => k), ["c", "a", "d"]);
  // peek does not change the order
  assertEquals(lru.peek("c"), 3);
  lru.set("e", 5);
  assertEquals(evicted, [["b", 2], ["c", 3]]);
  // setting an existing key replaces it and makes it the most recent, dropping nothing
  assertEquals(lru.set("a", 10), 0);
  assertEquals(lru.entries(), [["d", 4], ["e", 5], ["a", 10]]);
  assertEquals(lru.delete("d"), true);
  assertEquals(lru.get("d"), undefined);
  assertEquals(lru.size, 2);
});

Deno.test("CountLru: entries is a snapshot, safe to change the map while reading it", () => {
  const lru = new CountLru<number, number>(10);
  for (let i = 0; i < 5; i++) lru.set(i, i);
  for (const [k] of lru.entries()) lru.delete(k);
  assertEquals(lru.size, 0);
  assertThrows(() => new CountLru(0), RangeError);
});
