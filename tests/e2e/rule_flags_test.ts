// `thanos rule --rule-query-offset` and `--alert.query-template` through the real CLI, next to a
// real Prometheus 2.42 holding the same data set and a real Alertmanager 0.25:
// - with `--rule-query-offset=5m`, every recording-rule sample our ruler wrote (read back through
//   our querier from the ruler's StoreAPI) lies 5 minutes or more in the past when read and
//   equals Prometheus evaluating the same expression at that sample's timestamp; a group with
//   `query_offset: 0s` keeps writing at the evaluation time;
// - ALERTS_FOR_STATE is written at `evaluation time - 5m` with the alert's activeAt (the
//   evaluation time) as value, and the alert reaches Alertmanager with startsAt = activeAt and the
//   generator URL `--alert.query-url` + `--alert.query-template` of the escaped expression;
// - a template Thanos would refuse at start (a field other than .Expr) exits 1 naming it.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { startPrometheus } from "../helpers/prometheus.ts";
import {
  ALERTMANAGER,
  type AmAlert,
  amAlerts,
  startAlertmanager,
} from "../helpers/alertmanager.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { spawnMain, startComponent } from "../helpers/thanos.ts";
import { getJSON, startStore, withLabels, writeBlocks } from "../helpers/query_e2e.ts";
import { generateDataset } from "../../scripts/dataset.ts";

const OFFSET_MS = 5 * 60_000;
const REC_EXPR = "sum by (job) (rate(http_requests_total[1m]))";
const ALERT_EXPR = "sum(http_requests_total) > 0";
const QUERY_URL = "http://thanos-query.example:9090";

const RULES = `groups:
- name: offset
  interval: 1s
  rules:
  - record: rec:job:rate1m
    expr: ${REC_EXPR}
  - record: rec:time
    expr: vector(time())
- name: zero
  interval: 1s
  query_offset: 0s
  rules:
  - record: rec:time0
    expr: vector(time())
- name: alerts
  interval: 1s
  rules:
  - alert: Busy
    expr: ${ALERT_EXPR}
    labels:
      severity: page
`;

type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

