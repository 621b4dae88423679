// Shared pieces of the querier's e2e tests: data sets written as blocks (one per store, and one
// for Prometheus with the external labels inside the series), and processes started the way a
// user would (`deno run -A main.ts query …`, the store fixture) with bounded waits and cleanup.

import { generateDataset } from "../../scripts/dataset.ts";
import type { Dataset } from "../../scripts/dataset.ts";
import { createBlocksFromSeries, type RawSeries } from "../../tsdb/block_writer.ts";
import { labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import { freePort } from "../helpers/ports.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURE = new URL("./store_fixture.ts", import.meta.url).pathname;

/** Start of the e2e data (ms): a fixed instant so answers are reproducible. */
export const T0 = 1_700_000_000_000;

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

  logs(): string {
    return this.log;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Waits until `probe` resolves true (bounded), else throws with the logs. */
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

  /** SIGTERM, wait up to `timeoutMs`, then SIGKILL. Safe to call twice. */
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

function spawn(args: string[], port: number, name: string): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new Proc(child, port, name);
}

/** Starts the store fixture over `dir` with external labels; resolves when Info answers. */
export async function startStore(
  dir: string,
  ext: Record<string, string>,
  port = freePort(),
): Promise<Proc> {
  const p = spawn(
    [
      "run",
      "-A",
      FIXTURE,
      dir,
      `127.0.0.1:${port}`,
      ...Object.entries(ext).map(([k, v]) => `${k}=${v}`),
    ],
    port,
    `store ${JSON.stringify(ext)}`,
  );
  await p.waitFor(() => Promise.resolve(p.logs().includes("READY")), "startup");
  return p;
}

/** Starts `thanos query` with `args` on free ports; resolves once `/-/ready` is 200. */
export async function startQuerier(args: string[]): Promise<Proc & { url: string }> {
  const http = freePort();
  const grpc = freePort();
  const p = spawn(
    [
      "run",
      "-A",
      `${ROOT}main.ts`,
      "query",
      `--http-address=127.0.0.1:${http}`,
      `--grpc-address=127.0.0.1:${grpc}`,
      "--http-grace-period=1s",
      "--grpc-grace-period=1s",
      "--log.level=warn",
      ...args,
    ],
    http,
    "querier",
  );
  const url = `http://127.0.0.1:${http}`;
  await p.waitFor(async () => {
    const r = await fetch(`${url}/-/ready`);
    await r.body?.cancel();
    return r.status === 200;
  }, "readiness");
  return Object.assign(p, { url });
}

/** A data set with `extra` labels added to every series. */
export function withLabels(ds: Dataset, extra: Record<string, string>): RawSeries[] {
  return ds.series.map((s) => ({
    labels: labelsFromObject({ ...labelsToObject(s.labels), ...extra }),
    ts: s.ts,
    vs: s.vs,
  }));
}

/** A small deterministic data set (3 h at 15 s). */
export function smallDataset(seed: number, series = 40): Dataset {
  return generateDataset({
    series,
    start: T0,
    end: T0 + 3 * 3600_000,
    stepMs: 15_000,
    seed,
    specialValues: false,
  });
}

/** Writes series as 2 h blocks into `dir`. */
export async function writeBlocks(dir: string, series: RawSeries[]): Promise<void> {
  await createBlocksFromSeries(dir, series);
}

/** GET a JSON API path; returns status and parsed body. */
export async function getJSON(
  url: string,
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const r = await fetch(url);
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text), text };
}
