// Our block reader/writer and `tools tsdb dump|analyze` against Prometheus 2.42's promtool and
// server: promtool's blocks dumped by both tools, stale markers from a real Prometheus
// snapshot, our blocks read by promtool and served by Prometheus, and the CLI.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { freePort } from "../helpers/ports.ts";
import * as promtool from "../helpers/promtool.ts";
import { snapshot, startPrometheus } from "../helpers/prometheus.ts";
import { copyDir, TempDirs } from "../helpers/tmp.ts";
import {
  type Dataset,
  datasetSamples,
  generateDataset,
  writeOpenMetricsFile,
} from "../../scripts/dataset.ts";
import { tsdbAnalyze, tsdbDump } from "../../tsdb/promtool.ts";
import { openBlocks } from "../../tsdb/block.ts";
import { createBlocksFromSeries } from "../../tsdb/block_writer.ts";
import { XorIterator } from "../../tsdb/chunkenc/xor.ts";
import { labelsFromObject, labelsGoString, labelsToObject } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { BlocksQuerier } from "../../tsdb/querier.ts";
import { isStaleAt } from "../../tsdb/value.ts";

const H = 3_600_000;
/** 2024-01-01T00:00:00Z: recent enough for Prometheus, far from "now" so nothing overlaps the head. */
const START = 1_704_067_200_000;
const MIN_INT64 = -9223372036854775808;
const MAX_INT64 = 9223372036854775807;

// ---------------------------------------------------------------------------------------------
// Go formatting of label sets (no peer needed; the e2e comparisons below check it on real
// output). The Go number, duration and quoting formats are tested in tests/strconv/.

Deno.test("labelsGoString quotes like labels.String", () => {
  assertEquals(
    labelsGoString(labelsFromObject({ __name__: "up", job: "api" })),
    '{__name__="up", job="api"}',
  );
  assertEquals(labelsGoString([]), "{}");
});

// ---------------------------------------------------------------------------------------------
// helpers

/** Writes our dump of `dir` into `file`; returns the sample count. */
async function ourDumpToFile(
  dir: string,
  file: string,
  opts: { minTime?: number; maxTime?: number; matchers?: Matcher[] } = {},
): Promise<number> {
  const f = await Deno.open(file, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  try {
    return await tsdbDump(dir, {
      minTime: opts.minTime ?? MIN_INT64,
      maxTime: opts.maxTime ?? MAX_INT64,
      matchers: opts.matchers ?? [],
    }, async (s) => {
      const b = enc.encode(s);
      let off = 0;
      while (off < b.length) off += await f.write(b.subarray(off));
    });
  } finally {
    f.close();
  }
}

const promtoolDump = promtool.dumpToFile;

function lineAround(b: Uint8Array, at: number, before: number, after: number): string {
  let s = at;
  for (let k = 0; k <= before && s > 0; k++) s = b.lastIndexOf(0x0a, s - 1);
  let e = at;
  for (let k = 0; k <= after && e >= 0 && e < b.length; k++) e = b.indexOf(0x0a, e + 1);
  if (e < 0) e = b.length;
  return new TextDecoder().decode(b.subarray(Math.max(0, s + 1), e));
}

/**
 * Compares two files byte for byte in 8 MiB blocks; on a difference fails with the lines
 * around the first differing byte of each. Returns the size.
 */
async function assertSameFile(ours: string, theirs: string, what: string): Promise<number> {
  const a = await Deno.open(ours);
  const b = await Deno.open(theirs);
  const BS = 8 << 20;
  const ba = new Uint8Array(BS);
  const bb = new Uint8Array(BS);
  let pos = 0;
  try {
    for (let iter = 0; iter < 1 << 20; iter++) {
      const na = await readFull(a, ba);
      const nb = await readFull(b, bb);
      const n = Math.min(na, nb);
      for (let i = 0; i < n; i++) {
        if (ba[i] !== bb[i]) {
          throw new Error(
            `${what}: outputs differ at byte ${pos + i}\n--- ours (${ours}):\n${
              lineAround(ba.subarray(0, na), i, 2, 2)
            }\n--- promtool (${theirs}):\n${lineAround(bb.subarray(0, nb), i, 2, 2)}`,
          );
        }
      }
      if (na !== nb) {
        const longer = na > nb ? "ours" : "promtool";
        const tail = na > nb
          ? ba.subarray(n, Math.min(na, n + 400))
          : bb.subarray(n, Math.min(nb, n + 400));
        throw new Error(
          `${what}: ${longer} has more output after byte ${pos + n}:\n${
            new TextDecoder().decode(tail)
          }`,
        );
      }
      pos += n;
      if (na < BS) return pos;
    }
    throw new Error(`${what}: file too large to compare`);
  } finally {
    a.close();
    b.close();
  }
}

async function readFull(f: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let n = 0;
  while (n < buf.length) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return n;
}

/** Parses an API sample value ("NaN", "+Inf", "-Inf" or a decimal). */
function apiValue(s: string): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  return Number(s);
}

