// Flag values → the Deno permissions of a role's worker. A role may listen on, connect to,
// read and write exactly what its flags name; nothing else (no subprocesses, no FFI).

import type { CommandSpec, Grant, RawFlags } from "./flags.ts";
import { UsageError } from "./flags.ts";

/** The permission set of one role, before it is turned into Deno's worker options. */
export interface PermissionSet {
  /** Hosts (`host:port` or `host`), or true for any address (service discovery). */
  net: Set<string> | true;
  read: Set<string>;
  write: Set<string>;
  /** Environment variable names, or true for all (only when a flag demands it). */
  env: Set<string> | true;
  sys: Set<string>;
}

/** What a bucket configuration needs; provided by objstore/ (see objstore/config.ts). */
export type ObjstorePermissions = (yaml: string) => {
  net: string[];
  read: string[];
  write: string[];
  env: string[] | true;
  sys: string[];
};

/** Environment variables read by npm libraries every role loads (YAML parser). */
const LIBRARY_ENV = [
  "LOG_TOKENS",
  "LOG_STREAM",
  "AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA",
  "AWS_LAMBDA_BENCHMARK_MODE",
];

/** An empty permission set. */
export function emptyPermissions(): PermissionSet {
  return {
    net: new Set(),
    read: new Set(),
    write: new Set(),
    env: new Set(LIBRARY_ENV),
    sys: new Set(),
  };
}

/**
 * Turns an address or URL into the `host:port` Deno's net permission expects.
 * Discovery prefixes (`dns+`, `dnssrv+`, `dnssrvnoa+`) grant the host itself; for SRV
 * records the port is unknown, so the whole host is granted.
 */
export function netTarget(value: string): string {
  let v = value.trim();
  let srv = false;
  const sd = /^(dns|dnssrv|dnssrvnoa)\+/.exec(v);
  if (sd) {
    srv = sd[1] !== "dns";
    v = v.slice(sd[0].length);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    const u = new URL(v);
    const port = u.port || (u.protocol === "https:" ? "443" : u.protocol === "http:" ? "80" : "");
    return port ? `${u.hostname}:${port}` : u.hostname;
  }
  return srv ? v.replace(/:\d+$/, "") : v;
}

function addNet(set: PermissionSet, target: string): void {
  if (set.net !== true) set.net.add(target);
}

/** Adds what one flag value grants to `set`. */
export function applyGrant(
  set: PermissionSet,
  grant: Grant,
  value: string,
  files: Record<string, string>,
  objstore?: ObjstorePermissions,
): void {
  if (value === "") return;
  switch (grant) {
    case "listen":
      addNet(set, netTarget(value));
      break;
    case "connect":
      // DNS discovery yields addresses only known at run time.
      if (/^(dns|dnssrv|dnssrvnoa)\+/.test(value.trim())) set.net = true;
      else addNet(set, netTarget(value));
      break;
    case "connect-alertmanager": {
      // Thanos's ruler: the port defaults to 9093 (rules/notifier.ts parseAlertmanagerURLs)
      const v = value.trim();
      if (/^(dns|dnssrv|dnssrvnoa)\+/.test(v)) set.net = true;
      else if (/^https?:\/\/[^/]+$|^https?:\/\/[^/]+\//i.test(v)) {
        const u = new URL(v);
        addNet(set, `${u.hostname}:${u.port || "9093"}`);
      } else addNet(set, netTarget(v));
      break;
    }
    case "discover":
      set.net = true;
      break;
    case "discover-file":
      set.net = true;
      set.read.add(value);
      break;
    case "read-glob":
    case "discover-glob": {
      if (grant === "discover-glob") set.net = true;
      const cut = value.search(/[*?[{]/);
      if (cut < 0) set.read.add(value);
      else {
        const dir = value.slice(0, cut).replace(/[^/]*$/, "");
        set.read.add(dir === "" ? "." : dir);
      }
      break;
    }
    case "read":
    case "read-file":
      set.read.add(value);
      break;
    case "read-env":
      set.read.add(value);
      set.env = true;
      break;
    case "write":
      set.read.add(value);
      set.write.add(value);
      break;
    case "objstore-file":
    case "objstore": {
      const yaml = grant === "objstore" ? value : files[value];
      if (grant === "objstore-file") set.read.add(value);
      if (yaml === undefined) return;
      if (!objstore) throw new UsageError("object storage is not available in this build");
      const p = objstore(yaml);
      for (const n of p.net) addNet(set, n);
      for (const r of p.read) set.read.add(r);
      for (const w of p.write) {
        set.read.add(w);
        set.write.add(w);
      }
      if (p.env === true) set.env = true;
      else if (set.env !== true) { for (const e of p.env) set.env.add(e); }
      for (const s of p.sys) set.sys.add(s);
      break;
    }
  }
}

/**
 * Derives the permission set of a command from its parsed flags: every flag and argument
 * with a `grants` entry contributes, using the user's value or the flag's default.
 */
export function derivePermissions(
  spec: CommandSpec,
  raw: RawFlags,
  objstore?: ObjstorePermissions,
): PermissionSet {
  const set = emptyPermissions();
  for (const f of spec.flags) {
    if (!f.grants) continue;
    const values = raw.values[f.name] ?? (f.default ? [f.default] : []);
    for (const v of values) applyGrant(set, f.grants, v, raw.files, objstore);
  }
  (spec.args ?? []).forEach((a, i) => {
    if (a.grants && raw.args[i] !== undefined) {
      applyGrant(set, a.grants, raw.args[i], raw.files, objstore);
    }
  });
  return set;
}

/** Deno worker permission options for a permission set. */
export function workerPermissions(set: PermissionSet): Deno.PermissionOptionsObject {
  const list = (s: Set<string>) => (s.size === 0 ? false : [...s].sort());
  return {
    net: set.net === true ? true : list(set.net),
    read: list(set.read),
    write: list(set.write),
    env: set.env === true ? true : list(set.env),
    sys: list(set.sys) as Deno.PermissionOptionsObject["sys"],
    run: false,
    ffi: false,
    import: false,
  };
}

/** Human-readable listing for `--print-permissions`. */
export function formatPermissions(set: PermissionSet): string {
  const fmt = (
    s: Set<string> | true,
  ) => (s === true ? "all" : s.size ? [...s].sort().join(",") : "none");
  return [
    `net: ${fmt(set.net)}`,
    `read: ${fmt(set.read)}`,
    `write: ${fmt(set.write)}`,
    `env: ${fmt(set.env)}`,
    `sys: ${fmt(set.sys)}`,
    "run: none",
    "ffi: none",
  ].join("\n");
}
