// Gaps found by the mutation check (scripts/mutations.ts): `>=` on equal values, `max` over a
// group whose first value is NaN, and the result labels of one-to-one matching with `on`.
// Expected values follow Prometheus (https://prometheus.io/docs/prometheus/latest/querying/operators/).

import { assertEquals } from "../helpers/assert.ts";
import { Engine } from "../../promql/engine.ts";
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