function sameValue(a: number, b: number): boolean {
  return (a !== a && b !== b) || a === b;
}

// ---------------------------------------------------------------------------------------------
// (a) + (c): promtool's blocks vs our dump; our blocks vs promtool and Prometheus

const SERIES = Number(Deno.env.get("H5_E2E_SERIES") ?? 2000);
const HOURS = Number(Deno.env.get("H5_E2E_HOURS") ?? 12);

e2eTest(
  `dump of promtool blocks (${SERIES} series, ${HOURS}h at 15s) matches promtool; our blocks pass promtool and Prometheus`,
  { peers: ["promtool", "prometheus"] },
  async (t) => {
    const tmp = new TempDirs();
    try {
      const work = await tmp.make("h5-e2e-");
      const ds = generateDataset({
        series: SERIES,
        start: START,
        end: START + HOURS * H,
        stepMs: 15_000,
        seed: 42,
        jitterMs: 500,
      });
      const om = `${work}/data.om`;
      await writeOpenMetricsFile(ds, om);
      const theirBlocks = `${work}/promtool-blocks`;
      await promtool.createBlocksFromOpenMetrics(om, theirBlocks, { quiet: true });
      await Deno.remove(om);

      const oursOfTheirs = `${work}/ours-of-promtool.txt`;
      await t.step("our dump of promtool's blocks equals promtool's dump", async () => {
        const theirs = `${work}/promtool-of-promtool.txt`;
        await promtoolDump(theirBlocks, theirs);
        const t0 = performance.now();
        const n = await ourDumpToFile(theirBlocks, oursOfTheirs);
        const ms = performance.now() - t0;
        console.log(
          `  our dump: ${n} samples in ${ms.toFixed(0)} ms (${
            (n / ms * 1000).toFixed(0)
          } samples/s)`,
        );
        assertEquals(n, datasetSamples(ds));
        await assertSameFile(oursOfTheirs, theirs, "dump of promtool blocks");
        await Deno.remove(theirs);
      });

      await t.step("selections and time bounds match promtool's", async () => {
        const sel =
          '{__name__=~"http_request_duration_seconds_bucket|weird_values", le=~"0.1|.Inf|"}';
        const minTime = START + 3 * H + 1234;
        const maxTime = START + 7 * H + 77;
        const theirs = `${work}/p-sel.txt`;
        const ours = `${work}/o-sel.txt`;
        await promtoolDump(theirBlocks, theirs, { minTime, maxTime, match: sel });
        await ourDumpToFile(theirBlocks, ours, {
          minTime,
          maxTime,
          matchers: [
            new Matcher(
              MatchType.Regexp,
              "__name__",
              "http_request_duration_seconds_bucket|weird_values",
            ),
            new Matcher(MatchType.Regexp, "le", "0.1|.Inf|"),
          ],
        });
        const size = await assertSameFile(ours, theirs, "dump with --match/--min-time/--max-time");
        assert(size > 0, "selection printed nothing");
      });

      const ourBlocks = `${work}/our-blocks`;
      await t.step("promtool accepts our blocks and dumps the same samples", async () => {
        const metas = await createBlocksFromSeries(ourBlocks, ds.series);
        assertEquals(metas.length, HOURS / 2);
        for (const m of metas) {
          const report = await promtool.analyze(`${ourBlocks}/${m.ulid}`);
          assert(report.includes(`Block ID: ${m.ulid}`), report);
        }
        // same block boundaries and chunk cutting as promtool's backfill
        const theirOpen = await openBlocks(theirBlocks);
        const theirMetas = theirOpen.map((b) => b.meta);
        for (const b of theirOpen) await b.close();
        assertEquals(
          metas.map((m) => [m.minTime, m.maxTime, m.stats]),
          theirMetas.map((m) => [m.minTime, m.maxTime, m.stats]),
        );
        const theirsOfOurs = `${work}/promtool-of-ours.txt`;
        await promtoolDump(ourBlocks, theirsOfOurs);
        await assertSameFile(oursOfTheirs, theirsOfOurs, "promtool dump of our blocks");
        await Deno.remove(theirsOfOurs);
        await Deno.remove(oursOfTheirs);
      });

      await t.step("Prometheus serves our blocks with exactly the data set's samples", async () => {
        const dataDir = `${work}/prom-data`;
        await copyDir(ourBlocks, dataDir);
        await Deno.remove(`${dataDir}/wal`, { recursive: true }).catch(() => {});
        const prom = await startPrometheus({
          dataDir,
          config: "global:\n  scrape_interval: 1h\nscrape_configs: []\n",
          extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
        });
        try {
          await checkPrometheusAnswers(prom.url, ds);
        } catch (e) {
          throw new Error(`${(e as Error).message}\nprometheus logs:\n${prom.logs().slice(-3000)}`);
        } finally {
          await prom.stop();
        }
      });
    } finally {
      await tmp.cleanup();
    }
  },
);

