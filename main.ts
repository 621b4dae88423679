// The launcher: `thanos <component> [flags]`. Parses flags from the command's table, reads
// the config files they name, derives the role's Deno permissions from the values, and runs
// the command in a Worker holding exactly those permissions (docs/architecture.md, "Single
// executable and permissions").

import { lookup } from "node:dns/promises";
import denoConfig from "./deno.json" with { type: "json" };
import { commandKey, COMMANDS, findCommand, GROUP_HELP } from "./components/commands.ts";
import {
  type CommandSpec,
  formatHelp,
  parseFlags,
  type RawFlags,
  refuseUnsupported,
  UsageError,
} from "./components/flags.ts";
import {
  derivePermissions,
  formatPermissions,
  listenHostnames,
  type PermissionSet,
  withIoTurnPort,
  workerPermissions,
} from "./components/permissions.ts";
import { objstoreLauncherPermissions, substituteObjstoreEnv } from "./components/objstore.ts";
import { tracingConfig } from "./components/tracing.ts";
import { requestLogFromFlags } from "./components/request_logging.ts";
import { EvalWorkers } from "./components/eval_workers.ts";

/** The program version (from deno.json). */
export const VERSION: string = denoConfig.version;

const PROGRAM = "thanos";

/** The Thanos release whose flags and behaviour this build follows. */
export const THANOS_COMPAT_VERSION = "0.42.4";

/** Go's GOARCH names of Deno's architectures, as Thanos's `platform:` line spells them. */
const GO_ARCH: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/**
 * `--version` text in the layout of prometheus/common's version.Print, which Thanos's kingpin
 * app prints (https://github.com/prometheus/common/blob/main/version/info.go): the first line
 * `thanos, version X (branch: B, revision: R)`, then indented `key:   value` lines.
 */
export function versionText(): string {
  // no build stamping yet: branch, revision, user and date are not recorded in the binary
  return [
    `${PROGRAM}, version ${VERSION} (branch: unknown, revision: unknown)`,
    `  build user:       unknown`,
    `  build date:       unknown`,
    `  go version:       none (Thanos-TS, TypeScript ${Deno.version.typescript})`,
    `  platform:         ${Deno.build.os}/${GO_ARCH[Deno.build.arch] ?? Deno.build.arch}`,
    `  tags:             thanos-ts`,
    `  thanos flags:     v${THANOS_COMPAT_VERSION}`,
    `  deno version:     ${Deno.version.deno}`,
    `  v8 version:       ${Deno.version.v8}`,
  ].join("\n");
}

/** Subcommands directly below `prefix` (command words or groups). */
function childrenOf(prefix: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of COMMANDS) {
    if (c.path.length <= prefix.length) continue;
    if (prefix.some((w, i) => c.path[i] !== w)) continue;
    const word = c.path[prefix.length];
    const key = commandKey([...prefix, word]);
    const isLeaf = c.path.length === prefix.length + 1;
    out.set(word, isLeaf ? c.help : GROUP_HELP[key] ?? "");
  }
  return out;
}

/**
 * Help of a command group; `long` (kingpin's `--help-long`) appends the full help of every
 * command below it.
 */
function groupHelp(prefix: readonly string[], long = false): string {
  const lines = [
    `usage: ${[PROGRAM, ...prefix].join(" ")} <command> [<flags>]`,
    "",
    prefix.length === 0
      ? "A Thanos-compatible system for highly available Prometheus with a global query view and\n" +
        "unlimited retention in object storage."
      : GROUP_HELP[commandKey(prefix)] ?? "",
    "",
    "Flags:",
    "  -h, --help            Show context-sensitive help.",
  ];
  if (prefix.length === 0) {
    lines.push("      --help-long       Generate long help.");
    lines.push("      --version         Show application version.");
    lines.push("      --print-permissions  (after a command) Print the permissions the role gets.");
  }
  lines.push("", "Commands:");
  const children = childrenOf(prefix);
  const width = Math.max(...[...children.keys()].map((k) => k.length)) + 2;
  for (const [word, help] of children) lines.push(`  ${word.padEnd(width)}${help}`);
  if (long) {
    for (const c of COMMANDS) {
      if (prefix.some((w, i) => c.path[i] !== w)) continue;
      lines.push("", formatHelp(c, PROGRAM));
    }
  }
  return lines.join("\n");
}

