// Bucket configuration exactly as Thanos reads it (`--objstore.config(-file)`): YAML with `type`,
// `config` and `prefix`, parsed strictly (unknown fields and wrong types are errors that name the
// field), and the factory that builds a provider wrapped in the shared retry/metrics layer.

import { parseAllDocuments } from "yaml";
import type { Registry } from "../metrics/registry.ts";
import { type Bucket, normalizePrefix, PrefixedBucket } from "./bucket.ts";
import { FilesystemBucket } from "./filesystem.ts";
import { type BucketLogger, InstrumentedBucket } from "./instrumented.ts";
import { s3RegionFor, s3UsesVirtualHost } from "./s3_address.ts";
import { SYSTEM_CA_FILES } from "./tls.ts";
import { InvalidDurationError, parseDuration } from "../tsdb/duration.ts";

/** The configuration is invalid; the message is one line naming the field and the problem. */
export class BucketConfigError extends Error {
  override name = "BucketConfigError";
}

/** Types this implementation can talk to. */
export const SUPPORTED_BUCKET_TYPES = ["FILESYSTEM", "S3", "AZURE"] as const;

// Types Thanos knows but this implementation does not provide.
const KNOWN_UNSUPPORTED = [
  "GCS",
  "SWIFT",
  "COS",
  "ALIYUNOSS",
  "OSS",
  "BOS",
  "OCI",
  "OBS",
  "MEMORY",
];

/** `config` of `type: FILESYSTEM`. */
export interface FilesystemConfig {
  /** Root directory of the objects. */
  directory: string;
}

/** `tls_config` inside `http_config`. */
export interface TlsConfig {
  ca_file: string;
  cert_file: string;
  key_file: string;
  server_name: string;
  insecure_skip_verify: boolean;
}

/** `http_config` of S3 (durations in milliseconds). */
export interface HttpConfig {
  idle_conn_timeout: number;
  response_header_timeout: number;
  insecure_skip_verify: boolean;
  tls_handshake_timeout: number;
  expect_continue_timeout: number;
  max_idle_conns: number;
  max_idle_conns_per_host: number;
  max_conns_per_host: number;
  tls_config: TlsConfig;
  force_attempt_http2: boolean;
  disable_compression: boolean;
}

/** `sse_config` of S3. */
export interface SseConfig {
  /** "", "SSE-S3", "SSE-KMS" or "SSE-C". */
  type: string;
  kms_key_id: string;
  kms_encryption_context: Record<string, string>;
  /** Path of a file holding the 32-byte SSE-C key. */
  encryption_key: string;
}

/** `config` of `type: S3`, with Thanos' field names and defaults. */
export interface S3Config {
  bucket: string;
  endpoint: string;
  region: string;
  disable_dualstack: boolean;
  aws_sdk_auth: boolean;
  access_key: string;
  secret_key: string;
  session_token: string;
  insecure: boolean;
  signature_version2: boolean;
  put_user_metadata: Record<string, string>;
  http_config: HttpConfig;
  trace: { enable: boolean };
  list_objects_version: string;
  bucket_lookup_type: "auto" | "virtual-hosted" | "path";
  send_content_md5: boolean;
  disable_multipart: boolean;
  /** Multipart part size in bytes; 0 = client default (16 MiB). */
  part_size: number;
  sse_config: SseConfig;
  sts_endpoint: string;
  max_retries: number;
}

/**
 * `config` of `type: AZURE`, with the field names and defaults of Thanos' Azure provider
 * (https://thanos.io/tip/thanos/storage.md/#azure, github.com/thanos-io/objstore
 * providers/azure). Durations in milliseconds.
 */
