// Each role's flags are read once into its typed config: defaults, set values, validation
// errors, and (at the type level) that a misspelt flag name does not compile.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  type CommandSpec,
  defineCommand,
  type FlagName,
  Flags,
  logConfig,
  parseFlags,
  type RawFlags,
  UsageError,
} from "../../components/flags.ts";
import { grpcServerConfig } from "../../components/grpc.ts";
import { QUERY_COMMAND, type QueryFlag } from "../../components/query/flags.ts";
import { queryConfig } from "../../components/query/config.ts";
import { STORE_COMMAND } from "../../components/store/flags.ts";
import { storeConfig } from "../../components/store/config.ts";
import { SIDECAR_COMMAND } from "../../components/sidecar/flags.ts";
import { sidecarConfig } from "../../components/sidecar/config.ts";
import {
  BUCKET_INSPECT,
  BUCKET_LS,
  TSDB_ANALYZE,
  TSDB_DUMP,
} from "../../components/tools/flags.ts";
import {
  bucketInspectConfig,
  bucketLsConfig,
  tsdbAnalyzeConfig,
  tsdbDumpConfig,
} from "../../components/tools/config.ts";
import { RUN_TABLE } from "../../components/run_table.ts";
import { RULE_COMMAND } from "../../components/rule/flags.ts";
import { ruleConfig } from "../../components/rule/config.ts";
import { Logger } from "../../logging/log.ts";
import { labelsFromPairs } from "../../tsdb/labels.ts";

/** Typed flags of `spec` parsed from `argv`, as the worker would build them. */
function parse<N extends string>(
  spec: CommandSpec<N>,
  argv: string[],
  files: Record<string, string> = {},
): Flags<N> {
  const raw = parseFlags(spec, argv);
  raw.files = files;
  return new Flags(spec, raw);
}

/** Flags with raw values set directly, bypassing the parser's checks (as a bug would). */
function unchecked<N extends string>(spec: CommandSpec<N>, values: Record<string, string[]>) {
  const raw: RawFlags = { command: [...spec.path], values, args: [], files: {} };
  return new Flags(spec, raw);
}

const OBJSTORE = "type: FILESYSTEM\nconfig:\n  directory: /tmp/bucket\n";

Deno.test("flag names of every table are literal types, and a misspelt name is a type error", () => {
  const flags = parse(QUERY_COMMAND, []);
  assertEquals(flags.strings("query.replica-label"), []);
  // @ts-expect-error: "query.replica-lable" is not a flag of `thanos query`
  assertThrows(() => flags.string("query.replica-lable"), Error, "has no flag");
  // @ts-expect-error: a flag of another role
  assertThrows(() => flags.string("tsdb.path"), Error, "has no flag");
  const store = parse(STORE_COMMAND, []);
  // @ts-expect-error: misspelt in a shared group's name too
  assertThrows(() => store.duration("grpc-grace-perod"), Error, "has no flag");
  // @ts-expect-error: the flags of one role are not the flags of another
  assertThrows(() => queryConfig(store));

  // the name unions are literal (a widened `string` would accept anything)
  const name: QueryFlag = "deduplication.func";
  assertEquals(name, "deduplication.func");
  type IsString<T> = string extends T ? true : false;
  const literal: IsString<FlagName<typeof SIDECAR_COMMAND>> = false;
  assertEquals(literal, false);
  const spec = defineCommand({
    path: ["x"],
    help: "",
    flags: [{ name: "a", kind: "int", help: "" }],
  });
  // @ts-expect-error: only "a" is declared
  assertThrows(() => parse(spec, []).int("b"), Error, "command x has no flag --b");
});

Deno.test("flags of one command cannot be used as another's", () => {
  const untyped: Flags = new Flags(STORE_COMMAND as CommandSpec, parseFlags(STORE_COMMAND, []));
  assertThrows(() => untyped.of(QUERY_COMMAND), Error, 'flags of command "store" used as "query"');
  assertEquals(untyped.of(STORE_COMMAND).int("block-sync-concurrency"), 20);
});

