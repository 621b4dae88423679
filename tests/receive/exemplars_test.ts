// The per-tenant exemplar storage (Prometheus's CircularExemplarStorage rules): duplicates
// dropped, out-of-order and over-long labels refused, the oldest overwritten when full, queries by
// matcher sets and time range; and the Exemplars API's selector extraction.

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { CircularExemplars, extractSelectors } from "../../receive/exemplars.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const eq = (n: string, v: string) => new Matcher(MatchType.Equal, n, v);
const ex = (ts: number, v = 1, trace = "t") => ({
  labels: ["trace_id", trace],
  value: v,
  timestamp: ts,
});
const A = ["__name__", "req", "path", "/a"];
const B = ["__name__", "req", "path", "/b"];
const times = (r: { exemplars: { timestamp: number }[] }) => r.exemplars.map((e) => e.timestamp);

Deno.test("exemplar storage: duplicate, out of order, label length", () => {
  const s = new CircularExemplars(10);
  assertEquals(s.add(A, ex(1000)), "ok");
  assertEquals(s.add(A, ex(1000)), "duplicate"); // equal to the newest: dropped silently
  assertEquals(s.add(A, ex(1000, 2)), "out_of_order"); // same time, other value
  assertEquals(s.add(A, ex(500)), "out_of_order");
  assertEquals(s.add(B, ex(500)), "ok"); // order is per series
  assertEquals(s.add(A, ex(2000, 1, "x".repeat(121))), "label_length"); // 8 + 121 > 128
  assertEquals(s.add(A, ex(2000, 1, "x".repeat(120))), "ok"); // exactly 128
  // empty label values do not count and are not stored
  assertEquals(s.add(A, { labels: ["a", "", "trace_id", "z"], value: 3, timestamp: 3000 }), "ok");
  const r = s.select(0, 10_000, [[eq("path", "/a")]]);
  assertEquals(r.length, 1);
  assertEquals(r[0].seriesLabels, A);
  assertEquals(times(r[0]), [1000, 2000, 3000]);
  assertEquals(r[0].exemplars[2].labels, ["trace_id", "z"]);
  assertEquals(s.count, 4);
});

Deno.test("exemplar storage: the ring overwrites the oldest, queries by time and matchers", () => {
  const s = new CircularExemplars(4);
  for (let i = 1; i <= 3; i++) s.add(A, ex(i * 1000));
  for (let i = 1; i <= 3; i++) s.add(B, ex(i * 1000));
  // 6 added into 4 slots: A's two oldest are gone
  assertEquals(s.count, 4);
  const all = s.select(0, 10_000, [[eq("__name__", "req")]]);
  assertEquals(all.map((r) => [r.seriesLabels[3], times(r)]), [
    ["/a", [3000]],
    ["/b", [1000, 2000, 3000]],
  ]);
  // three more for A: B loses its oldest ones; A's chain stays in order
  for (let i = 4; i <= 6; i++) s.add(A, ex(i * 1000));
  assertEquals(s.select(0, 10_000, [[eq("path", "/a")]]).map(times), [[4000, 5000, 6000]]);
  assertEquals(s.select(0, 10_000, [[eq("path", "/b")]]).map(times), [[3000]]);
  // time range is inclusive; several matcher sets: a series matching any of them
  assertEquals(s.select(5000, 6000, [[eq("path", "/a")]]).map(times), [[5000, 6000]]);
  assertEquals(s.select(0, 10_000, [[eq("path", "/a")], [eq("path", "/b")]]).length, 2);
  assertEquals(s.select(0, 10_000, [[eq("path", "/c")]]), []);
  assertEquals(s.select(7000, 9000, [[eq("__name__", "req")]]), []);
});

Deno.test("Exemplars API: the selectors of a PromQL query", () => {
  const sets = extractSelectors('rate(req{path="/a"}[5m]) / on() group_left sum(up)');
  assertEquals(sets.map((ms) => ms.map((m) => `${m.name}=${m.value}`).sort()), [
    ["__name__=req", "path=/a"],
    ["__name__=up"],
  ]);
  assertThrows(() => extractSelectors("rate(("));
});
