// HA pair: two Prometheus replicas (replica=A / replica=B) scrape the same exporter, each with a
// sidecar; replica A is stopped for a while and restarted. The querier with
// `--query.replica-label replica` returns one series per target without the replica label, and it
// stays continuous through A's outage (B's samples fill the gap), while A alone has a hole.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  type ApiSeries,
  eventually,
  range,
  type ScrapeLab,
  startScrapeLab,
} from "../helpers/sidecar_lab.ts";

/** Largest gap (s) between a step and the newest sample at or before it. */
function maxLag(s: ApiSeries, start: number, end: number): number {
  const byT = new Map(s.values!.map(([t, v]) => [t, Number(v)]));
  let worst = 0;
  for (let t = start; t <= end; t++) {
    const v = byT.get(t);
    worst = Math.max(worst, v === undefined ? Infinity : t - v);
  }
  return worst;
}

e2eTest(
  "HA pair: deduplicated series stay continuous while one replica is down",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    let lab: ScrapeLab | undefined;
    try {
      lab = await startScrapeLab(
        dirs,
        [{ cluster: "lab", replica: "A" }, { cluster: "lab", replica: "B" }],
        ["--query.replica-label=replica"],
      );
      const { exporter, proms, sidecars: procs, querier: q } = lab;
      const expr = 'timestamp(lab_requests_total{path="/a"})';
      await eventually("both replicas scraped the exporter", async () => {
        const r = await range(
          q.http,
          "lab_requests_total",
          Date.now() / 1000 - 5,
          Date.now() / 1000,
          1,
        );
        return r.length === 2;
      }, 30_000);
      const start = Math.ceil(Date.now() / 1000) + 3;
      await new Promise((r) => setTimeout(r, 5000));
      await proms[0].stop();
      await new Promise((r) => setTimeout(r, 14_000));
      await proms[0].start(true);
      await eventually("replica A serves again", async () => {
        const r = await fetch(`${procs[0].http}/-/ready`);
        await r.body?.cancel();
        return r.status === 200;
      }, 20_000);
      await new Promise((r) => setTimeout(r, 4000));
      const end = Math.floor(Date.now() / 1000) - 1;

      const deduped = await range(q.http, expr, start, end, 1);
      assertEquals(deduped.length, 1, JSON.stringify(deduped.map((s) => s.metric)));
      assertEquals(deduped[0].metric, {
        cluster: "lab",
        instance: exporter.target,
        job: "exporter",
        path: "/a",
      });
      const lagDedup = maxLag(deduped[0], start, end);
      assert(lagDedup <= 6, `deduplicated series has a gap of ${lagDedup}s`);

      const aOnly = await range(proms[0].url, expr, start, end, 1);
      const lagA = maxLag(aOnly[0], start, end);
      assert(lagA >= 10, `replica A alone should show its outage, max lag ${lagA}s`);

      // without deduplication both replicas are visible, each with its replica label
      const u = new URL(`${q.http}/api/v1/query_range`);
      for (const [k, v] of Object.entries({ query: expr, start, end, step: 1, dedup: "false" })) {
        u.searchParams.set(k, String(v));
      }
      const raw = (await (await fetch(u)).json()).data.result as ApiSeries[];
      assertEquals(raw.map((s) => s.metric.replica).sort(), ["A", "B"]);
    } finally {
      await lab?.stop();
      await dirs.cleanup();
    }
  },
);