Deno.test("query config: defaults", () => {
  const c = queryConfig(parse(QUERY_COMMAND, []));
  assertEquals(c.http, { address: { hostname: "0.0.0.0", port: 10902 }, gracePeriodMs: 120_000 });
  assertEquals(c.grpc, {
    address: { hostname: "0.0.0.0", port: 10901 },
    gracePeriodMs: 120_000,
    tls: undefined,
  });
  assertEquals(c.client, { compression: "none" });
  assertEquals(c.dedupFunc, "penalty");
  assertEquals(c.replicaLabels, []);
  assertEquals(c.routePrefix, "");
  assertEquals(c.externalPrefix, undefined);
  assertEquals(c.enableCors, true);
  assertEquals(c.queryTimeoutMs, 120_000);
  assertEquals(c.maxConcurrent, 20);
  assertEquals(c.maxConcurrentSelect, 4);
  assertEquals(c.lookbackDeltaMs, 300_000);
  assertEquals(c.maxSamples, 50_000_000);
  assertEquals(c.defaultStepMs, 1000);
  assertEquals(c.defaultEvaluationIntervalMs, 60_000);
  assertEquals(c.partialResponse, true);
  assertEquals(c.autoDownsampling, false);
  assertEquals(c.selectorLabels, []);
  assertEquals(c.staticEndpoints, []);
  assertEquals(c.inlineEndpoints, []);
  assertEquals(c.endpointConfigFile, undefined);
  assertEquals(c.infoTimeoutMs, 5000);
  assertEquals(c.dnsIntervalMs, 30_000);
  assertEquals(c.unhealthyTimeoutMs, 300_000);
  assertEquals(c.responseTimeoutMs, 0);
  assertEquals(c.flagValues["query.timeout"], "2m");
  assertEquals(c.flagValues["query.replica-label"], "");
});

Deno.test("query config: set values", () => {
  const c = queryConfig(parse(QUERY_COMMAND, [
    "--http-address=127.0.0.1:0",
    "--grpc-address=[::1]:19091",
    "--grpc-grace-period=1s",
    "--query.replica-label=replica, rule_replica",
    "--query.replica-label",
    "replica",
    "--query.replica-label= zone ",
    "--deduplication.func=chain",
    '--selector-label=cluster="eu1"',
    "--store=a:1",
    "--endpoint=b:2",
    "--endpoint-strict=c:3",
    "--web.route-prefix=/thanos/",
    "--web.external-prefix=ext",
    "--web.disable-cors",
    "--query.max-concurrent=0",
    "--no-query.partial-response",
    "--grpc-client-tls-secure",
    "--grpc-client-tls-ca=/ca.pem",
    "--grpc-compression=snappy",
    "--endpoint.info-timeout=2s",
  ]));
  assertEquals(c.http.address, { hostname: "127.0.0.1", port: 0 });
  assertEquals(c.grpc.address, { hostname: "::1", port: 19091 });
  assertEquals(c.grpc.gracePeriodMs, 1000);
  assertEquals(c.replicaLabels, ["replica", "rule_replica", "zone"]);
  assertEquals(c.dedupFunc, "chain");
  assertEquals(c.selectorLabels, labelsFromPairs([["cluster", "eu1"]]));
  assertEquals(c.staticEndpoints, [
    { address: "a:1", strict: false },
    { address: "b:2", strict: false },
    { address: "c:3", strict: true },
  ]);
  assertEquals(c.routePrefix, "/thanos");
  assertEquals(c.externalPrefix, "ext");
  assertEquals(c.enableCors, false);
  assertEquals(c.maxConcurrent, 1);
  assertEquals(c.partialResponse, false);
  assertEquals(c.client, {
    compression: "snappy",
    tls: {
      certFile: undefined,
      keyFile: undefined,
      caFile: "/ca.pem",
      serverName: undefined,
      skipVerify: false,
      // Thanos's --grpc-client-tls-min-version default
      minVersion: "TLSv1.3",
    },
  });
  assertEquals(c.infoTimeoutMs, 2000);
  assertEquals(
    c.flagValues["query.replica-label"],
    "replica, rule_replica,replica, zone ",
  );
});

