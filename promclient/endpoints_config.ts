// Thanos's HTTP endpoint configs, as `thanos rule` reads them:
// - `--query.config(-file)`: a list of `clientconfig.Config`
//   (https://thanos.io/tip/components/rule.md/#query-api, pkg/clientconfig in thanos-io/thanos):
//     - http_config: { basic_auth: {username, password, password_file}, bearer_token,
//                      bearer_token_file, proxy_url, tls_config: {ca_file, cert_file, key_file,
//                      server_name, insecure_skip_verify}, transport_config }
//       static_configs: [host:port | dns+host:port | dnssrv+name]
//       file_sd_configs: [{ files: [glob], refresh_interval: 5m }]
//       scheme: http            # default
//       path_prefix: ""
//   (`grpc_config` names gRPC query endpoints: refused, as `--grpc-query-endpoint` is);
// - `--alertmanagers.config(-file)`: `alertmanagers:` a list of the same endpoint fields plus
//   `timeout` (default 10s) and `api_version` (v2 default; v1 is refused: Alertmanager 0.25
//   deprecates it and this build speaks v2 only)
//   (https://thanos.io/tip/components/rule.md/#alertmanager, pkg/alert/config.go).
// Unknown fields are errors (Thanos unmarshals strictly). Files named by `http_config` are read
// when the clients are built (`httpClientConfigFrom`); `endpointsPermissions` says which hosts
// and files a config needs, so the launcher can grant them to the role's sandbox.

import { parse as parseYaml } from "yaml";
import { parseDuration } from "../tsdb/duration.ts";

/** The config cannot be used; the message names the field. */
export class EndpointsConfigError extends Error {
  override name = "EndpointsConfigError";
}

/** One group of HTTP endpoints sharing an http client config. */
export interface EndpointsGroup {
  /** The raw `http_config` mapping (see `httpClientConfigFrom`); null when absent. */
  httpConfig: Record<string, unknown> | null;
  scheme: "http" | "https";
  /** Path prefix of the API on every endpoint, without a trailing slash ("" for none). */
  pathPrefix: string;
  /** `static_configs`: `host:port`, or `dns+`/`dnssrv+` addresses resolved at run time. */
  staticAddresses: string[];
  /** `file_sd_configs` file globs (Prometheus file SD: `[{targets: [host:port]}]`). */
  sdFiles: string[];
  /** The shortest `refresh_interval` of its file SD configs (ms; 5m by default). */
  sdRefreshMs: number;
}

/** One Alertmanager group of `--alertmanagers.config`. */
export interface AlertmanagersGroup extends EndpointsGroup {
  timeoutMs: number;
  apiVersion: "v2";
}

const ENDPOINT_FIELDS = [
  "http_config",
  "static_configs",
  "file_sd_configs",
  "scheme",
  "path_prefix",
];
const HTTP_CONFIG_FIELDS = [
  "basic_auth",
  "bearer_token",
  "bearer_token_file",
  "proxy_url",
  "tls_config",
  "transport_config",
];

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strictFields(o: Record<string, unknown>, allowed: readonly string[], where: string) {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw new EndpointsConfigError(
        `${where}: field ${k} not found (allowed: ${allowed.join(", ")})`,
      );
    }
  }
}

function strings(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    throw new EndpointsConfigError(`${where}: want a list of strings`);
  }
  return v as string[];
}

function duration(v: unknown, where: string): number {
  if (typeof v !== "string") {
    throw new EndpointsConfigError(`${where}: want a duration such as 10s`);
  }
  try {
    return parseDuration(v);
  } catch (e) {
    throw new EndpointsConfigError(`${where}: ${(e as Error).message}`);
  }
}

/** `insecure_skip_verify: true` cannot be honoured for https (Deno's fetch verifies always). */
function refuseSkipVerify(http: Record<string, unknown> | null, https: boolean, where: string) {
  const tls = http?.tls_config;
  if (https && isMap(tls) && tls.insecure_skip_verify === true) {
    throw new EndpointsConfigError(
      `${where}: tls_config.insecure_skip_verify is not supported for https in this build; ` +
        "give the CA that signed the server's certificate in tls_config.ca_file",
    );
  }
}