export interface AzureConfig {
  az_tenant_id: string;
  client_id: string;
  client_secret: string;
  storage_account: string;
  storage_account_key: string;
  storage_connection_string: string;
  storage_create_container: boolean;
  container: string;
  /** Blob service domain; the container URL is `https://<storage_account>.<endpoint>/<container>`. */
  endpoint: string;
  user_assigned_id: string;
  max_retries: number;
  reader_config: { max_retry_requests: number };
  pipeline_config: {
    max_tries: number;
    try_timeout: number;
    retry_delay: number;
    max_retry_delay: number;
  };
  http_config: Omit<HttpConfig, "force_attempt_http2">;
  /** Deprecated in Thanos (ignored with a warning). */
  msi_resource: string;
}

/** A parsed, validated `--objstore.config`. */
export type BucketConfig =
  | { type: "FILESYSTEM"; prefix: string; config: FilesystemConfig }
  | { type: "S3"; prefix: string; config: S3Config }
  | { type: "AZURE"; prefix: string; config: AzureConfig };

// ---- strict schema decoding -------------------------------------------------------------

type Field =
  | { kind: "string" }
  | { kind: "bool" }
  | { kind: "int" }
  | { kind: "duration" }
  | { kind: "map" }
  | { kind: "enum"; values: readonly string[]; aliases?: Record<string, string> }
  | { kind: "object"; fields: Schema };
type Schema = Record<string, { field: Field; def: unknown }>;

const str = (def = ""): { field: Field; def: unknown } => ({ field: { kind: "string" }, def });
const bool = (def = false): { field: Field; def: unknown } => ({ field: { kind: "bool" }, def });
const int = (def = 0): { field: Field; def: unknown } => ({ field: { kind: "int" }, def });
const dur = (def: number): { field: Field; def: unknown } => ({ field: { kind: "duration" }, def });

const TLS_SCHEMA: Schema = {
  ca_file: str(),
  cert_file: str(),
  key_file: str(),
  server_name: str(),
  insecure_skip_verify: bool(),
};

const HTTP_SCHEMA: Schema = {
  idle_conn_timeout: dur(90_000),
  response_header_timeout: dur(120_000),
  insecure_skip_verify: bool(),
  tls_handshake_timeout: dur(10_000),
  expect_continue_timeout: dur(1_000),
  max_idle_conns: int(100),
  max_idle_conns_per_host: int(100),
  max_conns_per_host: int(0),
  tls_config: { field: { kind: "object", fields: TLS_SCHEMA }, def: undefined },
  force_attempt_http2: bool(),
  disable_compression: bool(),
};

const S3_SCHEMA: Schema = {
  bucket: str(),
  endpoint: str(),
  region: str(),
  disable_dualstack: bool(),
  aws_sdk_auth: bool(),
  access_key: str(),
  secret_key: str(),
  session_token: str(),
  insecure: bool(),
  signature_version2: bool(),
  put_user_metadata: { field: { kind: "map" }, def: undefined },
  http_config: { field: { kind: "object", fields: HTTP_SCHEMA }, def: undefined },
  trace: { field: { kind: "object", fields: { enable: bool() } }, def: undefined },
  list_objects_version: { field: { kind: "enum", values: ["", "v1", "v2"] }, def: "" },
  bucket_lookup_type: {
    field: {
      kind: "enum",
      values: ["auto", "virtual-hosted", "path"],
      aliases: { "virtual-host": "virtual-hosted" },
    },
    def: "auto",
  },
  send_content_md5: bool(true),
  disable_multipart: bool(),
  part_size: int(64 * 1024 * 1024),
  sse_config: {
    field: {
      kind: "object",
      fields: {
        type: {
          field: { kind: "enum", values: ["", "SSE-S3", "SSE-KMS", "SSE-C"] },
          def: "",
        },
        kms_key_id: str(),
        kms_encryption_context: { field: { kind: "map" }, def: undefined },
        encryption_key: str(),
      },
    },
    def: undefined,
  },
  sts_endpoint: str(),
  max_retries: int(0),
};

const FS_SCHEMA: Schema = { directory: str() };

// Thanos' exthttp.HTTPConfig (Azure has no force_attempt_http2).
const { force_attempt_http2: _h2, ...AZURE_HTTP_SCHEMA } = HTTP_SCHEMA;

