// Declarative flag tables: one table per command gives the help text, the parser and the
// Deno permissions the role gets (docs/architecture.md, "components/"). Values are parsed once
// here, at the edge, and handed to components as typed getters.

import { DurationOutOfRangeError, InvalidDurationError, parseDuration } from "../tsdb/duration.ts";
import type { LogLevel } from "../logging/log.ts";
import { parseBase2Bytes } from "../strconv/bytes.ts";
import type { RetentionByResolution } from "../compact/retention.ts";
import { parseWebConfig, type WebConfig, WebConfigError } from "../server/web_config.ts";

/** How a flag's value is read. */
export type FlagKind =
  | "string"
  | "bool"
  | "int"
  | "float"
  | "duration"
  | "bytes"
  | "enum"
  | "time";

/**
 * What a flag's value grants the role:
 * - `listen`: a `host:port` the role serves on;
 * - `connect`: a URL or `host:port` the role connects to (DNS-discovery prefixes allowed);
 * - `read` / `write`: a path the role reads, or reads and writes;
 * - `read-env`: a path the role reads and expands `$(VAR)` references in, so it may read the
 *   environment too;
 * - `read-file`: a config file the launcher reads and passes in (the role gets read access
 *   too, so it can reload it);
 * - `objstore`: a bucket configuration (inline YAML); `objstore-file`: a path to one;
 *   `objstore-read`, `objstore-file-read`: the same for a role that only reads the bucket (no
 *   write access to a FILESYSTEM bucket's directory);
 * - `discover`: a service-discovery source (inline config) whose targets are only known at run
 *   time: the role may connect anywhere (Deno has no address-range grants);
 *   `discover-file`: the same, from a config file the launcher reads (the role may re-read it);
 *   `discover-glob`: the same, from files matching a glob the role reads (its directory);
 * - `cache`: a cache configuration (inline YAML, cache/config.ts): the role may connect to its
 *   servers and read its TLS files; `cache-file`: a path to one (read by the launcher too).
 * - `read-glob`: files matching a glob the role reads (their directory), no network;
 * - `connect-alertmanager`: an Alertmanager URL; without a port, Alertmanager's 9093.
 * - `tracing`: a tracing configuration (inline YAML, tracing/config.ts): the role may connect
 *   to its collector, read its TLS files and the `OTEL_*` exporter variables;
 *   `tracing-file`: a path to one (read by the launcher too);
 * - `web-config-file`: a web config (`--http.config`, server/web_config.ts) the launcher reads
 *   and checks; the role may read it and the certificate and key files it names.
 * - `endpoints`: Thanos's query / Alertmanager endpoint config or a `remote_write:` config
 *   (promclient/endpoints_config.ts): the role may connect to its hosts (any, for DNS or file
 *   discovery) and read the files it names; `endpoints-file`: a path to one.
 */
export type Grant =
  | "listen"
  | "connect"
  | "read"
  | "read-env"
  | "write"
  | "read-file"
  | "objstore"
  | "objstore-file"
  | "objstore-read"
  | "objstore-file-read"
  | "discover"
  | "discover-file"
  | "discover-glob"
  | "cache"
  | "cache-file"
  | "read-glob"
  | "connect-alertmanager"
  | "tracing"
  | "tracing-file"
  | "web-config-file"
  | "endpoints"
  | "endpoints-file";

/** One flag of a command; `N` is its name as a string literal type. */
export interface FlagSpec<N extends string = string> {
  /** Long name without the leading `--`, e.g. `http-address`. */
  name: N;
  /** Optional one-letter alias without `-`, e.g. `o`. */
  short?: string;
  kind: FlagKind;
  /** Default in its textual form, as `--help` shows it; repeatable flags default to none. */
  default?: string;
  /** Defaults of a repeatable flag whose default is a list (Thanos's `--sort-by=FROM...`). */
  defaults?: readonly string[];
  help: string;
  repeatable?: boolean;
  /** Allowed values for `enum` flags. */
  choices?: readonly string[];
  grants?: Grant;
  required?: boolean;
  /** Not shown in `--help` (Thanos's hidden flags). */
  hidden?: boolean;
  /**
   * Why this build cannot serve the flag: the launcher refuses any value but the default at
   * start, with this reason (for a `read-file` flag: a file that is not blank). Thanos's flag
   * is accepted at its default so that argument lists written for Thanos keep working.
   */
  unsupported?: string;
  /**
   * Why the flag changes nothing in this build (it configures something this build does not
   * have, e.g. the bucket web UI): any value is accepted and the role logs this at start.
   */
  noEffect?: string;
  /** Checks the given values (e.g. `--enable-feature` names): refuses some, notes others. */
  check?: FlagValueCheck;
}