function endpointsGroup(o: Record<string, unknown>, where: string): EndpointsGroup {
  const scheme = o.scheme ?? "http";
  if (scheme !== "http" && scheme !== "https") {
    throw new EndpointsConfigError(
      `${where}.scheme: want http or https, got ${JSON.stringify(scheme)}`,
    );
  }
  const prefix = o.path_prefix ?? "";
  if (typeof prefix !== "string") {
    throw new EndpointsConfigError(`${where}.path_prefix: want a string`);
  }
  let httpConfig: Record<string, unknown> | null = null;
  if (o.http_config !== undefined && o.http_config !== null) {
    if (!isMap(o.http_config)) {
      throw new EndpointsConfigError(`${where}.http_config: want a mapping`);
    }
    strictFields(o.http_config, HTTP_CONFIG_FIELDS, `${where}.http_config`);
    httpConfig = o.http_config;
  }
  refuseSkipVerify(httpConfig, scheme === "https", `${where}.http_config`);
  const staticAddresses = strings(o.static_configs, `${where}.static_configs`);
  for (const a of staticAddresses) {
    if (a.trim() === "" || a.includes("/")) {
      throw new EndpointsConfigError(
        `${where}.static_configs: ${JSON.stringify(a)} is not a host:port (scheme and path ` +
          "are set by scheme and path_prefix)",
      );
    }
  }
  const sdFiles: string[] = [];
  let sdRefreshMs = Infinity;
  const fsd = o.file_sd_configs ?? [];
  if (!Array.isArray(fsd)) throw new EndpointsConfigError(`${where}.file_sd_configs: want a list`);
  fsd.forEach((f, i) => {
    const w = `${where}.file_sd_configs[${i}]`;
    if (!isMap(f)) throw new EndpointsConfigError(`${w}: want a mapping`);
    strictFields(f, ["files", "refresh_interval"], w);
    sdFiles.push(...strings(f.files, `${w}.files`));
    sdRefreshMs = Math.min(
      sdRefreshMs,
      f.refresh_interval === undefined
        ? 300_000
        : duration(f.refresh_interval, `${w}.refresh_interval`),
    );
  });
  if (staticAddresses.length === 0 && sdFiles.length === 0) {
    throw new EndpointsConfigError(`${where}: no static_configs or file_sd_configs`);
  }
  return {
    httpConfig,
    scheme,
    pathPrefix: prefix === "" ? "" : "/" + prefix.replace(/^\/+|\/+$/g, ""),
    staticAddresses,
    sdFiles,
    sdRefreshMs: sdRefreshMs === Infinity ? 300_000 : sdRefreshMs,
  };
}

function load(yaml: string, what: string): unknown {
  try {
    return parseYaml(yaml);
  } catch (e) {
    throw new EndpointsConfigError(`${what}: ${(e as Error).message}`);
  }
}

/** `--query.config(-file)`: Thanos's list of query endpoint groups. */
export function parseQueryConfig(yaml: string): EndpointsGroup[] {
  const doc = load(yaml, "query configuration");
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) {
    throw new EndpointsConfigError("query configuration: want a list of endpoint configs");
  }
  return doc.map((c, i) => {
    const where = `query configuration[${i}]`;
    if (!isMap(c)) throw new EndpointsConfigError(`${where}: want a mapping`);
    if (c.grpc_config !== undefined && c.grpc_config !== null) {
      throw new EndpointsConfigError(
        `${where}.grpc_config: gRPC query endpoints are not in this build (the ruler queries ` +
          "over HTTP)",
      );
    }
    strictFields(c, [...ENDPOINT_FIELDS, "grpc_config"], where);
    return endpointsGroup(c, where);
  });
}

