// Flag values → the Deno permissions of a role's worker. A role may listen on, connect to,
// read and write exactly what its flags name; nothing else (no subprocesses, no FFI).

import type { CommandSpec, Grant, RawFlags } from "./flags.ts";
import { parseListenAddress, UsageError, webConfig } from "./flags.ts";
import { webConfigFiles } from "../server/web_config.ts";
import { cachePermissions } from "../cache/config.ts";
import { tracingPermissions } from "../tracing/config.ts";
import { DNS_SD_PREFIX, endpointsConfigPermissions } from "../promclient/endpoints_config.ts";

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

/** An empty permission set. */
export function emptyPermissions(): PermissionSet {
  return {
    net: new Set(),
    read: new Set(),
    write: new Set(),
    env: new Set(),
    sys: new Set(),
  };
}

/**
 * Turns an address or URL into the `host:port` Deno's net permission expects.
 * Discovery prefixes (`dns+`, `dnsdualstack+`, `dnssrv+`, `dnssrvnoa+`) grant the host itself; for SRV
 * records the port is unknown, so the whole host is granted.
 */
export function netTarget(value: string): string {
  let v = value.trim();
  let srv = false;
  const sd = DNS_SD_PREFIX.exec(v);
  if (sd) {
    srv = sd[1].startsWith("dnssrv");
    v = v.slice(sd[0].length);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    const u = new URL(v);
    const port = u.port || (u.protocol === "https:" ? "443" : u.protocol === "http:" ? "80" : "");
    return port ? `${u.hostname}:${port}` : u.hostname;
  }
  return srv ? v.replace(/:\d+$/, "") : v;
}

/** True for an IPv4 or IPv6 address literal (no brackets). */
function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** `host:port` as Deno's net permission spells it: IPv6 literals in brackets. */
function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The net grants a listen address needs, for every form Go accepts: `:port` (all interfaces,
 * bound as 0.0.0.0), `0.0.0.0:port`, `[::]:port`, `[::1]:port`, `host:port`. A hostname is
 * granted as written (Deno.listen checks the name) and as each address it resolves to
 * (`resolved`, looked up by the launcher: node's listen resolves the name, then binds the
 * address). Throws UsageError on a malformed address.
 */
export function listenTargets(value: string, resolved?: Record<string, string[]>): string[] {
  const { hostname, port } = parseListenAddress(value);
  const out = [hostPort(hostname, port)];
  if (!isIpLiteral(hostname)) {
    for (const ip of resolved?.[hostname] ?? []) out.push(hostPort(ip, port));
  }
  return out;
}

