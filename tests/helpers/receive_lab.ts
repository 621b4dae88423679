// The receive lab for e2e tests: `thanos receive` processes in one hashring on 127.0.0.1 (each
// with `--label=replica="r<i>"`, its own data dir and fixed ports, so one can be killed and
// started again on the same address), a Prometheus that remote-writes to one of them, and a
// remote-write client that encodes requests itself. Every start is bounded; the caller stops
// everything in `finally`.

import { freePort } from "./ports.ts";
import { LabPrometheus, type LabPrometheusOptions } from "./sidecar_lab.ts";
import { answers200, Proc, spawnMain } from "./thanos.ts";
import type { TempDirs } from "./tmp.ts";
import { encodeWriteRequest, type PromSeries } from "../../receive/remote_write.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";

/** One receiver of the lab. */
export interface ReceiverNode {
  index: number;
  name: string;
  /** `http://127.0.0.1:<port>` of `--http-address`. */
  http: string;
  /** `127.0.0.1:<port>`: `--grpc-address`, also its hashring endpoint. */
  grpc: string;
  /** `http://127.0.0.1:<port>/api/v1/receive`. */
  writeUrl: string;
  dataDir: string;
  /** The running process (replaced by `restart`). */
  proc: Proc;
}

/** Options of {@link startReceivers}. */
export interface ReceiversOptions {
  n: number;
  replicationFactor: number;
  /** Flags added to every receiver. */
  extraFlags?: string[];
  startTimeoutMs?: number;
}

/** Receivers in one hashring. */
export class ReceiveCluster {
  constructor(
    readonly nodes: ReceiverNode[],
    readonly hashringsFile: string,
    private readonly args: string[][],
    private readonly timeoutMs: number,
  ) {}

  /** gRPC addresses (StoreAPI) of every receiver. */
  get grpcAddresses(): string[] {
    return this.nodes.map((n) => n.grpc);
  }

  /** SIGKILLs receiver `i` and waits for it to be gone. */
  async kill(i: number): Promise<void> {
    const p = this.nodes[i].proc;
    try {
      p.child.kill("SIGKILL");
    } catch { /* gone */ }
    await p.status;
  }

  /** Starts receiver `i` again (same ports, same data dir); waits until ready. */
  async restart(i: number): Promise<void> {
    await this.spawn(i);
  }

  /** Spawns receiver `i` and waits until ready (a start that fails shows its logs). */
  async spawn(i: number): Promise<void> {
    const node = this.nodes[i];
    node.proc = spawnMain(this.args[i], 0, node.name);
    await node.proc.waitFor(() => answers200(`${node.http}/-/ready`), "start", this.timeoutMs);
  }

  /** Stops every receiver (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.proc?.stop(10_000)));
  }
}

/**
 * Starts `n` receivers in one hashring (hashmod, RF as given, endpoints their gRPC addresses),
 * one after the other, each until ready. On failure stops what started and rethrows.
 */
export async function startReceivers(
  dirs: TempDirs,
  opts: ReceiversOptions,
): Promise<ReceiveCluster> {
  const root = await dirs.make("thanos-ts-receive-");
  const ports = Array.from({ length: opts.n }, () => ({
    http: freePort(),
    grpc: freePort(),
    rw: freePort(),
  }));
  const hashringsFile = `${root}/hashrings.json`;
  await Deno.writeTextFile(
    hashringsFile,
    JSON.stringify([{ endpoints: ports.map((p) => `127.0.0.1:${p.grpc}`) }]),
  );
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const args: string[][] = [];
  const nodes: ReceiverNode[] = ports.map((p, i) => {
    const dataDir = `${root}/r${i}`;
    // spawnMain runs main.ts with these (at the start and on restarts)
    const a = [
      "receive",
      `--http-address=127.0.0.1:${p.http}`,
      `--grpc-address=127.0.0.1:${p.grpc}`,
      `--remote-write.address=127.0.0.1:${p.rw}`,
      "--http-grace-period=1s",
      "--grpc-grace-period=1s",
      `--tsdb.path=${dataDir}`,
      `--label=replica="r${i}"`,
      `--receive.replication-factor=${opts.replicationFactor}`,
      `--receive.hashrings-file=${hashringsFile}`,
      "--receive.hashrings-file-refresh-interval=1s",
      `--receive.local-endpoint=127.0.0.1:${p.grpc}`,
      "--log.level=info",
      ...(opts.extraFlags ?? []),
    ];
    args.push(a);
    return {
      index: i,
      name: `receive-r${i}`,
      http: `http://127.0.0.1:${p.http}`,
      grpc: `127.0.0.1:${p.grpc}`,
      writeUrl: `http://127.0.0.1:${p.rw}/api/v1/receive`,
      dataDir,
      proc: undefined as unknown as Proc,
    };
  });
  const cluster = new ReceiveCluster(nodes, hashringsFile, args, timeoutMs);
  try {
    for (let i = 0; i < nodes.length; i++) await cluster.spawn(i);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** A LabPrometheus that also remote-writes everything to `writeUrl` with short batches. */
export class RemoteWritingPrometheus extends LabPrometheus {
  constructor(opts: LabPrometheusOptions, readonly writeUrl: string) {
    super(opts);
  }

  override config(): string {
    return super.config() + [
      "remote_write:",
      `  - url: ${this.writeUrl}`,
      "    queue_config:",
      "      batch_send_deadline: 500ms",
      "      min_backoff: 50ms",
      "      max_backoff: 500ms",
      "",
    ].join("\n");
  }
}

/** What a receiver answered to one write. */
export interface WriteAnswer {
  status: number;
  body: string;
}

/** POSTs a raw body to a receiver as Prometheus would (snappy protobuf headers). */
export async function postRaw(
  url: string,
  body: Uint8Array,
  headers: Record<string, string> = {},
): Promise<WriteAnswer> {
  const r = await fetch(url, {
    method: "POST",
    body: body as Uint8Array<ArrayBuffer>,
    headers: {
      "content-type": "application/x-protobuf",
      "content-encoding": "snappy",
      "x-prometheus-remote-write-version": "0.1.0",
      ...headers,
    },
    signal: AbortSignal.timeout(30_000),
  });
  return { status: r.status, body: await r.text() };
}

/** Encodes, compresses and POSTs `series`. */
export function postSeries(
  url: string,
  series: PromSeries[],
  headers: Record<string, string> = {},
): Promise<WriteAnswer> {
  return postRaw(url, snappyBlockCompress(encodeWriteRequest({ series })), headers);
}

/** A series with float samples `[t ms, v]`. */
export function series(labels: Record<string, string>, samples: [number, number][]): PromSeries {
  return {
    labels: labelsFromObject(labels),
    timestamps: Float64Array.from(samples.map((s) => s[0])),
    values: Float64Array.from(samples.map((s) => s[1])),
  };
}
