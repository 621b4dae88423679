// The sidecar lab for e2e tests: real Prometheus servers on fixed 127.0.0.1 ports (so one can be
// stopped and started again on the same address), sidecars, store gateways and queriers started
// the way a user would (`deno run -A main.ts <component> …`). Every start is bounded in time and
// every process is stopped by the caller in `finally`. The S3 server is tests/helpers/s3.ts.

import { type Exporter, startExporter } from "./exporter.ts";
import { freePort } from "./ports.ts";
import { PROMETHEUS } from "./prometheus.ts";
import { startComponent, type ThanosProc } from "./thanos.ts";
import type { TempDirs } from "./tmp.ts";

/** Options of {@link LabPrometheus}. */
export interface LabPrometheusOptions {
  dataDir: string;
  externalLabels: Record<string, string>;
  /** Extra scrape targets (job `exporter`); Prometheus always scrapes itself (job `prometheus`). */
  targets?: string[];
  scrapeInterval?: string;
  extraFlags?: string[];
}

/** A Prometheus that can be stopped and started again on the same port and data dir. */
export class LabPrometheus {
  readonly port = freePort();
  readonly url = `http://127.0.0.1:${this.port}`;
  readonly configFile: string;
  private child: Deno.ChildProcess | null = null;
  private status: Promise<Deno.CommandStatus> | null = null;
  private log = "";

  constructor(readonly opts: LabPrometheusOptions) {
    this.configFile = `${opts.dataDir.replace(/\/+$/, "")}.prometheus.yml`;
  }

  /** The prometheus.yml this lab uses. */
  config(): string {
    const ext = Object.entries(this.opts.externalLabels);
    const lines = [
      "global:",
      `  scrape_interval: ${this.opts.scrapeInterval ?? "1s"}`,
      `  evaluation_interval: ${this.opts.scrapeInterval ?? "1s"}`,
    ];
    if (ext.length > 0) {
      lines.push("  external_labels:");
      for (const [k, v] of ext) lines.push(`    ${k}: ${JSON.stringify(v)}`);
    }
    lines.push(
      "scrape_configs:",
      "  - job_name: prometheus",
      "    static_configs:",
      `      - targets: ['127.0.0.1:${this.port}']`,
    );
    if ((this.opts.targets ?? []).length > 0) {
      lines.push(
        "  - job_name: exporter",
        "    static_configs:",
        `      - targets: [${this.opts.targets!.map((t) => `'${t}'`).join(", ")}]`,
      );
    }
    return lines.join("\n") + "\n";
  }

  /** Everything Prometheus logged. */
  logs(): string {
    return this.log;
  }

