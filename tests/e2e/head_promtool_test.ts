// Issue 13 must-shows 1 and 4 against Prometheus 2.42: blocks cut from our head pass
// `promtool tsdb analyze` and dump exactly the samples the head held for their range; and a
// WAL written through our appender (≥10k series: counters with resets, gauges, stale markers,
// churn) is replayed by promtool and by a Prometheus server with identical samples.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import * as promtool from "../helpers/promtool.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { DB } from "../../tsdb/db.ts";
import { Head } from "../../tsdb/head.ts";
import { labelsFromObject, labelsGoString, labelsKey } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";
import { formatGoFloat } from "../../strconv/float.ts";
import { isStaleAt } from "../../tsdb/value.ts";

const H = 3_600_000;

/** promtool dump line of one sample (value printed with %g; every NaN prints as NaN). */
function dumpLine(ls: Labels, v: number, t: number): string {
  return `${labelsGoString(ls)} ${formatGoFloat(v)} ${t}`;
}

async function readLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l !== "");
}

e2eTest("head: cut blocks pass promtool analyze and dump equal to the head's samples", {
  peers: [promtool.PROMTOOL],
}, async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  const db = await DB.open(dir, { autoCompact: false });
  // 4h of 300 series at 15 s, 2024-01-01, some stale markers and a counter reset
  const start = 1_704_067_200_000;
  for (let t = start; t < start + 4 * H; t += 15_000) {
    const app = db.appender();
    for (let i = 0; i < 300; i++) {
      const ls = labelsFromObject({ __name__: i % 2 ? "g" : "c_total", i: String(i) });
      const k = (t - start) / 15_000;
      if (i % 50 === 7 && k % 97 === 96) app.appendStale(ls, t);
      else app.append(ls, t, i % 2 ? Math.sin(k + i) * 100 : (k % 300) * (i + 1));
    }
    await app.commit();
  }
  const mint = db.head.minTime;
  const maxt = Math.floor(mint / (2 * H)) * 2 * H + 2 * H;
  const want: string[] = [];
  let stale = 0;
  for await (const s of db.head.seriesForBlock(mint, maxt)) {
    for (let i = 0; i < s.ts.length; i++) {
      if (isStaleAt(s.vs, i)) stale++;
      want.push(dumpLine(s.labels, s.vs[i], s.ts[i]));
    }
  }
  assert(stale > 0);
  const metas = await db.compact();
  assertEquals(metas.length, 1);
  assertEquals([metas[0].minTime, metas[0].maxTime], [mint, maxt]);
  await db.close();

  const blockDir = `${dir}/${metas[0].ulid}`;
  const report = await promtool.analyze(blockDir);
  assert(report.includes(`Block ID: ${metas[0].ulid}`), report.slice(0, 500));
  assert(report.includes("\nSeries: 300\n"), report.slice(0, 500));
  assert(report.includes("Duration: 2h0m0s"), report.slice(0, 500));
  // dump only the block: a data dir holding just it
  const only = await dirs.make();
  await Deno.rename(blockDir, `${only}/${metas[0].ulid}`);
  const out = `${only}.dump`;
  await promtool.dumpToFile(only, out);
  const got = await readLines(out);
  await Deno.remove(out);
  assertEquals(got.length, want.length);
  assertEquals(got.sort(), want.sort());
});