/** A per-value check of a flag: `refuse` exits 2 at start; `notes` are logged at start. */
export type FlagValueCheck = (values: readonly string[]) => { refuse?: string; notes?: string[] };

/** A positional argument. */
export interface ArgSpec {
  name: string;
  help: string;
  required?: boolean;
  /** What the argument grants, as for flags. */
  grants?: Grant;
}

/**
 * A runnable command: `thanos <path…> [flags] [args]`. `N` is the union of its flag names, so
 * `Flags<N>` accepts only names the table declares (a misspelt name is a type error).
 */
export interface CommandSpec<N extends string = string> {
  /** Words after `thanos`, e.g. `["tools", "tsdb", "dump"]`. */
  path: readonly string[];
  help: string;
  flags: readonly FlagSpec<N>[];
  args?: readonly ArgSpec[];
  /** SIGHUP reloads the role's configuration instead of terminating the process. */
  reloadOnSighup?: boolean;
  /**
   * Environment variables the command's libraries read whatever the flags say (granted to
   * its role); e.g. {@link YAML_ENV} for commands that read YAML configs.
   */
  env?: readonly string[];
}

/**
 * What the YAML parser (npm `yaml`) reads from the environment on every parse (its debug
 * switches): granted to the commands that read YAML configs, and to no other.
 */
export const YAML_ENV: readonly string[] = ["LOG_STREAM", "LOG_TOKENS"];

/** The flag-name union of a command table. */
export type FlagName<C> = C extends CommandSpec<infer N> ? N : never;

/** Declares a command table, keeping its flag names as a literal union. */
export function defineCommand<const N extends string>(spec: CommandSpec<N>): CommandSpec<N> {
  return spec;
}

/** Declares a group of flags shared by several tables, keeping their names as literals. */
export function defineFlags<const N extends string>(
  flags: readonly FlagSpec<N>[],
): readonly FlagSpec<N>[] {
  return flags;
}

/** A usage error: the launcher prints it on one line and exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Raw parsed values as they cross into the worker (structured-clone friendly). */
export interface RawFlags {
  command: string[];
  values: Record<string, string[]>;
  args: string[];
  /** Files the launcher read for `read-file` / `objstore-file` flags: path → contents. */
  files: Record<string, string>;
}

// The leading well-formed `<digits><unit>` terms of a duration.
const DURATION_TERMS_RE = /^(\d+(ms|y|w|d|h|m|s))+/;

/** True when the leading well-formed terms of `s` are out of order (`30m1h`, `1h1h`). */
function unitsOutOfOrder(s: string): boolean {
  const terms = DURATION_TERMS_RE.exec(s)?.[0];
  if (terms === undefined) return false;
  try {
    parseDuration(terms);
    return false;
  } catch (e) {
    return !(e instanceof DurationOutOfRangeError);
  }
}

/**
 * Parses a Prometheus duration (`30s`, `1h30m`, `2w`, `0`) to milliseconds, ignoring surrounding
 * spaces. Throws UsageError on anything else. With `allowSign`, a leading `-`/`+` is accepted.
 */
export function parseDurationFlag(s: string, allowSign = false): number {
  let rest = s.trim();
  let sign = 1;
  if (allowSign && (rest.startsWith("-") || rest.startsWith("+"))) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  try {
    return sign * parseDuration(rest);
  } catch (e) {
    if (!(e instanceof InvalidDurationError)) throw e;
    // name the first problem a left-to-right reading meets, as the flag errors always have
    let why = "";
    if (unitsOutOfOrder(rest)) why = ": units out of order";
    else if (e instanceof DurationOutOfRangeError) why = `: ${e.message}`;
    throw new UsageError(`invalid duration ${JSON.stringify(s)}${why}`);
  }
}

/** Parses a byte size like Thanos (`250MB`, `1GiB`, `512`; units are powers of 1024). */
export function parseBytesFlag(s: string): number {
  const n = parseBase2Bytes(s);
  if (n === undefined) throw new UsageError(`invalid byte size ${JSON.stringify(s)}`);
  return n;
}

/**
 * Parses a Thanos time flag: RFC3339, or a duration relative to `now` (`-2w`, `2h45m`).
 * Returns milliseconds since the epoch.
 */
