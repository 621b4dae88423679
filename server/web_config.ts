// The Prometheus web configuration file (`--http.config`): TLS, response headers, basic auth
// and a rate limit on a role's HTTP server, in the exporter-toolkit's format
// (https://github.com/prometheus/exporter-toolkit/blob/v0.15.0/docs/web-configuration.md,
// https://prometheus.io/docs/prometheus/latest/configuration/https/; Thanos v0.42 uses
// exporter-toolkit v0.15.0). Decoded strictly, as the toolkit does: an unknown field is an
// error. Relative file names are relative to the config file's directory.
//
// Client certificate policies (`client_auth_type`, `client_ca_file`/`client_ca`,
// `client_allowed_sans`) are served by the node:https listener (server/mtls.ts), which HttpServer
// picks when a policy asks for certificates. What this build's TLS cannot do is refused when the
// config is read, with the field named: cipher suite and curve choices, and TLS versions other
// than 1.2 and 1.3 (`http2: false`, `min_version: TLS13` and `max_version: TLS12` are served by
// the same node:https listener). Unlike the toolkit, which re-reads the file on every
// request, the file and the certificates are read once when the role starts.

import bcrypt from "bcryptjs";
import { parseAllDocuments } from "yaml";
import { parseGoDuration } from "../strconv/duration.ts";
import type { ClientAuthPolicy } from "./mtls.ts";

/** A web config that cannot be served; the message names the field. */
export class WebConfigError extends Error {
  override name = "WebConfigError";
}

/** PEM text given inline, or a file to read it from. */
export interface PemSource {
  file?: string;
  inline?: string;
}

/** A parsed web config. */
export interface WebConfig {
  /** Where it was read from ("" when given inline, e.g. in tests). */
  path: string;
  /** HTTPS with this certificate and key; absent: plain HTTP. */
  tls?: {
    cert: PemSource;
    key: PemSource;
    /** Which client certificates are asked for and accepted (absent: NoClientCert). */
    clientAuth?: ClientAuthPolicy;
    /** CA certificates client certificates are verified against (absent: system roots). */
    clientCA?: PemSource;
    /** `client_allowed_sans`: a client certificate must carry one of these names. */
    allowedSans?: string[];
    /** Lowest TLS version (`min_version: TLS13`, receive's min version flag); default 1.2. */
    minVersion?: "TLSv1.2" | "TLSv1.3";
    /** Highest TLS version (`max_version: TLS12`); default 1.3. */
    maxVersion?: "TLSv1.2" | "TLSv1.3";
  };
  /** `http_server_config.http2: false`: HTTPS offers HTTP/1.1 only (absent: HTTP/2 too). */
  http2?: boolean;
  /** Response headers set on every answer (only the toolkit's allowed ones). */
  headers: Record<string, string>;
  /** User name → bcrypt hash; empty: no authentication. */
  users: Map<string, string>;
  /** Token bucket over all requests: one token per `intervalMs`, at most `burst`. */
  rateLimit?: { intervalMs: number; burst: number };
}

// https://github.com/prometheus/exporter-toolkit/blob/v0.15.0/docs/web-configuration.md: the
// headers that may be configured, and the values allowed where the toolkit restricts them
const ALLOWED_HEADERS: Record<string, readonly string[] | null> = {
  "Strict-Transport-Security": null,
  "X-Content-Type-Options": ["nosniff"],
  "X-Frame-Options": ["deny", "sameorigin"],
  "X-XSS-Protection": null,
  "Content-Security-Policy": null,
};

const TLS_FIELDS = [
  "cert",
  "key",
  "client_ca",
  "cert_file",
  "key_file",
  "client_auth_type",
  "client_ca_file",
  "cipher_suites",
  "curve_preferences",
  "min_version",
  "max_version",
  "prefer_server_cipher_suites",
  "client_allowed_sans",
];
const CLIENT_AUTH_TYPES = [
  "",
  "NoClientCert",
  "RequestClientCert",
  "RequireAnyClientCert",
  "RequireClientCert",
  "VerifyClientCertIfGiven",
  "RequireAndVerifyClientCert",
];
const TLS_VERSIONS = ["TLS10", "TLS11", "TLS12", "TLS13"];
const CURVES = ["CurveP256", "CurveP384", "CurveP521", "X25519"];
/** A bcrypt hash as Go's bcrypt.Cost accepts it: `$2a$`/`$2b$`/`$2y$`, cost 4..31. */
const BCRYPT_HASH = /^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fields(v: unknown, where: string, allowed: readonly string[]): Obj {
  if (v === null || v === undefined) return {};
  if (!isObj(v)) throw new WebConfigError(`${where}: expected a mapping`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new WebConfigError(`unknown field ${where}.${k}`);
  }
  return v;
}

