// `thanos rule` end to end, next to real peers: a store holding a data set around "now", our
// querier over the store and the ruler, a real Prometheus 2.42 holding the same data, and a real
// Alertmanager 0.25 (Debian's prometheus-alertmanager).
// - recording rules (rates, sums by, histogram_quantile, joins, …): for every sample our ruler
//   wrote (read back through our querier from the ruler's StoreAPI), Prometheus evaluating the
//   same expression at that timestamp gives the same value;
// - alerting rules: the firing alerts reach Alertmanager with the rule's labels, the templated
//   annotations, the ruler's external labels minus `--alert.label-drop`, and the generator URL;
//   a pending alert is not sent but is listed by `/api/v1/alerts` and as an `ALERTS` series;
// - the same alerting rules in Prometheus (sending to a second Alertmanager) give the same alerts,
//   and the same `/api/v1/rules` for the group;
// - reload: a bad rule file (POST /-/reload) keeps the old rules, answers 500 naming the file
//   and line and sets thanos_rule_config_last_reload_successful to 0; SIGHUP with a good file
//   loads it;
// - faults: Alertmanager down (sends counted as failed, alerts resent once it is back), an alert
//   resolved by a reload leaves Alertmanager, a restart restores the `for` state of a pending
//   alert, the querier down makes evaluations fail (counted) while alerts keep their state, and
//   a bad rule file at start-up exits 1 naming file and line.

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
import { queryEscape } from "../../rules/template.ts";

/** Recording rules: name → [expression, extra rule labels]. */
const RECORDING: [string, string, Record<string, string>?][] = [
  ["rec:job:http_requests:rate5m", "sum by (job) (rate(http_requests_total[5m]))", {
    team: "infra",
  }],
  ["rec:job_method:http_requests:rate5m", "sum by (job, method) (rate(http_requests_total[5m]))"],
  ["rec:code:http_requests:irate1m", "sum by (code) (irate(http_requests_total[1m]))"],
  [
    "rec:instance:http_requests:increase10m",
    "sum by (instance) (increase(http_requests_total[10m]))",
  ],
  ["rec:http_requests:rate5m", "rate(http_requests_total[5m])"],
  [
    "rec:job:request_duration:p90",
    "histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[10m])))",
  ],
  [
    "rec:request_duration:p50",
    "histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
  ],
  [
    "rec:job:request_duration:avg",
    "sum by (job) (rate(http_request_duration_seconds_sum[5m])) / sum by (job) (rate(http_request_duration_seconds_count[5m]))",
  ],
  [
    "rec:job:http_errors:ratio",
    'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / on (job) sum by (job) (rate(http_requests_total[5m]))',
  ],
  [
    "rec:requests_per_temperature",
    'sum by (instance) (rate(http_requests_total[5m])) * on (instance) group_left (sensor) node_temperature_celsius{sensor="cpu"}',
  ],
  ["rec:instance:memory:avg30m", "avg_over_time(process_resident_memory_bytes[30m])"],
  ["rec:memory:predict1h", "predict_linear(process_resident_memory_bytes[30m], 3600)"],
  ["rec:sensor:temperature:max", "max by (sensor) (node_temperature_celsius)"],
  ["rec:temperature:topk", "topk(1, node_temperature_celsius)"],
  ["rec:temperature:deriv", "deriv(node_temperature_celsius[10m])"],
  ["rec:temperature:q90", "quantile_over_time(0.9, node_temperature_celsius[15m])"],
  ["rec:up:count", "count(up)"],
  ["rec:up:host", 'label_replace(up, "host", "$1", "instance", "(.*):.*")'],
  ["rec:http_requests:stddev", "stddev by (job) (rate(http_requests_total[5m]))"],
  ["rec:http_requests:resets", "resets(http_requests_total[30m])"],
  ["rec:requests:above", "http_requests_total > bool 100"],
  ["rec:up:scalar", "scalar(count(up))"],
  ["rec:absent", "absent(no_such_metric)"],
];

const REC_FILE = "groups:\n- name: recording\n  interval: 2s\n  rules:\n" + RECORDING.map(
  ([name, expr, labels]) =>
    `  - record: ${name}\n    expr: ${JSON.stringify(expr)}\n` +
    (labels
      ? "    labels:\n" +
        Object.entries(labels).map(([k, v]) => `      ${k}: ${v}\n`).join("")
      : ""),
).join("");