Deno.test("query config: enum and exclusivity errors", () => {
  assertThrows(
    () => parseFlags(QUERY_COMMAND, ["--deduplication.func=quorum"]),
    UsageError,
    'invalid value "quorum" for --deduplication.func: want one of penalty, chain',
  );
  // the config checks the value against the domain type too, with the parser's message
  assertThrows(
    () => queryConfig(unchecked(QUERY_COMMAND, { "deduplication.func": ["quorum"] })),
    UsageError,
    'invalid value "quorum" for --deduplication.func: want one of penalty, chain',
  );
  assertThrows(
    () =>
      queryConfig(
        parse(QUERY_COMMAND, ["--endpoint.sd-config-file=/sd.yml", "--endpoint.sd-config=[]"]),
      ),
    Error,
    "--endpoint.sd-config-file and --endpoint.sd-config are mutually exclusive",
  );
  assertThrows(
    () => queryConfig(parse(QUERY_COMMAND, ["--selector-label=nope"])),
    UsageError,
    'invalid --selector-label "nope"',
  );
  assertThrows(
    () => queryConfig(parse(QUERY_COMMAND, ["--http-address=nohost"])),
    UsageError,
    "invalid listen address",
  );
});

Deno.test("gRPC server config: TLS needs both cert and key", () => {
  assertThrows(
    () => grpcServerConfig(parse(STORE_COMMAND, ["--grpc-server-tls-cert=/c.pem"])),
    UsageError,
    "both --grpc-server-tls-cert and --grpc-server-tls-key must be set",
  );
  const c = grpcServerConfig(
    parse(STORE_COMMAND, [
      "--grpc-server-tls-cert=/c.pem",
      "--grpc-server-tls-key=/k.pem",
      "--grpc-server-tls-min-version=1.2",
    ]),
  );
  assertEquals(c.tls, {
    certFile: "/c.pem",
    keyFile: "/k.pem",
    clientCaFile: undefined,
    minVersion: "TLSv1.2",
  });
});

Deno.test("log config: level and format", () => {
  assertEquals(logConfig(parse(STORE_COMMAND, [])), { level: "info", format: "logfmt" });
  assertEquals(
    logConfig(parse(STORE_COMMAND, ["--log.level=debug", "--log.format=json"])),
    { level: "debug", format: "json" },
  );
  assertThrows(
    () => parseFlags(STORE_COMMAND, ["--log.level=trace"]),
    UsageError,
    'invalid value "trace" for --log.level: want one of debug, info, warn, error',
  );
});

Deno.test("store config: defaults and set values", () => {
  const d = storeConfig(parse(STORE_COMMAND, []));
  assertEquals(d.objstoreConfig, "");
  assertEquals(d.dataDir, "./data");
  assertEquals(d.cacheIndexHeader, true);
  assertEquals(d.indexCacheBytes, 250 * 1024 * 1024);
  assertEquals(d.syncIntervalMs, 15 * 60_000);
  assertEquals(d.blockSyncConcurrency, 20);
  assertEquals(d.metaFetchConcurrency, 32);
  assertEquals(d.discoveryStrategy, "concurrent");
  assertEquals(new Date(d.minTime).toISOString(), "0000-01-01T00:00:00.000Z");
  assert(d.maxTime > Date.UTC(9999, 0, 1));
  assertEquals(d.consistencyDelayMs, 0);
  assertEquals(d.ignoreDeletionMarksDelayMs, 24 * 3_600_000);
  assertEquals([d.seriesLimit, d.samplesLimit, d.bytesLimit], [0, 0, 0]);
  assertEquals(d.seriesMaxConcurrency, 20);
  assertEquals(d.http.address.port, 10902);
  assertEquals(d.grpc.address.port, 10901);

  const c = storeConfig(parse(STORE_COMMAND, [
    "--objstore.config-file=/b.yml",
    "--data-dir=/var/store",
    "--block-discovery-strategy=recursive",
    "--index-cache-size=1GiB",
    "--min-time=2024-01-01T00:00:00Z",
    "--max-time=2024-02-01T00:00:00Z",
    "--store.limits.request-series=100",
    "--store.grpc.touched-series-limit=50",
    "--store.grpc.series-sample-limit=7",
    "--selector.relabel-config=- action: keep\n  source_labels: [cluster]\n  regex: eu1\n",
  ], { "/b.yml": OBJSTORE }));
  assertEquals(c.objstoreConfig, OBJSTORE);
  assertEquals(c.dataDir, "/var/store");
  assertEquals(c.discoveryStrategy, "recursive");
  assertEquals(c.indexCacheBytes, 1024 ** 3);
  assertEquals(c.minTime, Date.UTC(2024, 0, 1));
  assertEquals(c.maxTime, Date.UTC(2024, 1, 1));
  assertEquals(c.seriesLimit, 50);
  assertEquals(c.samplesLimit, 7);
});