const AZURE_SCHEMA: Schema = {
  az_tenant_id: str(),
  client_id: str(),
  client_secret: str(),
  storage_account: str(),
  storage_account_key: str(),
  storage_connection_string: str(),
  storage_create_container: bool(true),
  container: str(),
  endpoint: str("blob.core.windows.net"),
  user_assigned_id: str(),
  max_retries: int(0),
  reader_config: {
    field: { kind: "object", fields: { max_retry_requests: int(0) } },
    def: undefined,
  },
  pipeline_config: {
    field: {
      kind: "object",
      fields: {
        max_tries: int(0),
        try_timeout: dur(0),
        retry_delay: dur(0),
        max_retry_delay: dur(0),
      },
    },
    def: undefined,
  },
  http_config: { field: { kind: "object", fields: AZURE_HTTP_SCHEMA }, def: undefined },
  msi_resource: str(),
};

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Parses a Prometheus duration (`1m30s`, `90s`, `2h`, `0`) into milliseconds; null if invalid. */
export function parsePromDuration(s: string): number | null {
  try {
    return parseDuration(s);
  } catch (e) {
    if (e instanceof InvalidDurationError) return null;
    throw e;
  }
}

function decodeField(path: string, f: Field, v: unknown): unknown {
  const fail = (want: string): never => {
    throw new BucketConfigError(
      `objstore config: field ${path}: expected ${want}, got ${typeName(v)}`,
    );
  };
  switch (f.kind) {
    case "string":
      // Go's yaml.v2 stores any scalar's text in a string field.
      if (v === null) return "";
      if (typeof v === "string") return v;
      if (typeof v === "number" || typeof v === "boolean") return String(v);
      return fail("a string");
    case "bool":
      if (v === null) return false;
      return typeof v === "boolean" ? v : fail("a boolean");
    case "int":
      if (v === null) return 0;
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
        return fail("a non-negative integer");
      }
      return v;
    case "duration": {
      if (v === null) return 0;
      const ms = typeof v === "string" ? parsePromDuration(v) : null;
      if (ms === null) return fail('a duration like "1m30s"');
      return ms;
    }
    case "map": {
      if (v === null) return {};
      if (typeof v !== "object" || Array.isArray(v)) return fail("a mapping of strings");
      const out: Record<string, string> = {};
      for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
        out[k] = decodeField(`${path}.${k}`, { kind: "string" }, val) as string;
      }
      return out;
    }
    case "enum": {
      const s = v === null ? "" : typeof v === "string" ? v : fail("a string");
      const canon = f.aliases?.[s] ?? s;
      if (!f.values.includes(canon)) {
        throw new BucketConfigError(
          `objstore config: field ${path}: unsupported value ${JSON.stringify(s)}; ` +
            `supported: ${f.values.filter((x) => x !== "").join(", ")}`,
        );
      }
      return canon;
    }
    case "object":
      return decodeObject(path, f.fields, v);
  }
}

