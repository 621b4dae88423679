// Query statistics through `thanos query-frontend` in front of our querier, as Thanos v0.42 does
// them: a client's `stats` parameter is passed to every split part and the parts' sample counts
// merged (totals summed, the largest peak) into Cortex's form of `stats`; with a results cache
// only `--query-frontend.force-query-stats` statistics are asked for and answered; forced
// statistics also give every answer its stats, a `Server-Timing` header and a `query stats` line.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { freePort } from "../helpers/ports.ts";
import { answers200, type Proc, spawnMain } from "../helpers/thanos.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { cacheYaml, H, rangeUrl, S, startQuerierOverCorpusData } from "../helpers/frontend_e2e.ts";

/** Starts the frontend at info level (logfmt) with `flags`; resolves once ready. */
async function startFrontend(downstream: string, flags: string[]) {
  const port = freePort();
  const p = spawnMain(
    [
      "query-frontend",
      `--http-address=127.0.0.1:${port}`,
      "--http-grace-period=1s",
      `--query-frontend.downstream-url=${downstream}`,
      "--log.format=logfmt",
      ...flags,
    ],
    port,
    "query-frontend",
  );
  const url = `http://127.0.0.1:${port}`;
  await p.waitFor(() => answers200(`${url}/-/ready`), "start (/-/ready)");
  return { p, url };
}

interface Answer {
  headers: Headers;
  data: Record<string, unknown> & {
    stats?: {
      samples: { totalQueryableSamples: number; peakSamples: number } & Record<string, unknown>;
    };
  };
}

async function getData(url: string): Promise<Answer> {
  const r = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  assertEquals(r.status, 200, `${url}: ${text.slice(0, 300)}`);
  return { headers: r.headers, data: JSON.parse(text).data };
}

/** The fields of the frontend's `query stats` lines so far (values unquoted). */
function statsLines(p: Proc): Record<string, string>[] {
  return p.logs().split("\n").filter((l) => l.includes('msg="query stats"')).map((l) => {
    const out: Record<string, string> = {};
    for (const m of l.matchAll(/([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      out[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
    }
    return out;
  });
}

async function waitStatsLine(p: Proc, n: number): Promise<Record<string, string>> {
  for (let i = 0; i < 100; i++) {
    const lines = statsLines(p);
    if (lines.length >= n) return lines[n - 1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no query stats line #${n}; logs:\n${p.logs().slice(-3000)}`);
}

// step-additive queries: the split parts' totals add up to the unsplit query's
const QUERY = "sum(rate(http_requests_total[5m]))";
const START = S + H;
const END = S + 4 * H;
const STEP = 60_000;

e2eTest(
  "query-frontend: stats of split range parts summed like Thanos; force-query-stats logs and times them",
  { peers: [] },
  async () => {
    await using dirs = new TempDirs();
    const procs: Proc[] = [];
    try {
      const querier = await startQuerierOverCorpusData(dirs, procs);
      const direct = await getData(`${rangeUrl(querier, QUERY, START, END, STEP)}&stats=all`);
      const want = direct.data.stats!.samples;
      assert(want.totalQueryableSamples > 0, "the query reads samples");

      // no cache: the client's stats go to every 1h part, merged into Cortex's form
      const plain = await startFrontend(querier, ["--query-range.split-interval=1h"]);
      procs.push(plain.p);
      const split = await getData(`${rangeUrl(plain.url, QUERY, START, END, STEP)}&stats=all`);
      assertEquals(Object.keys(split.data), ["resultType", "result", "stats"]);
      assertEquals(Object.keys(split.data.stats!), ["samples"]);
      assertEquals(split.data.stats!.samples, {
        totalQueryableSamples: want.totalQueryableSamples,
        totalQueryableSamplesPerStep: null,
        peakSamples: split.data.stats!.samples.peakSamples,
      });
      assert(split.data.stats!.samples.peakSamples > 0);
      assert(split.data.stats!.samples.peakSamples <= want.peakSamples, "a part's peak");
      assertEquals(split.data.result, direct.data.result);
      const none = await getData(rangeUrl(plain.url, QUERY, START, END, STEP));
      assertEquals(Object.keys(none.data), ["resultType", "result"]);
      assertEquals(none.headers.get("server-timing"), null);
      // an instant query passes the client's stats through, re-encoded in Cortex's form
      const instantPath = `/api/v1/query?query=${encodeURIComponent(QUERY)}&time=${
        (S + 2 * H) / 1000
      }&stats=all`;
      const inst = await getData(plain.url + instantPath);
      const instDirect = await getData(querier + instantPath);
      assertEquals(inst.data.stats, {
        samples: {
          totalQueryableSamples: instDirect.data.stats!.samples.totalQueryableSamples,
          totalQueryableSamplesPerStep: null,
          peakSamples: instDirect.data.stats!.samples.peakSamples,
        },
      });

      // a results cache: only forced statistics are asked for and answered (Thanos)
      const cached = await startFrontend(querier, [
        "--query-range.split-interval=1h",
        `--query-range.response-cache-config=${cacheYaml("IN-MEMORY")}`,
      ]);
      procs.push(cached.p);
      const noStats = await getData(`${rangeUrl(cached.url, QUERY, START, END, STEP)}&stats=all`);
      assertEquals(Object.keys(noStats.data), ["resultType", "result"]);

      // forced: stats without asking, the Server-Timing header and one log line per request
      const forced = await startFrontend(querier, [
        "--query-range.split-interval=1h",
        `--query-range.response-cache-config=${cacheYaml("IN-MEMORY")}`,
        "--query-frontend.force-query-stats",
      ]);
      procs.push(forced.p);
      const cold = await getData(rangeUrl(forced.url, QUERY, START, END, STEP));
      assertEquals(cold.data.stats!.samples.totalQueryableSamples, want.totalQueryableSamples);
      assertEquals(cold.data.result, direct.data.result);
      const timing = cold.headers.get("server-timing") ?? "";
      assert(
        /^querier_wall_time;dur=0, response_time;dur=\d+(\.\d+)?$/.test(timing),
        `Server-Timing: ${timing}`,
      );
      const line = await waitStatsLine(forced.p, 1);
      assertEquals(line.component, "query-frontend");
      assertEquals(line.path, "/api/v1/query_range");
      assertEquals(line.param_query, QUERY);
      assertEquals(Number(line.total_samples_loaded), want.totalQueryableSamples);
      assertEquals(Number(line.peak_samples), cold.data.stats!.samples.peakSamples);
      assertEquals(line.query_range_hours, "3");
      // answered from cached extents: Cortex counts no samples for them
      const warm = await getData(rangeUrl(forced.url, QUERY, START, END, STEP));
      assertEquals(warm.data.stats!.samples.totalQueryableSamples, 0);
      assertEquals(warm.data.result, direct.data.result);
      // forced on an instant query too
      const fInst = await getData(
        `${forced.url}/api/v1/query?query=${encodeURIComponent(QUERY)}&time=${(S + 2 * H) / 1000}`,
      );
      assertEquals(
        fInst.data.stats!.samples.totalQueryableSamples,
        instDirect.data.stats!.samples.totalQueryableSamples,
      );
      const instLine = await waitStatsLine(forced.p, 3);
      assertEquals(instLine.path, "/api/v1/query");
      assertEquals(
        Number(instLine.total_samples_loaded),
        instDirect.data.stats!.samples.totalQueryableSamples,
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
);