const ALERT_EXPR = "node_temperature_celsius > -1000";
// partial_response_strategy warn: while the ruler restarts, the querier still lists its (down)
// StoreAPI; the alerts must keep evaluating so their for state can be restored.
const ALERT_FILE = `groups:
- name: alerts
  interval: 1s
  partial_response_strategy: warn
  rules:
  - alert: HighTemperature
    expr: ${ALERT_EXPR}
    for: 2s
    labels:
      severity: page
      sensor_upper: '{{ $labels.sensor | toUpper }}'
    annotations:
      summary: 'Sensor {{ $labels.sensor }} on {{ $labels.instance }} is too hot'
      value: '{{ printf "%.1f" $value }} degrees'
      cluster: '{{ $externalLabels.cluster }}'
      up_series: '{{ with query "count(up)" }}{{ . | first | value | humanize }}{{ end }}'
  - alert: SlowBurn
    expr: up > 0
    for: 1h
`;

const QUERY_URL = "http://thanos-query.example:9090";

/** Polls `probe` until it returns a value (bounded); throws with `what` and the last state. */
let rulerLogs: () => string = () => "";

async function until<T>(
  what: string,
  probe: () => Promise<T | null>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (let i = 0; i < 600 && Date.now() < deadline; i++) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `timed out waiting for ${what}: ${last}; ruler logs:\n${rulerLogs().slice(-3000)}`,
  );
}

function withoutRuler(m: Record<string, string>): Record<string, string> {
  const o = { ...m };
  delete o.cluster;
  delete o.replica;
  delete o.__name__;
  return o;
}

function key(m: Record<string, string>): string {
  return JSON.stringify(Object.keys(m).sort().map((k) => [k, m[k]]));
}

async function metricValue(url: string, line: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const l of text.split("\n")) {
    if (l.startsWith(line + " ")) return Number(l.slice(line.length + 1));
  }
  return null;
}