export function parseTimeFlag(s: string, now = Date.now()): number {
  if (/^[+-]?(\d+(ms|y|w|d|h|m|s))+$/.test(s.trim())) return now + parseDurationFlag(s, true);
  const t = Date.parse(s);
  if (/^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(t)) return t;
  // Thanos's defaults are years 0000 and 9999, outside what Date.parse reliably accepts.
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/.exec(s);
  if (m) {
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) -
      (+m[1] < 100 ? Date.UTC(1900, 0, 1) - Date.UTC(0, 0, 1) : 0);
  }
  throw new UsageError(
    `invalid time ${JSON.stringify(s)}: want RFC3339 or a relative duration like -2w`,
  );
}

function findFlag(spec: CommandSpec, name: string): FlagSpec | undefined {
  return spec.flags.find((f) => f.name === name || f.short === name);
}

/** Checks one raw value against its flag's kind; throws UsageError naming the flag. */
function validateValue(f: FlagSpec, v: string): void {
  const bad = (why: string) =>
    new UsageError(`invalid value ${JSON.stringify(v)} for --${f.name}: ${why}`);
  switch (f.kind) {
    case "int":
      if (!/^[+-]?\d+$/.test(v)) throw bad("not an integer");
      break;
    case "float":
      if (v.trim() === "" || Number.isNaN(Number(v))) throw bad("not a number");
      break;
    case "bool":
      if (!["true", "false"].includes(v)) throw bad("want true or false");
      break;
    case "enum":
      if (!f.choices!.includes(v)) throw bad(`want one of ${f.choices!.join(", ")}`);
      break;
    case "duration":
      try {
        parseDurationFlag(v);
      } catch (e) {
        throw bad((e as Error).message);
      }
      break;
    case "bytes":
      try {
        parseBytesFlag(v);
      } catch (e) {
        throw bad((e as Error).message);
      }
      break;
    case "time":
      try {
        parseTimeFlag(v);
      } catch (e) {
        throw bad((e as Error).message);
      }
      break;
  }
}

/**
 * Parses `argv` (the words after the command path) against `spec`. Accepts `--name=value`,
 * `--name value`, `-x value`, `--flag` / `--no-flag` for bools, and `--` to end flags.
 * Throws UsageError naming the offending word.
 */
export function parseFlags(spec: CommandSpec, argv: readonly string[]): RawFlags {
  const values: Record<string, string[]> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      args.push(word);
      continue;
    }
    const long = word.startsWith("--");
    const body = word.slice(long ? 2 : 1);
    const eq = body.indexOf("=");
    let name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    let f = long
      ? spec.flags.find((x) => x.name === name)
      : spec.flags.find((x) => x.short === name);
    if (!f && long && name.startsWith("no-") && value === undefined) {
      const pos = spec.flags.find((x) => x.name === name.slice(3));
      if (pos && pos.kind === "bool") {
        f = pos;
        name = pos.name;
        value = "false";
      }
    }
    if (!f) throw new UsageError(`unknown flag ${long ? "--" : "-"}${name}`);
    if (value === undefined) {
      if (f.kind === "bool") value = "true";
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag --${f.name} needs a value`);
        value = argv[++i];
      }
    }
    validateValue(f, value);
    if (f.repeatable) (values[f.name] ??= []).push(value);
    else values[f.name] = [value];
  }
  for (const f of spec.flags) {
    if (f.required && !values[f.name]) {
      throw new UsageError(`required flag --${f.name} not provided`);
    }
  }
  const specArgs = spec.args ?? [];
  const required = specArgs.filter((a) => a.required).length;
  if (args.length < required) {
    throw new UsageError(`required argument <${specArgs[args.length].name}> not provided`);
  }
  if (args.length > specArgs.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(args[specArgs.length])}`);
  }
  return { command: [...spec.path], values, args, files: {} };
}

/**
 * Typed access to parsed flags, applying the table's defaults. The getters accept only the
 * names `N` of the table (`in`: a `Flags` of a larger table may be passed where a flag group's
 * `Flags` is expected, never the other way round).
 */
export class Flags<in N extends string = string> {
  readonly spec: CommandSpec;

  constructor(spec: CommandSpec<N>, readonly raw: RawFlags) {
    this.spec = spec;
  }

  /**
   * These flags as the typed flags of `spec`, checking that they were parsed against that
   * very table (the launcher hands roles `Flags` of whichever command it ran).
   */
  of<M extends string>(spec: CommandSpec<M>): Flags<M> {
    if (this.spec.path.join(" ") !== spec.path.join(" ")) {
      throw new Error(
        `bug: flags of command "${this.spec.path.join(" ")}" used as "${spec.path.join(" ")}"`,
      );
    }
    return new Flags(spec, this.raw);
  }

