// HTTP client of the one Prometheus a sidecar sits next to: the status APIs read at start-up and
// on every heartbeat (flags, build info, config, /metrics), the series and label APIs, remote
// read, and `POST /-/reload`. Authentication and TLS come from Thanos's http client config
// (`--prometheus.http-client(-file)`).

import { parse as parseYaml } from "yaml";
import { compareStrings, labelsFromObject } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";

/** Prometheus answered with an error, an unexpected status, or could not be reached. */
export class PrometheusRequestError extends Error {
  override name = "PrometheusRequestError";
  constructor(
    readonly url: string,
    /** HTTP status, or 0 when no answer came. */
    readonly status: number,
    detail: string,
  ) {
    super(`request to Prometheus ${url} failed: ${detail}`);
  }
}

/** The http client configuration is invalid or names something the sidecar cannot use. */
export class HttpClientConfigError extends Error {
  override name = "HttpClientConfigError";
}

/** Thanos's http client config (`--prometheus.http-client`), the parts Thanos-TS honours. */
export interface HttpClientConfig {
  basicAuth?: { username: string; password: string };
  /** Value of the `Authorization: Bearer` header. */
  bearerToken?: string;
  proxyUrl?: string;
  tls?: {
    caPem?: string;
    certPem?: string;
    keyPem?: string;
    serverName?: string;
    /** `insecure_skip_verify: true`: refused for an https URL (see PrometheusClient). */
    insecureSkipVerify?: boolean;
  };
}

/**
 * Parses the http client YAML. Files it names (`password_file`, `bearer_token_file`,
 * `tls_config.*_file`) are read through `readFile`, which the caller provides (the sandboxed
 * role may only read what its flags name; a refused read becomes an actionable error).
 */
export async function parseHttpClientConfig(
  yaml: string,
  readFile: (path: string) => Promise<string>,
): Promise<HttpClientConfig> {
  if (yaml.trim() === "") return {};
  let doc: unknown;
  try {
    doc = parseYaml(yaml);
  } catch (e) {
    throw new HttpClientConfigError(`prometheus http client config: ${(e as Error).message}`);
  }
  return await httpClientConfigFrom(doc, readFile);
}

/**
 * The same config already parsed from YAML (e.g. the `http_config` of Thanos's query and
 * Alertmanager configs, or a Prometheus `remote_write` entry); `what` prefixes errors.
 */
export async function httpClientConfigFrom(
  doc: unknown,
  readFile: (path: string) => Promise<string>,
  what = "prometheus http client config",
): Promise<HttpClientConfig> {
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new HttpClientConfigError(`${what}: want a YAML mapping`);
  }
  const o = doc as Record<string, unknown>;
  const str = (v: unknown, field: string): string => {
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") {
      throw new HttpClientConfigError(`${what}: ${field} must be a string`);
    }
    return v;
  };
  const file = async (path: string, field: string): Promise<string> => {
    try {
      return await readFile(path);
    } catch (e) {
      const denied = (e as Error).name === "NotCapable" ||
        e instanceof Deno.errors.PermissionDenied;
      throw new HttpClientConfigError(
        `${what}: cannot read ${field} ${JSON.stringify(path)}: ` +
          (denied
            ? "the role may only read files named by its flags; put the value inline " +
              "(password, bearer_token, tls_config ca/cert/key) instead"
            : (e as Error).message),
      );
    }
  };
  const cfg: HttpClientConfig = {};
  const ba = o.basic_auth as Record<string, unknown> | undefined;
  if (ba && typeof ba === "object") {
    const username = str(ba.username, "basic_auth.username");
    let password = str(ba.password, "basic_auth.password");
    const pf = str(ba.password_file, "basic_auth.password_file");
    if (pf !== "") password = (await file(pf, "basic_auth.password_file")).trim();
    if (username !== "" || password !== "") cfg.basicAuth = { username, password };
  }
  let token = str(o.bearer_token, "bearer_token");
  const tf = str(o.bearer_token_file, "bearer_token_file");
  if (tf !== "") token = (await file(tf, "bearer_token_file")).trim();
  if (token !== "") cfg.bearerToken = token;
  if (cfg.bearerToken && cfg.basicAuth) {
    throw new HttpClientConfigError(
      `${what}: at most one of basic_auth and bearer_token may be set`,
    );
  }
  const proxy = str(o.proxy_url, "proxy_url");
  if (proxy !== "") cfg.proxyUrl = proxy;
  const t = o.tls_config as Record<string, unknown> | undefined;
  if (t && typeof t === "object") {
    const pem = async (inline: string, fileField: string): Promise<string | undefined> => {
      const v = str(t[inline], `tls_config.${inline}`);
      if (v !== "") return v;
      const p = str(t[fileField], `tls_config.${fileField}`);
      return p === "" ? undefined : await file(p, `tls_config.${fileField}`);
    };
    cfg.tls = {
      caPem: await pem("ca", "ca_file"),
      certPem: await pem("cert", "cert_file"),
      keyPem: await pem("key", "key_file"),
      serverName: str(t.server_name, "tls_config.server_name") || undefined,
    };
    if (t.insecure_skip_verify === true) cfg.tls.insecureSkipVerify = true;
    if ((cfg.tls.certPem === undefined) !== (cfg.tls.keyPem === undefined)) {
      throw new HttpClientConfigError(
        `${what}: tls_config needs both a client certificate and its key`,
      );
    }
  }
  return cfg;
}

