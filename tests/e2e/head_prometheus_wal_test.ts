// Issue 13 must-show 2: our head replays the WAL of a real, SIGKILLed Prometheus 2.42.
// Prometheus scrapes itself and an exporter every second and takes remote writes (counters
// with a reset, gauges with NaN/±Inf/−0, a stale marker) for ~40 s, then is SIGKILLed. Its
// data dir is copied twice: our DB (tsdb/db.ts, i.e. the head's WAL replay) opens one copy;
// Prometheus restarts on the other and answers raw range-vector queries. Every series and
// sample our HeadQuerier yields equals Prometheus's answer, and vice versa.
// chunks_head/ (Prometheus's memory-mapped head chunks) is not read by us: that is sound only
// while every sample is still in the WAL, i.e. Prometheus has not truncated it (no checkpoint
// directory, segments numbered from 0): the test checks that before comparing. Prometheus
// restarts with its chunks_head, so its answer covers both.
// Remote write protocol: https://prometheus.io/docs/concepts/remote_write_spec/

import { assert, assertEquals } from "../helpers/assert.ts";
import { startExporter } from "../helpers/exporter.ts";
import { e2eTest } from "../helpers/peers.ts";
import { freePort } from "../helpers/ports.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";
import { copyDir, TempDirs } from "../helpers/tmp.ts";
import { Logger } from "../../logging/log.ts";
import { encodeWriteRequest, type PromSeries } from "../../receive/remote_write.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { DB } from "../../tsdb/db.ts";
import { labelsFromObject, labelsKey } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { float64Words, isStaleAt, setStaleWord } from "../../tsdb/value.ts";

const FETCH_TIMEOUT_MS = 60_000;
const SCRAPE_FOR_MS = 40_000;
const RW_SERIES = 300;
const RW_REQUESTS = 6;
const RW_SAMPLES_PER_REQUEST = 5;

/** A sample as the API returns it: ms timestamp, value (NaN/±Inf/−0 kept). */
type Pt = [number, number];

function parseApiValue(s: string): number {
  if (s === "NaN") return NaN;
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  return Number(s);
}

function diffPoints(got: Pt[], want: Pt[]): string | null {
  const n = Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const w = want[i];
    if (g === undefined || w === undefined || g[0] !== w[0] || !Object.is(g[1], w[1])) {
      return `sample ${i}: got ${JSON.stringify(g && [g[0], String(g[1])])}, want ${
        JSON.stringify(w && [w[0], String(w[1])])
      } (got ${got.length}, want ${want.length} samples)`;
    }
  }
  return null;
}

/**
 * Remote-write series `i` of request `r`: 5 samples at `t0 + k·1000`, or for every 5th series
 * 50 samples at `t0 + k·100` (300 in all: Prometheus cuts full 120-sample chunks, which it
 * memory-maps to chunks_head/).
 */
function rwSeries(i: number, r: number, t0: number): PromSeries {
  const dense = i % 5 === 4;
  const kind = i % 3 === 0 ? "counter" : "gauge";
  const labels = labelsFromObject({
    __name__: kind === "counter" ? "rw_requests_total" : "rw_temperature",
    job: "remote",
    series: String(i),
  });
  const n = dense ? 50 : RW_SAMPLES_PER_REQUEST;
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    timestamps[k] = t0 + k * (dense ? 100 : 1000);
    const step = r * n + k;
    if (kind === "counter") {
      // resets at step 12
      values[k] = step < 12 ? (i + 1) * step : step - 12;
    } else {
      const special = [NaN, Infinity, -Infinity, -0];
      values[k] = i % 10 === 1 && step % 7 === 3 ? special[step % 4] : i + step * 0.25;
    }
  }
  // series 2 mod 10 get a stale marker at the end of request 2, then resume
  if (i % 10 === 2 && r === 2) setStaleWord(float64Words(values), n - 1);
  return { labels, timestamps, values };
}