function decodeObject(path: string, schema: Schema, v: unknown): Record<string, unknown> {
  if (v !== null && v !== undefined && (typeof v !== "object" || Array.isArray(v))) {
    throw new BucketConfigError(
      `objstore config: field ${path}: expected a mapping, got ${typeName(v)}`,
    );
  }
  const input = (v ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(input)) {
    if (!(k in schema)) {
      throw new BucketConfigError(
        `objstore config: unknown field ${path}.${k} (known fields: ${
          Object.keys(schema).join(", ")
        })`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, { field, def }] of Object.entries(schema)) {
    if (k in input) out[k] = decodeField(`${path}.${k}`, field, input[k]);
    else if (field.kind === "object") out[k] = decodeObject(`${path}.${k}`, field.fields, {});
    else if (field.kind === "map") out[k] = {};
    else out[k] = def;
  }
  return out;
}

/** How `$(VAR)` references in the config text are resolved. */
export interface ParseBucketConfigOptions {
  /** Environment for `$(VAR)` substitution (the caller passes `Deno.env.toObject()`). */
  env?: Record<string, string> | ((name: string) => string | undefined);
}

/** Replaces `$(VAR)` with environment values like Thanos; an undefined variable is an error. */
export function substituteEnv(text: string, env: ParseBucketConfigOptions["env"]): string {
  return text.replace(/\$\(([a-zA-Z_0-9]+)\)/g, (_m, name: string) => {
    const v = typeof env === "function" ? env(name) : env?.[name];
    if (v === undefined) {
      throw new BucketConfigError(
        `objstore config: environment variable ${name} referenced as $(${name}) is not defined`,
      );
    }
    return v;
  });
}

/**
 * Parses and validates `--objstore.config` YAML (only the first document counts). Throws
 * BucketConfigError with a one-line message naming the field for every problem.
 */
export function parseBucketConfig(
  yamlText: string,
  opts: ParseBucketConfigOptions = {},
): BucketConfig {
  const text = substituteEnv(yamlText, opts.env);
  // YAML 1.1 like Go's yaml.v2 (yes/no/on/off are booleans).
  const docs = parseAllDocuments(text, { version: "1.1", uniqueKeys: true });
  const first = Array.isArray(docs) ? docs[0] : undefined;
  if (first === undefined || first.contents === null) {
    throw new BucketConfigError("objstore config: empty configuration; set type and config");
  }
  if (first.errors.length > 0) {
    const e = first.errors[0];
    const line = e.linePos?.[0] ? ` at line ${e.linePos[0].line}` : "";
    throw new BucketConfigError(
      `objstore config: invalid YAML${line}: ${e.message.split("\n")[0]}`,
    );
  }
  const root = first.toJS({ maxAliasCount: 100 }) as unknown;
  if (typeof root !== "object" || root === null || Array.isArray(root)) {
    throw new BucketConfigError(`objstore config: expected a mapping, got ${typeName(root)}`);
  }
  const env = root as Record<string, unknown>;
  for (const k of Object.keys(env)) {
    if (!["type", "config", "prefix"].includes(k)) {
      throw new BucketConfigError(
        `objstore config: unknown field ${k} (known fields: type, config, prefix)`,
      );
    }
  }
  const rawType = decodeField("type", { kind: "string" }, env.type ?? null) as string;
  const prefix = normalizePrefix(
    decodeField("prefix", { kind: "string" }, env.prefix ?? null) as string,
  );
  const type = rawType.toUpperCase();
  const supported = SUPPORTED_BUCKET_TYPES.join(", ");
  if (type === "") {
    throw new BucketConfigError(
      `objstore config: missing field type; supported types: ${supported}`,
    );
  }
  if (type === "FILESYSTEM") {
    const config = decodeObject("config", FS_SCHEMA, env.config) as unknown as FilesystemConfig;
    if (config.directory === "") {
      throw new BucketConfigError(
        "objstore config: missing field config.directory for FILESYSTEM bucket",
      );
    }
    return { type, prefix, config };
  }
  if (type === "S3") {
    const config = decodeObject("config", S3_SCHEMA, env.config) as unknown as S3Config;
    validateS3(config);
    return { type, prefix, config };
  }
  if (type === "AZURE") {
    const config = decodeObject("config", AZURE_SCHEMA, env.config) as unknown as AzureConfig;
    // Like Thanos: max_retries stands in for the two specific retry settings left at 0.
    if (config.max_retries > 0) {
      if (config.pipeline_config.max_tries === 0) {
        config.pipeline_config.max_tries = config.max_retries;
      }
      if (config.reader_config.max_retry_requests === 0) {
        config.reader_config.max_retry_requests = config.max_retries;
      }
    }
    validateAzure(config);
    return { type, prefix, config };
  }
  if (KNOWN_UNSUPPORTED.includes(type)) {
    throw new BucketConfigError(
      `objstore config: type ${rawType} is not supported by this build; supported types: ${supported}`,
    );
  }
  throw new BucketConfigError(
    `objstore config: unknown type ${JSON.stringify(rawType)}; supported types: ${supported}`,
  );
}

function validateS3(c: S3Config): void {
  const e = (msg: string): never => {
    throw new BucketConfigError(`objstore config: S3: ${msg}`);
  };
  if (c.bucket === "") e("missing field config.bucket");
  if (c.endpoint === "") e("missing field config.endpoint (host[:port] of the S3 API)");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(c.endpoint) || c.endpoint.includes("/")) {
    e(
      `config.endpoint ${JSON.stringify(c.endpoint)} must be host[:port] without scheme or ` +
        "path (use config.insecure: true for http)",
    );
  }
  if (c.aws_sdk_auth && c.access_key !== "") {
    e("config.aws_sdk_auth and config.access_key are mutually exclusive");
  }
  if (c.access_key === "" && c.secret_key !== "") {
    e("config.secret_key is set but config.access_key is not; set both or neither");
  }
  if (c.access_key !== "" && c.secret_key === "") {
    e("config.access_key is set but config.secret_key is not; set both or neither");
  }
  if (c.signature_version2) {
    e(
      "config.signature_version2: true is not supported (the AWS SDK signs with SigV4 only); " +
        "remove it",
    );
  }
  if (c.sts_endpoint !== "") {
    e(
      "config.sts_endpoint is not supported (the AWS SDK credential chain picks its STS " +
        "endpoint); remove it and use AWS_* environment settings",
    );
  }
  if (c.sse_config.type === "SSE-C" && c.sse_config.encryption_key === "") {
    e("config.sse_config.encryption_key must be set if sse_config.type is set to 'SSE-C'");
  }
  if (c.sse_config.type === "SSE-KMS" && c.sse_config.kms_key_id === "") {
    e("config.sse_config.kms_key_id must be set if sse_config.type is set to 'SSE-KMS'");
  }
  if (c.part_size !== 0 && c.part_size < 5 * 1024 * 1024 && !c.disable_multipart) {
    e(`config.part_size ${c.part_size} is below the S3 minimum part size of 5242880 bytes`);
  }
}