async function checkPrometheusAnswers(url: string, ds: Dataset): Promise<void> {
  const endSec = (ds.end - 1) / 1000;
  const picks = [
    ...ds.series.filter((s) => labelsToObject(s.labels).__name__ === "weird_values"),
    ds.series.find((s) => labelsToObject(s.labels).__name__ === "http_requests_total")!,
    ds.series.find((s) => labelsToObject(s.labels).__name__ === "node_temperature_celsius")!,
    ds.series.find((s) => labelsToObject(s.labels).le === "0.25")!,
  ];
  let raw = 0;
  let points = 0;
  for (const s of picks) {
    const o = labelsToObject(s.labels);
    const sel = `{${Object.entries(o).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}}`;
    // raw samples: a range vector at the end covering the whole data set
    const u = new URL(`${url}/api/v1/query`);
    u.searchParams.set("query", `${sel}[${Math.ceil((ds.end - ds.start) / 1000) + 60}s]`);
    u.searchParams.set("time", String(endSec));
    const res = await fetch(u);
    const body = await res.json() as {
      status: string;
      data: { result: { metric: Record<string, string>; values: [number, string][] }[] };
    };
    assertEquals(res.status, 200, JSON.stringify(body).slice(0, 500));
    assertEquals(body.data.result.length, 1, `series ${sel}`);
    const vals = body.data.result[0].values;
    assertEquals(vals.length, s.ts.length, `sample count of ${sel}`);
    for (let i = 0; i < vals.length; i++) {
      assertEquals(Math.round(vals[i][0] * 1000), s.ts[i], `timestamp ${i} of ${sel}`);
      assert(
        sameValue(apiValue(vals[i][1]), s.vs[i]),
        `value ${i} of ${sel}: ${vals[i][1]} vs ${s.vs[i]}`,
      );
      raw++;
    }

    // query_range at 60s steps: Prometheus 2.x takes the newest sample in [T - 5m, T]
    const step = 60;
    const startSec = ds.start / 1000;
    const ur = new URL(`${url}/api/v1/query_range`);
    ur.searchParams.set("query", sel);
    ur.searchParams.set("start", String(startSec));
    ur.searchParams.set("end", String(endSec));
    ur.searchParams.set("step", String(step));
    const rr = await fetch(ur);
    const rb = await rr.json() as {
      data: { result: { values: [number, string][] }[] };
    };
    assertEquals(rr.status, 200, JSON.stringify(rb).slice(0, 500));
    const got = new Map<number, string>();
    for (const [ts, v] of rb.data.result[0]?.values ?? []) got.set(Math.round(ts * 1000), v);
    let j = 0;
    for (let T = ds.start; T <= ds.end - 1; T += step * 1000) {
      while (j + 1 < s.ts.length && s.ts[j + 1] <= T) j++;
      const has = s.ts.length > 0 && s.ts[j] <= T && s.ts[j] >= T - 300_000;
      const g = got.get(T);
      points++;
      if (!has) {
        assertEquals(g, undefined, `query_range ${sel} at ${T}: expected no point`);
      } else {
        assert(
          g !== undefined && sameValue(apiValue(g), s.vs[j]),
          `query_range ${sel} at ${T}: ${g} vs ${s.vs[j]}`,
        );
      }
    }
  }
  console.log(
    `  Prometheus: ${raw} raw samples and ${points} range-query steps of ${picks.length} series match`,
  );
}

// ---------------------------------------------------------------------------------------------
// (b) stale markers from a real Prometheus snapshot