function str(o: Obj, k: string, where: string): string {
  const v = o[k];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new WebConfigError(`${where}.${k}: expected a string`);
  return v;
}

function strList(o: Obj, k: string, where: string): string[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new WebConfigError(`${where}.${k}: expected a list of strings`);
  }
  return v as string[];
}

/** `name` relative to `dir` unless absolute (Prometheus's config JoinDir). */
function joinDir(dir: string, name: string): string {
  if (name === "" || name.startsWith("/") || dir === "") return name;
  return `${dir.replace(/\/$/, "")}/${name}`;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * Parses a web config file's text; `path` is where it was read from (relative file names in it
 * are relative to its directory). Throws WebConfigError naming the field on anything the
 * toolkit rejects, and on anything this build cannot serve.
 */
export function parseWebConfig(text: string, path: string): WebConfig {
  const docs = parseAllDocuments(text);
  if (Array.isArray(docs) && docs.length > 1) {
    throw new WebConfigError("expected one YAML document");
  }
  const doc = Array.isArray(docs) ? docs[0] : docs;
  if (doc && doc.errors.length > 0) throw new WebConfigError(doc.errors[0].message);
  const top = fields(doc?.toJS() ?? null, "web config", [
    "tls_server_config",
    "http_server_config",
    "basic_auth_users",
    "rate_limit",
  ]);
  const dir = path === "" ? "" : dirOf(path);
  const out: WebConfig = { path, headers: {}, users: new Map() };

  // tls_server_config
  const w = "tls_server_config";
  const t = fields(top.tls_server_config, w, TLS_FIELDS);
  const clientAuth = str(t, "client_auth_type", w);
  if (!CLIENT_AUTH_TYPES.includes(clientAuth)) {
    throw new WebConfigError(`${w}.client_auth_type: invalid ClientAuth: ${clientAuth}`);
  }
  for (const k of ["min_version", "max_version"]) {
    const v = str(t, k, w);
    if (v !== "" && !TLS_VERSIONS.includes(v)) {
      throw new WebConfigError(`${w}.${k}: unknown TLS version: ${v}`);
    }
  }
  for (const c of strList(t, "curve_preferences", w)) {
    if (!CURVES.includes(c)) {
      throw new WebConfigError(`${w}.curve_preferences: unknown curve: ${c}`);
    }
  }
  strList(t, "cipher_suites", w);
  strList(t, "client_allowed_sans", w);
  if (
    t.prefer_server_cipher_suites !== undefined &&
    typeof t.prefer_server_cipher_suites !== "boolean"
  ) {
    throw new WebConfigError(`${w}.prefer_server_cipher_suites: expected a boolean`);
  }
  const cert = { file: joinDir(dir, str(t, "cert_file", w)), inline: str(t, "cert", w) };
  const key = { file: joinDir(dir, str(t, "key_file", w)), inline: str(t, "key", w) };
  const clientCAFile = joinDir(dir, str(t, "client_ca_file", w));
  const clientCAText = str(t, "client_ca", w);
  const clientCA = clientCAFile || clientCAText;
  const anyTls = cert.file || cert.inline || key.file || key.inline || clientCA || clientAuth;
  if (anyTls) {
    if (!cert.file && !cert.inline) {
      throw new WebConfigError(`${w}: missing one of cert or cert_file`);
    }
    if (!key.file && !key.inline) throw new WebConfigError(`${w}: missing one of key or key_file`);
    if (cert.file && cert.inline) throw new WebConfigError(`${w}: both cert and cert_file are set`);
    if (key.file && key.inline) throw new WebConfigError(`${w}: both key and key_file are set`);
    if (clientCA && (clientAuth === "" || clientAuth === "NoClientCert")) {
      throw new WebConfigError(
        `${w}: client CA's have been configured without a Client Auth Policy`,
      );
    }
    refuseUnservable(t);
    const sans = strList(t, "client_allowed_sans", w);
    out.tls = {
      cert: cert.file ? { file: cert.file } : { inline: cert.inline },
      key: key.file ? { file: key.file } : { inline: key.inline },
      // "RequireClientCert" is the toolkit's older name of RequireAnyClientCert
      clientAuth: clientAuth === ""
        ? "NoClientCert"
        : clientAuth === "RequireClientCert"
        ? "RequireAnyClientCert"
        : clientAuth as ClientAuthPolicy,
      ...(clientCAFile
        ? { clientCA: { file: clientCAFile } }
        : clientCAText
        ? { clientCA: { inline: clientCAText } }
        : {}),
      ...(sans.length > 0 ? { allowedSans: sans } : {}),
      ...(str(t, "min_version", w) === "TLS13" ? { minVersion: "TLSv1.3" as const } : {}),
      ...(str(t, "max_version", w) === "TLS12" ? { maxVersion: "TLSv1.2" as const } : {}),
    };
  }

  // http_server_config
  const h = fields(top.http_server_config, "http_server_config", ["http2", "headers"]);
  if (h.http2 !== undefined && h.http2 !== null && typeof h.http2 !== "boolean") {
    throw new WebConfigError("http_server_config.http2: expected a boolean");
  }
  if (h.http2 === false) out.http2 = false;
  const headers = fields(h.headers, "http_server_config.headers", Object.keys(ALLOWED_HEADERS));
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== "string") {
      throw new WebConfigError(`http_server_config.headers.${k}: expected a string`);
    }
    const allowed = ALLOWED_HEADERS[k];
    if (allowed && !allowed.includes(v)) {
      throw new WebConfigError(
        `invalid value for ${k}. Expected one of: ${JSON.stringify(allowed)}, but got: ` +
          JSON.stringify(v),
      );
    }
    out.headers[k] = v;
  }

  // basic_auth_users
  const users = top.basic_auth_users;
  if (users !== undefined && users !== null) {
    if (!isObj(users)) throw new WebConfigError("basic_auth_users: expected a mapping");
    for (const [user, hash] of Object.entries(users)) {
      if (typeof hash !== "string" || !BCRYPT_HASH.test(hash)) {
        throw new WebConfigError(
          `basic_auth_users.${user}: not a bcrypt hash ($2y$<cost>$…, cost 4 to 31)`,
        );
      }
      out.users.set(user, hash);
    }
  }

  // rate_limit
  const r = fields(top.rate_limit, "rate_limit", ["burst", "interval"]);
  const burst = r.burst ?? 0;
  if (typeof burst !== "number" || !Number.isInteger(burst) || burst < 0) {
    throw new WebConfigError("rate_limit.burst: expected a non-negative integer");
  }
  let intervalMs = 0;
  if (r.interval !== undefined && r.interval !== null) {
    const ms = typeof r.interval === "object" ? null : parseGoDuration(String(r.interval));
    if (ms === null || ms < 0) {
      throw new WebConfigError(
        `rate_limit.interval: not a duration: ${JSON.stringify(r.interval)}`,
      );
    }
    intervalMs = ms;
  }
  if (intervalMs > 0) out.rateLimit = { intervalMs, burst };
  return out;
}