// Thanos' checks (providers/azure Config.validate), then what this build cannot do.
function validateAzure(c: AzureConfig): void {
  const e = (msg: string): never => {
    throw new BucketConfigError(`objstore config: AZURE: ${msg}`);
  };
  if (c.user_assigned_id !== "" && c.storage_account_key !== "") {
    e("user_assigned_id cannot be set when using storage_account_key authentication");
  }
  if (c.user_assigned_id !== "" && c.storage_connection_string !== "") {
    e("user_assigned_id cannot be set when using storage_connection_string authentication");
  }
  if (c.user_assigned_id !== "" && c.client_id !== "") {
    e("user_assigned_id cannot be set when using client_id authentication");
  }
  const sp = [c.az_tenant_id, c.client_id, c.client_secret].filter((x) => x !== "").length;
  if (sp > 0 && sp < 3) e("az_tenant_id, client_id, and client_secret must be set together");
  if (c.storage_account_key !== "" && c.storage_connection_string !== "") {
    e("storage_account_key and storage_connection_string cannot both be set");
  }
  if (c.storage_account === "") e("missing field config.storage_account");
  if (c.container === "") e("missing field config.container");
  if (c.endpoint === "" || /[/:]/.test(c.endpoint.replace(/:\d+$/, ""))) {
    e(
      `config.endpoint ${JSON.stringify(c.endpoint)} must be the blob service domain ` +
        '(e.g. "blob.core.windows.net"), without scheme or path',
    );
  }
  if (c.storage_connection_string !== "") azureConnectionEndpoint(c.storage_connection_string);
  if (c.storage_account_key === "" && c.storage_connection_string === "") {
    // Token credentials need @azure/identity (MSAL, not small), which this build leaves out.
    const field = c.user_assigned_id !== ""
      ? "config.user_assigned_id (managed identity)"
      : c.client_id !== ""
      ? "config.client_id/client_secret (service principal)"
      : "no storage_account_key (managed or workload identity)";
    e(
      `${field} is not supported by this build; authenticate with config.storage_account_key ` +
        "or config.storage_connection_string",
    );
  }
}

