// formatGoDuration: Go's time.Duration.String() of millisecond durations.

import { assertEquals } from "../helpers/assert.ts";
import { formatGoDuration, parseGoDuration } from "../../strconv/duration.ts";

Deno.test("formatGoDuration prints like time.Duration.String", () => {
  assertEquals(formatGoDuration(0), "0s");
  assertEquals(formatGoDuration(1), "1ms");
  assertEquals(formatGoDuration(500), "500ms");
  assertEquals(formatGoDuration(1500), "1.5s");
  assertEquals(formatGoDuration(60_000), "1m0s");
  assertEquals(formatGoDuration(300000), "5m0s");
  assertEquals(formatGoDuration(3600000), "1h0m0s");
  assertEquals(formatGoDuration(7_200_000), "2h0m0s");
  assertEquals(formatGoDuration(7_185_499), "1h59m45.499s");
  assertEquals(formatGoDuration(90061001), "25h1m1.001s");
  assertEquals(formatGoDuration(-7200000), "-2h0m0s");
});

Deno.test("parseGoDuration: Go's time.ParseDuration forms", () => {
  const cases: [string, number | null][] = [
    ["0", 0],
    ["500ms", 500],
    ["24h0m0s", 86_400_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
    ["-2m", -120_000],
    ["100us", 0.1],
    ["", null],
    ["5", null],
    ["1d", null],
    ["1h 2m", null],
  ];
  for (const [s, want] of cases) assertEquals(parseGoDuration(s), want, s);
});
