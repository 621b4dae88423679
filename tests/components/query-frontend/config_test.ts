// `thanos query-frontend`'s flags read into its config: Thanos defaults, cache configs from a
// file or inline, dynamic horizontal splitting and vertical shards, and the refusals (both cache
// flags, no split interval with a cache, incomplete or mixed dynamic splitting, a
// downstream URL that is not http(s)).

import { assert, assertEquals, assertThrows } from "../../helpers/assert.ts";
import { Flags, parseFlags, UsageError } from "../../../components/flags.ts";
import { QUERY_FRONTEND_COMMAND } from "../../../components/query-frontend/flags.ts";
import { queryFrontendConfig } from "../../../components/query-frontend/config.ts";

function config(argv: string[], files: Record<string, string> = {}) {
  const raw = parseFlags(QUERY_FRONTEND_COMMAND, argv);
  raw.files = files;
  return queryFrontendConfig(new Flags(QUERY_FRONTEND_COMMAND, raw));
}

Deno.test("query-frontend config: Thanos defaults", () => {
  const c = config([]);
  assertEquals(c.downstreamUrl, "http://localhost:9090");
  assertEquals(c.splitIntervalMs, 24 * 3600_000);
  assertEquals(c.labelsSplitIntervalMs, 24 * 3600_000);
  assertEquals(c.labelsDefaultTimeRangeMs, 24 * 3600_000);
  assertEquals(c.maxRetries, 5);
  assertEquals(c.instantMaxRetries, 5);
  assertEquals(c.labelsMaxRetries, 5);
  assertEquals(c.maxQueryParallelism, 14);
  assertEquals(c.maxQueryLengthMs, 0);
  assertEquals(c.maxFreshnessMs, 60_000);
  assertEquals(c.alignRangeWithStep, true);
  assertEquals(c.requestDownsampled, true);
  assertEquals(c.partialResponse, true);
  assertEquals(c.snappy, false);
  assertEquals(c.compressResponses, false);
  assertEquals(c.logQueriesLongerThanMs, 0);
  assertEquals(c.rangeCache, undefined);
  assertEquals(c.http.address, { hostname: "0.0.0.0", port: 10902 });
});

Deno.test("query-frontend config: caches, flags and refusals", () => {
  const c = config([
    "--query-range.response-cache-config-file=/etc/cache.yml",
    "--labels.response-cache-config=type: REDIS\nconfig:\n  addr: r:6379\n",
    "--cache-compression-type=snappy",
    "--no-query-range.align-range-with-step",
    "--query-frontend.log-queries-longer-than=-1s",
    "--query-frontend.forward-header=Authorization",
    "--query-frontend.forward-header=X-Scope-OrgID",
    "--query-frontend.downstream-tripper-config=response_header_timeout: 2s\nmax_idle_conns: 10\n",
  ], { "/etc/cache.yml": "type: MEMCACHED\nconfig:\n  addresses: [m:11211]\n" });
  assertEquals(c.rangeCache?.type, "MEMCACHED");
  assertEquals(c.labelsCache?.type, "REDIS");
  assert(c.snappy);
  assertEquals(c.alignRangeWithStep, false);
  assertEquals(c.logQueriesLongerThanMs, -1000);
  assertEquals(c.forwardHeaders, ["Authorization", "X-Scope-OrgID"]);
  assertEquals(c.downstreamTimeoutMs, 2000);
  // an IN-MEMORY cache with no size is not created (Thanos)
  assertEquals(
    config(["--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  validity: 1m"])
      .rangeCache,
    undefined,
  );
  const refused: [string[], string][] = [
    [["--query-frontend.vertical-shards=-1"], "must not be negative"],
    [
      ["--query-range.min-split-interval=1h", "--query-range.max-split-interval=1d"],
      "cannot be set at the same time",
    ],
    [
      ["--query-range.split-interval=0", "--query-range.min-split-interval=1h"],
      "min horizontal shards should be greater than 0",
    ],
    [
      [
        "--query-range.split-interval=0",
        "--query-range.min-split-interval=1h",
        "--query-range.horizontal-shards=3",
      ],
      "max query split interval should be greater than 0",
    ],
    [
      [
        "--query-range.split-interval=0",
        "--query-range.max-split-interval=1d",
        "--query-range.horizontal-shards=3",
      ],
      "min query split interval should be greater than 0",
    ],
    [
      [
        "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: 1MB",
        "--query-range.response-cache-config-file=/x.yml",
      ],
      "mutually exclusive",
    ],
    [
      [
        "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: 1MB",
        "--query-range.split-interval=0s",
      ],
      "should be greater than 0 when caching is enabled",
    ],
    [["--query-range.response-cache-config=type: NOPE"], "unsupported cache type"],
    [["--query-frontend.downstream-url=querier:9090"], "is not an http(s) URL"],
    [["--query-frontend.downstream-tripper-config=idle_timeout: 1s"], "unknown field"],
  ];
  for (const [argv, msg] of refused) {
    assertThrows(() => config(argv, { "/x.yml": "type: IN-MEMORY" }), UsageError, msg);
  }
  assertEquals(config(["--query-frontend.vertical-shards=3"]).verticalShards, 3);
  // dynamic splitting: the three flags with the static interval off, a cache allowed
  const d = config([
    "--query-range.split-interval=0",
    "--query-range.min-split-interval=1h",
    "--query-range.max-split-interval=1d",
    "--query-range.horizontal-shards=4",
    "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: 1MB",
  ]);
  assertEquals(
    [d.splitIntervalMs, d.minSplitIntervalMs, d.maxSplitIntervalMs, d.horizontalShards],
    [0, 3600_000, 24 * 3600_000, 4],
  );
});

Deno.test("query-frontend config: org-ID headers and the slow-query user header", () => {
  const c = config([
    "--query-frontend.org-id-header=X-Org",
    "--query-frontend.org-id-header=X-Scope-OrgID",
    "--query-frontend.slow-query-logs-user-header=X-User",
  ]);
  assertEquals([c.orgIdHeaders, c.slowQueryLogsUserHeader], [["X-Org", "X-Scope-OrgID"], "X-User"]);
  assertEquals([config([]).orgIdHeaders, config([]).slowQueryLogsUserHeader], [[], ""]);
  // Thanos refuses both at once (cmd/thanos/query_frontend.go)
  assertThrows(
    () => config(["--query-frontend.org-id-header=X-Org", "--query-frontend.tenant-header=X-T"]),
    UsageError,
    "query-frontend.org-id-header and query-frontend.tenant-header cannot be used together",
  );
  assertThrows(
    () => config(["--query-frontend.slow-query-logs-user-header=X User"]),
    UsageError,
    "--query-frontend.slow-query-logs-user-header",
  );
});
