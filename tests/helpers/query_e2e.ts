// Shared pieces of the querier's e2e tests: data sets written as blocks (one per store, and one
// for Prometheus with the external labels inside the series), the store fixture and the querier
// started as processes (tests/helpers/thanos.ts) with bounded waits.

import { generateDataset } from "../../scripts/dataset.ts";
import type { Dataset } from "../../scripts/dataset.ts";
import { createBlocksFromSeries, type RawSeries } from "../../tsdb/block_writer.ts";
import { labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import { freePort } from "./ports.ts";
import { type Proc, spawnDeno, startComponent, type ThanosProc } from "./thanos.ts";

const FIXTURE = new URL("./store_fixture.ts", import.meta.url).pathname;

/** Start of the e2e data (ms): a fixed instant so answers are reproducible. */
export const T0 = 1_700_000_000_000;

/** Starts the store fixture over `dir` with external labels; resolves when Info answers. */
export async function startStore(
  dir: string,
  ext: Record<string, string>,
  port = freePort(),
): Promise<Proc> {
  const p = spawnDeno(
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
export async function startQuerier(args: string[]): Promise<ThanosProc & { url: string }> {
  const p = await startComponent("query", ["--log.level=warn", ...args], { name: "querier" });
  return Object.assign(p, { url: p.http });
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