/**
 * What a request made with an http client config carries: its headers (user agent, basic auth
 * or bearer token) and, for TLS settings or a proxy, a Deno HTTP client (close it when done).
 */
export function httpClientFor(
  h: HttpClientConfig,
  userAgent?: string,
): { headers: Record<string, string>; client?: Deno.HttpClient } {
  const headers: Record<string, string> = {};
  if (userAgent) headers["user-agent"] = userAgent;
  if (h.basicAuth) {
    headers.authorization = `Basic ${
      btoa(unescape(encodeURIComponent(`${h.basicAuth.username}:${h.basicAuth.password}`)))
    }`;
  }
  if (h.bearerToken) headers.authorization = `Bearer ${h.bearerToken}`;
  if (!h.tls && !h.proxyUrl) return { headers };
  const o: Deno.CreateHttpClientOptions = {};
  if (h.tls?.caPem) o.caCerts = [h.tls.caPem];
  if (h.tls?.certPem && h.tls.keyPem) {
    (o as { cert?: string; key?: string }).cert = h.tls.certPem;
    (o as { cert?: string; key?: string }).key = h.tls.keyPem;
  }
  if (h.proxyUrl) o.proxy = { url: h.proxyUrl };
  return { headers, client: Deno.createHttpClient(o) };
}

/** Options of {@link PrometheusClient}. */
export interface PrometheusClientOptions {
  http?: HttpClientConfig;
  /** `User-Agent` header (Thanos sends `Thanos/<version>`). */
  userAgent?: string;
}

/** Label matchers as a Prometheus series selector: `{a="b",c=~"d"}`. */
export function matchersToSelector(matchers: readonly Matcher[]): string {
  return `{${matchers.map((m) => m.toString()).join(",")}}`;
}

/** Earliest/latest times worth sending as API parameters; beyond them the default is used. */
const API_MIN_MS = -62135596800000; // 0001-01-01T00:00:00Z
const API_MAX_MS = 253402300799000; // 9999-12-31T23:59:59Z

function apiTime(ms: number): string {
  // Go's FormatFloat(seconds, 'f', -1): exact decimal seconds
  const s = Math.trunc(ms / 1000);
  const rest = Math.abs(ms % 1000);
  return rest === 0
    ? String(s)
    : `${ms < 0 && s === 0 ? "-" : ""}${s}.${String(rest).padStart(3, "0").replace(/0+$/, "")}`;
}