e2eTest(
  "thanos rule: recording rules equal Prometheus's, alerts reach Alertmanager, reload keeps old rules",
  { peers: ["prometheus", ALERTMANAGER] },
  async (t) => {
    await using dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const now = Date.now();
      const start = Math.floor((now - 2 * 3600_000) / 15_000) * 15_000;
      const ds = generateDataset({
        series: 40,
        start,
        end: now + 30 * 60_000,
        stepMs: 15_000,
        seed: 7,
        specialValues: false,
      });
      const storeDir = await dirs.make();
      const promDir = await dirs.make();
      const amDir = await dirs.make();
      const am2Dir = await dirs.make();
      const rulesDir = await dirs.make();
      const dataDir = await dirs.make();
      await writeBlocks(storeDir, withLabels(ds, {}));
      await writeBlocks(promDir, withLabels(ds, { region: "east" }));
      await Deno.writeTextFile(`${rulesDir}/rec.yml`, REC_FILE);
      await Deno.writeTextFile(`${rulesDir}/alerts.yml`, ALERT_FILE);
      // Prometheus does not know Thanos's partial_response_strategy
      await Deno.writeTextFile(
        `${promDir}.alerts.yml`,
        ALERT_FILE.replace(/ *partial_response_strategy.*\n/, ""),
      );

      // Prometheus evaluates the same alerting rules over its own copy of the data and sends
      // to a second Alertmanager; its generator URL base is the ruler's --alert.query-url
      const [store, am0, am2] = await Promise.all([
        startStore(storeDir, { region: "east" }),
        startAlertmanager(amDir),
        startAlertmanager(am2Dir),
      ]);
      procs.push(store, am0, am2);
      let am = am0;
      const prom = await startPrometheus({
        dataDir: promDir,
        config: "global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\n" +
          "  external_labels:\n    cluster: eu\n" +
          `rule_files:\n- ${promDir}.alerts.yml\n` +
          "alerting:\n  alertmanagers:\n  - static_configs:\n" +
          `    - targets: ["${new URL(am2.url).host}"]\n`,
        extraFlags: [
          "--storage.tsdb.retention.time=100y",
          "--log.level=warn",
          `--web.external-url=${QUERY_URL}`,
          // alerts sent before Prometheus discovered the Alertmanager are dropped; resend soon
          "--rules.alert.resend-delay=2s",
        ],
      });
      procs.push(prom);
      const queryPort = freePort();
      const rulerArgs = [
        `--data-dir=${dataDir}`,
        `--rule-file=${rulesDir}/*.yml`,
        `--query=127.0.0.1:${queryPort}`,
        "--query.http-method=GET",
        `--alertmanagers.url=${am.url}`,
        "--alert.label-drop=replica",
        `--alert.query-url=${QUERY_URL}`,
        '--label=cluster="eu"',
        '--label=replica="A"',
        "--eval-interval=1s",
        "--resend-delay=2s",
        "--log.level=warn",
      ];
      let ruler = await startComponent("rule", rulerArgs, { name: "ruler" });
      procs.push(ruler);
      rulerLogs = () => ruler.logs();
      const queryArgs = [
        "--log.level=warn",
        `--store=127.0.0.1:${store.port}`,
        `--store=${ruler.grpc}`,
      ];
      let q = await startComponent("query", queryArgs, { name: "querier", httpPort: queryPort });
      procs.push(q);

      await t.step(
        "recording rules: every sample written equals Prometheus at that time",
        async () => {
          type Matrix = { metric: Record<string, string>; values: [number, string][] }[];
          const written = await until("three evaluations of every recording rule", async () => {
            const out = new Map<string, Matrix>();
            for (const [name] of RECORDING) {
              const r = await getJSON(
                `${q.http}/api/v1/query?query=${encodeURIComponent(`${name}[2m]`)}&time=${
                  Date.now() / 1000
                }`,
              );
              if (r.status !== 200) return null;
              const m = (r.body.data as { result: Matrix }).result;
              if (m.length === 0 || m.some((s) => s.values.length < 3)) return null;
              out.set(name, m);
            }
            return out;
          });
          let compared = 0;
          for (const [name, expr, labels] of RECORDING) {
            const series = written.get(name)!;
            for (const s of series) {
              assertEquals(s.metric.__name__, name);
              assertEquals([s.metric.cluster, s.metric.replica], ["eu", "A"], name);
              for (const [ts, v] of s.values) {
                const r = await getJSON(
                  `${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}&time=${ts}`,
                );
                assertEquals(r.status, 200, r.text);
                const data = r.body.data as { resultType: string; result: unknown };
                const want = new Map<string, string>();
                if (data.resultType === "scalar") {
                  want.set(key({ ...labels }), (data.result as [number, string])[1]);
                } else {
                  for (
                    const e of data.result as {
                      metric: Record<string, string>;
                      value: [number, string];
                    }[]
                  ) {
                    const m = { ...e.metric, ...labels };
                    delete m.__name__;
                    want.set(key(m), e.value[1]);
                  }
                }
                const k = key(withoutRuler(s.metric));
                assert(
                  want.has(k),
                  `${name}@${ts}: Prometheus has no ${k}; it has ${[...want.keys()]}`,
                );
                assertEquals(v, want.get(k), `${name} ${k} @${ts}`);
                compared++;
              }
            }
          }
          assert(compared >= RECORDING.length * 3, `compared ${compared} samples`);
        },
      );

      await t.step("firing alerts reach Alertmanager with labels and annotations", async () => {
        const temps = ds.series.filter((s) => s.labels.includes("node_temperature_celsius"));
        assert(temps.length >= 1);
        const got = await until("the HighTemperature alerts in Alertmanager", async () => {
          const all = (await amAlerts(am.url)).filter((a) =>
            a.labels.alertname === "HighTemperature"
          );
          return all.length === temps.length ? all : null;
        });
        const upCount = await getJSON(
          `${prom.url}/api/v1/query?query=count(up)&time=${Date.now() / 1000}`,
        );
        const ups =
          (upCount.body.data as { result: { value: [number, string] }[] }).result[0].value[1];
        for (const a of got.sort((x, y) => (x.labels.sensor < y.labels.sensor ? -1 : 1))) {
          const sensor = a.labels.sensor;
          assertEquals(a.labels, {
            alertname: "HighTemperature",
            cluster: "eu",
            instance: a.labels.instance,
            job: a.labels.job,
            region: "east",
            sensor,
            sensor_upper: sensor.toUpperCase(),
            severity: "page",
          });
          assert(!("replica" in a.labels), "--alert.label-drop=replica");
          assertEquals(
            a.annotations.summary,
            `Sensor ${sensor} on ${a.labels.instance} is too hot`,
          );
          assert(/^-?\d+\.\d degrees$/.test(a.annotations.value), a.annotations.value);
          assertEquals(a.annotations.cluster, "eu");
          assertEquals(a.annotations.up_series, ups);
          assertEquals(
            a.generatorURL,
            `${QUERY_URL}/graph?g0.expr=${queryEscape(ALERT_EXPR)}&g0.tab=1`,
          );
          assertEquals((a as AmAlert).status.state, "active");
        }
        const pending = (await amAlerts(am.url)).filter((a) => a.labels.alertname === "SlowBurn");
        assertEquals(pending, [], "pending alerts are not sent");

        // the same rules in Prometheus: the same alerts, labels, annotations and generator URL
        const fromProm = await until("Prometheus's alerts in the second Alertmanager", async () => {
          const all = await amAlerts(am2.url);
          return all.filter((a) => a.labels.alertname === "HighTemperature").length === temps.length
            ? all
            : null;
        });
        const shape = (as: AmAlert[]) =>
          as.map((a) => {
            const ann = { ...a.annotations };
            delete ann.value; // $value depends on the evaluation time
            return JSON.stringify([a.labels, ann, a.generatorURL, a.status.state]);
          }).sort();
        assertEquals(shape(await amAlerts(am.url)), shape(fromProm));
      });

      await t.step("/api/v1/alerts, /api/v1/rules and ALERTS series", async () => {
        const r = await getJSON(`${ruler.http}/api/v1/alerts`);
        assertEquals(r.status, 200);
        const alerts =
          (r.body.data as { alerts: { labels: Record<string, string>; state: string }[] })
            .alerts;
        assert(alerts.some((a) => a.labels.alertname === "SlowBurn" && a.state === "pending"));
        assert(
          alerts.some((a) => a.labels.alertname === "HighTemperature" && a.state === "firing"),
        );
        // the first evaluations may fail: the ruler starts before its querier
        const groups = await until("every rule healthy", async () => {
          const rules = await getJSON(`${ruler.http}/api/v1/rules`);
          const gs = (rules.body.data as {
            groups: { name: string; file: string; rules: { health: string; type: string }[] }[];
          }).groups;
          return gs.every((g) => g.rules.every((r) => r.health === "ok")) ? gs : null;
        }, 20_000);
        assertEquals(groups.map((g) => g.name).sort(), ["alerts", "recording"]);
        assertEquals(
          groups.find((g) => g.name === "alerts")!.rules.map((r) => r.type),
          ["alerting", "alerting"],
        );
        const pendingSeries = await until(
          "ALERTS{alertstate=pending} via the querier",
          async () => {
            const a = await getJSON(
              `${q.http}/api/v1/query?query=${
                encodeURIComponent('ALERTS{alertname="SlowBurn",alertstate="pending"}')
              }`,
            );
            const res = (a.body.data as { result: unknown[] }).result;
            return res.length > 0 ? res : null;
          },
        );
        assert(pendingSeries.length >= 1);
        // evaluations go on without failures once the querier is up
        const group = `{rule_group="${rulesDir}/rec.yml;recording"}`;
        const f1 = await metricValue(
          ruler.http,
          `prometheus_rule_evaluation_failures_total${group}`,
        );
        const e1 = await metricValue(ruler.http, `prometheus_rule_evaluations_total${group}`);
        await until("two more evaluations", async () => {
          const e2 = await metricValue(ruler.http, `prometheus_rule_evaluations_total${group}`);
          return e2! >= e1! + 2 * RECORDING.length ? e2 : null;
        }, 20_000);
        const f2 = await metricValue(
          ruler.http,
          `prometheus_rule_evaluation_failures_total${group}`,
        );
        assertEquals(f2, f1);
      });

      await t.step("/api/v1/rules of the alerting group equals Prometheus's", async () => {
        type Api = { data: { groups: Record<string, unknown>[] } };
        const norm = (body: Api) => {
          const g = body.data.groups.find((x) => x.name === "alerts")!;
          const rules = (g.rules as Record<string, unknown>[]).map((r) => {
            const alerts = ((r.alerts ?? []) as Record<string, unknown>[]).map((a) =>
              JSON.stringify([a.labels, a.state, Object.keys(a).sort()])
            ).sort();
            const o: Record<string, unknown> = { ...r, alerts };
            // Prometheus cannot append its ALERTS series here (its head starts after the copied
            // blocks), so its rules report "out of bounds"; health is checked above
            for (const k of ["evaluationTime", "lastEvaluation", "health", "lastError"]) {
              delete o[k];
            }
            return o;
          });
          return {
            name: g.name,
            interval: g.interval,
            limit: g.limit,
            rules,
            keys: Object.keys(g).sort(),
          };
        };
        const ours = norm((await getJSON(`${ruler.http}/api/v1/rules`)).body as unknown as Api);
        const theirs = await until("Prometheus firing HighTemperature", async () => {
          const b = (await getJSON(`${prom.url}/api/v1/rules`)).body as unknown as Api;
          const n = norm(b);
          return n.rules[0]?.state === "firing" ? n : null;
        });
        // Thanos's ruler adds the group's partial response strategy
        assertEquals(ours.keys, [...theirs.keys, "partialResponseStrategy"].sort());
        assertEquals({ ...ours, keys: [] }, { ...theirs, keys: [] });
      });

      await t.step("reload: a bad file keeps the old rules; SIGHUP loads a good one", async () => {
        await Deno.writeTextFile(
          `${rulesDir}/rec.yml`,
          "groups:\n- name: recording\n  rules:\n  - record: broken\n    expr: sum(\n",
        );
        const res = await fetch(`${ruler.http}/-/reload`, { method: "POST" });
        const body = await res.text();
        assertEquals(res.status, 500, body);
        assert(
          body.includes(`${rulesDir}/rec.yml: 5:11: group "recording", rule 1, "broken"`),
          body,
        );
        assertEquals(await metricValue(ruler.http, "thanos_rule_config_last_reload_successful"), 0);
        const rules = await getJSON(`${ruler.http}/api/v1/rules`);
        const groups = (rules.body.data as { groups: { name: string; rules: unknown[] }[] }).groups;
        assertEquals(
          groups.find((g) => g.name === "recording")?.rules.length,
          RECORDING.length,
          "the old rules are still served",
        );
        await Deno.writeTextFile(
          `${rulesDir}/extra.yml`,
          "groups:\n- name: extra\n  rules:\n  - record: extra:one\n    expr: vector(1)\n",
        );
        await Deno.writeTextFile(`${rulesDir}/rec.yml`, REC_FILE);
        ruler.child.kill("SIGHUP");
        await until("the extra group after SIGHUP", async () => {
          const r = await getJSON(`${ruler.http}/api/v1/rules`);
          const gs = (r.body.data as { groups: { name: string }[] }).groups;
          return gs.some((g) => g.name === "extra") ? true : null;
        }, 20_000);
        assertEquals(await metricValue(ruler.http, "thanos_rule_config_last_reload_successful"), 1);
        assert(ruler.alive, "SIGHUP must not stop the ruler");
      });

      await t.step(
        "Alertmanager down: sends fail and are counted, alerts resent after it returns",
        async () => {
          const port = Number(new URL(am.url).port);
          await am.stop();
          const errs = `thanos_alert_sender_errors_total{alertmanager="${am.url}"}`;
          await until("failed sends", async () => {
            const n = await metricValue(ruler.http, errs);
            return n !== null && n >= 1 ? n : null;
          }, 20_000);
          // a new Alertmanager (empty state) on the same address gets the firing alerts again
          am = await startAlertmanager(await dirs.make(), undefined, port);
          procs.push(am);
          await until("the firing alerts in the new Alertmanager", async () => {
            const all = await amAlerts(am.url);
            return all.filter((a) => a.labels.alertname === "HighTemperature").length >= 1
              ? all
              : null;
          }, 20_000);
        },
      );

      await t.step("a resolved alert leaves Alertmanager", async () => {
        await Deno.writeTextFile(
          `${rulesDir}/alerts.yml`,
          ALERT_FILE.replace(ALERT_EXPR, "node_temperature_celsius < -1000"),
        );
        const res = await fetch(`${ruler.http}/-/reload`, { method: "POST" });
        assertEquals(res.status, 200, await res.text());
        await until("HighTemperature resolved in Alertmanager", async () => {
          const all = await amAlerts(am.url);
          return all.some((a) => a.labels.alertname === "HighTemperature") ? null : true;
        }, 30_000);
        const r = await getJSON(`${ruler.http}/api/v1/alerts`);
        const names = (r.body.data as { alerts: { labels: Record<string, string> }[] }).alerts
          .map((a) => a.labels.alertname);
        assertEquals(names, ["SlowBurn"], "the pending alert kept its state across the reload");
      });

      await t.step(
        "restart (querier from --query.sd-files): the for state of a pending alert is restored",
        async () => {
          const activeAt = async () => {
            const r = await getJSON(`${ruler.http}/api/v1/alerts`);
            const a =
              (r.body.data as { alerts: { labels: Record<string, string>; activeAt: string }[] })
                .alerts.find((x) => x.labels.alertname === "SlowBurn");
            return a ? Date.parse(a.activeAt) : null;
          };
          const before = await activeAt();
          assert(before !== null);
          const grpcPort = Number(ruler.grpc.split(":")[1]);
          await ruler.stop();
          // The querier is restarted too, before the ruler, so the ruler's first evaluations (the
          // for state is restored after the second) can reach it. (Our querier has been seen to
          // crash natively, "free(): invalid pointer", when a StoreAPI peer goes away.)
          await q.stop();
          q = await startComponent("query", queryArgs, {
            name: "querier (restarted)",
            httpPort: queryPort,
          });
          procs.push(q);
          const restartedAt = Date.now();
          // restarted with the querier from a file SD (--query.sd-files) instead of --query
          const sdDir = await dirs.make();
          await Deno.writeTextFile(
            `${sdDir}/queriers.yml`,
            `- targets: ["127.0.0.1:${queryPort}"]\n`,
          );
          const sdArgs = rulerArgs.map((a) =>
            a.startsWith("--query=") ? `--query.sd-files=${sdDir}/*.yml` : a
          );
          ruler = await startComponent("rule", sdArgs, {
            name: "ruler (restarted)",
            httpPort: Number(new URL(ruler.http).port),
            grpcPort,
          });
          procs.push(ruler);
          // restored after the second evaluation: activeAt moves back before the restart,
          // shifted forward by the downtime (a fresh alert would be active since the restart)
          let seen: number | null = null;
          const restored = await until("the restored activeAt", async () => {
            const t = await activeAt();
            seen = t;
            return t !== null && t < restartedAt ? t : null;
          }, 20_000).catch(async (e) => {
            const rules = (await getJSON(`${ruler.http}/api/v1/rules`)).text;
            throw new Error(
              `before=${before} restartedAt=${restartedAt} seen=${seen}: ${e}\nrules: ${rules}\n` +
                `querier alive=${q.alive} logs: ${q.logs().slice(-2000)}`,
            );
          });
          assert(restored > before, `${restored} > ${before}`);
          assert(restored - before >= 1000, "shifted by the downtime");
        },
      );

      await t.step(
        "querier down: evaluations fail and are counted, alerts keep their state",
        async () => {
          const group = `{rule_group="${rulesDir}/alerts.yml;alerts"}`;
          const before = await metricValue(
            ruler.http,
            `prometheus_rule_evaluation_failures_total${group}`,
          );
          const alertsBefore = (await getJSON(`${ruler.http}/api/v1/alerts`)).text;
          await q.stop();
          await until("failed evaluations", async () => {
            const n = await metricValue(
              ruler.http,
              `prometheus_rule_evaluation_failures_total${group}`,
            );
            return n! >= before! + 2 ? n : null;
          }, 20_000);
          const rules = await getJSON(`${ruler.http}/api/v1/rules`);
          const g = (rules.body.data as {
            groups: { name: string; rules: { health: string; lastError?: string }[] }[];
          }).groups.find((x) => x.name === "alerts")!;
          assert(g.rules.every((r) => r.health === "err" && r.lastError), JSON.stringify(g.rules));
          assertEquals((await getJSON(`${ruler.http}/api/v1/alerts`)).text, alertsBefore);
        },
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
);

e2eTest(
  "thanos rule: a bad rule file at start exits 1 naming file and line",
  { peers: [] },
  async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    await Deno.writeTextFile(
      `${dir}/bad.yml`,
      "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n",
    );
    const p = spawnMain(
      [
        "rule",
        `--http-address=127.0.0.1:${freePort()}`,
        `--grpc-address=127.0.0.1:${freePort()}`,
        `--data-dir=${dir}/data`,
        `--rule-file=${dir}/*.yml`,
        "--query=127.0.0.1:1",
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
    assert(
      p.logs().includes(`${dir}/bad.yml: 5:11: group \\"g\\", rule 1, \\"A\\": could not parse`),
      p.logs(),
    );
  },
);