e2eTest("head: Prometheus 2.42 replays our WAL (10k+ series, resets, stale markers, churn)", {
  peers: [promtool.PROMTOOL, PROMETHEUS],
}, async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  const head = await Head.open(dir, { walCompression: true });
  const step = 15_000;
  const steps = 80;
  const end = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const start = end - (steps - 1) * step;
  /** Expected samples per series: dump lines (stale included) and non-stale [t, v]. */
  const lines: string[] = [];
  const raw = new Map<string, { labels: Labels; pts: [number, number][] }>();
  const add = (ls: Labels, t: number, v: number | "stale") => {
    const k = labelsKey(ls);
    let e = raw.get(k);
    if (!e) raw.set(k, e = { labels: ls, pts: [] });
    if (v === "stale") {
      lines.push(`${labelsGoString(ls)} NaN ${t}`);
    } else {
      e.pts.push([t, v]);
      lines.push(dumpLine(ls, v, t));
    }
  };
  for (let k = 0; k < steps; k++) {
    const t = start + k * step;
    const app = head.appender();
    for (let i = 0; i < 4000; i++) {
      const c = labelsFromObject({ __name__: "wl_requests_total", inst: `i${i}`, job: "wl" });
      const v = ((k + i) % 50) * 3 + (i % 7); // resets every 50 steps
      app.append(c, t, v);
      add(c, t, v);
      const g = labelsFromObject({ __name__: "wl_temp", inst: `i${i}`, job: "wl" });
      const gv = Math.round(Math.sin(k / 7 + i) * 1e6) / 1e3;
      app.append(g, t, gv);
      add(g, t, gv);
    }
    // churn: 2000 series live in the first half and end with a stale marker, 2000 replace them
    for (let i = 0; i < 2000; i++) {
      if (k < steps / 2) {
        const ls = labelsFromObject({ __name__: "wl_churn", gen: "a", inst: `i${i}`, job: "wl" });
        if (k === steps / 2 - 1) {
          app.appendStale(ls, t);
          add(ls, t, "stale");
        } else {
          app.append(ls, t, k * i);
          add(ls, t, k * i);
        }
      } else {
        const ls = labelsFromObject({ __name__: "wl_churn", gen: "b", inst: `i${i}`, job: "wl" });
        app.append(ls, t, k + i / 10);
        add(ls, t, k + i / 10);
      }
    }
    await app.commit();
  }
  assert(head.numSeries >= 10_000, `${head.numSeries} series`);
  await head.close();

  // promtool (Prometheus's own TSDB code, read-only open replays the WAL), stale markers included
  const out = `${dir}.dump`;
  await promtool.dumpToFile(dir, out);
  const got = await readLines(out);
  await Deno.remove(out);
  assertEquals(got.length, lines.length, "promtool dump sample count");
  got.sort();
  lines.sort();
  for (let i = 0; i < lines.length; i++) {
    if (got[i] !== lines[i]) assertEquals(got[i], lines[i], `dump line ${i}`);
  }

  // a Prometheus server on the directory, raw samples through range vectors
  const prom = await startPrometheus({
    dataDir: dir,
    config: "global:\n  scrape_interval: 1h\n",
    readyTimeoutMs: 60_000,
  });
  try {
    const rangeS = Math.ceil((end - start) / 1000) + 60;
    for (const sel of ["wl_requests_total", "wl_temp", 'wl_churn{gen="a"}', 'wl_churn{gen="b"}']) {
      const u = new URL(`${prom.url}/api/v1/query`);
      u.searchParams.set("query", `${sel}[${rangeS}s]`);
      u.searchParams.set("time", String(end / 1000));
      const res = await fetch(u);
      const body = await res.json() as {
        status: string;
        data: { result: { metric: Record<string, string>; values: [number, string][] }[] };
      };
      assertEquals(body.status, "success");
      let n = 0;
      for (const r of body.data.result) {
        const ls = labelsFromObject(r.metric);
        const e = raw.get(labelsKey(ls));
        assert(e !== undefined, `unexpected series ${JSON.stringify(r.metric)}`);
        const vals = r.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]);
        assertEquals(vals, e.pts, labelsKey(ls));
        n++;
      }
      const expected = [...raw.values()].filter((e) =>
        e.pts.length > 0 && selMatches(sel, e.labels)
      ).length;
      assertEquals(n, expected, `series of ${sel}`);
    }
  } finally {
    await prom.stop();
  }
});

function selMatches(sel: string, ls: Labels): boolean {
  const name = sel.split("{")[0];
  const o: Record<string, string> = {};
  for (let i = 0; i < ls.length; i += 2) o[ls[i]] = ls[i + 1];
  if (o.__name__ !== name) return false;
  const m = /gen="(\w)"/.exec(sel);
  return m === null || o.gen === m[1];
}