/** Refuses the TLS settings this build's HTTPS servers cannot apply, naming the field and why. */
function refuseUnservable(t: Obj): void {
  const w = "tls_server_config";
  const no = (field: string, why: string) =>
    new WebConfigError(`${w}.${field} is not supported by this build: ${why}`);
  if (strList(t, "cipher_suites", w).length > 0) {
    throw no("cipher_suites", "the runtime's TLS (rustls) chooses its own cipher suites");
  }
  if (strList(t, "curve_preferences", w).length > 0) {
    throw no("curve_preferences", "the runtime's TLS (rustls) chooses its own curves");
  }
  const min = str(t, "min_version", w);
  if (min === "TLS10" || min === "TLS11") {
    throw no(`min_version=${min}`, "the runtime's TLS serves TLS 1.2 and 1.3 only");
  }
  const max = str(t, "max_version", w);
  if (max === "TLS10" || max === "TLS11") {
    throw no(`max_version=${max}`, "the runtime's TLS serves TLS 1.2 and 1.3 only");
  }
  if (min === "TLS13" && max === "TLS12") {
    throw new WebConfigError(`${w}: min_version TLS13 is above max_version TLS12`);
  }
}

/** The files a web config reads (certificate, key, client CA); the role needs to read them. */
export function webConfigFiles(cfg: WebConfig): string[] {
  const out: string[] = [];
  if (cfg.tls?.cert.file) out.push(cfg.tls.cert.file);
  if (cfg.tls?.key.file) out.push(cfg.tls.key.file);
  if (cfg.tls?.clientCA?.file) out.push(cfg.tls.clientCA.file);
  return out;
}

/** True when the web config's client policy asks clients for certificates. */
export function asksClientCertificates(cfg: WebConfig | undefined): boolean {
  const a = cfg?.tls?.clientAuth;
  return a !== undefined && a !== "NoClientCert";
}

