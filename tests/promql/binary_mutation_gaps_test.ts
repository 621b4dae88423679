// Gaps found by the mutation check (scripts/mutations.ts): `>=` on equal values, `max` over a
// group whose first value is NaN, and the result labels of one-to-one matching with `on`; vector
// matching keys (promql/label_subset_map.ts) that must compare label sets exactly.
// Expected values follow Prometheus (https://prometheus.io/docs/prometheus/latest/querying/operators/).

import { assertEquals } from "../helpers/assert.ts";
import { Engine } from "../../promql/engine.ts";
import { LabelSubsetMap } from "../../promql/label_subset_map.ts";
import type { QueryValue } from "../../promql/value.ts";
import { labelsToObject } from "../../tsdb/labels.ts";
import type { Queryable, SeriesSet } from "../../tsdb/series.ts";

/** No stored series: these queries build their vectors with vector() and label_replace(). */
const empty: Queryable = {
  select(): SeriesSet {
    return (async function* () {})();
  },
  labelNames: () => Promise.resolve([]),
  labelValues: () => Promise.resolve([]),
};

const engine = new Engine();

async function query(q: string): Promise<QueryValue> {
  return (await engine.instantQuery(empty, q, 60_000)).value;
}

function samples(v: QueryValue): [Record<string, string>, number][] {
  if (v.type === "scalar") return [[{}, v.v]];
  if (v.type !== "vector") throw new Error(`unexpected ${v.type}`);
  return v.samples.map((s) => [labelsToObject(s.labels), s.v]);
}

Deno.test(">= and <= hold for equal values, > and < do not", async () => {
  assertEquals(samples(await query("1 >= bool 1")), [[{}, 1]]);
  assertEquals(samples(await query("1 <= bool 1")), [[{}, 1]]);
  assertEquals(samples(await query("1 > bool 1")), [[{}, 0]]);
  assertEquals(samples(await query("vector(2) >= 2")), [[{}, 2]]);
  assertEquals(samples(await query("vector(2) > 2")), []);
});

Deno.test("max and min replace a leading NaN with the next value", async () => {
  const q = (op: string) => `${op}(vector(NaN) or label_replace(vector(1), "a", "b", "", ""))`;
  assertEquals(samples(await query(q("max"))), [[{}, 1]]);
  assertEquals(samples(await query(q("min"))), [[{}, 1]]);
});

Deno.test("one-to-one matching with on() keeps only the listed labels", async () => {
  const lhs = `label_replace(label_replace(vector(1), "x", "a", "", ""), "z", "c", "", "")`;
  const rhs = `label_replace(label_replace(vector(2), "x", "a", "", ""), "y", "b", "", "")`;
  assertEquals(samples(await query(`${lhs} + on(x) ${rhs}`)), [[{ x: "a" }, 3]]);
  assertEquals(samples(await query(`${lhs} + ignoring(y, z) ${rhs}`)), [[{ x: "a" }, 3]]);
});

/** vector(v) with the labels of `ls` (name, value, …) set by label_replace. */
function series(v: number, ...ls: string[]): string {
  let q = `vector(${v})`;
  for (let i = 0; i < ls.length; i += 2) {
    q = `label_replace(${q}, "${ls[i]}", "${ls[i + 1]}", "", "")`;
  }
  return q;
}

// "host-122789" and "host-339192" share the 32-bit hash of their signature {instance=…}
const COLLIDING = ["host-122789", "host-339192"];

Deno.test("series whose match signatures share a hash are not matched with each other", async () => {
  const [a, b] = COLLIDING;
  assertEquals(
    samples(await query(`${series(1, "instance", a)} + ${series(2, "instance", b)}`)),
    [],
  );
  const lhs = `(${series(1, "instance", a)} or ${series(10, "instance", b)})`;
  const rhs = `(${series(2, "instance", b)} or ${series(20, "instance", a)})`;
  assertEquals(samples(await query(`${lhs} + ${rhs}`)), [[{ instance: a }, 21], [
    { instance: b },
    12,
  ]]);
  assertEquals(samples(await query(`${lhs} and ${series(0, "instance", b)}`)), [[
    { instance: b },
    10,
  ]]);
  assertEquals(samples(await query(`${lhs} unless ${series(0, "instance", b)}`)), [[
    { instance: a },
    1,
  ]]);
});

Deno.test("label values holding separator characters do not make signatures match", async () => {
  // as one string, {a="xþbÿy"} and {a="x", b="y"} read alike with þ/ÿ (U+00FE/U+00FF) as separators
  const lhs = series(1, "a", "x\u00feb\u00ffy");
  const rhs = series(2, "a", "x", "b", "y");
  assertEquals(samples(await query(`${lhs} + ${rhs}`)), []);
  assertEquals(samples(await query(`${lhs} and ${rhs}`)), []);
  assertEquals(samples(await query(`${lhs} + ${series(2, "a", "x\u00feb\u00ffy")}`)), [[{
    a: "x\u00feb\u00ffy",
  }, 3]]);
});

Deno.test("a signature map keeps label sets apart by their kept labels only", () => {
  const on = LabelSubsetMap.signatures<number>({
    card: "one-to-one",
    matchingLabels: ["job"],
    on: true,
    include: [],
  });
  on.add(["__name__", "up", "instance", "a", "job", "j"], 1);
  assertEquals(on.get(["instance", "b", "job", "j"]), 1);
  assertEquals(on.get(["job", "k"]), undefined);
  assertEquals(on.get(["instance", "a"]), undefined);
  const ignoring = LabelSubsetMap.signatures<number>({
    card: "one-to-one",
    matchingLabels: ["instance"],
    on: false,
    include: [],
  });
  ignoring.add(["__name__", "up", "instance", "a", "job", "j"], 1);
  assertEquals(ignoring.get(["__name__", "down", "instance", "b", "job", "j"]), 1);
  assertEquals(ignoring.get(["job", "j", "zone", ""]), undefined);
  assertEquals(ignoring.get([]), undefined);
  const whole = LabelSubsetMap.wholeLabelSets<number>();
  whole.add(["__name__", "up", "job", "j"], 1);
  assertEquals(whole.get(["job", "j"]), undefined);
  assertEquals(whole.get(["__name__", "up", "job", "j"]), 1);
});
