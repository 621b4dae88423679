// A store gateway and querier over a data directory kept by `bench/instant_vs_prometheus.ts
// --keep=<dir>` (its `bucket.yml`), for the benchmarks that time single queries against it
// (bench/instant_cpu.ts, bench/hop_timeline.ts).

import { parseBucketConfig } from "../objstore/config.ts";
import { type RunningPrometheus, startPrometheus } from "../tests/helpers/prometheus.ts";
import { startComponent, type ThanosProc } from "../tests/helpers/thanos.ts";

/**
 * Starts `thanos store` over `<data>/bucket.yml` (its cache in `<data>/store-data-<name>`) and
 * `thanos query` on it, from `main` (another checkout's `main.ts`) or this one, and waits until
 * the querier has the store's Info (`count(up)` at `time` answers). The caller stops both.
 */
export async function startKeptDataPair(
  data: string,
  name: string,
  time: string,
  main?: string,
): Promise<{ querier: ThanosProc; store: ThanosProc }> {
  const store = await startComponent("store", [
    `--objstore.config-file=${data}/bucket.yml`,
    `--data-dir=${data}/store-data-${name}`,
    "--log.level=warn",
  ], { main, name: `${name} store`, timeoutMs: 300_000 });
  const querier = await startComponent("query", [`--store=${store.grpc}`, "--log.level=warn"], {
    main,
    name: `${name} querier`,
  });
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`${querier.http}/api/v1/query?query=count(up)&time=${time}`);
    if ((await r.text()).includes('"value"')) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return { querier, store };
}

/**
 * Reads every file under the kept data's bucket directory and `<data>/prometheus` once, so that
 * both sides start from the page cache rather than whichever read less recently paying the disk:
 * on the 1,000,000-series block Prometheus's chunk file was found 93 % resident, and the store's
 * profile of another series each time spent 0.58 ms per query in file reads, 0.014 ms once the
 * bucket's files were read in.
 * Returns the bytes read (each file once: hard links are read through one name).
 */
export async function readIntoPageCache(data: string): Promise<number> {
  const cfg = parseBucketConfig(await Deno.readTextFile(`${data}/bucket.yml`));
  const dir = cfg.type === "FILESYSTEM" ? cfg.config.directory : undefined;
  let bytes = 0;
  const seen = new Set<string>();
  const buf = new Uint8Array(1 << 20);
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        using f = await Deno.open(p);
        // a hard link of a file read already (a copy made with `cp -l`) is the same pages
        const st = await f.stat();
        const id = `${st.dev}:${st.ino}`;
        if (seen.has(id)) continue;
        seen.add(id);
        for (let n; (n = await f.read(buf)) !== null;) bytes += n;
      }
    }
  };
  for (const d of [dir, `${data}/prometheus`]) {
    if (d !== undefined) await walk(d).catch(() => {});
  }
  return bytes;
}

/**
 * Starts Prometheus over `<data>/prometheus` (the copy of the blocks it serves; it opens it for
 * writing) without scraping; resolves once it is ready. The caller stops it.
 */
export function startKeptDataPrometheus(data: string): Promise<RunningPrometheus> {
  return startPrometheus({
    dataDir: `${data}/prometheus`,
    config: "global:\n  scrape_interval: 1h\n",
    extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
    readyTimeoutMs: 300_000,
  });
}

/**
 * The i-th series of the "another series each time" walk over the N-series block of
 * bench/store_memory_vs_prometheus.ts --big (a `big:<N>` query of bench/instant_cpu.ts and
 * bench/store_process_profile.ts): n stepping by 7,919 from 0.577·N, `bench_metric_<n % 100>`
 * with `id` its 7-digit number.
 */
export function bigSeriesSelector(n: number, i: number): string {
  const k = (Math.floor(n * 0.577) + i * 7919) % n;
  return `bench_metric_${k % 100}{id="${String(k).padStart(7, "0")}"}`;
}

/** `{i}`, `{i%M}`, `{i:W}` or `{i%M:W}` in a query: see countedQuery. */
const COUNTER = /\{i(?:%(\d+))?(?::(\d+))?\}/;
const COUNTERS = new RegExp(COUNTER.source, "g");

/**
 * A walk per side (e.g. per URL) over counted queries: `next(side, query)` is the text of the
 * side's next send of `query` (countedQuery with the side's count of counted sends so far), so
 * every side walks the same series; any other query is itself.
 */
export function countedQueryWalk(): (side: string, query: string) => string {
  const sent = new Map<string, number>();
  return (side, query) => {
    if (!query.startsWith("big:") && !COUNTER.test(query)) return query;
    const i = sent.get(side) ?? 0;
    sent.set(side, i + 1);
    return countedQuery(query, i);
  };
}

/**
 * The text of the i-th send of `query` (the benches' "another text each time" cases): `big:<N>`
 * is bigSeriesSelector(N, i); `{i}` or `{i%M:W}` in the text is replaced by i (modulo M,
 * zero-padded to W digits), e.g. `node_load1{instance="host-{i%100:3}:9100"}`; any other query
 * is itself.
 */
export function countedQuery(query: string, i: number): string {
  if (query.startsWith("big:")) return bigSeriesSelector(Number(query.slice(4)), i);
  return query.replace(COUNTERS, (_m, mod?: string, width?: string) => {
    const v = mod === undefined ? i : i % Number(mod);
    return String(v).padStart(Number(width ?? 0), "0");
  });
}