/** Hostnames (not address literals) among the listen addresses of a parsed command. */
export function listenHostnames(spec: CommandSpec, raw: RawFlags): string[] {
  const out = new Set<string>();
  for (const f of spec.flags) {
    if (f.grants !== "listen") continue;
    for (const v of raw.values[f.name] ?? (f.default ? [f.default] : [])) {
      if (v === "") continue;
      try {
        const { hostname } = parseListenAddress(v);
        if (!isIpLiteral(hostname)) out.add(hostname);
      } catch { /* reported by derivePermissions */ }
    }
  }
  return [...out];
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
  resolved?: Record<string, string[]>,
): void {
  if (value === "") return;
  switch (grant) {
    case "listen":
      for (const t of listenTargets(value, resolved)) addNet(set, t);
      break;
    case "connect":
      // DNS discovery yields addresses only known at run time.
      if (DNS_SD_PREFIX.test(value.trim())) set.net = true;
      else addNet(set, netTarget(value));
      break;
    case "connect-alertmanager": {
      // Thanos's ruler: the port defaults to 9093 (rules/notifier.ts parseAlertmanagerURLs)
      const v = value.trim();
      if (DNS_SD_PREFIX.test(v)) set.net = true;
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
    case "web-config-file": {
      // checked here, in the launcher: a config this build cannot serve is refused at start
      set.read.add(value);
      const text = files[value];
      if (text === undefined) return;
      for (const f of webConfigFiles(webConfig(text, value))) set.read.add(f);
      break;
    }
    case "cache-file":
    case "cache": {
      const yaml = grant === "cache" ? value : files[value];
      if (grant === "cache-file") set.read.add(value);
      if (yaml === undefined) return;
      let p: { net: string[]; read: string[] };
      try {
        p = cachePermissions(yaml);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      for (const n of p.net) addNet(set, n);
      for (const r of p.read) set.read.add(r);
      break;
    }
    case "tracing-file":
    case "tracing": {
      const yaml = grant === "tracing" ? value : files[value];
      if (grant === "tracing-file") set.read.add(value);
      if (yaml === undefined) return;
      let p: { net: string[]; read: string[]; env: string[] };
      try {
        p = tracingPermissions(yaml);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      for (const n of p.net) addNet(set, n);
      for (const r of p.read) set.read.add(r);
      if (set.env !== true) { for (const e of p.env) set.env.add(e); }
      break;
    }
    case "endpoints-file":
    case "endpoints": {
      const yaml = grant === "endpoints" ? value : files[value];
      if (grant === "endpoints-file") set.read.add(value);
      if (yaml === undefined) return;
      let p: { net: string[] | true; read: string[] };
      try {
        p = endpointsConfigPermissions(yaml);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (p.net === true) set.net = true;
      else for (const n of p.net) addNet(set, n);
      for (const r of p.read) set.read.add(r);
      break;
    }
    case "objstore-file":
    case "objstore":
    case "objstore-file-read":
    case "objstore-read": {
      const file = grant === "objstore-file" || grant === "objstore-file-read";
      const yaml = file ? files[value] : value;
      if (file) set.read.add(value);
      if (yaml === undefined) return;
      if (!objstore) throw new UsageError("object storage is not available in this build");
      // a role that only reads its bucket gets no write access to it (a FILESYSTEM directory)
      const readOnly = grant === "objstore-read" || grant === "objstore-file-read";
      const p = objstore(yaml);
      for (const n of p.net) addNet(set, n);
      for (const r of p.read) set.read.add(r);
      for (const w of p.write) {
        set.read.add(w);
        if (!readOnly) set.write.add(w);
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
 * `resolved` maps listen hostnames to their addresses (see {@link listenTargets}).
 */
export function derivePermissions(
  spec: CommandSpec,
  raw: RawFlags,
  objstore?: ObjstorePermissions,
  resolved?: Record<string, string[]>,
): PermissionSet {
  const set = emptyPermissions();
  // what the command's libraries read (the YAML parser); a bucket's needs come with its config
  if (set.env !== true) { for (const e of spec.env ?? []) set.env.add(e); }
  for (const f of spec.flags) {
    if (!f.grants) continue;
    const values = raw.values[f.name] ?? f.defaults ?? (f.default ? [f.default] : []);
    for (const v of values) applyGrant(set, f.grants, v, raw.files, objstore, resolved);
  }
  (spec.args ?? []).forEach((a, i) => {
    if (a.grants && raw.args[i] !== undefined) {
      applyGrant(set, a.grants, raw.args[i], raw.files, objstore, resolved);
    }
  });
  return set;
}

/**
 * The net grant of a role thread's loopback pair for cheap socket-reading event-loop turns
 * (runutil/loop_turn.ts `ioTurn`): exactly `127.0.0.1:<port>`, a port the launcher picked.
 */
export function ioTurnGrant(port: number): string {
  return `127.0.0.1:${port}`;
}

/** A copy of `set` that also grants the loopback port of the role thread's I/O turns. */
export function withIoTurnPort(set: PermissionSet, port: number): PermissionSet {
  return { ...set, net: set.net === true ? true : new Set([...set.net, ioTurnGrant(port)]) };
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