Deno.test("store config: --index-cache.config (IN-MEMORY) replaces --index-cache-size", () => {
  const yaml = "type: IN-MEMORY\nconfig:\n  max_size: 64MB\n  max_item_size: 8MB\n" +
    "  enabled_items: [Postings]\n";
  for (
    const flags of [
      parse(STORE_COMMAND, ["--index-cache-size=1GB", `--index-cache.config=${yaml}`]),
      parse(STORE_COMMAND, ["--index-cache.config-file=/c.yml"], { "/c.yml": yaml }),
    ]
  ) {
    const c = storeConfig(flags);
    assertEquals(c.indexCacheBytes, 64 * 1024 * 1024);
    assertEquals(c.indexCache, { maxItemBytes: 8 * 1024 * 1024, enabledItems: ["Postings"] });
  }
  assertEquals(storeConfig(parse(STORE_COMMAND, [])).indexCache, undefined);
  // MEMCACHED / REDIS: a remote index cache; --index-cache-size stays as given
  const m = storeConfig(
    parse(STORE_COMMAND, [
      "--index-cache-size=1GB",
      "--index-cache.config=type: MEMCACHED\nconfig:\n  addresses: [m:1]\nenabled_items: [Series]",
    ]),
  );
  assertEquals(m.indexCache, undefined);
  assertEquals(m.remoteIndexCache?.backend.type, "MEMCACHED");
  assertEquals(m.remoteIndexCache?.enabledItems, ["Series"]);
  const e = assertThrows(
    () =>
      storeConfig(
        parse(STORE_COMMAND, ["--index-cache.config=type: MEMCACHED\nconfig:\n  addresses: []"]),
      ),
    UsageError,
    "--index-cache.config: index cache config: config.addresses: no memcached addresses",
  );
  assert(!e.message.includes("\n"));
  assertThrows(
    () =>
      storeConfig(
        parse(STORE_COMMAND, [
          "--index-cache.config-file=/c.yml",
          `--index-cache.config=${yaml}`,
        ], { "/c.yml": yaml }),
      ),
    UsageError,
    "mutually exclusive",
  );
});

Deno.test("query config: --store.limits.* and --query.conn-metric.label", () => {
  const d = queryConfig(parse(QUERY_COMMAND, []));
  assertEquals(d.limits, { seriesLimit: 0, samplesLimit: 0 });
  assertEquals(d.connMetricLabels, ["external_labels", "store_type"]);
  assertEquals(d.lookbackDeltaMs, 5 * 60_000);
  const c = queryConfig(parse(QUERY_COMMAND, [
    "--store.limits.request-series=10",
    "--store.limits.request-samples=20",
    "--query.conn-metric.label=store_type",
    "--query.lookback-delta=15m",
  ]));
  assertEquals(c.limits, { seriesLimit: 10, samplesLimit: 20 });
  assertEquals(c.connMetricLabels, ["store_type"]);
  assertEquals(c.lookbackDeltaMs, 15 * 60_000);
});

Deno.test("store config: validation errors", () => {
  assertThrows(
    () =>
      storeConfig(
        parse(STORE_COMMAND, [
          "--min-time=2024-02-01T00:00:00Z",
          "--max-time=2024-01-01T00:00:00Z",
        ]),
      ),
    UsageError,
    "--min-time (2024-02-01T00:00:00.000Z) is after --max-time (2024-01-01T00:00:00.000Z)",
  );
  assertThrows(
    () => storeConfig(parse(STORE_COMMAND, ["--block-sync-concurrency=0"])),
    UsageError,
    "--block-sync-concurrency must be at least 1",
  );
  assertThrows(
    () =>
      storeConfig(
        parse(STORE_COMMAND, [
          "--selector.relabel-config-file=/r.yml",
          "--selector.relabel-config=[]",
        ], { "/r.yml": "[]" }),
      ),
    UsageError,
    "--selector.relabel-config-file and --selector.relabel-config are mutually exclusive",
  );
  assertThrows(
    () => storeConfig(unchecked(STORE_COMMAND, { "block-discovery-strategy": ["walk"] })),
    UsageError,
    'invalid value "walk" for --block-discovery-strategy: want one of concurrent, recursive',
  );
});

