// Vector matching keys (promql/binary.ts LabelSubsetMap): label sets match by their signature's
// names and values exactly, whatever characters the values hold, and series whose signatures
// share a hash stay apart. Expected answers follow Prometheus, which compares label sets.

import { assertEquals } from "../helpers/assert.ts";
import { Engine } from "../../promql/engine.ts";
import { LabelSubsetMap } from "../../promql/binary.ts";
import type { QueryValue } from "../../promql/value.ts";
import { labelsToObject } from "../../tsdb/labels.ts";
import type { Queryable, SeriesSet } from "../../tsdb/series.ts";

const empty: Queryable = {
  select(): SeriesSet {
    return (async function* () {})();
  },
  labelNames: () => Promise.resolve([]),
  labelValues: () => Promise.resolve([]),
};

const engine = new Engine();

async function samples(q: string): Promise<[Record<string, string>, number][]> {
  const v: QueryValue = (await engine.instantQuery(empty, q, 60_000)).value;
  if (v.type !== "vector") throw new Error(`unexpected ${v.type}`);
  return v.samples.map((s) => [labelsToObject(s.labels), s.v]);
}

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
  assertEquals(await samples(`${series(1, "instance", a)} + ${series(2, "instance", b)}`), []);
  const lhs = `(${series(1, "instance", a)} or ${series(10, "instance", b)})`;
  const rhs = `(${series(2, "instance", b)} or ${series(20, "instance", a)})`;
  assertEquals(await samples(`${lhs} + ${rhs}`), [[{ instance: a }, 21], [{ instance: b }, 12]]);
  assertEquals(await samples(`${lhs} and ${series(0, "instance", b)}`), [[{ instance: b }, 10]]);
  assertEquals(await samples(`${lhs} unless ${series(0, "instance", b)}`), [[{ instance: a }, 1]]);
});

Deno.test("label values holding separator characters do not make signatures match", async () => {
  // as one string, {a="xþbÿy"} and {a="x", b="y"} read alike with þ/ÿ (U+00FE/U+00FF) as separators
  const lhs = series(1, "a", "x\u00feb\u00ffy");
  const rhs = series(2, "a", "x", "b", "y");
  assertEquals(await samples(`${lhs} + ${rhs}`), []);
  assertEquals(await samples(`${lhs} and ${rhs}`), []);
  assertEquals(await samples(`${lhs} + ${series(2, "a", "x\u00feb\u00ffy")}`), [[{
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