/** Parses a Prometheus version (`2.42.0+ds`, `v2.13.1`) into comparable numbers. */
export function parseVersion(v: string): [number, number, number] {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v.trim());
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/** True when version `v` is at least `min` (e.g. `"2.13.0"`). Unparsable versions are "0". */
export function versionAtLeast(v: string, min: string): boolean {
  const a = parseVersion(v);
  const b = parseVersion(min);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** Largest int64 in seconds: what Prometheus reports as lowest timestamp when it has no data. */
const NO_DATA_SECONDS = 9223372036854775807 / 1000;

/** Client of one Prometheus server. */
export class PrometheusClient {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly client?: Deno.HttpClient;

  constructor(url: string, opts: PrometheusClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new HttpClientConfigError(
        `invalid --prometheus.url ${JSON.stringify(url)}: want an http(s) URL`,
      );
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new HttpClientConfigError(
        `invalid --prometheus.url ${JSON.stringify(url)}: want an http(s) URL`,
      );
    }
    this.baseUrl = url.replace(/\/+$/, "");
    const h = opts.http ?? {};
    // The Prometheus Operator always passes `insecure_skip_verify: true`, also for plain
    // http, where no certificate is checked anyway; only an https URL needs it honoured.
    if (h.tls?.insecureSkipVerify && u.protocol === "https:") {
      throw new HttpClientConfigError(
        "prometheus http client config: tls_config.insecure_skip_verify is not supported by " +
          "Thanos-TS for an https --prometheus.url; give the CA that signed Prometheus's " +
          "certificate in tls_config.ca_file",
      );
    }
    const c = httpClientFor(h, opts.userAgent);
    this.headers = c.headers;
    this.client = c.client;
  }

  /** Releases the TLS/proxy client. */
  close(): void {
    this.client?.close();
  }

  /** Sends a request to `path` (with query params); throws PrometheusRequestError when unreachable. */
  async request(
    path: string,
    init: {
      method?: string;
      params?: [string, string][];
      body?: BodyInit;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response> {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of init.params ?? []) u.searchParams.append(k, v);
    try {
      return await fetch(u, {
        method: init.method ?? "GET",
        headers: { ...this.headers, ...init.headers },
        body: init.body,
        signal: init.signal,
        client: this.client,
      } as RequestInit);
    } catch (e) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new PrometheusRequestError(u.pathname, 0, (e as Error).message);
    }
  }

  /** GETs an `/api/v1` endpoint and returns `data`; null on 404 when `allow404`. */
  async apiData(
    path: string,
    params: [string, string][],
    signal?: AbortSignal,
    allow404 = false,
  ): Promise<unknown> {
    const res = await this.request(path, { params, signal });
    const text = await res.text();
    if (allow404 && (res.status === 404 || res.status === 405)) return null;
    let body: { status?: string; data?: unknown; error?: string } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status !== 200 || body?.status !== "success") {
      throw new PrometheusRequestError(
        path,
        res.status,
        `HTTP ${res.status}: ${body?.error ?? text.slice(0, 300).trim()}`,
      );
    }
    return body.data;
  }

  /** `/api/v1/status/flags`, or null when Prometheus is too old to have it (404). */
  async flags(signal?: AbortSignal): Promise<Record<string, string> | null> {
    return await this.apiData("/api/v1/status/flags", [], signal, true) as
      | Record<string, string>
      | null;
  }

  /** Prometheus's version from `/api/v1/status/buildinfo`; "0" when it is too old to say. */
  async version(signal?: AbortSignal): Promise<string> {
    const d = await this.apiData("/api/v1/status/buildinfo", [], signal, true) as
      | { version?: string }
      | null;
    return d?.version ?? "0";
  }

  /**
   * The oldest sample time (ms) from `prometheus_tsdb_lowest_timestamp_seconds` on `/metrics`;
   * `-Infinity` when Prometheus holds no data yet.
   */
  async lowestTimestamp(signal?: AbortSignal): Promise<number> {
    const res = await this.request("/metrics", { signal });
    const text = await res.text();
    if (res.status !== 200) {
      throw new PrometheusRequestError("/metrics", res.status, `HTTP ${res.status}`);
    }
    const m = /^prometheus_tsdb_lowest_timestamp_seconds(?:\{\})? (\S+)/m.exec(text);
    if (!m) {
      throw new PrometheusRequestError(
        "/metrics",
        200,
        "no prometheus_tsdb_lowest_timestamp_seconds metric: is this a Prometheus server?",
      );
    }
    const v = Number(m[1]);
    if (!Number.isFinite(v) || v >= NO_DATA_SECONDS) return -Infinity;
    return Math.round(v * 1000);
  }

  /** External labels from the loaded configuration (`global.external_labels`). */
  async externalLabels(signal?: AbortSignal): Promise<Labels> {
    const d = await this.apiData("/api/v1/status/config", [], signal) as { yaml?: string };
    let cfg: unknown;
    try {
      cfg = parseYaml(d.yaml ?? "");
    } catch (e) {
      throw new PrometheusRequestError(
        "/api/v1/status/config",
        200,
        `cannot parse the configuration YAML: ${(e as Error).message}`,
      );
    }
    const global = (cfg as { global?: { external_labels?: Record<string, unknown> } } | null)
      ?.global;
    const ext = global?.external_labels ?? {};
    const o: Record<string, string> = {};
    for (const [k, v] of Object.entries(ext)) o[k] = String(v);
    return labelsFromObject(o);
  }

  private rangeParams(start: number, end: number, matchers: readonly Matcher[]) {
    const params: [string, string][] = [];
    if (matchers.length > 0) params.push(["match[]", matchersToSelector(matchers)]);
    if (start > API_MIN_MS) params.push(["start", apiTime(start)]);
    if (end < API_MAX_MS) params.push(["end", apiTime(end)]);
    return params;
  }

  /** `/api/v1/series`: label sets (sorted) of series matching `matchers` in [start, end]. */
  async series(
    matchers: readonly Matcher[],
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<Labels[]> {
    const d = await this.apiData(
      "/api/v1/series",
      this.rangeParams(start, end, matchers),
      signal,
    ) as Record<string, string>[];
    return d.map(labelsFromObject);
  }

  /** `/api/v1/labels`, sorted. */
  async labelNames(
    matchers: readonly Matcher[],
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const d = await this.apiData(
      "/api/v1/labels",
      this.rangeParams(start, end, matchers),
      signal,
    ) as string[] | null;
    return (d ?? []).slice().sort(compareStrings);
  }

  /** `/api/v1/label/<name>/values`, sorted. */
  async labelValues(
    name: string,
    matchers: readonly Matcher[],
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const d = await this.apiData(
      `/api/v1/label/${encodeURIComponent(name)}/values`,
      this.rangeParams(start, end, matchers),
      signal,
    ) as string[] | null;
    return (d ?? []).slice().sort(compareStrings);
  }

  /**
   * `/api/v1/query` at `time` (ms) with GET or POST (form body), as Thanos's
   * `promclient.QueryInstant` (https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries):
   * `extra` adds parameters (Thanos's `dedup`, `partial_response`). A vector comes back as its
   * samples, a scalar as one sample without labels (Prometheus's rules `EngineQueryFunc`); any
   * other result type, a non-200 answer or an error status throws PrometheusRequestError.
   */
  async queryInstant(
    query: string,
    time: number,
    opts: { method?: "GET" | "POST"; extra?: [string, string][]; signal?: AbortSignal } = {},
  ): Promise<{ samples: { labels: Labels; t: number; v: number }[]; warnings: string[] }> {
    const params: [string, string][] = [
      ["query", query],
      ["time", (time / 1000).toFixed(3)],
      ...(opts.extra ?? []),
    ];
    const body = await this.queryApi("/api/v1/query", params, opts);
    const num = (s: string) => s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s);
    const d = body.data ?? {};
    const warnings = body.warnings ?? [];
    if (d.resultType === "vector") {
      const r = (d.result ?? []) as { metric: Record<string, string>; value: [number, string] }[];
      return {
        samples: r.map((e) => ({
          labels: labelsFromObject(e.metric),
          t: Math.round(e.value[0] * 1000),
          v: num(e.value[1]),
        })),
        warnings,
      };
    }
    if (d.resultType === "scalar") {
      const r = d.result as [number, string];
      return { samples: [{ labels: [], t: Math.round(r[0] * 1000), v: num(r[1]) }], warnings };
    }
    throw new PrometheusRequestError(
      "/api/v1/query",
      200,
      `rule result is not a vector or scalar: ${d.resultType}`,
    );
  }

  /**
   * `/api/v1/query_range` over [start, end] (ms) every `step` ms, as Thanos's
   * `promclient.QueryRange` (the stateless ruler restores alerts' `for` state with it): the
   * matrix's series with their samples.
   */
  async queryRange(
    query: string,
    start: number,
    end: number,
    step: number,
    opts: { method?: "GET" | "POST"; extra?: [string, string][]; signal?: AbortSignal } = {},
  ): Promise<{ series: { labels: Labels; ts: number[]; vs: number[] }[]; warnings: string[] }> {
    const params: [string, string][] = [
      ["query", query],
      ["start", (start / 1000).toFixed(3)],
      ["end", (end / 1000).toFixed(3)],
      ["step", String(step / 1000)],
      ...(opts.extra ?? []),
    ];
    const body = await this.queryApi("/api/v1/query_range", params, opts);
    const d = body.data ?? {};
    if (d.resultType !== "matrix") {
      throw new PrometheusRequestError(
        "/api/v1/query_range",
        200,
        `result is not a matrix: ${d.resultType}`,
      );
    }
    const num = (s: string) => s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s);
    const r = (d.result ?? []) as { metric: Record<string, string>; values: [number, string][] }[];
    return {
      series: r.map((e) => ({
        labels: labelsFromObject(e.metric),
        ts: e.values.map((v) => Math.round(v[0] * 1000)),
        vs: e.values.map((v) => num(v[1])),
      })),
      warnings: body.warnings ?? [],
    };
  }

  /** A query API call (GET, or POST with a form body) and its success envelope. */
  private async queryApi(
    path: string,
    params: [string, string][],
    opts: { method?: "GET" | "POST"; signal?: AbortSignal },
  ): Promise<{ warnings?: string[]; data?: { resultType?: string; result?: unknown } }> {
    const post = opts.method === "POST";
    const res = await this.request(path, {
      method: post ? "POST" : "GET",
      params: post ? [] : params,
      body: post ? new URLSearchParams(params).toString() : undefined,
      headers: post ? { "content-type": "application/x-www-form-urlencoded" } : undefined,
      signal: opts.signal,
    });
    const text = await res.text();
    let body: {
      status?: string;
      error?: string;
      warnings?: string[];
      data?: { resultType?: string; result?: unknown };
    } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status !== 200 || body?.status !== "success") {
      throw new PrometheusRequestError(
        path,
        res.status,
        `HTTP ${res.status}: ${body?.error ?? text.slice(0, 300).trim()}`,
      );
    }
    return body;
  }

  /** `POST /-/reload`; throws unless Prometheus answers 200 (needs `--web.enable-lifecycle`). */
  async reload(signal?: AbortSignal): Promise<void> {
    const res = await this.request("/-/reload", { method: "POST", signal });
    const text = await res.text();
    if (res.status !== 200) {
      throw new PrometheusRequestError(
        "/-/reload",
        res.status,
        `HTTP ${res.status}: ${text.trim().slice(0, 300)}` +
          (res.status === 403 ? " (start Prometheus with --web.enable-lifecycle)" : ""),
      );
    }
  }
}