Deno.test("sidecar config: defaults and set values", () => {
  const d = sidecarConfig(parse(SIDECAR_COMMAND, []));
  assertEquals(d.objstoreConfig, "");
  assertEquals(d.prometheus, {
    url: "http://localhost:9090",
    readyTimeoutMs: 600_000,
    readyTimeoutText: "10m",
    getConfigIntervalMs: 30_000,
    getConfigTimeoutMs: 30_000,
    httpClientConfig: "",
  });
  assertEquals(d.tsdbPath, "./data");
  assertEquals(d.reloader, undefined);
  assertEquals(d.shipper, {
    uploadCompacted: false,
    metaFileName: "thanos.shipper.json",
    hashFunc: "",
    uploadConcurrency: 0,
    syncIntervalMs: 30_000,
  });
  assertEquals([d.seriesLimit, d.samplesLimit], [0, 0]);

  const c = sidecarConfig(parse(SIDECAR_COMMAND, [
    "--objstore.config",
    OBJSTORE,
    "--prometheus.url=http://prom:9090",
    "--tsdb.path=/prom",
    "--reloader.rule-dir=/rules",
    "--reloader.watch-interval=10s",
    "--hash-func=SHA256",
    "--shipper.upload-compacted",
    "--min-time=2024-01-01T00:00:00Z",
    "--store.limits.request-samples=1000",
    "--prometheus.http-client-file=/hc.yml",
  ], { "/hc.yml": "tls_config: {}\n" }));
  assertEquals(c.objstoreConfig, OBJSTORE);
  assertEquals(c.prometheus.url, "http://prom:9090");
  assertEquals(c.prometheus.httpClientConfig, "tls_config: {}\n");
  assertEquals(c.tsdbPath, "/prom");
  assertEquals(c.reloader, {
    method: "http",
    configFile: "",
    configEnvsubstFile: "",
    ruleDirs: ["/rules"],
    watchIntervalMs: 10_000,
    retryIntervalMs: 5000,
  });
  assertEquals(c.shipper.hashFunc, "SHA256");
  assertEquals(c.shipper.uploadCompacted, true);
  assertEquals(c.minTime, Date.UTC(2024, 0, 1));
  assertEquals(c.samplesLimit, 1000);
});

Deno.test("sidecar config: validation errors", () => {
  assertThrows(
    () =>
      sidecarConfig(
        parse(SIDECAR_COMMAND, [
          "--prometheus.http-client-file=/hc.yml",
          "--prometheus.http-client=tls_config: {}",
        ], { "/hc.yml": "tls_config: {}\n" }),
      ),
    UsageError,
    "--prometheus.http-client-file and --prometheus.http-client are mutually exclusive",
  );
  assertThrows(
    () => parseFlags(SIDECAR_COMMAND, ["--hash-func=MD5"]),
    UsageError,
    'invalid value "MD5" for --hash-func: want one of , SHA256',
  );
  assertThrows(
    () => sidecarConfig(unchecked(SIDECAR_COMMAND, { "hash-func": ["MD5"] })),
    UsageError,
    'invalid value "MD5" for --hash-func: want one of , SHA256',
  );
});

