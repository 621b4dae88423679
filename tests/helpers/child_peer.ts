// One mechanism for the npm test peers that run as Deno child processes (s3rver, Azurite):
// probing once whether the package loads, the REQUIRE_E2E gate, and starting the child until it
// prints its ready line, draining its output afterwards and stopping it idempotently.

import { requireE2E } from "./peers.ts";

/**
 * Null when `deno <probeArgs>` succeeds and prints `expect` (the package could be loaded,
 * downloaded once from the npm registry), else `reason`.
 */
export async function npmPeerMissing(
  probeArgs: string[],
  expect: string,
  reason: string,
  timeoutMs: number,
): Promise<string | null> {
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: probeArgs,
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return out.success && new TextDecoder().decode(out.stdout).includes(expect) ? null : reason;
  } catch {
    return reason;
  }
}

/**
 * Ignore flag for `Deno.test` tests needing a peer: throws when `reason` is not null and
 * REQUIRE_E2E=1 (absence must not pass silently there); otherwise warns and returns
 * `ignore: true` when the peer is missing.
 */
export function peerGate(reason: string | null, what: string): { ignore: boolean } {
  if (reason !== null) {
    if (requireE2E()) throw new Error(`${reason} and REQUIRE_E2E=1`);
    console.warn(`${reason}: ${what} tests are ignored`);
  }
  return { ignore: reason !== null };
}

/** A started child peer. */
export interface ChildPeer {
  /** What the child printed on stdout up to and including its ready text. */
  banner: string;
  /** The child's process id. */
  pid: number;
  /** Kills the child, waits for it and removes `dir` when given (idempotent). */
  stop(): Promise<void>;
}

/**
 * Spawns `deno <args>` in `cwd`, reads its stdout until `ready(banner)` is true (within
 * `timeoutMs`), then keeps draining stdout so the child never blocks on a full pipe. On failure
 * the child is stopped and the error carries the tail of its stderr. `dir` (if any) is removed on
 * stop.
 */
export async function startChildPeer(opts: {
  name: string;
  args: string[];
  dir?: string;
  cwd?: string;
  ready: (banner: string) => boolean;
  timeoutMs: number;
}): Promise<ChildPeer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: opts.args,
    cwd: opts.cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
    await child.stderr.cancel().catch(() => undefined);
    if (opts.dir !== undefined) {
      await Deno.remove(opts.dir, { recursive: true }).catch(() => undefined);
    }
  };
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(
        () => rej(new Error(`${opts.name} did not start within ${opts.timeoutMs / 1000}s`)),
        opts.timeoutMs,
      );
    });
    try {
      while (!opts.ready(buf)) {
        const r = await Promise.race([reader.read(), timeout]);
        if (r.done) throw new Error(`${opts.name} exited before it was ready: ${buf.slice(-1000)}`);
        buf += r.value;
        if (buf.length > 100_000) buf = buf.slice(-10_000);
      }
    } finally {
      clearTimeout(timer);
    }
    (async () => {
      try {
        while (!(await reader.read()).done) { /* drain */ }
      } catch {
        // closed
      }
    })();
    return { banner: buf, pid: child.pid, stop };
  } catch (e) {
    const err = await new Response(child.stderr).text().catch(() => "");
    await stop();
    throw new Error(`${(e as Error).message}\n${err.slice(-2000)}`);
  }
}