/** `--alertmanagers.config(-file)`: Thanos's `alertmanagers:` list. */
export function parseAlertingConfig(yaml: string): AlertmanagersGroup[] {
  const doc = load(yaml, "alerting configuration");
  if (doc === null || doc === undefined) return [];
  if (!isMap(doc)) throw new EndpointsConfigError("alerting configuration: want a mapping");
  strictFields(doc, ["alertmanagers"], "alerting configuration");
  const list = doc.alertmanagers ?? [];
  if (!Array.isArray(list)) {
    throw new EndpointsConfigError("alerting configuration: alertmanagers: want a list");
  }
  return list.map((c, i) => {
    const where = `alertmanagers[${i}]`;
    if (!isMap(c)) throw new EndpointsConfigError(`${where}: want a mapping`);
    strictFields(c, [...ENDPOINT_FIELDS, "timeout", "api_version"], where);
    const v = c.api_version ?? "v2";
    if (v === "v1") {
      throw new EndpointsConfigError(
        `${where}.api_version: v1 is not in this build; Alertmanager's v2 API is used`,
      );
    }
    if (v !== "v2") {
      throw new EndpointsConfigError(
        `${where}.api_version: expected Alertmanager API version to be one of [v1 v2] but got ` +
          JSON.stringify(v),
      );
    }
    return {
      ...endpointsGroup(c, where),
      timeoutMs: c.timeout === undefined ? 10_000 : duration(c.timeout, `${where}.timeout`),
      apiVersion: "v2" as const,
    };
  });
}

/** The base URL of one discovered `host:port` of a group. */
export function endpointURL(g: EndpointsGroup, hostPort: string): string {
  return `${g.scheme}://${hostPort}${g.pathPrefix}`;
}

/** Files an `http_config` names (read by the role). */
export function httpConfigFiles(h: Record<string, unknown> | null): string[] {
  if (h === null) return [];
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && v !== "") out.push(v);
  };
  if (isMap(h.basic_auth)) add(h.basic_auth.password_file);
  add(h.bearer_token_file);
  if (isMap(h.tls_config)) {
    add(h.tls_config.ca_file);
    add(h.tls_config.cert_file);
    add(h.tls_config.key_file);
  }
  return out;
}

/**
 * The DNS discovery prefixes of an address (Thanos's pkg/discovery/dns): `dns+` (A/AAAA),
 * `dnsdualstack+` (A and AAAA), `dnssrv+`, `dnssrvnoa+`. Addresses with one are only known at
 * run time. https://thanos.io/tip/thanos/service-discovery.md/#dns-service-discovery
 */
export const DNS_SD_PREFIX = /^(dns|dnssrv|dnssrvnoa|dnsdualstack)\+/;

/**
 * What a role needs from its sandbox for these groups: the static hosts (any address when one
 * is discovered through DNS or files), the files of their http configs and the file SD globs
 * (a glob grants its directory).
 */
