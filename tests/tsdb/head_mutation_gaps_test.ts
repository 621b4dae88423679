// Exact-value checks found missing by the mutation check (scripts/mutations.ts, issue 21): a
// sample at the last timestamp is an accepted duplicate only when its value is bit-for-bit equal
// (Prometheus `memSeries.appendable`,
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/head_append.go).

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { DuplicateSampleError, Head } from "../../tsdb/head.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";

Deno.test("head: duplicate check compares all 64 value bits", async () => {
  const head = await Head.open(null);
  const a = labelsFromObject({ __name__: "m" });
  let app = head.appender();
  app.append(a, 10_000, 1);
  await app.commit();
  app = head.appender();
  // 1 and 1 + 2^-52 differ only in the lowest mantissa bit (the low 32-bit word)
  assertThrows(() => app.append(a, 10_000, 1 + Number.EPSILON), DuplicateSampleError);
  // 2^32 ulp apart: the high word differs
  assertThrows(() => app.append(a, 10_000, 1 + 2 ** 32 * Number.EPSILON), DuplicateSampleError);
  assertEquals(app.append(a, 10_000, 1) > 0, true, "the exact duplicate is accepted");
  assertEquals(await app.commit(), { appended: 0, dropped: 1 });
  await head.close();
});