Deno.test("tools configs: defaults, set values and errors", () => {
  const { relabel: noRelabel, minTime, maxTime, ...ls } = bucketLsConfig(parse(BUCKET_LS, []));
  assertEquals(ls, {
    objstoreConfig: "",
    output: "text",
    excludeDelete: false,
    timeoutMs: 300_000,
  });
  assert(noRelabel.empty);
  assertEquals(new Date(minTime).toISOString(), "0000-01-01T00:00:00.000Z");
  assert(maxTime > Date.UTC(9999, 0, 1));
  const { relabel, ...set } = bucketLsConfig(parse(BUCKET_LS, [
    "-o",
    "json",
    "--exclude-delete",
    "--objstore.config=x",
    "--min-time=2024-01-01T00:00:00Z",
    "--max-time=2024-02-01T00:00:00Z",
    "--selector.relabel-config=- action: keep\n  source_labels: [cluster]\n  regex: eu1\n",
  ]));
  assertEquals(set, {
    objstoreConfig: "x",
    output: "json",
    excludeDelete: true,
    timeoutMs: 300_000,
    minTime: Date.UTC(2024, 0, 1),
    maxTime: Date.UTC(2024, 1, 1),
  });
  assert(!relabel.empty);
  assertThrows(
    () => parseFlags(BUCKET_LS, ["--output=yaml"]),
    UsageError,
    'invalid value "yaml" for --output: want one of , text, json, wide',
  );
  assertEquals(bucketInspectConfig(parse(BUCKET_INSPECT, [])), {
    objstoreConfig: "",
    selector: {},
    // Thanos's default: --sort-by FROM --sort-by UNTIL
    sortBy: ["FROM", "UNTIL"],
    output: "table",
    timeoutMs: 300_000,
  });
  const i = bucketInspectConfig(
    parse(BUCKET_INSPECT, ["-l", 'cluster="eu1"', "--sort-by=UNTIL", "--output=csv"]),
  );
  assertEquals([i.selector, i.sortBy, i.output], [{ cluster: "eu1" }, ["UNTIL"], "csv"]);
  assertThrows(
    () => bucketInspectConfig(parse(BUCKET_INSPECT, ["-l", "x"])),
    UsageError,
    'invalid --selector "x"',
  );
  const dump = tsdbDumpConfig(parse(TSDB_DUMP, ["--min-time=5", "/db"]));
  assertEquals([dump.dbPath, dump.minTime, dump.maxTime], ["/db", 5, 9223372036854775807]);
  assertEquals(dump.matchers.length, 1);
  assertThrows(
    () => tsdbDumpConfig(parse(TSDB_DUMP, ["--match={", "/db"])),
    UsageError,
    "invalid --match:",
  );
  assertEquals(tsdbAnalyzeConfig(parse(TSDB_ANALYZE, ["/b"])), { blockDir: "/b", limit: 20 });
  assertEquals(tsdbAnalyzeConfig(parse(TSDB_ANALYZE, ["--limit=3", "/b"])).limit, 3);
});

Deno.test("a config error fails the run function (a rejected promise), before any I/O", async () => {
  const logs: string[] = [];
  const spec: CommandSpec = STORE_COMMAND;
  const run = RUN_TABLE["store"](
    new Flags(spec, parseFlags(spec, ["--block-sync-concurrency=0"])),
    {
      signal: new AbortController().signal,
      logger: new Logger("info", "logfmt", {}, (l) => logs.push(l)),
      stdout: () => {},
    },
  );
  let err: unknown;
  await run.catch((e) => err = e);
  assert(err instanceof UsageError);
  assertEquals((err as Error).message, "--block-sync-concurrency must be at least 1");
  assertEquals(logs, []);
});