  private flag(name: string): FlagSpec {
    const f = findFlag(this.spec, name);
    if (!f) throw new Error(`bug: command ${this.spec.path.join(" ")} has no flag --${name}`);
    return f;
  }

  /** True when the user set the flag. */
  isSet(name: N): boolean {
    return this.raw.values[this.flag(name).name] !== undefined;
  }

  /** The last value given, or the default, or "" when neither. */
  string(name: N): string {
    return this.last(this.flag(name));
  }

  /** Every value of a repeatable flag (the default counts as one value when none is given). */
  strings(name: N): string[] {
    return this.all(this.flag(name));
  }

  /** Every flag's value as text (repeatable ones comma-joined), as `/api/v1/status/flags` shows. */
  textValues(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of this.spec.flags) {
      out[f.name] = f.repeatable ? this.all(f).join(",") : this.last(f);
    }
    return out;
  }

  private last(f: FlagSpec): string {
    const v = this.raw.values[f.name];
    return v && v.length > 0 ? v[v.length - 1] : f.default ?? "";
  }

  private all(f: FlagSpec): string[] {
    const v = this.raw.values[f.name];
    if (v && v.length > 0) return v;
    if (f.defaults) return [...f.defaults];
    return f.default ? [f.default] : [];
  }

  bool(name: N): boolean {
    return this.string(name) === "true";
  }

  int(name: N): number {
    const s = this.string(name);
    return s === "" ? 0 : parseInt(s, 10);
  }

  float(name: N): number {
    const s = this.string(name);
    return s === "" ? 0 : Number(s);
  }

  /** Milliseconds. */
  duration(name: N): number {
    const s = this.string(name);
    return s === "" ? 0 : parseDurationFlag(s);
  }

  bytes(name: N): number {
    const s = this.string(name);
    return s === "" ? 0 : parseBytesFlag(s);
  }

  /** Milliseconds since the epoch. */
  time(name: N): number {
    return parseTimeFlag(this.string(name));
  }

  /**
   * The value of an `enum` flag as one of `allowed` (the domain type's values). Throws
   * UsageError, as the parser does, when the value is not one of them.
   */
  enum<const C extends string>(name: N, allowed: readonly C[]): C {
    const v = this.string(name);
    if ((allowed as readonly string[]).includes(v)) return v as C;
    const f = this.flag(name);
    throw new UsageError(
      `invalid value ${JSON.stringify(v)} for --${f.name}: want one of ${
        (f.choices ?? allowed).join(", ")
      }`,
    );
  }

  /** Positional argument `i`, or "". */
  arg(i: number): string {
    return this.raw.args[i] ?? "";
  }

  /** Contents of a file flag the launcher read, or "" when the flag is unset. */
  fileContents(name: N): string {
    const path = this.string(name);
    return path === "" ? "" : this.raw.files[path] ?? "";
  }
}

/** A flag value in a comparable form (`0s` and `0` are the same duration). */
function comparable(f: FlagSpec, v: string): string {
  const t = v.trim();
  if (t === "") return "";
  try {
    switch (f.kind) {
      case "duration":
        return String(parseDurationFlag(t));
      case "bytes":
        return String(parseBytesFlag(t));
      case "int":
      case "float":
        return String(Number(t));
      default:
        return t;
    }
  } catch {
    return t;
  }
}

/** True when the values the user gave for `f` mean the same as leaving it unset. */
function givenAtDefault(f: FlagSpec, raw: RawFlags): boolean {
  const given = raw.values[f.name];
  if (given === undefined) return true;
  if (f.grants === "read-file") {
    return given.every((path) => path.trim() === "" || (raw.files[path] ?? "").trim() === "");
  }
  const want = (f.defaults ?? (f.default ? [f.default] : [])).map((v) => comparable(f, v));
  const got = given.map((v) => comparable(f, v)).filter((v) => !(f.repeatable && v === ""));
  if (f.repeatable) return got.length === 0 || got.join("\n") === want.join("\n");
  return got[got.length - 1] === (want[0] ?? (f.kind === "bool" ? "false" : ""));
}

/** A flag's given values on one line, shortened (configs may be long YAML documents). */
function shownValue(f: FlagSpec, raw: RawFlags): string {
  const v = (raw.values[f.name] ?? []).join(",");
  const one = JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return `--${f.name}=${one}`;
}

/**
 * Refuses a flag this build cannot serve when it is set to anything but its default (the
 * flag's `unsupported` reason). Runs in the launcher after the flag files are read. Throws
 * UsageError on one line naming the flag and why.
 */