async function until<T>(
  what: string,
  probe: () => Promise<T | null>,
  logs: () => string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}: ${last}; ruler logs:\n${logs().slice(-3000)}`);
}

e2eTest(
  "thanos rule: --rule-query-offset evaluates and writes at t-offset; --alert.query-template shapes Alertmanager's generatorURL",
  { peers: ["prometheus", ALERTMANAGER] },
  async (t) => {
    await using dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const now = Date.now();
      const start = Math.floor((now - 3600_000) / 15_000) * 15_000;
      const ds = generateDataset({
        series: 12,
        start,
        end: now + 30 * 60_000,
        stepMs: 15_000,
        seed: 11,
        specialValues: false,
      });
      const [storeDir, promDir, amDir, rulesDir, dataDir] = await Promise.all(
        [0, 1, 2, 3, 4].map(() => dirs.make()),
      );
      await writeBlocks(storeDir, withLabels(ds, {}));
      await writeBlocks(promDir, withLabels(ds, {}));
      await Deno.writeTextFile(`${rulesDir}/rules.yml`, RULES);
      const [store, am] = await Promise.all([startStore(storeDir, {}), startAlertmanager(amDir)]);
      procs.push(store, am);
      const prom = await startPrometheus({
        dataDir: promDir,
        config: "global:\n  scrape_interval: 1h\n",
        extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
      });
      procs.push(prom);
      const queryPort = freePort();
      const ruler = await startComponent("rule", [
        `--data-dir=${dataDir}`,
        `--rule-file=${rulesDir}/*.yml`,
        `--query=127.0.0.1:${queryPort}`,
        `--alertmanagers.url=${am.url}`,
        `--alert.query-url=${QUERY_URL}`,
        "--alert.query-template=/explore?expr={{.Expr}}&panes=1",
        "--rule-query-offset=5m",
        '--label=cluster="eu"',
        "--eval-interval=1s",
        "--resend-delay=2s",
        "--log.level=warn",
      ], { name: "ruler" });
      procs.push(ruler);
      const q = await startComponent("query", [
        "--log.level=warn",
        `--store=127.0.0.1:${store.port}`,
        `--store=${ruler.grpc}`,
      ], { name: "querier", httpPort: queryPort });
      procs.push(q);
      const logs = () => ruler.logs();

      /** The ruler's samples of `name` in the last 15 minutes, once there are `min` of them. */
      const written = (name: string, min: number) =>
        until(`${min} samples of ${name}`, async () => {
          const r = await getJSON(
            `${q.http}/api/v1/query?query=${encodeURIComponent(`${name}[15m]`)}&time=${
              Date.now() / 1000
            }`,
          );
          if (r.status !== 200) return null;
          const m = (r.body.data as { result: Matrix }).result;
          return m.length > 0 && m.every((s) => s.values.length >= min) ? m : null;
        }, logs);

      await t.step("recording rules: samples at t-5m equal Prometheus at that time", async () => {
        const series = await written("rec:job:rate1m", 3);
        const readAt = Date.now();
        let compared = 0;
        for (const s of series) {
          for (const [ts, v] of s.values) {
            assert(ts * 1000 <= readAt - OFFSET_MS, `sample at ${ts} is not 5m in the past`);
            const r = await getJSON(
              `${prom.url}/api/v1/query?query=${encodeURIComponent(REC_EXPR)}&time=${ts}`,
            );
            assertEquals(r.status, 200, r.text);
            const want = (r.body.data as {
              result: { metric: Record<string, string>; value: [number, string] }[];
            }).result.find((e) => e.metric.job === s.metric.job);
            assert(want, `Prometheus has no job="${s.metric.job}" at ${ts}`);
            assertEquals(v, want.value[1], `job="${s.metric.job}" @${ts}`);
            compared++;
          }
        }
        assert(compared >= 3, `compared ${compared} samples`);
        // the query time is the sample time: time() evaluated there equals it
        const [time] = await written("rec:time", 3);
        for (const [ts, v] of time.values) {
          assertEquals(Number(v), ts);
          assert(ts * 1000 <= readAt - OFFSET_MS);
        }
        // query_offset: 0s overrides the flag
        const [time0] = await written("rec:time0", 3);
        const last = time0.values[time0.values.length - 1];
        assertEquals(Number(last[1]), last[0]);
        assert(last[0] * 1000 > Date.now() - OFFSET_MS + 60_000, `rec:time0 at ${last[0]}`);
      });

      await t.step(
        "alerts: ALERTS_FOR_STATE at t-5m holds activeAt; Alertmanager gets startsAt = activeAt and the templated generatorURL",
        async () => {
          const [forState] = await written("ALERTS_FOR_STATE", 2);
          assertEquals(forState.metric.alertname, "Busy");
          const activeAt = Number(forState.values[0][1]);
          for (const [ts, v] of forState.values) {
            assertEquals(Number(v), activeAt, "activeAt does not move");
            // written at (evaluation time - 5m); activeAt is the first evaluation time
            const lead = ts * 1000 + OFFSET_MS - activeAt * 1000;
            assert(lead >= 0 && lead < 60_000, `ALERTS_FOR_STATE at ${ts}, activeAt ${activeAt}`);
          }
          const got = await until("Busy in Alertmanager", async () => {
            const a = (await amAlerts(am.url)).find((x: AmAlert) => x.labels.alertname === "Busy");
            return a ?? null;
          }, logs);
          assertEquals(got.labels, { alertname: "Busy", cluster: "eu", severity: "page" });
          assertEquals(Math.floor(Date.parse(got.startsAt) / 1000), activeAt);
          // Go's url.QueryEscape of the expression inside the template
          assertEquals(
            got.generatorURL,
            `${QUERY_URL}/explore?expr=sum%28http_requests_total%29+%3E+0&panes=1`,
          );
          assertEquals(new URL(got.generatorURL).searchParams.get("expr"), ALERT_EXPR);
        },
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
);

e2eTest(
  "thanos rule: an --alert.query-template Thanos refuses exits 1 naming the flag and the field",
  { peers: [] },
  async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const p = spawnMain(
      [
        "rule",
        `--http-address=127.0.0.1:${freePort()}`,
        `--grpc-address=127.0.0.1:${freePort()}`,
        `--data-dir=${dir}/data`,
        "--query=127.0.0.1:1",
        "--alert.query-template=/graph?g0.expr={{.Query}}",
      ],
      0,
      "ruler",
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      p.status,
      new Promise<null>((r) => timer = setTimeout(() => r(null), 30_000)),
    ]);
    clearTimeout(timer);
    if (status === null) await p.stop();
    assert(status !== null, "the ruler kept running");
    assertEquals(status.code, 1, p.logs());
    assert(p.logs().includes("--alert.query-template"), p.logs());
    assert(p.logs().includes("invalid alert source template"), p.logs());
    assert(p.logs().includes("can't evaluate field Query in type main.Expression"), p.logs());
  },
);
