// Hostile configuration files (tests/helpers/fuzz.ts): every YAML/JSON file a role reads — bucket,
// caches, tracing, web, request logging, endpoints and file SD, Prometheus-style query/alerting/
// remote-write configs, relabeling, rule files, receive limits and hashrings, deletion requests,
// block meta.json and markers — taken from a valid example and given odd values (null items,
// lists where mappings belong, huge numbers, dropped keys) must be accepted or refused with the
// parser's own error naming the problem: never a JavaScript error (a property of null read, an
// invalid Date), never "[object Object]" in a message.

import { assert } from "./helpers/assert.ts";
import { below, fuzz, isCrash, mutateValue, pick } from "./helpers/fuzz.ts";
import { stringify } from "yaml";
import {
  parseAlertingConfig,
  parseQueryConfig,
  parseRemoteWriteConfig,
} from "../promclient/endpoints_config.ts";
import { parseHttpClientConfig } from "../promclient/client.ts";
import { parseWebConfig } from "../server/web_config.ts";
import { parseRequestLogConfig } from "../server/request_log_config.ts";
import { parseCacheConfig } from "../cache/config.ts";
import { parseTracingConfig } from "../tracing/config.ts";
import { parseDeletionRequests } from "../compact/rewrite.ts";
import { parseLimitsConfig } from "../receive/limits.ts";
import { parseRelabelConfigs } from "../relabel/parse.ts";
import { parseRuleFile } from "../rules/rulefmt.ts";
import { parseBucketConfig } from "../objstore/config.ts";
import { parseIndexCacheConfig } from "../store/index_cache.ts";
import { parseCachingBucketConfig } from "../store/caching_bucket.ts";
import { parseHashrings } from "../receive/hashring.ts";
import { parseBlockMeta } from "../tsdb/meta.ts";
import { parseDeletionMark } from "../block/markers.ts";
import { parseEndpointConfig, parseFileSD } from "../query/endpoints.ts";

interface Target {
  parse: (text: string) => unknown;
  /** Valid examples (each must parse as is). */
  examples: unknown[];
  /** JSON rather than YAML. */
  json?: boolean;
}

const ULID = "01M9983A15TP2DPP9CPD2092V9";
const HTTP_CONFIG = {
  basic_auth: { username: "u", password: "p" },
  tls_config: { server_name: "x" },
};

