// query/telemetry.ts: Thanos's findBucket (pkg/store/telemetry.go) and the histogram's rules.

import { assertEquals } from "../helpers/assert.ts";
import { findBucket, QueryTelemetry } from "../../query/telemetry.ts";
import { Registry } from "../../metrics/registry.ts";

Deno.test("findBucket: the first bound not below the value, +Inf at or past the last", () => {
  const b = [10, 100, 1000];
  assertEquals(findBucket(0, b), "10");
  assertEquals(findBucket(10, b), "10");
  assertEquals(findBucket(11, b), "100");
  assertEquals(findBucket(999, b), "1000");
  // Thanos: value >= the last bound is +Inf (1000 itself too)
  assertEquals(findBucket(1000, b), "+Inf");
  assertEquals(findBucket(5, []), "+Inf");
  assertEquals(findBucket(0.2, [0.25, 1e21]), "0.25");
  assertEquals(findBucket(1e20, [0.25, 1e21]), "1000000000000000000000");
});

Deno.test("a query that read no series, chunks or samples is not observed", async () => {
  const r = new Registry();
  const t = new QueryTelemetry(r, { durationSeconds: [1], series: [10], samples: [100] });
  t.observe("x", { series: 0, chunks: 1, samples: 1 }, 0.1);
  t.observe("x", { series: 1, chunks: 0, samples: 1 }, 0.1);
  t.observe("x", { series: 1, chunks: 1, samples: 0 }, 0.1);
  assertEquals((await r.expose()).includes("_count{"), false);
  t.observe("x", { series: 20, chunks: 1, samples: 5 }, 2);
  const text = await r.expose();
  assertEquals(
    text.includes(
      'thanos_store_api_query_duration_seconds_bucket{samples_le="100",series_le="+Inf",tenant="x",le="1"} 0',
    ),
    true,
    text,
  );
});