Deno.test("rule config: defaults, queriers, Alertmanagers and errors", () => {
  const cfg = ruleConfig(parse(RULE_COMMAND, ["--query=q:10902"]));
  assertEquals(
    [cfg.dataDir, cfg.evalIntervalMs, cfg.resendDelayMs, cfg.retentionMs, cfg.blockDurationMs],
    ["data/", 60_000, 60_000, 48 * 3600_000, 2 * 3600_000],
  );
  assertEquals([cfg.forOutageToleranceMs, cfg.forGracePeriodMs], [3600_000, 600_000]);
  assertEquals([cfg.queryMethod, cfg.sendTimeoutMs, cfg.queryRefreshMs], ["POST", 10_000, 30_000]);
  assertEquals(cfg.queryAddresses, ["http://q:10902"]);
  // Thanos's defaults: WAL compression on; the default --rule-file `rules/` loads nothing
  assertEquals([cfg.walCompression, cfg.ruleFiles], [true, []]);
  assertEquals([cfg.shipperMetaFileName, cfg.uploadConcurrency], ["thanos.shipper.json", 0]);
  const shipper = ruleConfig(parse(RULE_COMMAND, [
    "--query=q:1",
    "--shipper.meta-file-name=ruler.json",
    "--shipper.upload-concurrency=3",
    "--rule-file=rules/*.yml",
  ]));
  assertEquals([shipper.shipperMetaFileName, shipper.uploadConcurrency], ["ruler.json", 3]);
  assertEquals(shipper.ruleFiles, ["rules/*.yml"]);
  const set = ruleConfig(parse(RULE_COMMAND, [
    "--query=https://q.example/prefix/",
    "--query=dnssrv+_http._tcp.q.example",
    "--alertmanagers.url=http://am",
    "--alertmanagers.url=dns+https://am.example/prefix",
    '--label=replica="A"',
    "--alert.relabel-config=- action: labeldrop\n  regex: x\n",
  ]));
  assertEquals(set.queryAddresses, ["https://q.example/prefix", "dnssrv+_http._tcp.q.example"]);
  assertEquals(set.alertmanagers, ["http://am:9093", "dns+https://am.example:9093/prefix"]);
  assertEquals(set.externalLabels, ["replica", "A"]);
  assertEquals(set.alertRelabelConfigs.length, 1);
  for (
    const [argv, msg] of [
      [[], "no --query parameter"],
      [["--query=dns+http://q:1/"], "without scheme or path"],
      [["--query=q:1", "--alertmanagers.url=am:9093"], "scheme must be http or https"],
      [["--query=q:1", "--query.config=- static_configs: [q:2]"], "at the same time"],
      [["--query.config=x"], "want a list"],
      [["--query.config=- grpc_config: {endpoint_addresses: [q:1]}"], "not in this build"],
      [
        ["--query=q:1", "--alertmanagers.url=http://a", "--alertmanagers.config=alertmanagers: []"],
        "at the same time",
      ],
      [[
        "--query=q:1",
        "--alertmanagers.config=alertmanagers: [{static_configs: [a:1], api_version: v1}]",
      ], "v1 is not in this build"],
      [["--query=q:1", "--remote-write.config=remote_write: [{url: ftp://x}]"], "http or https"],
      [
        ["--query=q:1", "--remote-write.config=remote_write: [{url: http://x, sigv4: {}}]"],
        "not in this build",
      ],
      [["--query=q:1", "--hash-func=MD5"], "want one of , SHA256"],
      [["--query=dnsdualstack+q:1/api"], "without scheme or path"],
      [["--query=q:1", "--eval-interval=0s"], "--eval-interval"],
    ] as const
  ) {
    assertThrows(() => ruleConfig(parse(RULE_COMMAND, [...argv])), UsageError, msg);
  }
});

Deno.test("store config: lazy reader, lazy postings and matcher cache flags", () => {
  const d = storeConfig(parse(STORE_COMMAND, []));
  assertEquals(d.lazyReader, undefined);
  assertEquals(d.lazyExpandedPostings, false);
  assertEquals(d.postingGroupMaxKeySeriesRatio, 100);
  assertEquals(d.matcherCacheSize, 0);
  // the idle timeout defaults to Thanos's hidden 5m; the strategy to eager
  assertEquals(
    storeConfig(parse(STORE_COMMAND, ["--store.enable-index-header-lazy-reader"])).lazyReader,
    { idleTimeoutMs: 300_000, downloadStrategy: "eager" },
  );
  const c = storeConfig(parse(STORE_COMMAND, [
    "--store.enable-index-header-lazy-reader",
    "--store.index-header-lazy-reader-idle-timeout=30s",
    "--store.index-header-lazy-download-strategy=lazy",
    "--store.enable-lazy-expanded-postings",
    "--store.posting-group-max-key-series-ratio=0",
    "--matcher-cache-size=200",
  ]));
  assertEquals(c.lazyReader, { idleTimeoutMs: 30_000, downloadStrategy: "lazy" });
  assertEquals(c.lazyExpandedPostings, true);
  assertEquals(c.postingGroupMaxKeySeriesRatio, 0);
  assertEquals(c.matcherCacheSize, 200);
  assertThrows(
    () => parseFlags(STORE_COMMAND, ["--store.index-header-lazy-download-strategy=later"]),
  );
  assertThrows(
    () => storeConfig(parse(STORE_COMMAND, ["--matcher-cache-size=-1"])),
    UsageError,
    "--matcher-cache-size",
  );
  assertThrows(
    () => storeConfig(parse(STORE_COMMAND, ["--store.posting-group-max-key-series-ratio=-2"])),
    UsageError,
    "posting-group-max-key-series-ratio",
  );
});