/** Outcome of resolving argv: print text, or run a command. */
type Resolved =
  | { kind: "print"; text: string; code: number }
  | { kind: "run"; spec: CommandSpec; raw: RawFlags; printPermissions: boolean };

/**
 * Resolves argv to a command and its parsed flags, or to text to print (help, version,
 * usage errors). Exported for tests; performs no I/O.
 */
export function resolveArgs(argv: readonly string[]): Resolved {
  const words = [...argv];
  // kingpin's app-level flags, accepted before or after the command words (`thanos query
  // --version` prints the version as `thanos --version` does); words after `--` are arguments
  const end = words.indexOf("--");
  const flagWords = end < 0 ? words : words.slice(0, end);
  const has = (...names: string[]) => flagWords.some((w) => names.includes(w));
  const wantHelpLong = has("--help-long");
  const wantHelp = wantHelpLong || has("--help", "-h");
  const printPermissions = has("--print-permissions");
  const appFlags = ["--help", "-h", "--help-long", "--print-permissions", "--version"];
  const rest = [
    ...flagWords.filter((w) => !appFlags.includes(w)),
    ...(end < 0 ? [] : words.slice(end)),
  ];
  if (has("--version") || rest[0] === "-v") {
    return { kind: "print", text: versionText(), code: 0 };
  }
  const path: string[] = [];
  let spec: CommandSpec | undefined;
  while (rest.length > 0 && !rest[0].startsWith("-")) {
    if (childrenOf(path).has(rest[0])) {
      path.push(rest.shift()!);
      spec = findCommand(path);
      if (spec) break;
    } else {
      const where = path.length ? `${PROGRAM} ${path.join(" ")}` : PROGRAM;
      return {
        kind: "print",
        text: `${PROGRAM}: error: unknown command ${
          JSON.stringify(rest[0])
        } for ${where}, try --help`,
        code: 2,
      };
    }
  }
  if (!spec) {
    if (wantHelp || path.length === 0 && rest.length === 0) {
      return { kind: "print", text: groupHelp(path, wantHelpLong), code: 0 };
    }
    if (rest.length > 0) {
      return {
        kind: "print",
        text: `${PROGRAM}: error: unknown flag ${JSON.stringify(rest[0])}, try --help`,
        code: 2,
      };
    }
    return {
      kind: "print",
      text: `${PROGRAM}: error: expected a command after "${path.join(" ")}", try --help`,
      code: 2,
    };
  }
  if (wantHelp) return { kind: "print", text: formatHelp(spec, PROGRAM), code: 0 };
  try {
    const raw = parseFlags(spec, rest);
    return { kind: "run", spec, raw, printPermissions };
  } catch (e) {
    if (e instanceof UsageError) {
      return {
        kind: "print",
        text: `${PROGRAM} ${spec.path.join(" ")}: error: ${e.message}`,
        code: 2,
      };
    }
    throw e;
  }
}

/**
 * Reads the files named by `read-file` / `objstore-file` flags into `raw.files`, and
 * substitutes `$(ENV)` references in bucket configs (the role itself gets no environment).
 */
async function readFlagFiles(spec: CommandSpec, raw: RawFlags): Promise<void> {
  for (const f of spec.flags) {
    const objstoreFile = f.grants === "objstore-file" || f.grants === "objstore-file-read";
    if ((f.grants === "objstore" || f.grants === "objstore-read") && raw.values[f.name]) {
      raw.values[f.name] = raw.values[f.name].map(substituteObjstoreEnv);
    }
    if (
      f.grants !== "read-file" && !objstoreFile && f.grants !== "discover-file" &&
      f.grants !== "cache-file" && f.grants !== "tracing-file" &&
      f.grants !== "web-config-file" && f.grants !== "endpoints-file"
    ) {
      continue;
    }
    for (const path of raw.values[f.name] ?? []) {
      if (path === "") continue;
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (e) {
        throw new UsageError(`cannot read --${f.name}=${path}: ${(e as Error).message}`);
      }
      raw.files[path] = objstoreFile ? substituteObjstoreEnv(text) : text;
    }
  }
}

