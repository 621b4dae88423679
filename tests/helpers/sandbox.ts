// Running a role inside the sandbox the launcher gives it, from a test: prepareRole computes the
// permissions from the flags, a Worker with exactly those runs tests/helpers/sandbox_probe.ts,
// which runs the command from the run table, does its real work, and tries what was not granted.

import { assert } from "./assert.ts";
import { type PreparedRole, prepareRole } from "../../main.ts";
import { workerPermissions } from "../../components/permissions.ts";
import type { RawFlags } from "../../components/flags.ts";

/** An address no test listens on: connecting to it must be denied, not refused. */
export const FORBIDDEN_ADDR = "127.0.0.1:19999";

/** The role's real work inside the sandbox, after which the probe tries the forbidden things. */
export type SandboxWork =
  /** A one-shot command: run it to completion and keep its stdout. */
  | { kind: "exit" }
  /** A server: wait for `http`'s /-/ready, then GET `path` from it. */
  | { kind: "http"; http: string; path: string }
  /** A StoreAPI server: wait for `http`'s /-/ready, then count the series `grpc` streams. */
  | { kind: "series"; http: string; grpc: string }
  /** A background worker: wait until the file at `path` exists. */
  | { kind: "file"; path: string };

/**
 * A file-system access the probe tries after the work: paths next to a grant (a sibling of a
 * granted config file, the parent of a granted directory, a name that merely starts with a
 * granted path) must be denied.
 */
export interface NeighbourProbe {
  op: "read" | "readDir" | "write";
  path: string;
}

/** The message a test posts to the probe. */
export interface SandboxProbeRequest {
  raw: RawFlags;
  work: SandboxWork;
  forbiddenPath: string;
  forbiddenAddr: string;
  neighbours: NeighbourProbe[];
}

/** What the probe reports. */
export interface SandboxProbeResult {
  /** The run's exit code (-1 when it threw). */
  code: number;
  /** What the command wrote to stdout. */
  out: string;
  /** Log lines, and why the run or the work failed. */
  logs: string[];
  /** The role got to its work: ready answered 200, the file appeared, or (exit) always. */
  ready: boolean;
  /** "http" work: status and body of the GET (-1 and "" when not ready). */
  workStatus: number;
  workBody: string;
  /** "series" work: number of series streamed (-1 when not ready). */
  series: number;
  /** "allowed", or the error of reading `forbiddenPath`. */
  read: string;
  /** "allowed", or the error of connecting to `forbiddenAddr`. */
  connect: string;
  /** "allowed", or the error of starting a process. */
  spawn: string;
  /** Per entry of the request's `neighbours`: "allowed", or the error of the access. */
  neighbours: string[];
}

/**
 * Prepares `argv` like the launcher does and runs it with its permissions in the sandbox probe.
 * Asserts that `argv` names a runnable role; the worker is terminated before returning.
 */
export async function runSandboxed(
  argv: string[],
  work: SandboxWork,
  forbiddenPath: string,
  neighbours: NeighbourProbe[] = [],
): Promise<SandboxProbeResult> {
  const p = await prepareRole(argv);
  assert(!("kind" in p), "kind" in p ? p.text : "");
  const role = p as PreparedRole;
  const worker = new Worker(new URL("./sandbox_probe.ts", import.meta.url), {
    type: "module",
    deno: { permissions: workerPermissions(role.permissions) },
  });
  try {
    return await new Promise<SandboxProbeResult>((resolve, reject) => {
      const req: SandboxProbeRequest = {
        raw: role.raw,
        work,
        forbiddenPath,
        forbiddenAddr: FORBIDDEN_ADDR,
        neighbours,
      };
      // the probe says "ready" once its modules (some with top-level await) are evaluated;
      // a request posted earlier could be lost, as in the launcher (main.ts)
      worker.onmessage = (e) => {
        if ((e.data as { type?: string }).type === "ready") worker.postMessage(req);
        else resolve(e.data as SandboxProbeResult);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
    });
  } finally {
    worker.terminate();
  }
}

/** Asserts that `result` (from the probe) is Deno's permission error. */
export function assertDenied(what: string, result: string): void {
  assert(result.startsWith("NotCapable"), `${what} should be denied, got: ${result}`);
}

/** Asserts that every neighbour access of `probes` was denied by the sandbox. */
export function assertNeighboursDenied(probes: NeighbourProbe[], result: SandboxProbeResult): void {
  assert(result.neighbours.length === probes.length, `probe results: ${result.neighbours}`);
  probes.forEach((p, i) => assertDenied(`${p.op} ${p.path}`, result.neighbours[i]));
}
