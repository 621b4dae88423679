// Go float formatting: %g (fmt.Sprint of a float64, as PromQL number literals and
// `promtool tsdb dump` samples print), strconv.FormatFloat with f and e, Prometheus sample values.

import { assertEquals } from "../helpers/assert.ts";
import {
  formatFloatGo,
  formatFloatGoExp,
  formatGoFloat,
  formatSampleValue,
} from "../../strconv/float.ts";

Deno.test("formatGoFloat prints like Go's %g", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [1, "1"],
    [-1.5, "-1.5"],
    [100000, "100000"],
    [999999, "999999"],
    [1e6, "1e+06"],
    [1234567, "1.234567e+06"],
    [123456.7, "123456.7"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [0.000012345, "1.2345e-05"],
    [1e21, "1e+21"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [5e-324, "5e-324"],
    [1e-300, "1e-300"],
    [NaN, "NaN"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [0.1 + 0.2, "0.30000000000000004"],
    [123456789012345680000, "1.2345678901234568e+20"],
  ];
  for (const [v, want] of cases) assertEquals(formatGoFloat(v), want, `formatGoFloat(${v})`);
});

Deno.test("Go float formatting of number literals", () => {
  const cases: [number, string][] = [
    [1, "1"],
    [-1.5, "-1.5"],
    [123456, "123456"],
    [1234567, "1.234567e+06"],
    [1e6, "1e+06"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [1e100, "1e+100"],
    [5e-324, "5e-324"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [NaN, "NaN"],
    [-0, "-0"],
  ];
  for (const [v, s] of cases) assertEquals(formatGoFloat(v), s, String(v));
});

Deno.test("formatFloatGo matches strconv.FormatFloat(v, 'f', -1, 64) with Prometheus' specials", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [1, "1"],
    [-1.5, "-1.5"],
    [0.1 + 0.2, "0.30000000000000004"],
    [1e21, "1000000000000000000000"],
    [1e-7, "0.0000001"],
    [123456789012345680000, "123456789012345680000"],
    [1.7976931348623157e308, "17976931348623157" + "0".repeat(292)],
    [5e-324, "0." + "0".repeat(323) + "5"],
    [NaN, "NaN"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [1e30, "1000000000000000000000000000000"],
  ];
  for (const [v, want] of cases) assertEquals(formatFloatGo(v), want, `formatFloatGo(${v})`);
  assertEquals(formatFloatGoExp(1), "1e+00");
  assertEquals(formatFloatGoExp(1.5e21), "1.5e+21");
  assertEquals(formatFloatGoExp(-1e-7), "-1e-07");
  assertEquals(formatFloatGoExp(1e100), "1e+100");
  assertEquals(formatSampleValue(1e-7), "1e-07");
  assertEquals(formatSampleValue(1e21), "1e+21");
  assertEquals(formatSampleValue(123.25), "123.25");
  assertEquals(formatSampleValue(0), "0");
  assertEquals(formatSampleValue(NaN), "NaN");
});