/**
 * The blob service URL of an Azure storage connection string (`BlobEndpoint=…`, or
 * `DefaultEndpointsProtocol` + `AccountName` + `EndpointSuffix`, or
 * `UseDevelopmentStorage=true`), see
 * https://learn.microsoft.com/en-us/azure/storage/common/storage-configure-connection-string.
 */
export function azureConnectionEndpoint(cs: string): URL {
  const kv = new Map<string, string>();
  for (const part of cs.split(";")) {
    const i = part.indexOf("=");
    if (i > 0) kv.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  const fail = (msg: string): never => {
    throw new BucketConfigError(`objstore config: AZURE: config.storage_connection_string: ${msg}`);
  };
  if (kv.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    return new URL("http://127.0.0.1:10000/devstoreaccount1");
  }
  const blob = kv.get("blobendpoint");
  if (blob !== undefined) {
    try {
      const u = new URL(blob);
      if (u.protocol === "http:" || u.protocol === "https:") return u;
    } catch {
      // reported below
    }
    return fail(`BlobEndpoint ${JSON.stringify(blob)} is not an http(s) URL`);
  }
  const account = kv.get("accountname");
  if (account === undefined) return fail("has neither BlobEndpoint nor AccountName");
  const proto = (kv.get("defaultendpointsprotocol") ?? "https").toLowerCase();
  if (proto !== "http" && proto !== "https") {
    return fail(`DefaultEndpointsProtocol ${JSON.stringify(proto)} is not http or https`);
  }
  const suffix = kv.get("endpointsuffix") ?? "core.windows.net";
  return new URL(`${proto}://${account}.blob.${suffix}`);
}

/** Options of createBucket. */
export interface CreateBucketOptions {
  /** Registry of the `thanos_objstore_bucket_*` metrics. */
  registry?: Registry;
  /** Structured logger for retries and warnings. */
  logger?: BucketLogger;
  /** Deadline per operation including retries (ms); default 300000. */
  timeoutMs?: number;
  /** Retries of transient errors; default `config.max_retries` if set, else 5. */
  maxRetries?: number;
  /** Component name for the S3 user agent (`thanos-<component>`). */
  component?: string;
  /** First retry backoff (ms); default: the provider's config, else InstrumentedBucket's. */
  initialBackoffMs?: number;
  /** Largest retry backoff (ms); default: the provider's config, else InstrumentedBucket's. */
  maxBackoffMs?: number;
}

/** Builds the bucket: provider → prefix → shared retry/timeout/metrics layer. */
export async function createBucket(
  cfg: BucketConfig,
  opts: CreateBucketOptions = {},
): Promise<Bucket> {
  let inner: Bucket;
  let maxRetries = opts.maxRetries;
  let initialBackoffMs = opts.initialBackoffMs;
  let maxBackoffMs = opts.maxBackoffMs;
  if (cfg.type === "FILESYSTEM") {
    inner = new FilesystemBucket(cfg.config.directory);
  } else if (cfg.type === "AZURE") {
    // loaded only for an Azure bucket, like the AWS SDK below
    const { AzureBucket } = await import("./azure.ts");
    inner = await AzureBucket.create(cfg.config, {
      logger: opts.logger,
      component: opts.component,
    });
    const p = cfg.config.pipeline_config;
    // pipeline_config.max_tries is the retry count (Thanos passes it as the SDK's MaxRetries,
    // whose default is 3); retries happen once, here, for every provider.
    maxRetries ??= p.max_tries > 0 ? p.max_tries : 3;
    if (p.retry_delay > 0) initialBackoffMs ??= p.retry_delay;
    if (p.max_retry_delay > 0) maxBackoffMs ??= p.max_retry_delay;
  } else {
    // loaded only for an S3 bucket: the AWS SDK reads AWS_* variables as it loads, and a role
    // without an S3 bucket gets no environment grants for it
    const { S3Bucket } = await import("./s3.ts");
    inner = await S3Bucket.create(cfg.config, { logger: opts.logger, component: opts.component });
    if (maxRetries === undefined && cfg.config.max_retries > 0) maxRetries = cfg.config.max_retries;
  }
  if (cfg.prefix !== "") inner = new PrefixedBucket(inner, cfg.prefix);
  return new InstrumentedBucket(inner, {
    registry: opts.registry,
    logger: opts.logger,
    timeoutMs: opts.timeoutMs,
    maxRetries,
    initialBackoffMs,
    maxBackoffMs,
  });
}

/** Deno permissions a bucket needs, for the launcher's worker. */
export interface BucketPermissions {
  net: string[];
  read: string[];
  write: string[];
  env: string[] | true;
  sys: string[];
}

/**
 * What a role needs from Deno's permission system to use this bucket. `homeDir` (when known)
 * adds read access to `~/.aws` for the S3 credential chain.
 */
export function bucketPermissions(
  cfg: BucketConfig,
  opts: { homeDir?: string } = {},
): BucketPermissions {
  if (cfg.type === "FILESYSTEM") {
    return {
      net: [],
      read: [cfg.config.directory],
      write: [cfg.config.directory],
      env: [],
      sys: [],
    };
  }
  if (cfg.type === "AZURE") return azurePermissions(cfg.config);
  const c = cfg.config;
  const hasPort = /:\d+$/.test(c.endpoint);
  const host = hasPort ? c.endpoint : `${c.endpoint}:${c.insecure ? 80 : 443}`;
  const net = [host];
  if (s3UsesVirtualHost(c)) net.push(`${c.bucket}.${host}`);
  const read: string[] = [];
  const tls = c.http_config.tls_config;
  for (const f of [tls.ca_file, tls.cert_file, tls.key_file, c.sse_config.encryption_key]) {
    if (f !== "") read.push(f);
  }
  if (tls.ca_file === "" && !c.insecure) read.push(...SYSTEM_CA_FILES);
  if (opts.homeDir) read.push(`${opts.homeDir}/.aws`);
  if (c.access_key === "") {
    // Credential chain: instance metadata (EC2, ECS) and STS for web identity.
    const region = s3RegionFor(c);
    net.push("169.254.169.254:80", "169.254.170.2:80", "sts.amazonaws.com:443");
    net.push(`sts.${region}.amazonaws.com:443`);
  }
  // The AWS SDK reads AWS_* variables for settings and credentials, and the OS release for its
  // user agent.
  return { net, read, write: [], env: true, sys: ["osRelease", "homedir"] };
}

// The blob service host (from the connection string, else `<account>.<endpoint>` over https)
// and the files of http_config.tls_config.
function azurePermissions(c: AzureConfig): BucketPermissions {
  const u = c.storage_connection_string !== ""
    ? azureConnectionEndpoint(c.storage_connection_string)
    : new URL(`https://${c.storage_account}.${c.endpoint}`);
  const port = u.port !== "" ? u.port : u.protocol === "http:" ? "80" : "443";
  const read: string[] = [];
  const tls = c.http_config.tls_config;
  for (const f of [tls.ca_file, tls.cert_file, tls.key_file]) if (f !== "") read.push(f);
  // without a CA file, HTTPS trusts the system bundle (see objstore/tls.ts)
  if (tls.ca_file === "" && u.protocol === "https:") read.push(...SYSTEM_CA_FILES);
  // The SDK reads its log level and the standard proxy variables (a proxy host itself is not
  // granted), and its proxy agents load npm `debug`, which enumerates the whole environment as
  // it loads; the user agent names the OS release.
  const env = true;
  return { net: [`${u.hostname}:${port}`], read, write: [], env, sys: ["osRelease"] };
}