async function remoteWrite(url: string, series: PromSeries[]): Promise<void> {
  const res = await fetch(`${url}/api/v1/write`, {
    method: "POST",
    headers: {
      "Content-Encoding": "snappy",
      "Content-Type": "application/x-protobuf",
      "X-Prometheus-Remote-Write-Version": "0.1.0",
    },
    body: snappyBlockCompress(encodeWriteRequest({ series })) as Uint8Array<ArrayBuffer>,
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  const body = await res.text();
  if (res.status !== 204 && res.status !== 200) {
    throw new Error(`remote write → HTTP ${res.status}: ${body.slice(0, 500)}`);
  }
}

e2eTest(
  "our head replays the WAL of a SIGKILLed Prometheus 2.42 (scrapes + remote write) and " +
    "answers what Prometheus answers after its restart",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    const exporter = startExporter();
    let child: Deno.ChildProcess | undefined;
    let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    let db: DB | undefined;
    try {
      const base = await dirs.make("head-prom-wal-");
      const data = `${base}/data`;
      await Deno.mkdir(data);
      const port = freePort();
      const url = `http://127.0.0.1:${port}`;
      await Deno.writeTextFile(
        `${base}/prometheus.yml`,
        [
          "global:",
          "  scrape_interval: 1s",
          "  evaluation_interval: 1s",
          "scrape_configs:",
          "  - job_name: prometheus",
          "    static_configs:",
          `      - targets: ['127.0.0.1:${port}']`,
          "  - job_name: exporter",
          "    static_configs:",
          `      - targets: ['${exporter.target}']`,
          "",
        ].join("\n"),
      );
      child = new Deno.Command(PROMETHEUS, {
        args: [
          `--config.file=${base}/prometheus.yml`,
          `--storage.tsdb.path=${data}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--web.enable-remote-write-receiver",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const status = child.status;
      const deadline = Date.now() + 30_000;
      let ready = false;
      while (!ready && Date.now() < deadline) {
        try {
          const r = await fetch(`${url}/-/ready`);
          await r.body?.cancel();
          ready = r.status === 200;
        } catch { /* not yet */ }
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      assert(ready, "scraping Prometheus became ready");

      // remote writes spread over the scrape period, each 5 s of samples ending before now. The
      // samples are placed by the planned send time, not the clock at sending: on a loaded machine
      // a late timer could bring two sends closer than 5 s and overlap their samples (Prometheus:
      // 400 out of order sample).
      const started = Date.now();
      let rwSamples = 0;
      for (let r = 0; r < RW_REQUESTS; r++) {
        const at = Math.round(started + (r + 1) * (SCRAPE_FOR_MS / (RW_REQUESTS + 1)));
        await new Promise((res) => setTimeout(res, Math.max(0, at - Date.now())));
        const t0 = at - RW_SAMPLES_PER_REQUEST * 1000;
        const series = Array.from({ length: RW_SERIES }, (_, i) => rwSeries(i, r, t0));
        await remoteWrite(url, series);
        for (const s of series) rwSamples += s.timestamps.length;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, started + SCRAPE_FOR_MS - Date.now())));
      child.kill("SIGKILL");
      await status;
      child = undefined;
      const killedAt = Date.now();

      const ours = `${base}/ours`;
      const theirs = `${base}/theirs`;
      await copyDir(data, ours);
      await copyDir(data, theirs);

      // every sample is still in the WAL: no checkpoint, segments from 0, no block cut
      const walEntries: string[] = [];
      for await (const e of Deno.readDir(`${ours}/wal`)) walEntries.push(e.name);
      walEntries.sort();
      assert(!walEntries.some((n) => n.startsWith("checkpoint.")), walEntries.join(","));
      assertEquals(walEntries[0], "00000000", "the WAL was never truncated");
      const top: string[] = [];
      for await (const e of Deno.readDir(ours)) top.push(e.name);
      assert(!top.some((n) => /^[0-9A-Z]{26}$/.test(n)), `no block: ${top.join(",")}`);
      let chunksHead = 0;
      try {
        for await (const e of Deno.readDir(`${ours}/chunks_head`)) {
          chunksHead += (await Deno.stat(`${ours}/chunks_head/${e.name}`)).size;
        }
      } catch { /* none */ }

      // our DB over the copy: head replay of Prometheus's WAL
      const lines: string[] = [];
      const logger = new Logger("info", "logfmt", {}, (l) => lines.push(l));
      const t1 = performance.now();
      db = await DB.open(ours, { logger, autoCompact: false });
      const replayMs = performance.now() - t1;
      for (const l of lines) if (/level=(warn|error)/.test(l)) console.log(`ours: ${l}`);
      const head = db.head;
      const ourPts = new Map<string, Pt[]>();
      let ourSamples = 0;
      let ourStale = 0;
      for await (
        const s of head.querier().select([new Matcher(MatchType.Regexp, "__name__", ".+")], {
          start: -Infinity,
          end: Infinity,
        })
      ) {
        const pts: Pt[] = [];
        for (const c of s.chunks) {
          const { ts, vs } = decodeXorSamples(c.data);
          for (let x = 0; x < ts.length; x++) {
            // a range vector never shows stale markers
            if (isStaleAt(vs, x)) {
              ourStale++;
              continue;
            }
            pts.push([ts[x], vs[x]]);
          }
        }
        ourSamples += pts.length;
        if (pts.length > 0) ourPts.set(labelsKey(s.labels), pts);
      }
      await db.close();
      db = undefined;

      // Prometheus on its own copy, not scraping: its answers come from its replay
      prom = await startPrometheus({
        dataDir: theirs,
        config: "global:\n  scrape_interval: 1m\n",
        readyTimeoutMs: 120_000,
      });
      const u = new URL(`${prom.url}/api/v1/query`);
      u.searchParams.set("query", `{__name__=~".+"}[10m]`);
      u.searchParams.set("time", (killedAt / 1000 + 1).toFixed(3));
      const res = await fetch(u, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      const body = await res.text();
      assertEquals(res.status, 200, body.slice(0, 500));
      const api = (JSON.parse(body) as {
        data: { result: { metric: Record<string, string>; values: [number, string][] }[] };
      }).data.result;
      const diffs: string[] = [];
      const seen = new Set<string>();
      let promSamples = 0;
      for (const s of api) {
        const key = labelsKey(labelsFromObject(s.metric));
        seen.add(key);
        const got: Pt[] = s.values.map(([t, v]) => [Math.round(t * 1000), parseApiValue(v)]);
        promSamples += got.length;
        const want = ourPts.get(key);
        if (want === undefined) {
          diffs.push(`our head lacks ${key}`);
          continue;
        }
        const d = diffPoints(got, want);
        if (d !== null) diffs.push(`${key} (got: Prometheus, want: our head): ${d}`);
      }
      for (const key of ourPts.keys()) if (!seen.has(key)) diffs.push(`Prometheus lacks ${key}`);
      assertEquals(diffs.slice(0, 20), [], `${diffs.length} differences`);
      assertEquals(promSamples, ourSamples);

      const rwKeys = Array.from(
        { length: RW_SERIES },
        (_, i) => labelsKey(rwSeries(i, 0, 0).labels),
      ).filter((k) => ourPts.has(k));
      assertEquals(rwKeys.length, RW_SERIES, "every remote-written series");
      const rwPts = rwKeys.reduce((n, k) => n + ourPts.get(k)!.length, 0);
      assertEquals(rwPts + RW_SERIES / 10, rwSamples, "remote-written samples (stale excluded)");
      const scraped = [...ourPts.keys()].filter((k) => k.includes("lab_")).length;
      assert(scraped >= 3, `exporter series: ${scraped}`);
      assert(ourPts.size > 500, `${ourPts.size} series`);
      console.log(
        `Prometheus scraped ~${SCRAPE_FOR_MS / 1000} s + ${RW_REQUESTS} remote writes ` +
          `(${rwSamples} samples), SIGKILLed; WAL ${walEntries.join(",")}, chunks_head ` +
          `${chunksHead} bytes (ignored by us: no checkpoint, WAL from segment 0). Our DB ` +
          `replayed it in ${replayMs.toFixed(0)} ms: ${ourPts.size} series, ${ourSamples} ` +
          `samples, ${ourStale} stale markers; Prometheus after restart: ${api.length} series, ` +
          `${promSamples} samples: identical`,
      );
    } finally {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await db?.close();
      await prom?.stop();
      await exporter.stop();
      await dirs.cleanup();
    }
  },
);