  /** Starts Prometheus (writing its config unless `keepConfig`) and waits until ready. */
  async start(keepConfig = false): Promise<void> {
    await Deno.mkdir(this.opts.dataDir, { recursive: true });
    if (!keepConfig) await Deno.writeTextFile(this.configFile, this.config());
    const child = new Deno.Command(PROMETHEUS, {
      args: [
        `--config.file=${this.configFile}`,
        `--storage.tsdb.path=${this.opts.dataDir}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        "--web.enable-lifecycle",
        ...(this.opts.extraFlags ?? []),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    const td = new TextDecoder();
    const drain = async (s: ReadableStream<Uint8Array>) => {
      for await (const b of s) {
        this.log += td.decode(b, { stream: true });
        if (this.log.length > 2_000_000) this.log = this.log.slice(-1_000_000);
      }
    };
    drain(child.stdout).catch(() => {});
    drain(child.stderr).catch(() => {});
    let exited = false;
    this.status = child.status.then((s) => {
      exited = true;
      return s;
    });
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < 600 && Date.now() < deadline && !exited; i++) {
      try {
        const r = await fetch(`${this.url}/-/ready`);
        await r.body?.cancel();
        if (r.status === 200) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`prometheus on ${this.port} did not become ready:\n${this.log.slice(-3000)}`);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`. Safe to call when stopped. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = await Promise.race([
      this.status!.then(() => false),
      new Promise<boolean>((r) => timer = setTimeout(() => r(true), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (late) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await this.status;
    }
  }

  /** Stops and removes the config file. */
  async dispose(): Promise<void> {
    await this.stop();
    await Deno.remove(this.configFile).catch(() => {});
  }
}

/** A started Thanos-TS component with its addresses. */
export type LabProc = ThanosProc;

/**
 * Starts `thanos sidecar` for `prom` with short heartbeat/shipper intervals. Waits until ready
 * unless `waitReady` is false (then only until its HTTP port answers).
 */
export function startSidecar(
  promUrl: string,
  extra: string[] = [],
  opts: { waitReady?: boolean; name?: string; grpcPort?: number; httpPort?: number } = {},
): Promise<LabProc> {
  return startComponent("sidecar", [
    `--prometheus.url=${promUrl}`,
    "--prometheus.get_config_interval=1s",
    "--prometheus.get_config_timeout=2s",
    "--shipper.sync-interval=1s",
    ...extra,
  ], {
    name: opts.name ?? "sidecar",
    httpPort: opts.httpPort,
    grpcPort: opts.grpcPort,
    readyPath: opts.waitReady === false ? "/-/healthy" : "/-/ready",
  });
}

/** Starts `thanos store` over a bucket config file; waits until its first sync is done. */
export function startStoreGateway(bucketConfigFile: string, dataDir: string): Promise<LabProc> {
  return startComponent("store", [
    `--objstore.config-file=${bucketConfigFile}`,
    `--data-dir=${dataDir}`,
    "--sync-block-duration=2s",
    "--log.level=warn",
  ], { timeoutMs: 60_000 });
}

/** Starts `thanos query` over `stores` (gRPC addresses) with a 1s endpoint health check. */
export function startLabQuerier(stores: string[], extra: string[] = []): Promise<LabProc> {
  return startComponent("query", [
    "--endpoint.info-timeout=1s",
    "--log.level=warn",
    ...stores.map((s) => `--store=${s}`),
    ...extra,
  ], { name: "querier" });
}

/** Two or more Prometheus servers scraping one exporter, a sidecar each, a querier over them. */
export interface ScrapeLab {
  exporter: Exporter;
  proms: LabPrometheus[];
  /** `sidecars[i]` runs next to `proms[i]`. */
  sidecars: LabProc[];
  querier: LabProc;
  /** Stops everything started (also what a failed start left running). */
  stop(): Promise<void>;
}

/**
 * Starts one Prometheus per entry of `externalLabels` (data in a new dir of `dirs`, scraping
 * itself and a shared exporter), a sidecar next to each, and `thanos query` over the sidecars with
 * `querierFlags`. On a failed start, stops what it started before rethrowing.
 */
export async function startScrapeLab(
  dirs: TempDirs,
  externalLabels: Record<string, string>[],
  querierFlags: string[] = [],
): Promise<ScrapeLab> {
  const exporter = startExporter();
  const proms: LabPrometheus[] = [];
  const sidecars: LabProc[] = [];
  let querier: LabProc | undefined;
  const stop = async () => {
    await querier?.stop();
    for (const p of sidecars) await p.stop();
    for (const p of proms) await p.dispose();
    await exporter.stop();
  };
  try {
    for (const labels of externalLabels) {
      const p = new LabPrometheus({
        dataDir: `${await dirs.make()}/data`,
        externalLabels: labels,
        targets: [exporter.target],
      });
      proms.push(p);
      await p.start();
    }
    for (const p of proms) {
      sidecars.push(await startSidecar(p.url, [`--tsdb.path=${p.opts.dataDir}`]));
    }
    querier = await startLabQuerier(sidecars.map((s) => s.grpc), querierFlags);
  } catch (e) {
    await stop();
    throw e;
  }
  return { exporter, proms, sidecars, querier, stop };
}

/** One series of an instant or range query. */
export interface ApiSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

/** GETs `/api/v1/<path>` with params; returns `data` or throws with the body. */
export async function api<T = unknown>(
  base: string,
  path: string,
  params: Record<string, string | number> = {},
): Promise<T> {
  const u = new URL(`${base}/api/v1/${path}`);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
  const r = await fetch(u, { signal: AbortSignal.timeout(20_000) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${u} → HTTP ${r.status}: ${text.slice(0, 1500)}`);
  return (JSON.parse(text) as { data: T }).data;
}

/** Instant query result. */
export async function instant(base: string, q: string, time?: number): Promise<ApiSeries[]> {
  const d = await api<{ result: ApiSeries[] }>(
    base,
    "query",
    time === undefined ? { query: q } : { query: q, time },
  );
  return d.result;
}

/** Range query result (times in seconds). */
export async function range(
  base: string,
  q: string,
  start: number,
  end: number,
  step: number,
): Promise<ApiSeries[]> {
  const d = await api<{ result: ApiSeries[] }>(base, "query_range", { query: q, start, end, step });
  return d.result;
}

/** Polls `probe` every 250 ms until it returns true, up to `timeoutMs`; throws with `what`. */
export async function eventually(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
