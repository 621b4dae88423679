// Pieces of the query frontend's e2e tests: `thanos query-frontend` started as a process, and a
// recording proxy between it and the querier that counts downstream requests (path and
// parameters) and can answer 5xx a given number of times.

import { freePort } from "./ports.ts";
import { answers200, type Proc, spawnMain, type ThanosProc } from "./thanos.ts";
import type { TempDirs } from "./tmp.ts";
import type { CacheServer } from "./cache_servers.ts";
import { startQuerier, startStore, writeBlocks } from "./query_e2e.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { DEFAULT_DATASET } from "../e2e/promql_diff_harness.ts";

/** Start of the corpus data set (ms; 2023-11-14T22:00:00Z, 2h before a UTC midnight). */
export const S = DEFAULT_DATASET.start;
/** Its end (6h later). */
export const E = DEFAULT_DATASET.end;
/** One hour in ms. */
export const H = 3600_000;

/**
 * Blocks of the PromQL corpus' data set (120 series) served by a store fixture and a querier;
 * returns the querier's URL. The processes are added to `procs` (the caller stops them).
 */
export async function startQuerierOverCorpusData(dirs: TempDirs, procs: Proc[]): Promise<string> {
  const dir = await dirs.make();
  const ds = generateDataset({ ...DEFAULT_DATASET, series: 120 });
  await writeBlocks(dir, ds.series);
  const store = await startStore(dir, {});
  procs.push(store);
  const q = await startQuerier([`--endpoint=127.0.0.1:${store.port}`]);
  procs.push(q);
  return q.url;
}

/** ms as API seconds. */
export function secs(ms: number): string {
  return String(ms / 1000);
}

/** A `/api/v1/query_range` URL. */
export function rangeUrl(
  base: string,
  query: string,
  start: number,
  end: number,
  step: number,
): string {
  return `${base}/api/v1/query_range?query=${encodeURIComponent(query)}&start=${secs(start)}` +
    `&end=${secs(end)}&step=${secs(step)}`;
}

/** GET with a bounded wait; status and body text. */
export async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  return { status: r.status, text: await r.text() };
}

/** Sum of the samples of metric `name` whose line contains `filter`, in exposition text. */
export function metricSum(text: string, name: string, filter = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if ((line.startsWith(name + "{") || line.startsWith(name + " ")) && line.includes(filter)) {
      sum += Number(line.split(" ").pop());
    }
  }
  return sum;
}

/** The cache backends. */
export const BACKENDS = ["IN-MEMORY", "MEMCACHED", "REDIS"] as const;

/** A response cache config of `kind` (for memcached and redis: pointing at `server`). */
export function cacheYaml(kind: typeof BACKENDS[number], server?: CacheServer): string {
  switch (kind) {
    case "IN-MEMORY":
      return "type: IN-MEMORY\nconfig:\n  max_size: 256MB\n";
    case "MEMCACHED":
      return `type: MEMCACHED\nconfig:\n  addresses: [${server!.address}]\n  timeout: 2s\n` +
        "  max_item_size: 16MiB\n";
    case "REDIS":
      return `type: REDIS\nconfig:\n  addr: ${server!.address}\n`;
  }
}

/** Starts `thanos query-frontend` with `flags`; resolves once `/-/ready` is 200. */
export async function startFrontend(flags: string[], name = "query-frontend"): Promise<ThanosProc> {
  const http = freePort();
  const p = spawnMain(
    [
      "query-frontend",
      `--http-address=127.0.0.1:${http}`,
      "--http-grace-period=1s",
      "--log.level=warn",
      ...flags,
    ],
    http,
    name,
  );
  const tp = Object.assign(p, { http: `http://127.0.0.1:${http}`, grpc: "" });
  await p.waitFor(() => answers200(`${tp.http}/-/ready`), "start (/-/ready)");
  return tp;
}

/** One request the proxy saw. */
export interface SeenRequest {
  path: string;
  params: URLSearchParams;
  headers: Headers;
}

/** A recording proxy in front of the querier. */
export interface RecordingProxy {
  url: string;
  seen: SeenRequest[];
  /** The next `n` API requests are answered with `status` (not forwarded). */
  failNext(n: number, status: number): void;
  close(): Promise<void>;
}

/** Starts a recording proxy forwarding to `target` (e.g. the querier's URL). */
export function startRecordingProxy(target: string): RecordingProxy {
  const seen: SeenRequest[] = [];
  let failing = 0;
  let failStatus = 500;
  const port = freePort();
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const u = new URL(req.url);
      let params = u.searchParams;
      let body: string | undefined;
      if (req.method === "POST") {
        body = await req.text();
        params = new URLSearchParams([...u.searchParams, ...new URLSearchParams(body)]);
      }
      if (u.pathname.startsWith("/api/")) {
        seen.push({ path: u.pathname, params, headers: new Headers(req.headers) });
        if (failing > 0) {
          failing--;
          return new Response(
            `{"status":"error","errorType":"internal","error":"injected ${failStatus}"}`,
            { status: failStatus, headers: { "content-type": "application/json" } },
          );
        }
      }
      const r = await fetch(target + u.pathname + u.search, {
        method: req.method,
        headers: req.headers,
        body,
      });
      return new Response(await r.arrayBuffer(), { status: r.status, headers: r.headers });
    },
  );
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    failNext(n: number, status: number) {
      failing = n;
      failStatus = status;
    },
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}