/**
 * The query role's PromQL evaluation Workers (query/eval_worker.ts, `--query.eval-workers`):
 * none yet; the role asks for each when a query needs one (query/eval_pool.ts), and they are
 * started here with the role's own permissions because a role's Worker may not load modules.
 */
function evalWorkers(spec: CommandSpec, raw: RawFlags, perms: PermissionSet): EvalWorkers {
  const n = Number(raw.values["query.eval-workers"]?.at(-1) ?? "2");
  const query = commandKey(spec.path) === "query";
  return new EvalWorkers({
    url: new URL("./query/eval_worker.ts", import.meta.url),
    max: query && Number.isInteger(n) ? Math.min(n, 64) : 0,
    permissions: workerPermissions(perms),
    report: (id, msg) => console.error(`${PROGRAM} query: evaluation worker ${id}: error: ${msg}`),
  });
}

/**
 * A free loopback port for the role thread's event-loop turns (runutil/loop_turn.ts `ioTurn`):
 * bound on port 0, read, released; the role opens its pair there and is granted only that port.
 * Undefined when none can be bound (the role then gives timer turns).
 */
export function ioTurnPort(): number | undefined {
  try {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  } catch {
    return undefined;
  }
}

function runInWorker(
  spec: CommandSpec,
  raw: RawFlags,
  perms: PermissionSet,
): Promise<number> {
  let worker: Worker;
  let evals: EvalWorkers;
  const turnPort = ioTurnPort();
  try {
    evals = evalWorkers(spec, raw, perms);
    // only the role's thread serves sockets; its evaluation Workers keep message turns
    const rolePerms = turnPort === undefined ? perms : withIoTurnPort(perms, turnPort);
    worker = new Worker(new URL("./components/worker.ts", import.meta.url), {
      type: "module",
      name: commandKey(spec.path),
      deno: { permissions: workerPermissions(rolePerms) },
    });
  } catch (e) {
    // a grant Deno refuses is a bug in the derivation; say so on one line, never a stack
    console.error(
      `${PROGRAM} ${spec.path.join(" ")}: error: cannot start the role with its permissions ` +
        `(${formatPermissions(perms).replaceAll("\n", "; ")}): ${(e as Error).message}`,
    );
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    let signals = 0;
    let ready = false;
    let stopWhenReady = false;
    const onSignal = () => {
      signals++;
      if (signals === 1) {
        // before the worker is ready the stop is sent right after the run message
        if (ready) worker.postMessage({ type: "stop" });
        else stopWhenReady = true;
      } else {
        // A second signal: the user insists, stop now.
        worker.terminate();
        resolve(130);
      }
    };
    const sigs: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    for (const s of sigs) Deno.addSignalListener(s, onSignal);
    // SIGHUP asks a role that reloads its configuration (spec.reloadOnSighup) to do so; other
    // roles keep the default action (terminate).
    const hup = spec.reloadOnSighup === true && Deno.build.os !== "windows";
    const onHup = () => {
      if (ready) worker.postMessage({ type: "reload" });
    };
    if (hup) Deno.addSignalListener("SIGHUP", onHup);
    const done = (code: number) => {
      for (const s of sigs) Deno.removeSignalListener(s, onSignal);
      if (hup) Deno.removeSignalListener("SIGHUP", onHup);
      evals.terminate();
      worker.terminate();
      resolve(code);
    };
    // The worker says "ready" once its modules are evaluated (some use top-level await); a
    // message posted before that could be lost, leaving the role never started.
    worker.onmessage = (e: MessageEvent) => {
      const msg = e.data as { type: string; code?: number; req?: number; id?: number };
      if (msg.type === "ready") {
        ready = true;
        worker.postMessage({ type: "run", raw, evalWorkers: evals.max, turnPort });
        // a dead evaluation Worker's queries fail in the role's pool; the next starts another
        evals.onExit = (id, cause) => worker.postMessage({ type: "evalExit", id, cause });
        if (stopWhenReady) worker.postMessage({ type: "stop" });
      } else if (msg.type === "evalStart") {
        evals.start().then(
          ({ id, port }) =>
            worker.postMessage({ type: "evalStarted", req: msg.req, id, port }, [port]),
          (err: Error) =>
            worker.postMessage({ type: "evalStartFailed", req: msg.req, message: err.message }),
        );
      } else if (msg.type === "evalStop") evals.stop(msg.id!);
      else if (msg.type === "exit") done(msg.code!);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      console.error(`${PROGRAM} ${spec.path.join(" ")}: error: ${e.message}`);
      done(1);
    };
  });
}

