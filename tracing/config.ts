// `--tracing.config(-file)`: Thanos's tracing YAML (https://thanos.io/tip/thanos/tracing.md/),
// `type` and `config`. This build exports OpenTelemetry spans over OTLP, gRPC (Thanos's default
// client_type) or HTTP (protobuf); the other tracers Thanos ships (JAEGER, GOOGLE_CLOUD/
// STACKDRIVER, ELASTIC_APM, LIGHTSTEP, DATADOG) are refused. The field names and meanings are
// Thanos's `pkg/tracing/otlp` Config.

import { parseAllDocuments } from "yaml";
import { parseGoDuration } from "../strconv/duration.ts";

/** A tracing configuration this build cannot serve, or a malformed one. */
export class TracingConfigError extends Error {
  override name = "TracingConfigError";
}

/** Thanos's sampler names (`sampler_type`). */
export const SAMPLER_TYPES = [
  "alwayssample",
  "neversample",
  "traceidratiobased",
  "parentbasedalwayssample",
  "parentbasedneversample",
  "parentbasedtraceidratiobased",
] as const;
export type SamplerType = typeof SAMPLER_TYPES[number];

/** An OTLP exporter configuration (plain data: it crosses into the evaluation Workers). */
export interface OtlpConfig {
  /** `grpc`: TraceService/Export over the project's gRPC client; `http`: POST of protobuf. */
  clientType: "grpc" | "http";
  /** The `service.name` resource attribute ("" = the role's name, `thanos-<role>`). */
  serviceName: string;
  /** http: `scheme://host:port/path` the spans are POSTed to; grpc: `host:port`. */
  url: string;
  /** grpc: TLS unless `insecure` (with the tls_config files, else the system roots). */
  tlsEnabled: boolean;
  /** `host:port` of the collector (what the role must be allowed to connect to). */
  hostPort: string;
  /** `compression: gzip`, else none. */
  gzip: boolean;
  /** Per export request, ms (Thanos's default 10s). */
  timeoutMs: number;
  headers: Record<string, string>;
  /** TLS files (https only); "" = unset. */
  tls: { caFile: string; certFile: string; keyFile: string };
  sampler: SamplerType;
  /** The ratio of the ratio-based samplers, in [0, 1]. */
  samplerParam: number;
  resourceAttributes: Record<string, string>;
}

/** Tracing types Thanos has and this build refuses (named in the error). */
const OTHER_TYPES = [
  "JAEGER",
  "GOOGLE_CLOUD",
  "STACKDRIVER",
  "ELASTIC_APM",
  "LIGHTSTEP",
  "DATADOG",
];

const OTLP_FIELDS = [
  "client_type",
  "service_name",
  "resource_attributes",
  "reconnection_period",
  "compression",
  "insecure",
  "endpoint",
  "url_path",
  "timeout",
  "retry_config",
  "headers",
  "tls_config",
  "sampler_type",
  "sampler_param",
];

const TLS_FIELDS = ["ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"];
const RETRY_FIELDS = [
  "retry_enabled",
  "retry_initial_interval",
  "retry_max_interval",
  "retry_max_elapsed_time",
];

function fail(msg: string): never {
  throw new TracingConfigError(`tracing config: ${msg}`);
}

function mapping(where: string, v: unknown, known: readonly string[]): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(`${where}: expected a mapping`);
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) {
    if (!known.includes(k)) fail(`${where}: unknown field ${k} (known: ${known.join(", ")})`);
  }
  return m;
}

function str(where: string, v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  fail(`${where}: expected a string`);
}

function bool(where: string, v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") fail(`${where}: expected true or false`);
  return v;
}

function duration(where: string, v: unknown): number {
  if (v === undefined || v === null || v === 0) return 0;
  const ms = typeof v === "string" ? parseGoDuration(v) : null;
  if (ms === null || ms < 0) fail(`${where}: expected a duration like 10s`);
  return ms;
}

function stringMap(where: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(`${where}: expected a mapping`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] = str(`${where}.${k}`, x);
  }
  return out;
}

/**
 * Parses a tracing configuration. Blank text means tracing is off (null). Throws
 * TracingConfigError with one line naming the problem: an unknown type, a tracer Thanos has
 * but this build does not (the message says OTLP is supported), `client_type: grpc` (the
 * default: OTLP/gRPC would need Deno's `node:http2` client, which can abort the whole process
 * when a peer sends GOAWAY, docs/architecture.md "Our own HTTP/2 server"), unknown fields, bad
 * values.
 */