e2eTest(
  "dump of a Prometheus snapshot with stale markers matches promtool",
  { peers: ["promtool", "prometheus"] },
  async () => {
    const tmp = new TempDirs();
    const ac = new AbortController();
    let server: Deno.HttpServer | undefined;
    try {
      const work = await tmp.make("h5-stale-");
      const exporterPort = freePort();
      const t0 = Date.now();
      // Series come and go every 3 s, so Prometheus writes stale markers when they vanish.
      server = Deno.serve(
        { hostname: "127.0.0.1", port: exporterPort, signal: ac.signal, onListen: () => {} },
        () => {
          const phase = Math.floor((Date.now() - t0) / 3000);
          const lines = ["# TYPE flapping gauge"];
          lines.push(`flapping{phase="${phase % 2 === 0 ? "even" : "odd"}"} ${phase}`);
          if (phase % 3 === 0) lines.push(`flapping{phase="third"} ${phase * 1.5}`);
          lines.push("# TYPE steady counter", `steady_total ${Date.now() - t0}`);
          return new Response(lines.join("\n") + "\n", {
            headers: { "content-type": "text/plain; version=0.0.4" },
          });
        },
      );
      const dataDir = `${work}/data`;
      const prom = await startPrometheus({
        dataDir,
        config: [
          "global:",
          "  scrape_interval: 1s",
          "  scrape_timeout: 900ms",
          "scrape_configs:",
          "  - job_name: flap",
          "    static_configs:",
          `      - targets: ["127.0.0.1:${exporterPort}"]`,
        ].join("\n") + "\n",
        extraFlags: ["--web.enable-admin-api", "--log.level=warn"],
      });
      let snapDir = "";
      try {
        await new Promise((r) => setTimeout(r, 16_000));
        const name = await snapshot(prom.url);
        snapDir = `${dataDir}/snapshots/${name}`;
      } finally {
        await prom.stop();
      }
      const theirs = `${work}/p.txt`;
      const ours = `${work}/o.txt`;
      await promtoolDump(snapDir, theirs);
      await ourDumpToFile(snapDir, ours);
      const size = await assertSameFile(ours, theirs, "dump of a Prometheus snapshot");
      assert(size > 0, "snapshot dump is empty");
      const text = await Deno.readTextFile(ours);
      assert(
        /^\{__name__="flapping".* NaN \d+$/m.test(text),
        "expected stale markers printed as NaN",
      );

      // the NaNs really are stale markers (exact bits), read through our querier
      const blocks = await openBlocks(snapDir);
      try {
        let stale = 0;
        const it = new XorIterator();
        const set = new BlocksQuerier(blocks).select(
          [new Matcher(MatchType.Equal, "__name__", "flapping")],
          { start: MIN_INT64, end: MAX_INT64 },
        );
        for await (const s of set) {
          for (const c of s.chunks) {
            it.reset(c.data);
            while (it.next()) if (it.isStale()) stale++;
          }
        }
        assert(stale > 0, "no stale marker found in the snapshot");
        assert(isStaleAt(new Float64Array([NaN]), 0) === false);
      } finally {
        for (const b of blocks) await b.close();
      }
    } finally {
      ac.abort();
      await server?.finished;
      await tmp.cleanup();
    }
  },
);

// ---------------------------------------------------------------------------------------------
// (d) the CLI

e2eTest(
  "`thanos tools tsdb dump|analyze` CLI prints what promtool prints",
  { peers: ["promtool"] },
  async () => {
    const tmp = new TempDirs();
    try {
      const work = await tmp.make("h5-cli-");
      const ds = generateDataset({
        series: 100,
        start: START,
        end: START + 4 * H,
        stepMs: 30_000,
        seed: 5,
        jitterMs: 200,
      });
      const data = `${work}/data`;
      const metas = await createBlocksFromSeries(data, ds.series);
      const mainTs = new URL("../../main.ts", import.meta.url).pathname;
      const run = async (args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", mainTs, ...args],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const td = new TextDecoder();
        if (!out.success) {
          throw new Error(
            `thanos ${args.join(" ")} exited ${out.code}: ${td.decode(out.stderr).slice(0, 2000)}`,
          );
        }
        return td.decode(out.stdout);
      };
      const cases: { args: string[]; opts: promtool.PromtoolDumpOptions }[] = [
        { args: [], opts: {} },
        {
          args: [`--min-time=${START + H}`, `--max-time=${START + 2 * H}`, `--match={job="api"}`],
          opts: { minTime: START + H, maxTime: START + 2 * H, match: '{job="api"}' },
        },
      ];
      for (const c of cases) {
        const ours = await run(["tools", "tsdb", "dump", ...c.args, data]);
        const theirs = await promtool.dump(data, c.opts);
        assert(theirs.length > 0);
        if (ours !== theirs) {
          const a = ours.split("\n");
          const b = theirs.split("\n");
          let i = 0;
          while (i < a.length && a[i] === b[i]) i++;
          throw new Error(
            `CLI dump ${c.args.join(" ")} differs at line ${i + 1}:\nours:     ${a[i]}\npromtool: ${
              b[i]
            }`,
          );
        }
      }
      const report = await run(["tools", "tsdb", "analyze", `${data}/${metas[0].ulid}`]);
      const lib: string[] = [];
      await tsdbAnalyze(`${data}/${metas[0].ulid}`, (s) => {
        lib.push(s);
      });
      assertEquals(report, lib.join(""));
      const theirs = await promtool.analyze(`${data}/${metas[0].ulid}`);
      // same headings and header values as promtool (list order among ties may differ)
      for (const line of theirs.split("\n").slice(0, 6)) assert(report.includes(line), line);
      for (const heading of theirs.split("\n").filter((l) => l.endsWith(":"))) {
        assert(report.includes(heading), heading);
      }
    } finally {
      await tmp.cleanup();
    }
  },
);