export function refuseUnsupported(spec: CommandSpec, raw: RawFlags): void {
  for (const f of spec.flags) {
    const refuse = f.check && raw.values[f.name] ? f.check(raw.values[f.name]).refuse : undefined;
    if (refuse) {
      throw new UsageError(`${shownValue(f, raw)} is not supported by this build: ${refuse}`);
    }
    if (!f.unsupported || givenAtDefault(f, raw)) continue;
    throw new UsageError(
      `${shownValue(f, raw)} is not supported by this build: ${f.unsupported}`,
    );
  }
}

/** One line per flag set to a non-default value that has no effect in this build. */
export function noEffectNotes(spec: CommandSpec, raw: RawFlags): string[] {
  return spec.flags.filter((f) => f.noEffect && !givenAtDefault(f, raw)).map((f) =>
    `${shownValue(f, raw)} has no effect in this build: ${f.noEffect}`
  ).concat(
    spec.flags.flatMap((f) =>
      f.check && raw.values[f.name] ? f.check(raw.values[f.name]).notes ?? [] : []
    ),
  );
}

/** A parsed listen address. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/** Splits `host:port` (also `[::1]:port` and `:port`) into hostname and port. */
export function parseListenAddress(addr: string): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) throw new UsageError(`invalid listen address ${JSON.stringify(addr)}: want host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`invalid port in listen address ${JSON.stringify(addr)}`);
  const hostname = m[1] ?? m[2];
  return { hostname: hostname === "" ? "0.0.0.0" : hostname, port };
}

/** Parses a Thanos label flag value `name="value"` (value a Go/JSON-style quoted string). */
export function parseLabelFlag(flag: string, s: string): [string, string] {
  const m = /^([a-zA-Z_][a-zA-Z0-9_]*)=(.*)$/.exec(s.trim());
  if (!m) throw new UsageError(`invalid --${flag} ${JSON.stringify(s)}: want name="value"`);
  let value = m[2];
  if (/^".*"$/.test(value)) {
    try {
      value = JSON.parse(value);
    } catch {
      throw new UsageError(`invalid --${flag} ${JSON.stringify(s)}: bad quoted value`);
    }
  } else if (/^'.*'$/.test(value)) value = value.slice(1, -1);
  return [m[1], value];
}

/** Formats the `--help` text of a command, with what each flag grants. */
export function formatHelp(spec: CommandSpec, programName = "thanos"): string {
  const lines: string[] = [];
  const argsUsage = (spec.args ?? []).map((a) => (a.required ? `<${a.name}>` : `[<${a.name}>]`));
  lines.push(
    `usage: ${programName} ${spec.path.join(" ")} [<flags>] ${argsUsage.join(" ")}`.trimEnd(),
  );
  lines.push("", spec.help, "", "Flags:");
  const rows: [string, string][] = [
    ["-h, --help", "Show context-sensitive help."],
    ["    --help-long", "Generate long help."],
    ["    --version", "Show application version."],
  ];
  for (const f of spec.flags) {
    if (f.hidden) continue;
    const short = f.short ? `-${f.short}, ` : "    ";
    const val = f.kind === "bool"
      ? ""
      : `=${f.kind === "enum" ? f.choices!.join("|") : placeholder(f)}`;
    let help = f.help;
    if (f.defaults) help += ` (default: ${f.defaults.join(", ")})`;
    else if (f.default !== undefined && f.default !== "") help += ` (default: ${f.default})`;
    if (f.unsupported) help += ` [refused unless at its default: ${f.unsupported}]`;
    if (f.noEffect) help += ` [no effect: ${f.noEffect}]`;
    if (f.repeatable) help += " Repeatable.";
    if (f.grants) help += ` [grants ${grantText(f.grants)}]`;
    rows.push([`${short}--${f.name}${val}`, help]);
  }
  const width = Math.min(48, Math.max(...rows.map((r) => r[0].length)) + 2);
  for (const [k, v] of rows) {
    lines.push(
      k.length + 2 > width ? `  ${k}\n${" ".repeat(width + 2)}${v}` : `  ${k.padEnd(width)}${v}`,
    );
  }
  if (spec.args?.length) {
    lines.push("", "Args:");
    for (const a of spec.args) {
      lines.push(`  <${a.name}>  ${a.help}${a.grants ? ` [grants ${grantText(a.grants)}]` : ""}`);
    }
  }
  return lines.join("\n");
}

function placeholder(f: FlagSpec): string {
  switch (f.kind) {
    case "duration":
      return "DURATION";
    case "bytes":
      return "BYTES";
    case "int":
      return "INT";
    case "float":
      return "FLOAT";
    case "time":
      return "TIME";
    default:
      return f.grants === "listen" ? "HOST:PORT" : "VALUE";
  }
}

function grantText(g: Grant): string {
  switch (g) {
    case "listen":
      return "net: listen on this address";
    case "connect":
      return "net: connect to this address";
    case "read":
      return "read: this path";
    case "write":
      return "read+write: this path";
    case "read-env":
      return "read: this path; env: all (for $(VAR) substitution)";
    case "read-file":
      return "read: this file";
    case "read-glob":
      return "read: the files matching this glob (their directory)";
    case "connect-alertmanager":
      return "net: connect to this Alertmanager (port 9093 unless given)";
    case "web-config-file":
      return "read: this file and the certificate and key it names";
    case "endpoints":
    case "endpoints-file":
      return "net/read: the endpoints (any address with DNS or file discovery) and files it names";
    case "objstore":
    case "objstore-file":
      return "net/read/write/env: what the bucket config needs";
    case "objstore-read":
    case "objstore-file-read":
      return "net/read/env: what the bucket config needs to be read (no write)";
    case "discover":
    case "discover-file":
    case "discover-glob":
      return "net: any address (discovered targets are only known at run time)";
    case "cache":
    case "cache-file":
      return "net/read: the cache servers and TLS files the cache config names";
    case "tracing":
    case "tracing-file":
      return "net/read/env: the OTLP collector and TLS files the tracing config names";
  }
}

// ---- Flag groups shared by many components (Thanos names and defaults, see the flag lists of
// https://thanos.io/tip/components/query.md/#flags and the other component pages).

/** The values of `--log.level`. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const satisfies readonly LogLevel[];

/** `--log.level`, `--log.format`. */
export const LOG_FLAGS = defineFlags([
  {
    name: "log.level",
    kind: "enum",
    choices: LOG_LEVELS,
    default: "info",
    help: "Log filtering level.",
  },
  {
    name: "log.format",
    kind: "enum",
    choices: ["logfmt", "json"],
    default: "logfmt",
    help: "Log format to use.",
  },
]);

/** `--objstore.config-file`, `--objstore.config`. */
export const OBJSTORE_FLAGS = defineFlags([
  {
    name: "objstore.config-file",
    kind: "string",
    help: "Path to YAML file that contains object store configuration.",
    grants: "objstore-file",
  },
  {
    name: "objstore.config",
    kind: "string",
    help: "Alternative to 'objstore.config-file' flag: object store configuration in YAML.",
    grants: "objstore",
  },
]);

/** `--objstore.config-file`, `--objstore.config` of a role that only reads the bucket. */
export const OBJSTORE_READ_FLAGS = defineFlags(
  OBJSTORE_FLAGS.map((f) => ({
    ...f,
    grants: f.grants === "objstore-file" ? "objstore-file-read" as const : "objstore-read" as const,
  })),
);

/** `--retention.resolution-raw`, `-5m`, `-1h` (compact, tools bucket retention). */
export const RETENTION_FLAGS = defineFlags([
  {
    name: "retention.resolution-raw",
    kind: "duration",
    default: "0d",
    help: "How long to retain raw samples in bucket. Setting this to 0d will retain samples " +
      "of this resolution forever",
  },
  {
    name: "retention.resolution-5m",
    kind: "duration",
    default: "0d",
    help: "How long to retain samples of resolution 1 (5 minutes) in bucket. Setting this to " +
      "0d will retain samples of this resolution forever",
  },
  {
    name: "retention.resolution-1h",
    kind: "duration",
    default: "0d",
    help: "How long to retain samples of resolution 2 (1 hour) in bucket. Setting this to 0d " +
      "will retain samples of this resolution forever",
  },
]);

/** The retention per resolution the {@link RETENTION_FLAGS} set (0 keeps forever). */
export function retentionConfig(
  flags: Flags<"retention.resolution-raw" | "retention.resolution-5m" | "retention.resolution-1h">,
): RetentionByResolution {
  return {
    raw: flags.duration("retention.resolution-raw"),
    fiveMin: flags.duration("retention.resolution-5m"),
    oneHour: flags.duration("retention.resolution-1h"),
  };
}

/** `--http-address`, `--http-grace-period`. */
export function httpFlags(defaultAddress = "0.0.0.0:10902") {
  return defineFlags([
    {
      name: "http-address",
      kind: "string",
      default: defaultAddress,
      help: "Listen host:port for HTTP endpoints.",
      grants: "listen",
    },
    {
      name: "http-grace-period",
      kind: "duration",
      default: "2m",
      help: "Time to wait after an interrupt received for HTTP Server.",
    },
    ...HTTP_CONFIG_FLAGS,
  ]);
}

/** Flag names of a shared group. */
export type GroupName<G extends readonly FlagSpec[]> = G[number]["name"];

/** The HTTP server settings every role has. */
export interface HttpConfig {
  address: ListenAddress;
  gracePeriodMs: number;
  /** `--http.config`: TLS, headers, basic auth (absent when the flag is unset). */
  web?: WebConfig;
}

/** `--http-address`, `--http-grace-period` as settings. */
export function httpConfig(
  flags: Flags<GroupName<ReturnType<typeof httpFlags>>>,
): HttpConfig {
  const webPath = flags.string("http.config");
  return {
    address: parseListenAddress(flags.string("http-address")),
    gracePeriodMs: flags.duration("http-grace-period"),
    ...(webPath === "" ? {} : { web: webConfig(flags.fileContents("http.config"), webPath) }),
  };
}

/** The values of the `--*.tenant-certificate-field` flags ("": the tenant header decides). */
export const TENANT_CERTIFICATE_FIELDS = [
  "",
  "organization",
  "organizationalUnit",
  "commonName",
] as const;

/**
 * Refuses a `--*.tenant-certificate-field` flag (named `flag`) set to a field when `--http.config`
 * does not make the HTTP server ask for client certificates verified against a client CA: there
 * would be no certificate to read the tenant from (Thanos would fail every request).
 */
export function requireClientCertificates(
  flag: string,
  field: string,
  web: WebConfig | undefined,
): void {
  if (field === "") return;
  const a = web?.tls?.clientAuth;
  if (a === undefined || a === "NoClientCert" || web?.tls?.clientCA === undefined) {
    throw new UsageError(
      `--${flag}=${field} needs client certificates: give --http.config a tls_server_config ` +
        "with client_ca_file and client_auth_type (e.g. RequireAndVerifyClientCert)",
    );
  }
}

/** A `--http.config` file's text as a web config; UsageError naming the flag when invalid. */
export function webConfig(text: string, path: string): WebConfig {
  try {
    return parseWebConfig(text, path);
  } catch (e) {
    if (e instanceof WebConfigError) {
      throw new UsageError(`--http.config=${path}: ${e.message}`);
    }
    throw e;
  }
}

/** The logger settings from `--log.level`, `--log.format`. */
export function logConfig(
  flags: Flags<GroupName<typeof LOG_FLAGS>>,
): { level: LogLevel; format: "logfmt" | "json" } {
  return {
    level: flags.enum("log.level", LOG_LEVELS),
    format: flags.enum("log.format", ["logfmt", "json"]),
  };
}

/**
 * `--tracing.config-file`, `--tracing.config` (https://thanos.io/tip/thanos/tracing.md/):
 * `type: OTLP` with `client_type: http` (tracing/config.ts); the launcher refuses other types.
 */
export const TRACING_FLAGS = defineFlags([
  {
    name: "tracing.config-file",
    kind: "string",
    help: "Path to YAML file with tracing configuration (type: OTLP, client_type: http).",
    grants: "tracing-file",
  },
  {
    name: "tracing.config",
    kind: "string",
    help: "Alternative to 'tracing.config-file' flag (mutually exclusive). Content of YAML " +
      "file with tracing configuration (type: OTLP, client_type: http).",
    grants: "tracing",
  },
]);

const GOMEMLIMIT =
  "a Go runtime memory limit; this build has no Go runtime (size the JavaScript heap with " +
  "--v8-flags=--max-old-space-size=<MiB> at compile time instead)";

/** `--enable-auto-gomemlimit`, `--auto-gomemlimit.ratio`: accepted at their defaults only. */
export const GOMEMLIMIT_FLAGS = defineFlags([
  {
    name: "enable-auto-gomemlimit",
    kind: "bool",
    default: "false",
    help: "Enable go runtime to automatically limit memory consumption. Not in this build.",
    unsupported: GOMEMLIMIT,
  },
  {
    name: "auto-gomemlimit.ratio",
    kind: "float",
    default: "0.9",
    help: "The ratio of reserved GOMEMLIMIT memory to the detected maximum container or " +
      "system memory. Not in this build.",
    unsupported: GOMEMLIMIT,
  },
]);

/**
 * `--http.config` (Prometheus web config: TLS, headers, basic auth on the HTTP server; Thanos
 * applies it to the HTTP server only, never to receive's remote-write listener).
 */
export const HTTP_CONFIG_FLAGS = defineFlags([
  {
    name: "http.config",
    kind: "string",
    default: "",
    help: "[EXPERIMENTAL] Path to the configuration file that can enable TLS or " +
      "authentication for all HTTP endpoints.",
    grants: "web-config-file",
  },
]);

/** `--request.logging-config-file`, `--request.logging-config`. */
export const REQUEST_LOGGING_FLAGS = defineFlags([
  {
    name: "request.logging-config-file",
    kind: "string",
    help: "Path to YAML file with request logging configuration. See format details: " +
      "https://thanos.io/tip/thanos/logging.md/#configuration",
    grants: "read-file",
  },
  {
    name: "request.logging-config",
    kind: "string",
    help: "Alternative to 'request.logging-config-file' flag (mutually exclusive). Content of " +
      "YAML file with request logging configuration. See format details: " +
      "https://thanos.io/tip/thanos/logging.md/#configuration",
  },
]);

/**
 * `--web.route-prefix`, `--web.external-prefix`, `--web.prefix-header`, `--web.disable-cors`,
 * `--disable-admin-operations` of the bucket web UI
 * (https://thanos.io/tip/components/tools.md/#bucket-web).
 */
function bucketWebPrefixFlags() {
  return defineFlags([
    {
      name: "web.route-prefix",
      kind: "string",
      default: "",
      help: "Prefix for API and UI endpoints. This allows thanos UI to be served on a " +
        "sub-path. Defaults to the value of --web.external-prefix.",
    },
    {
      name: "web.external-prefix",
      kind: "string",
      default: "",
      help: "Static prefix for all HTML links and redirect URLs in the bucket web UI " +
        "interface. Actual endpoints are still served on / or the web.route-prefix.",
    },
    {
      name: "web.prefix-header",
      kind: "string",
      default: "",
      help: "Name of HTTP request header used for dynamic prefixing of UI links and " +
        "redirects. This option is ignored if web.external-prefix argument is set.",
    },
    {
      name: "web.disable-cors",
      kind: "bool",
      default: "false",
      help: "Whether to disable CORS headers to be set by Thanos. By default Thanos sets " +
        "CORS headers to be allowed by all.",
    },
    {
      name: "disable-admin-operations",
      kind: "bool",
      default: "false",
      help: "Disable UI/API admin operations like marking blocks for deletion and no " +
        "compaction.",
    },
  ]);
}

/** The bucket web UI's flags of `tools bucket web` (besides `--refresh`, `--label`, …). */
export const BUCKET_UI_PREFIX_FLAGS = bucketWebPrefixFlags();

/**
 * The bucket web UI flags of `compact` and `store` (https://thanos.io/tip/components/compact.md/,
 * https://thanos.io/tip/components/store.md/; the store has no `--web.route-prefix`).
 */
export const BUCKET_WEB_FLAGS = defineFlags([
  {
    name: "web.disable",
    kind: "bool",
    default: "false",
    help: "Disable Block Viewer UI.",
  },
  ...BUCKET_UI_PREFIX_FLAGS,
  {
    name: "bucket-web-label",
    kind: "string",
    default: "",
    help: "External block label to use as group title in the bucket web UI",
  },
]);

/** The bucket web UI's prefix and API settings. */
export interface BucketWebConfig {
  /** `--web.route-prefix` (or `--web.external-prefix`) as `/prefix`, or "". */
  routePrefix: string;
  /** `--web.external-prefix`, or undefined. */
  externalPrefix?: string;
  /** `--web.prefix-header`, or "" for none. */
  prefixHeader: string;
  cors: boolean;
  disableAdminOperations: boolean;
}

/** Reads {@link BUCKET_UI_PREFIX_FLAGS}. */
export function bucketWebConfig(
  flags: Flags<GroupName<typeof BUCKET_UI_PREFIX_FLAGS>>,
): BucketWebConfig {
  const prefix = flags.string("web.route-prefix") || flags.string("web.external-prefix");
  const norm = prefix.replace(/^\/+|\/+$/g, "");
  return {
    routePrefix: norm === "" ? "" : `/${norm}`,
    externalPrefix: flags.string("web.external-prefix") || undefined,
    prefixHeader: flags.string("web.prefix-header"),
    cors: !flags.bool("web.disable-cors"),
    disableAdminOperations: flags.bool("disable-admin-operations"),
  };
}