export function parseTracingConfig(yamlText: string): OtlpConfig | null {
  if (yamlText.trim() === "") return null;
  const docs = parseAllDocuments(yamlText, { version: "1.1", uniqueKeys: true });
  const first = Array.isArray(docs) ? docs[0] : undefined;
  if (first === undefined || first.contents === null) return null;
  if (first.errors.length > 0) fail(`invalid YAML: ${first.errors[0].message.split("\n")[0]}`);
  const top = mapping("", first.toJS({ maxAliasCount: 100 }), ["type", "config"]);
  const type = str("type", top.type).toUpperCase();
  if (type === "") fail("type is missing; this build supports type: OTLP");
  if (type !== "OTLP") {
    if (OTHER_TYPES.includes(type)) {
      fail(`type ${type} is not supported by this build; only OTLP (OpenTelemetry) is`);
    }
    fail(`unknown type ${JSON.stringify(str("type", top.type))}; this build supports OTLP`);
  }
  const c = mapping("config", top.config, OTLP_FIELDS);
  const clientType = str("config.client_type", c.client_type).toLowerCase() || "grpc";
  if (clientType !== "http" && clientType !== "grpc") {
    fail(`config.client_type ${JSON.stringify(clientType)}: only 'http' and 'grpc' are accepted`);
  }
  const compression = str("config.compression", c.compression);
  if (compression !== "" && compression !== "gzip" && compression !== "none") {
    fail(`config.compression ${JSON.stringify(compression)}: want gzip or none`);
  }
  duration("config.reconnection_period", c.reconnection_period); // gRPC only: checked, unused
  const timeoutMs = duration("config.timeout", c.timeout) || 10_000;
  const retry = mapping("config.retry_config", c.retry_config, RETRY_FIELDS);
  bool("config.retry_config.retry_enabled", retry.retry_enabled);
  for (const k of RETRY_FIELDS.slice(1)) duration(`config.retry_config.${k}`, retry[k]);
  const tls = mapping("config.tls_config", c.tls_config, TLS_FIELDS);
  if (str("config.tls_config.server_name", tls.server_name) !== "") {
    fail("config.tls_config.server_name is not supported by this build");
  }
  if (bool("config.tls_config.insecure_skip_verify", tls.insecure_skip_verify)) {
    fail("config.tls_config.insecure_skip_verify is not supported by this build");
  }
  const insecure = bool("config.insecure", c.insecure);
  const grpc = clientType === "grpc";
  const endpoint = str("config.endpoint", c.endpoint).trim() ||
    (grpc ? "localhost:4317" : "localhost:4318");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) || endpoint.includes("/")) {
    fail(`config.endpoint ${JSON.stringify(endpoint)}: want host:port (no scheme, no path)`);
  }
  const defaultPort = grpc ? 4317 : insecure ? 80 : 443;
  const hostPort = /:\d+$/.test(endpoint) ? endpoint : `${endpoint}:${defaultPort}`;
  let urlPath = str("config.url_path", c.url_path).trim() || "/v1/traces";
  if (!urlPath.startsWith("/")) urlPath = `/${urlPath}`;
  const url = grpc ? hostPort : `${insecure ? "http" : "https"}://${hostPort}${urlPath}`;
  try {
    new URL(`http://${hostPort}${urlPath}`);
  } catch {
    fail(`config.endpoint ${JSON.stringify(endpoint)}: not a valid host:port`);
  }
  const samplerName = str("config.sampler_type", c.sampler_type).toLowerCase();
  const sampler =
    (samplerName === "" ? "parentbasedtraceidratiobased" : samplerName) as SamplerType;
  if (!SAMPLER_TYPES.includes(sampler)) {
    fail(
      `config.sampler_type ${JSON.stringify(samplerName)}: want one of ${SAMPLER_TYPES.join(", ")}`,
    );
  }
  const paramText = str("config.sampler_param", c.sampler_param).trim();
  const samplerParam = paramText === "" ? 1 : Number(paramText);
  if (!Number.isFinite(samplerParam) || samplerParam < 0 || samplerParam > 1) {
    fail(`config.sampler_param ${JSON.stringify(paramText)}: want a ratio between 0 and 1`);
  }
  return {
    clientType,
    serviceName: str("config.service_name", c.service_name),
    url,
    tlsEnabled: !insecure,
    hostPort,
    gzip: compression === "gzip",
    timeoutMs,
    headers: stringMap("config.headers", c.headers),
    tls: {
      caFile: str("config.tls_config.ca_file", tls.ca_file),
      certFile: str("config.tls_config.cert_file", tls.cert_file),
      keyFile: str("config.tls_config.key_file", tls.key_file),
    },
    sampler,
    samplerParam,
    resourceAttributes: stringMap("config.resource_attributes", c.resource_attributes),
  };
}

/**
 * Environment variables the OpenTelemetry exporter reads when it is created (its `OTEL_*`
 * settings, https://opentelemetry.io/docs/specs/otel/protocol/exporter/): granted to a role
 * only when it exports over OTLP/HTTP, so reading them does not fail in the sandbox.
 */
export const OTEL_ENV: readonly string[] = [
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  ...["", "TRACES_"].flatMap((s) =>
    [
      "ENDPOINT",
      "HEADERS",
      "TIMEOUT",
      "COMPRESSION",
      "CERTIFICATE",
      "CLIENT_CERTIFICATE",
      "CLIENT_KEY",
    ]
      .map((k) => `OTEL_EXPORTER_OTLP_${s}${k}`)
  ),
];

/** What a tracing configuration needs from the role's sandbox. Throws TracingConfigError. */
export function tracingPermissions(
  yamlText: string,
): { net: string[]; read: string[]; env: string[] } {
  const c = parseTracingConfig(yamlText);
  if (c === null) return { net: [], read: [], env: [] };
  const read = [c.tls.caFile, c.tls.certFile, c.tls.keyFile].filter((f) => f !== "");
  // only the OTLP/HTTP exporter reads them (grpc_exporter.ts reads no environment)
  return { net: [c.hostPort], read, env: c.clientType === "http" ? [...OTEL_ENV] : [] };
}
