// `--receive.limits-config`: the documented example, inheritance from `default`, strict fields,
// and the statuses of checkRequestLimits (413 as Thanos's request limiter).

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  checkRequestLimits,
  DEFAULT_META_MONITORING_LIMIT_QUERY,
  headSeriesLimitFor,
  LimitsConfigError,
  limitsFor,
  noLimits,
  parseLimitsConfig,
} from "../../receive/limits.ts";
import { type PromSeries, RemoteWriteError } from "../../receive/remote_write.ts";

// the example of https://thanos.io/tip/components/receive.md/#limits
const DOC_EXAMPLE = `
write:
  global:
    max_concurrency: 30
    meta_monitoring_url: "http://localhost:9090"
    meta_monitoring_limit_query: "sum(prometheus_tsdb_head_series) by (tenant)"
  default:
    request:
      size_bytes_limit: 1024
      series_limit: 1000
      samples_limit: 10
    head_series_limit: 1000
  tenants:
    acme:
      request:
        size_bytes_limit: 0
        series_limit: 0
        samples_limit: 0
      head_series_limit: 2000
    ajax:
      request:
        series_limit: 50000
        samples_limit: 500
`;

function req(nSeries: number, samplesEach: number): { series: PromSeries[] } {
  return {
    series: Array.from({ length: nSeries }, (_, i) => ({
      labels: ["__name__", `m${i}`],
      timestamps: new Float64Array(samplesEach),
      values: new Float64Array(samplesEach),
    })),
  };
}

Deno.test("parses the documented example with per-tenant inheritance", () => {
  const l = parseLimitsConfig(DOC_EXAMPLE);
  assertEquals(l.maxConcurrency, 30);
  assertEquals(l.metaMonitoringUrl, "http://localhost:9090");
  assertEquals(l.defaults, {
    request: { sizeBytesLimit: 1024, seriesLimit: 1000, samplesLimit: 10 },
    headSeriesLimit: 1000,
  });
  assertEquals(limitsFor(l, "acme"), {
    request: { sizeBytesLimit: 0, seriesLimit: 0, samplesLimit: 0 },
    headSeriesLimit: 2000,
  });
  // ajax inherits size_bytes_limit and head_series_limit from default
  assertEquals(limitsFor(l, "ajax"), {
    request: { sizeBytesLimit: 1024, seriesLimit: 50000, samplesLimit: 500 },
    headSeriesLimit: 1000,
  });
  assertEquals(limitsFor(l, "other"), l.defaults);
  assertEquals(headSeriesLimitFor(l, "acme"), 2000);
  assertEquals(headSeriesLimitFor(l, "zzz"), 1000);
});

Deno.test("empty config means no limits; default query filled in", () => {
  for (const y of ["", "\n", "write:\n", "write: {}\n"]) {
    const l = parseLimitsConfig(y);
    assertEquals(l.defaults, noLimits().defaults, JSON.stringify(y));
    assertEquals(l.metaMonitoringLimitQuery, DEFAULT_META_MONITORING_LIMIT_QUERY);
  }
  checkRequestLimits(noLimits(), "t", 1 << 30, req(10000, 1));
});

Deno.test("invalid configs throw naming the field", () => {
  const cases: [string, string][] = [
    ["write:\n  default:\n    request:\n      series_limt: 3\n", "series_limt"],
    ["write:\n  default:\n    head_series_limit: -1\n", "write.default.head_series_limit"],
    ["write:\n  default:\n    request:\n      samples_limit: lots\n", "samples_limit"],
    ["writes: {}\n", "writes"],
    ["write:\n  tenants: [a, b]\n", "write.tenants"],
    ["write:\n  global:\n    meta_monitoring_url: localhost\n", "meta_monitoring_url"],
    ["write: [\n", "invalid YAML"],
  ];
  for (const [y, want] of cases) {
    const e = assertThrows(() => parseLimitsConfig(y), LimitsConfigError);
    assert(e.message.includes(want), `${want} not in ${e.message}`);
  }
});

Deno.test("checkRequestLimits: size, series and samples → 413 as Thanos", () => {
  const l = parseLimitsConfig(DOC_EXAMPLE);
  checkRequestLimits(l, "x", 1024, req(1000, 0));
  let e = assertThrows(() => checkRequestLimits(l, "x", 1025), RemoteWriteError);
  assertEquals((e as RemoteWriteError).status, 413);
  assert(e.message.includes("write request too large"), e.message);
  e = assertThrows(() => checkRequestLimits(l, "x", 10, req(1001, 0)), RemoteWriteError);
  assertEquals((e as RemoteWriteError).status, 413);
  assert(e.message.includes("too many timeseries"), e.message);
  e = assertThrows(() => checkRequestLimits(l, "x", 10, req(3, 4)), RemoteWriteError);
  assertEquals((e as RemoteWriteError).status, 413);
  assert(e.message.includes("too many samples"), e.message);
  // acme is unlimited; ajax has its own series limit
  checkRequestLimits(l, "acme", 1 << 30, req(5000, 3));
  checkRequestLimits(l, "ajax", 1000, req(5000, 0));
});