/**
 * Addresses of the hostnames the role listens on (`localhost:10902`), looked up as the
 * system resolver does (/etc/hosts included). A name that does not resolve is a usage error,
 * as Go's listen would fail on it.
 */
async function resolveListenHosts(hosts: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const h of hosts) {
    try {
      out[h] = (await lookup(h, { all: true })).map((a) => a.address);
    } catch (e) {
      throw new UsageError(
        `cannot resolve listen host ${JSON.stringify(h)}: ${(e as Error).message}`,
      );
    }
  }
  return out;
}

/**
 * True when a socket bound to `[::]` also takes IPv4 connections here (a dual-stack wildcard:
 * IPv6 present and Linux's `net.ipv6.bindv6only` off, its default). Probed once with a listener
 * on an ephemeral port that a connection to 127.0.0.1 must reach; any failure means no.
 */
export async function dualStackWildcard(): Promise<boolean> {
  let listener: Deno.Listener | undefined;
  let conn: Deno.Conn | undefined;
  try {
    listener = Deno.listen({ hostname: "::", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const accepted = listener.accept();
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    (await accepted).close();
    return true;
  } catch {
    return false;
  } finally {
    conn?.close();
    listener?.close();
  }
}

/**
 * `:port` means every interface to Go, IPv6 included (it listens on a dual-stack `[::]`
 * socket). Deno binds `[::]` dual-stack where the system allows it, so there `:port` listen
 * flags become `[::]:port`; elsewhere they stay IPv4 only (`0.0.0.0`, parseListenAddress).
 */
async function listenDualStack(spec: CommandSpec, raw: RawFlags): Promise<void> {
  const flags = spec.flags.filter((f) =>
    f.grants === "listen" && (raw.values[f.name] ?? []).some((v) => /^:\d+$/.test(v.trim()))
  );
  if (flags.length === 0 || !(await dualStackWildcard())) return;
  for (const f of flags) {
    raw.values[f.name] = raw.values[f.name].map((v) =>
      /^:\d+$/.test(v.trim()) ? `[::]${v.trim()}` : v
    );
  }
}

/** A command ready to run: its table, parsed flags, and the permissions its role gets. */
export interface PreparedRole {
  spec: CommandSpec;
  raw: RawFlags;
  permissions: PermissionSet;
  printPermissions: boolean;
}

/**
 * Resolves argv, reads the config files the flags name and derives the role's permissions.
 * Returns text to print instead when argv asks for help or is wrong (usage errors: code 2).
 */
export async function prepareRole(
  argv: readonly string[],
): Promise<PreparedRole | { kind: "print"; text: string; code: number }> {
  const r = resolveArgs(argv);
  if (r.kind === "print") return r;
  try {
    await readFlagFiles(r.spec, r.raw);
    refuseUnsupported(r.spec, r.raw);
    tracingConfig(r.raw); // both tracing flags set, or a config this build refuses: exit 2
    if (r.spec.flags.some((f) => f.name === "request.logging-config")) requestLogFromFlags(r.raw);
    await listenDualStack(r.spec, r.raw);
    const resolved = await resolveListenHosts(listenHostnames(r.spec, r.raw));
    const permissions = derivePermissions(r.spec, r.raw, objstoreLauncherPermissions, resolved);
    return { spec: r.spec, raw: r.raw, permissions, printPermissions: r.printPermissions };
  } catch (e) {
    return {
      kind: "print",
      text: `${PROGRAM} ${r.spec.path.join(" ")}: error: ${(e as Error).message}`,
      code: 2,
    };
  }
}

/** Runs the launcher with `argv`; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const p = await prepareRole(argv);
  if ("kind" in p) {
    (p.code === 0 ? console.log : console.error)(p.text);
    return p.code;
  }
  if (p.printPermissions) {
    console.log(formatPermissions(p.permissions));
    return 0;
  }
  return await runInWorker(p.spec, p.raw, p.permissions);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