const TARGETS: Record<string, Target> = {
  "query config": {
    parse: parseQueryConfig,
    examples: [[{
      static_configs: ["a:1"],
      file_sd_configs: [{ files: ["x.yml"], refresh_interval: "5m" }],
      scheme: "https",
      path_prefix: "/p",
      http_config: HTTP_CONFIG,
    }]],
  },
  "alerting config": {
    parse: parseAlertingConfig,
    examples: [{
      alertmanagers: [{
        static_configs: ["a:9093"],
        scheme: "http",
        timeout: "10s",
        api_version: "v2",
        http_config: { bearer_token: "t" },
      }],
    }],
  },
  "remote write config": {
    parse: parseRemoteWriteConfig,
    examples: [{
      remote_write: [{
        url: "http://a/api/v1/write",
        name: "x",
        remote_timeout: "30s",
        headers: { a: "b" },
        write_relabel_configs: [{ action: "drop", source_labels: ["a"], regex: "b" }],
        queue_config: { capacity: 10, max_shards: 2 },
      }],
    }],
  },
  "HTTP client config": {
    parse: (t) => parseHttpClientConfig(t, () => Promise.resolve("secret")),
    examples: [{ ...HTTP_CONFIG, proxy_url: "http://p:3128", follow_redirects: true }],
  },
  "web config": {
    parse: (t) => parseWebConfig(t, "/etc/web.yml"),
    examples: [{
      basic_auth_users: { u: "$2y$10$" + "a".repeat(53) },
      http_server_config: { headers: { "X-Frame-Options": "deny" } },
      rate_limit: { interval: "1s", burst: 5 },
    }],
  },
  "request logging config": {
    parse: parseRequestLogConfig,
    examples: [{
      http: {
        options: { level: "INFO", decision: { log_start: true, log_end: true } },
        config: [{ path: "/api", port: 1 }],
      },
      grpc: {
        options: { level: "ERROR" },
        config: [{ service: "thanos.Store", method: "Series" }],
      },
    }],
  },
  "cache config": {
    parse: (t) => parseCacheConfig(t),
    examples: [
      { type: "MEMCACHED", config: { addresses: ["a:1"], timeout: "1s", max_idle_connections: 5 } },
      { type: "REDIS", config: { addr: "a:1", db: 1 } },
      { type: "IN-MEMORY", config: { max_size: "1GB" } },
    ],
  },
  "tracing config": {
    parse: parseTracingConfig,
    examples: [{
      type: "OTLP",
      config: {
        client_type: "http",
        endpoint: "a:4318",
        insecure: true,
        sampler_type: "traceidratiobased",
        sampler_param: "0.5",
        headers: { a: "b" },
      },
    }],
  },
  "deletion requests": {
    parse: parseDeletionRequests,
    examples: [[{ matchers: '{a="b"}', intervals: [{ mint: 1, maxt: 2 }] }]],
  },
  "receive limits": {
    parse: parseLimitsConfig,
    examples: [{
      write: {
        global: { max_concurrency: 10, meta_monitoring_url: "http://a" },
        default: {
          request: { size_bytes_limit: 100, series_limit: 5, samples_limit: 6 },
          head_series_limit: 10,
        },
        tenants: { t1: { request: { size_bytes_limit: 1 } } },
      },
    }],
  },
  "relabel configs": {
    parse: parseRelabelConfigs,
    examples: [[
      {
        action: "replace",
        source_labels: ["a", "b"],
        separator: ";",
        regex: "(.*)",
        target_label: "c",
        replacement: "$1",
      },
      { action: "hashmod", source_labels: ["a"], modulus: 3, target_label: "h" },
      { action: "labelmap", regex: "x_(.*)" },
    ]],
  },
  "rule file": {
    parse: (t) => parseRuleFile("r.yml", t),
    examples: [{
      groups: [{
        name: "g",
        interval: "1m",
        limit: 3,
        partial_response_strategy: "warn",
        rules: [
          { record: "a:b", expr: "sum(up)", labels: { x: "y" } },
          {
            alert: "A",
            expr: "up == 0",
            for: "5m",
            keep_firing_for: "1m",
            labels: { s: "c" },
            annotations: { d: "{{ $value }}" },
          },
        ],
      }],
    }],
  },
  "bucket config": {
    parse: (t) => parseBucketConfig(t),
    examples: [
      {
        type: "S3",
        config: {
          bucket: "b",
          endpoint: "127.0.0.1:9000",
          insecure: true,
          access_key: "a",
          secret_key: "s",
          part_size: 6_000_000,
          sse_config: { type: "SSE-S3" },
          http_config: { idle_conn_timeout: "1m", tls_config: { insecure_skip_verify: true } },
        },
        prefix: "p",
      },
      { type: "FILESYSTEM", config: { directory: "/tmp/x" } },
      {
        type: "AZURE",
        config: {
          storage_account: "a",
          storage_account_key: "k",
          container: "c",
          endpoint: "blob.core.windows.net",
          max_retries: 3,
        },
      },
    ],
  },
  "index cache config": {
    parse: parseIndexCacheConfig,
    examples: [
      {
        type: "IN-MEMORY",
        config: {
          max_size: "250MB",
          max_item_size: "125MB",
          enabled_items: ["Postings", "Series"],
        },
      },
      { type: "MEMCACHED", config: { addresses: ["a:1"] } },
    ],
  },
  "caching bucket config": {
    parse: parseCachingBucketConfig,
    examples: [{
      type: "IN-MEMORY",
      config: { max_size: "1GB" },
      chunk_subrange_size: 16000,
      max_chunks_get_range_requests: 3,
      chunk_object_attrs_ttl: "24h",
      metafile_exists_ttl: "2h",
      blocks_iter_ttl: "5m",
    }],
  },
  "hashrings": {
    parse: parseHashrings,
    json: true,
    examples: [[{
      hashring: "h",
      tenants: ["a"],
      endpoints: ["a:1", { address: "b:1", az: "z" }],
      algorithm: "ketama",
      tenant_matcher_type: "glob",
    }]],
  },
  "meta.json": {
    parse: (t) => parseBlockMeta(t, "meta.json"),
    json: true,
    examples: [{
      ulid: ULID,
      minTime: 1,
      maxTime: 2,
      stats: { numSamples: 1, numSeries: 1, numChunks: 1 },
      compaction: {
        level: 1,
        sources: [ULID],
        parents: [{ ulid: ULID, minTime: 1, maxTime: 2 }],
      },
      version: 1,
      thanos: {
        labels: { a: "b" },
        downsample: { resolution: 0 },
        source: "sidecar",
        segment_files: ["000001"],
        files: [{ rel_path: "index", size_bytes: 3 }],
        index_stats: { series_max_size: 1, chunk_max_size: 1 },
        extensions: { tenant_id: "t" },
      },
    }],
  },
  "deletion-mark.json": {
    parse: parseDeletionMark,
    json: true,
    examples: [{ id: ULID, deletion_time: 1, version: 1, details: "x" }],
  },
  "endpoint config": {
    parse: (t) => parseEndpointConfig(t, "e.yml"),
    examples: [{ endpoints: [{ address: "a:1", strict: true, group: false }] }],
  },
  "file SD": {
    parse: (t) => parseFileSD(t, "f.yml"),
    examples: [[{ targets: ["a:1", "b:2"], labels: { a: "b" } }]],
  },
};

const text = (t: Target, v: unknown) => (t.json ? JSON.stringify(v) : stringify(v));

Deno.test("fuzz: the config examples themselves parse", async () => {
  for (const [name, t] of Object.entries(TARGETS)) {
    for (const v of t.examples) {
      try {
        await t.parse(text(t, v));
      } catch (e) {
        throw new Error(`${name}: the valid example is refused: ${e}`);
      }
    }
  }
});

Deno.test("fuzz: config files with odd values are accepted or refused with a clear error", async () => {
  for (const [name, t] of Object.entries(TARGETS)) {
    await fuzz(
      name,
      9,
      1_500,
      (r) => {
        let v = pick(r, t.examples);
        for (let k = 1 + below(r, 3); k > 0; k--) v = mutateValue(r, v);
        return text(t, v);
      },
      async (input) => {
        try {
          await t.parse(input);
        } catch (e) {
          assert(!isCrash(e), `${e}`);
        }
      },
      (input) => JSON.stringify(input),
    );
  }
});