export function endpointsPermissions(
  groups: readonly EndpointsGroup[],
): { net: string[] | true; read: string[] } {
  let net: string[] | true = [];
  const read: string[] = [];
  for (const g of groups) {
    read.push(...httpConfigFiles(g.httpConfig));
    for (const f of g.sdFiles) {
      const cut = f.search(/[*?[{]/);
      read.push(cut < 0 ? f : (f.slice(0, cut).replace(/[^/]*$/, "") || "."));
      net = true;
    }
    for (const a of g.staticAddresses) {
      if (DNS_SD_PREFIX.test(a)) net = true;
      else if (net !== true) {
        net.push(/:\d+$/.test(a) ? a : `${a}:${g.scheme === "https" ? 443 : 80}`);
      }
    }
  }
  return { net, read };
}

/**
 * One `remote_write:` entry (Prometheus 2.42's remote_write config,
 * https://prometheus.io/docs/prometheus/2.42/configuration/configuration/#remote_write; Thanos's
 * ruler takes a document with that list, https://thanos.io/tip/components/rule.md/).
 */
export interface RemoteWriteConfig {
  url: string;
  /** `name`, or a hash of the URL when unnamed (names the queue and its progress file). */
  name: string;
  remoteTimeoutMs: number;
  headers: Record<string, string>;
  /** `write_relabel_configs`, as YAML text for `parseRelabelConfigs` ("" for none). */
  writeRelabelYaml: string;
  /** The auth/TLS/proxy fields (see `httpClientConfigFrom`); null when none. */
  httpConfig: Record<string, unknown> | null;
  queue: {
    capacity: number;
    maxSamplesPerSend: number;
    batchSendDeadlineMs: number;
    minBackoffMs: number;
    maxBackoffMs: number;
    retryOnRateLimit: boolean;
  };
}

const RW_FIELDS = [
  "url",
  "name",
  "remote_timeout",
  "headers",
  "write_relabel_configs",
  "send_exemplars",
  "send_native_histograms",
  "basic_auth",
  "authorization",
  "bearer_token",
  "bearer_token_file",
  "tls_config",
  "proxy_url",
  "follow_redirects",
  "enable_http2",
  "queue_config",
  "metadata_config",
  "oauth2",
  "sigv4",
];
const QUEUE_FIELDS = [
  "capacity",
  "max_shards",
  "min_shards",
  "max_samples_per_send",
  "batch_send_deadline",
  "min_backoff",
  "max_backoff",
  "retry_on_http_429",
];
/** Headers Prometheus refuses in `headers` (it sets them itself). */
const RESERVED_HEADERS = [
  "authorization",
  "host",
  "content-encoding",
  "content-length",
  "content-type",
  "user-agent",
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "www-authenticate",
  "retry-after",
  "x-prometheus-remote-write-version",
];

function fnv32a(s: string): string {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * `--remote-write.config(-file)`: the `remote_write:` list. An empty document (or an empty
 * list) means no remote write, as in Thanos (the ruler then keeps its own TSDB).
 */
export function parseRemoteWriteConfig(yaml: string): RemoteWriteConfig[] {
  if (yaml.trim() === "") return [];
  const doc = load(yaml, "remote write configuration");
  if (doc === null || doc === undefined) return [];
  if (!isMap(doc)) throw new EndpointsConfigError("remote write configuration: want a mapping");
  const list = doc.remote_write ?? [];
  if (!Array.isArray(list)) {
    throw new EndpointsConfigError("remote write configuration: remote_write: want a list");
  }
  const names = new Set<string>();
  return list.map((c, i) => {
    const where = `remote_write[${i}]`;
    if (!isMap(c)) throw new EndpointsConfigError(`${where}: want a mapping`);
    strictFields(c, RW_FIELDS, where);
    for (const f of ["oauth2", "sigv4"]) {
      if (c[f] !== undefined && c[f] !== null) {
        throw new EndpointsConfigError(`${where}.${f}: not in this build`);
      }
    }
    if (typeof c.url !== "string" || c.url === "") {
      throw new EndpointsConfigError(`${where}: url for remote_write is empty`);
    }
    let u: URL;
    try {
      u = new URL(c.url);
    } catch {
      throw new EndpointsConfigError(`${where}.url: ${JSON.stringify(c.url)} is not a URL`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new EndpointsConfigError(`${where}.url: scheme must be http or https`);
    }
    const name = typeof c.name === "string" && c.name !== "" ? c.name : fnv32a(c.url);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new EndpointsConfigError(`${where}.name: use letters, digits, _ . and - only`);
    }
    if (names.has(name)) {
      throw new EndpointsConfigError(
        `${where}: found multiple remote write configs with name ${name}`,
      );
    }
    names.add(name);
    const headers: Record<string, string> = {};
    if (c.headers !== undefined && c.headers !== null) {
      if (!isMap(c.headers)) throw new EndpointsConfigError(`${where}.headers: want a mapping`);
      for (const [k, v] of Object.entries(c.headers)) {
        if (RESERVED_HEADERS.includes(k.toLowerCase())) {
          throw new EndpointsConfigError(`${where}.headers: ${k} is a reserved header`);
        }
        if (typeof v !== "string") {
          throw new EndpointsConfigError(`${where}.headers.${k}: want a string`);
        }
        headers[k] = v;
      }
    }
    const http: Record<string, unknown> = {};
    for (
      const f of ["basic_auth", "bearer_token", "bearer_token_file", "tls_config", "proxy_url"]
    ) {
      if (c[f] !== undefined && c[f] !== null) http[f] = c[f];
    }
    if (c.authorization !== undefined && c.authorization !== null) {
      const a = c.authorization;
      if (!isMap(a)) throw new EndpointsConfigError(`${where}.authorization: want a mapping`);
      strictFields(a, ["type", "credentials", "credentials_file"], `${where}.authorization`);
      if ((a.type ?? "Bearer") !== "Bearer") {
        throw new EndpointsConfigError(`${where}.authorization.type: only Bearer is in this build`);
      }
      if (a.credentials !== undefined) http.bearer_token = a.credentials;
      if (a.credentials_file !== undefined) http.bearer_token_file = a.credentials_file;
    }
    refuseSkipVerify(http, u.protocol === "https:", where);
    const q = c.queue_config ?? {};
    if (!isMap(q)) throw new EndpointsConfigError(`${where}.queue_config: want a mapping`);
    strictFields(q, QUEUE_FIELDS, `${where}.queue_config`);
    const int = (v: unknown, dflt: number, f: string): number => {
      if (v === undefined || v === null) return dflt;
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
        throw new EndpointsConfigError(`${where}.queue_config.${f}: want a positive integer`);
      }
      return v;
    };
    const dur = (v: unknown, dflt: number, f: string) =>
      v === undefined || v === null ? dflt : duration(v, `${where}.${f}`);
    const wr = c.write_relabel_configs;
    if (wr !== undefined && wr !== null && !Array.isArray(wr)) {
      throw new EndpointsConfigError(`${where}.write_relabel_configs: want a list`);
    }
    // Prometheus 2.42's DefaultQueueConfig and DefaultRemoteWriteConfig
    return {
      url: c.url,
      name,
      remoteTimeoutMs: dur(c.remote_timeout, 30_000, "remote_timeout"),
      headers,
      writeRelabelYaml: Array.isArray(wr) && wr.length > 0 ? JSON.stringify(wr) : "",
      httpConfig: Object.keys(http).length > 0 ? http : null,
      queue: {
        capacity: int(q.capacity, 2500, "capacity"),
        maxSamplesPerSend: int(q.max_samples_per_send, 500, "max_samples_per_send"),
        batchSendDeadlineMs: dur(q.batch_send_deadline, 5000, "queue_config.batch_send_deadline"),
        minBackoffMs: dur(q.min_backoff, 30, "queue_config.min_backoff"),
        maxBackoffMs: dur(q.max_backoff, 5000, "queue_config.max_backoff"),
        retryOnRateLimit: q.retry_on_http_429 === true,
      },
    };
  });
}

/**
 * What a role needs from its sandbox for a `--query.config`, `--alertmanagers.config` or
 * `--remote-write.config` document (told apart by shape: a list, `alertmanagers:`,
 * `remote_write:`). Throws {@link EndpointsConfigError} on a bad document.
 */
export function endpointsConfigPermissions(yaml: string): { net: string[] | true; read: string[] } {
  const doc = load(yaml, "configuration");
  if (Array.isArray(doc)) return endpointsPermissions(parseQueryConfig(yaml));
  if (isMap(doc) && "alertmanagers" in doc) return endpointsPermissions(parseAlertingConfig(yaml));
  if (isMap(doc) && "remote_write" in doc) {
    const net: string[] = [];
    const read: string[] = [];
    for (const c of parseRemoteWriteConfig(yaml)) {
      const u = new URL(c.url);
      net.push(`${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`);
      read.push(...httpConfigFiles(c.httpConfig));
    }
    return { net, read };
  }
  return { net: [], read: [] };
}
