// The sidecar lab for e2e tests: real Prometheus servers on fixed 127.0.0.1 ports (so one can be
// stopped and started again on the same address), sidecars, store gateways and queriers started
// the way a user would (`deno run -A main.ts <component> …`), and an S3 server. Every start is
// bounded in time and every process is stopped by the caller in `finally`.

import { Proc } from "../query/e2e_helpers.ts";
import { freePort } from "../helpers/ports.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";

export { Proc } from "../query/e2e_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

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

/** Spawns `deno run -A main.ts <args>` from the repository root. */
export function spawnMain(args: string[], port: number, name: string): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new Proc(child, port, name);
}

/** A started Thanos-TS component with its addresses. */
export type LabProc = Proc & { http: string; grpc: string };

async function httpReady(url: string): Promise<boolean> {
  const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(5000) });
  await r.body?.cancel();
  return r.status === 200;
}

/**
 * Starts `thanos sidecar` for `prom` with short heartbeat/shipper intervals. Waits until ready
 * unless `waitReady` is false (then only until its HTTP port answers).
 */
export async function startSidecar(
  promUrl: string,
  extra: string[] = [],
  opts: { waitReady?: boolean; name?: string; grpcPort?: number; httpPort?: number } = {},
): Promise<LabProc> {
  const http = opts.httpPort ?? freePort();
  const grpc = opts.grpcPort ?? freePort();
  const p = spawnMain(
    [
      "sidecar",
      `--prometheus.url=${promUrl}`,
      `--http-address=127.0.0.1:${http}`,
      `--grpc-address=127.0.0.1:${grpc}`,
      "--http-grace-period=1s",
      "--grpc-grace-period=1s",
      "--prometheus.get_config_interval=1s",
      "--prometheus.get_config_timeout=2s",
      "--shipper.sync-interval=1s",
      ...extra,
    ],
    http,
    opts.name ?? "sidecar",
  );
  const lp = Object.assign(p, {
    http: `http://127.0.0.1:${http}`,
    grpc: `127.0.0.1:${grpc}`,
  });
  if (opts.waitReady === false) {
    await p.waitFor(async () => {
      const r = await fetch(`${lp.http}/-/healthy`);
      await r.body?.cancel();
      return r.status === 200;
    }, "start");
  } else {
    await p.waitFor(() => httpReady(lp.http), "readiness");
  }
  return lp;
}

/** Starts `thanos store` over a bucket config file; waits until its first sync is done. */
export async function startStoreGateway(
  bucketConfigFile: string,
  dataDir: string,
): Promise<LabProc> {
  const http = freePort();
  const grpc = freePort();
  const p = spawnMain(
    [
      "store",
      `--objstore.config-file=${bucketConfigFile}`,
      `--data-dir=${dataDir}`,
      `--http-address=127.0.0.1:${http}`,
      `--grpc-address=127.0.0.1:${grpc}`,
      "--http-grace-period=1s",
      "--grpc-grace-period=1s",
      "--sync-block-duration=2s",
      "--log.level=warn",
    ],
    http,
    "store",
  );
  const lp = Object.assign(p, { http: `http://127.0.0.1:${http}`, grpc: `127.0.0.1:${grpc}` });
  await p.waitFor(() => httpReady(lp.http), "readiness", 60_000);
  return lp;
}

/** Starts `thanos query` over `stores` (gRPC addresses) with a 1s endpoint health check. */
export async function startLabQuerier(stores: string[], extra: string[] = []): Promise<LabProc> {
  const http = freePort();
  const grpc = freePort();
  const p = spawnMain(
    [
      "query",
      `--http-address=127.0.0.1:${http}`,
      `--grpc-address=127.0.0.1:${grpc}`,
      "--http-grace-period=1s",
      "--grpc-grace-period=1s",
      "--endpoint.info-timeout=1s",
      "--log.level=warn",
      ...stores.map((s) => `--store=${s}`),
      ...extra,
    ],
    http,
    "querier",
  );
  const lp = Object.assign(p, { http: `http://127.0.0.1:${http}`, grpc: `127.0.0.1:${grpc}` });
  await p.waitFor(() => httpReady(lp.http), "readiness");
  return lp;
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

/** Pinned S3 server used by the lab (same as the objstore tests). */
export const S3RVER = "npm:s3rver@3.7.1";
/** Bucket the S3 server creates. */
export const LAB_BUCKET = "thanos-lab";

/** A running S3 server (s3rver in a Deno child process). */
export interface LabS3 {
  endpoint: string;
  stop(): Promise<void>;
}

/** Whether s3rver can be loaded (npm registry or cache). */
export async function s3Available(): Promise<boolean> {
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `await import("${S3RVER}"); console.log("ok");`],
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(120_000),
    }).output();
    return out.success && new TextDecoder().decode(out.stdout).includes("ok");
  } catch {
    return false;
  }
}

/** Starts s3rver on a free port with a fresh directory. */
export async function startS3(): Promise<LabS3> {
  const dir = await Deno.makeTempDir({ prefix: "thanos-lab-s3-" });
  const port = freePort();
  const script = `
import S3rver from "${S3RVER}";
const srv = new S3rver({ port: ${port}, address: "127.0.0.1", directory: Deno.args[0], silent: true,
  allowMismatchedSignatures: true, configureBuckets: [{ name: "${LAB_BUCKET}" }] });
await srv.run();
console.log("READY");
`;
  await Deno.writeTextFile(`${dir}/server.ts`, script);
  await Deno.mkdir(`${dir}/data`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unsafe-proto", `${dir}/server.ts`, `${dir}/data`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const p = new Proc(child, port, "s3rver");
  const stop = async () => {
    await p.stop(2000, "SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await p.waitFor(() => Promise.resolve(p.logs().includes("READY")), "start", 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoint: `127.0.0.1:${port}`, stop };
}

/** Bucket config YAML for the lab S3 server. */
export function s3Yaml(endpoint: string): string {
  return `type: S3
config:
  bucket: ${LAB_BUCKET}
  endpoint: ${endpoint}
  region: us-east-1
  access_key: S3RVER
  secret_key: S3RVER
  insecure: true
  bucket_lookup_type: path
`;
}
