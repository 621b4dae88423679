// Child processes for e2e tests: Deno scripts and Thanos-TS components started the way a user
// would (`deno run -A main.ts <role> …` from the repository root), with their logs kept, every
// wait bounded, and a stop that escalates to SIGKILL.

import { freePort } from "./ports.ts";
import { v8FlagsArgsFromEnv } from "../../components/v8_flags.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A started process with its logs. */
export class Proc {
  private log = "";
  private exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(readonly child: Deno.ChildProcess, readonly port: number, readonly name: string) {
    const td = new TextDecoder();
    const drain = async (s: ReadableStream<Uint8Array>) => {
      for await (const b of s) {
        this.log += td.decode(b, { stream: true });
        if (this.log.length > 1_000_000) this.log = this.log.slice(-500_000);
      }
    };
    drain(child.stdout).catch(() => {});
    drain(child.stderr).catch(() => {});
    this.status = child.status.then((s) => {
      this.exited = true;
      return s;
    });
  }

  /** Everything the process wrote to stdout and stderr (the last ~1 MB). */
  logs(): string {
    return this.log;
  }

  /** False once the process exited. */
  get alive(): boolean {
    return !this.exited;
  }

  /** Waits until `probe` resolves true (bounded); else stops the process and throws with the logs. */
  async waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      if (this.exited) break;
      try {
        if (await probe()) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`${this.name} ${what} failed; logs:\n${this.log.slice(-3000)}`);
  }

  /** `signal` (SIGTERM), wait up to `timeoutMs`, then SIGKILL. Safe to call twice. */
  async stop(timeoutMs = 5000, signal: Deno.Signal = "SIGTERM"): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill(signal);
      } catch { /* gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = await Promise.race([
        this.status.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), timeoutMs)),
      ]);
      clearTimeout(timer);
      if (late && !this.exited) {
        try {
          this.child.kill("SIGKILL");
        } catch { /* gone */ }
      }
    }
    await this.status;
  }
}

/** Spawns `deno <args>` from the repository root; `port` and `name` label it in errors. */
export function spawnDeno(args: string[], port: number, name: string): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new Proc(child, port, name);
}

/**
 * `deno` arguments running this repository's `main.ts` (`run -A <denoFlags> <V8 flags> main.ts`):
 * with the program's V8 flags (components/v8_flags.ts) as the compiled binary has them.
 */
export function runMainArgs(denoFlags: readonly string[] = []): string[] {
  return ["run", "-A", ...denoFlags, ...v8FlagsArgsFromEnv(), `${ROOT}main.ts`];
}

/**
 * The `--v8-flags=…` argument of the checkout whose `main.ts` is `main` (another checkout's
 * components/v8_flags.ts, so an A/B of a flag change compares each side's own flags); none when
 * that checkout predates the file.
 */
export async function checkoutV8FlagsArgs(main: string): Promise<string[]> {
  const url = new URL("components/v8_flags.ts", new URL(main, `file://${ROOT}`));
  try {
    await Deno.stat(url);
  } catch {
    return [];
  }
  const mod: typeof import("../../components/v8_flags.ts") = await import(url.href);
  return mod.v8FlagsArgsFromEnv();
}

/** Spawns `deno run -A main.ts <args>` from the repository root ({@link runMainArgs}). */
export function spawnMain(args: string[], port: number, name: string): Proc {
  return spawnDeno([...runMainArgs(), ...args], port, name);
}

/** True when GET `url` answers 200 within 5 s (body discarded). */
export async function answers200(url: string): Promise<boolean> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await r.body?.cancel();
  return r.status === 200;
}

/** A started Thanos-TS component with its addresses. */
export type ThanosProc = Proc & {
  /** `http://127.0.0.1:<port>` */
  http: string;
  /** `127.0.0.1:<port>` */
  grpc: string;
};

/** Options of {@link startComponent}. */
export interface StartComponentOptions {
  /** Name in error messages; default the role. */
  name?: string;
  /** Ports to listen on; default free ones. */
  httpPort?: number;
  grpcPort?: number;
  /** HTTP path that must answer 200 before the start counts as done; default `/-/ready`. */
  readyPath?: string;
  timeoutMs?: number;
  /**
   * Host part of the listen flags, as a user writes it: "" gives `:port`, "[::]" gives
   * `[::]:port`; default "127.0.0.1". The returned URLs still connect via 127.0.0.1.
   */
  listenHost?: string;
  /** The `main.ts` to run (benchmarks: another checkout's); default this repository's. */
  main?: string;
}

/**
 * Starts `thanos <role>` on 127.0.0.1 HTTP and gRPC ports with 1 s grace periods plus `flags`,
 * and waits (bounded) until `readyPath` answers 200. The caller stops it in `finally`.
 */
export async function startComponent(
  role: string,
  flags: string[],
  opts: StartComponentOptions = {},
): Promise<ThanosProc> {
  const http = opts.httpPort ?? freePort();
  const grpc = opts.grpcPort ?? freePort();
  const host = opts.listenHost ?? "127.0.0.1";
  const args = [
    role,
    `--http-address=${host}:${http}`,
    `--grpc-address=${host}:${grpc}`,
    "--http-grace-period=1s",
    "--grpc-grace-period=1s",
    ...flags,
  ];
  const p = opts.main
    ? spawnDeno(
      ["run", "-A", ...await checkoutV8FlagsArgs(opts.main), opts.main, ...args],
      http,
      opts.name ?? role,
    )
    : spawnMain(args, http, opts.name ?? role);
  const tp = Object.assign(p, { http: `http://127.0.0.1:${http}`, grpc: `127.0.0.1:${grpc}` });
  const path = opts.readyPath ?? "/-/ready";
  await p.waitFor(() => answers200(`${tp.http}${path}`), `start (${path})`, opts.timeoutMs);
  return tp;
}