/**
 * True when the web config's HTTPS needs the node:https listener (server/mtls.ts) rather than
 * Deno.serve: a client policy asking for certificates, HTTP/2 turned off, or TLS 1.2 or 1.3
 * alone (Deno.serve always offers HTTP/2, TLS 1.2 and 1.3).
 */
export function needsNodeListener(cfg: WebConfig | undefined): boolean {
  const tls = cfg?.tls;
  return tls !== undefined &&
    (asksClientCertificates(cfg) || cfg!.http2 === false || tls.minVersion === "TLSv1.3" ||
      tls.maxVersion === "TLSv1.2");
}

/**
 * The certificate chain and key of a TLS web config, and its client CA when it has one, as PEM
 * text (files read now). Throws WebConfigError naming the file that cannot be read.
 */
export async function loadTlsPem(
  tls: NonNullable<WebConfig["tls"]>,
): Promise<{ cert: string; key: string; clientCA?: string }> {
  const read = async (s: PemSource, what: string) => {
    if (!s.file) return s.inline ?? "";
    try {
      return await Deno.readTextFile(s.file);
    } catch (e) {
      throw new WebConfigError(`failed to read ${what} (${s.file}): ${(e as Error).message}`);
    }
  };
  const out: { cert: string; key: string; clientCA?: string } = {
    cert: await read(tls.cert, "cert_file"),
    key: await read(tls.key, "key_file"),
  };
  if (tls.clientCA) out.clientCA = await read(tls.clientCA, "client_ca_file");
  return out;
}

// A bcrypt hash (cost 10) of a random password nobody knows: unknown users are checked against
// it, so that an unknown user costs as much time as a wrong password (as the toolkit does).
const DUMMY_HASH = "$2b$10$EpEh/p6z2nNK8I9M1/.VKO4BLw2ZhaAG9tdMa9YW40vLq9Mv4wXH6";
/** Verified (user, hash, password) outcomes kept, as the toolkit's cache (100 entries). */
const AUTH_CACHE_SIZE = 100;

/**
 * Basic authentication against bcrypt hashes. bcrypt is slow on purpose (~50 ms at cost 10), so
 * outcomes are cached by a SHA-256 of user, hash and password (no password kept in memory), and
 * bcrypt comparisons run one at a time (the toolkit serialises them too).
 */
export class BasicAuth {
  private readonly cache = new Map<string, boolean>();
  private queue: Promise<unknown> = Promise.resolve();
  /** bcrypt comparisons done (the cache's misses); for tests. */
  comparisons = 0;

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  /** True when the request carries the credentials of a configured user. */
  async allows(req: Request): Promise<boolean> {
    const creds = basicCredentials(req.headers.get("authorization"));
    if (!creds) return false;
    const hash = this.users.get(creds.user);
    const known = hash !== undefined;
    const h = hash ?? DUMMY_HASH;
    const digest = await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(`${creds.user.length}:${creds.user}${h}${creds.pass}`),
    );
    const key = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    let ok = this.cache.get(key);
    if (ok === undefined) {
      const run = this.queue.then(() => {
        this.comparisons++;
        return bcrypt.compare(creds.pass, h);
      });
      this.queue = run.catch(() => undefined);
      ok = known && await run.catch(() => false);
      if (this.cache.size >= AUTH_CACHE_SIZE) {
        this.cache.delete(this.cache.keys().next().value!);
      }
      this.cache.set(key, ok);
    }
    return ok && known;
  }
}

/** User and password of an `Authorization: Basic …` header (Go's Request.BasicAuth rules). */
export function basicCredentials(header: string | null): { user: string; pass: string } | null {
  if (header === null || header.length < 6 || header.slice(0, 6).toLowerCase() !== "basic ") {
    return null;
  }
  let decoded: string;
  try {
    const bin = atob(header.slice(6));
    decoded = new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
  const i = decoded.indexOf(":");
  if (i < 0) return null;
  return { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

/** Go's `http.Error(w, "Unauthorized", 401)` with the challenge the toolkit sends. */
export function unauthorized(): Response {
  return new Response("Unauthorized\n", {
    status: 401,
    headers: {
      "www-authenticate": "Basic",
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
  });
}

/** A token bucket (golang.org/x/time/rate's Limiter: one token per interval, `burst` at most). */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly intervalMs: number, private readonly burst: number) {
    this.tokens = burst;
  }

  /** Takes a token if one is there. */
  allow(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.intervalMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
