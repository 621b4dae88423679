// The seed lab: two real Prometheus servers (external labels region=east / region=west) scraping
// themselves and a small exporter, a sidecar next to each, and `thanos query` over both sidecars.
// The querier's answers must equal what each Prometheus answers, plus its external labels.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  api,
  type ApiSeries,
  eventually,
  instant,
  range,
  type ScrapeLab,
  startScrapeLab,
} from "../helpers/sidecar_lab.ts";

function key(s: ApiSeries): string {
  return JSON.stringify(Object.entries(s.metric).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function normalize(series: ApiSeries[], extra: Record<string, string> = {}): string[] {
  return series
    .map((s) => ({ metric: { ...s.metric, ...extra }, values: s.values, value: s.value }))
    .sort((a, b) => (key(a) < key(b) ? -1 : 1))
    .map((s) => JSON.stringify([key(s), s.values ?? s.value]));
}

e2eTest(
  "east/west lab: the querier over two sidecars answers for both regions like each Prometheus",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    let lab: ScrapeLab | undefined;
    try {
      lab = await startScrapeLab(
        dirs,
        [{ region: "east" }, { region: "west" }],
      );
      const { exporter, proms, sidecars: procs, querier: q } = lab;

      await eventually("`up` from both regions and both jobs", async () => {
        const up = await instant(q.http, "up");
        return up.length === 4 &&
          new Set(up.map((s) => `${s.metric.region}/${s.metric.job}`)).size === 4 &&
          up.every((s) => s.value![1] === "1");
      }, 30_000);

      await eventually("rate() per region", async () => {
        const r = await instant(
          q.http,
          "sum by (region) (rate(prometheus_http_requests_total[1m]))",
        );
        return r.length === 2 && r.map((s) => s.metric.region).sort().join() === "east,west" &&
          r.every((s) => Number(s.value![1]) > 0);
      }, 30_000);

      // the same range query against each Prometheus and through the querier, over a window
      // that both have scraped completely
      await eventually(
        "a few scrapes of the exporter",
        () => Promise.resolve(exporter.scrapes() >= 16),
      );
      const end = Math.floor(Date.now() / 1000) - 1;
      const start = end - 20;
      for (const expr of ['{job="exporter"}', "up", "prometheus_tsdb_head_series"]) {
        const viaQuerier = await range(q.http, expr, start, end, 1);
        const expected: string[] = [];
        for (const [i, region] of ["east", "west"].entries()) {
          expected.push(...normalize(await range(proms[i].url, expr, start, end, 1), { region }));
        }
        assert(expected.length > 0, `${expr}: Prometheus has data`);
        assertEquals(normalize(viaQuerier), expected.sort(), `range query ${expr}`);
      }

      // the label APIs go through Prometheus's HTTP API and add external labels
      const values = await api(q.http, "label/region/values");
      assertEquals(values, ["east", "west"]);
      const jobs = await api(q.http, "label/job/values");
      assertEquals(jobs, ["exporter", "prometheus"]);
      const sidecarMetrics = await (await fetch(`${procs[0].http}/metrics`)).text();
      assert(sidecarMetrics.includes("thanos_sidecar_prometheus_up 1"), sidecarMetrics);
    } finally {
      await lab?.stop();
      await dirs.cleanup();
    }
  },
);
