// Starting a real Prometheus for e2e tests: free 127.0.0.1 port, bounded readiness wait, logs
// captured for failure messages, and a bounded stop (SIGTERM, then SIGKILL).

import { freePort } from "./ports.ts";

/** Binary used to start Prometheus (a name on PATH or a path). */
export const PROMETHEUS = "prometheus";

/** Options of {@link startPrometheus}. */
export interface StartPrometheusOptions {
  /** `--storage.tsdb.path`. */
  dataDir: string;
  /** prometheus.yml contents (written next to the data dir). */
  config: string;
  /** Extra command-line flags. */
  extraFlags?: string[];
  /** Readiness wait bound (default 30 s). */
  readyTimeoutMs?: number;
}

/** A running Prometheus. */
export interface RunningPrometheus {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  port: number;
  /** The Prometheus process's id (for /proc readings in benchmarks). */
  pid: number;
  /** Everything Prometheus logged so far (stderr and stdout). */
  logs(): string;
  /** SIGTERM, wait up to `timeoutMs` (default 10 s), then SIGKILL. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts Prometheus on a free 127.0.0.1 port and waits until `/-/ready` answers 200.
 * Throws (after killing the process) with its logs when it exits early or is not ready in time.
 */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<RunningPrometheus> {
  const configFile = `${opts.dataDir.replace(/\/+$/, "")}.prometheus.yml`;
  await Deno.writeTextFile(configFile, opts.config);
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = new Deno.Command(PROMETHEUS, {
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${opts.dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(opts.extraFlags ?? []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let log = "";
  const td = new TextDecoder();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const b of s) {
      log += td.decode(b, { stream: true });
      // keep memory bounded on long runs: the tail is what explains failures
      if (log.length > 4_000_000) log = log.slice(-2_000_000);
    }
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });

  let stopped = false;
  const stop = async (timeoutMs = 10_000) => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        status.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), timeoutMs)),
      ]);
      clearTimeout(timer);
      if (timedOut && !exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        await status;
      }
    }
    await drained;
    try {
      await Deno.remove(configFile);
    } catch { /* best effort */ }
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (let attempt = 0; attempt < 600 && Date.now() < deadline; attempt++) {
    if (exited) break;
    try {
      const res = await fetch(`${url}/-/ready`);
      await res.body?.cancel();
      if (res.status === 200) {
        return { url, port, pid: child.pid, logs: () => log, stop };
      }
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  const why = exited ? "exited before becoming ready" : "was not ready in time";
  await stop(2000);
  throw new Error(`prometheus ${why} (port ${port}); logs:\n${log.slice(-4000)}`);
}

/** One series of a `/api/v1/query_range` matrix result. */
export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

/** Parsed `/api/v1/query_range` answer. */
export interface QueryRangeResult {
  status: string;
  data: { resultType: string; result: RangeSeries[] };
  warnings?: string[];
}

/**
 * GET `/api/v1/query_range` (times in seconds, as the API takes them); throws with the body on
 * a non-200 answer.
 */
export async function queryRange(
  url: string,
  q: string,
  start: number,
  end: number,
  step: number,
): Promise<QueryRangeResult> {
  const u = new URL(`${url}/api/v1/query_range`);
  u.searchParams.set("query", q);
  u.searchParams.set("start", String(start));
  u.searchParams.set("end", String(end));
  u.searchParams.set("step", String(step));
  const res = await fetch(u);
  const body = await res.text();
  if (res.status !== 200) {
    throw new Error(`query_range ${q} → HTTP ${res.status}: ${body.slice(0, 2000)}`);
  }
  return JSON.parse(body) as QueryRangeResult;
}

/** POST `/api/v1/admin/tsdb/snapshot` (needs `--web.enable-admin-api`); returns the snapshot name. */
export async function snapshot(url: string, skipHead = false): Promise<string> {
  const res = await fetch(`${url}/api/v1/admin/tsdb/snapshot?skip_head=${skipHead}`, {
    method: "POST",
  });
  const body = await res.text();
  if (res.status !== 200) {
    throw new Error(`snapshot → HTTP ${res.status}: ${body.slice(0, 2000)}`);
  }
  return (JSON.parse(body) as { data: { name: string } }).data.name;
}
