// The querier against a real Prometheus 2.42 on the same data: two stores serving `region=east`
// and `region=west` as external labels versus one Prometheus holding both data sets with the
// region inside the series. Query results (byte-identical JSON for range queries, same set of
// elements for instant queries), promtool's output against both, and the API's validation errors
// (status code, errorType and message) must match.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { startPrometheus } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { below, pick, rng } from "../helpers/fuzz.ts";
import {
  getJSON,
  smallDataset,
  startQuerier,
  startStore,
  T0,
  withLabels,
  writeBlocks,
} from "../helpers/query_e2e.ts";

const START = T0 / 1000;
const END = START + 3 * 3600;

const INSTANT = [
  "sum by (region) (http_requests_total)",
  "sum by (region, job) (rate(http_requests_total[5m]))",
  "up",
  "count by (region) (up)",
  "topk(3, node_temperature_celsius)",
  "histogram_quantile(0.9, sum by (le, region) (rate(http_request_duration_seconds_bucket[10m])))",
  "avg_over_time(process_resident_memory_bytes[30m])",
  'http_requests_total{region="east", job="api"}',
  "vector(1)",
  "scalar(count(up))",
  // ReDoS shapes (issue 20): in the querier's label_replace, and pushed down to the stores as
  // matchers on series and external labels
  `label_replace(label_replace(up, "l", "${"a".repeat(27)}!", "", ""), "y", "$1", "l", "(a+)+$")`,
  `label_replace(label_replace(up, "l", "${"a".repeat(28)}", "", ""), "y", "$1", "l", "(a+)+$")`,
  'up{region=~"(e|ea)+st", instance=~"(h|ho)+st-(0+)+1.*"}',
  'count(up{instance!~"((h|ho)+st-(0|00)+[1-4]+)+:.*"})',
];

const RANGE = [
  "sum by (region) (rate(http_requests_total[5m]))",
  "max by (region) (node_temperature_celsius)",
  "count(up)",
  'increase(http_requests_total{region="west"}[15m])',
];

/** Sorts an instant vector's elements by their metric (Prometheus defines no order there). */
function normalise(body: Record<string, unknown>): string {
  const data = body.data as { resultType: string; result: unknown };
  if (data.resultType === "vector") {
    (data.result as { metric: Record<string, string> }[]).sort((a, b) =>
      JSON.stringify(a.metric) < JSON.stringify(b.metric) ? -1 : 1
    );
  }
  return JSON.stringify(body);
}

async function promtool(args: string[]): Promise<string> {
  const out = await new Deno.Command("promtool", { args, stdout: "piped", stderr: "piped" })
    .output();
  const td = new TextDecoder();
  assert(out.success, `promtool ${args.join(" ")}: ${td.decode(out.stderr)}`);
  return td.decode(out.stdout);
}

function sortedLines(s: string): string {
  return s.trim().split("\n").sort().join("\n");
}

e2eTest(
  "querier over two regional stores answers like one Prometheus holding both data sets",
  { peers: ["prometheus", "promtool"] },
  async (t) => {
    const dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const east = smallDataset(1);
      const west = smallDataset(2);
      const eastDir = await dirs.make();
      const westDir = await dirs.make();
      const promDir = await dirs.make();
      await writeBlocks(eastDir, withLabels(east, {}));
      await writeBlocks(westDir, withLabels(west, {}));
      await writeBlocks(promDir, [
        ...withLabels(east, { region: "east" }),
        ...withLabels(west, { region: "west" }),
      ]);
      const [se, sw, prom] = await Promise.all([
        startStore(eastDir, { region: "east" }),
        startStore(westDir, { region: "west" }),
        startPrometheus({
          dataDir: promDir,
          config: "global:\n  scrape_interval: 1h\n",
          extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
        }),
      ]);
      procs.push(se, sw, prom);
      const q = await startQuerier([
        `--store=127.0.0.1:${se.port}`,
        `--store=127.0.0.1:${sw.port}`,
      ]);
      procs.push(q);

      await t.step("sum by (region) returns both regions", async () => {
        const u = `${q.url}/api/v1/query?query=${
          encodeURIComponent("sum by (region) (http_requests_total)")
        }&time=${START + 3600}`;
        const r = await getJSON(u);
        assertEquals(r.status, 200, r.text);
        const res = (r.body.data as { result: { metric: { region: string } }[] }).result;
        assertEquals(res.map((x) => x.metric.region).sort(), ["east", "west"]);
      });

      await t.step("instant queries equal Prometheus's", async () => {
        for (const expr of INSTANT) {
          for (const at of [START + 1800, START + 7200 + 17.5, END - 1]) {
            const path = `/api/v1/query?query=${encodeURIComponent(expr)}&time=${at}`;
            const [a, b] = await Promise.all([getJSON(q.url + path), getJSON(prom.url + path)]);
            assertEquals(a.status, b.status, `${expr}@${at}: ${a.text}`);
            assertEquals(normalise(a.body), normalise(b.body), `${expr}@${at}`);
          }
        }
      });

      await t.step("range query JSON is byte-identical to Prometheus's", async () => {
        for (const expr of RANGE) {
          const path = `/api/v1/query_range?query=${
            encodeURIComponent(expr)
          }&start=${START}&end=${END}&step=60`;
          const [a, b] = await Promise.all([getJSON(q.url + path), getJSON(prom.url + path)]);
          assertEquals(a.status, 200, a.text);
          assertEquals(a.text, b.text, expr);
        }
      });

      await t.step("series, labels and label values equal Prometheus's", async () => {
        const paths = [
          `/api/v1/series?match[]=up&start=${START}&end=${END}`,
          `/api/v1/series?match[]=${encodeURIComponent('{__name__=~"node_.*"}')}`,
          `/api/v1/labels?start=${START}&end=${END}`,
          `/api/v1/label/job/values`,
          `/api/v1/label/region/values`,
          `/api/v1/label/__name__/values`,
        ];
        for (const p of paths) {
          const [a, b] = await Promise.all([getJSON(q.url + p), getJSON(prom.url + p)]);
          assertEquals(a.status, 200, a.text);
          assertEquals(a.text, b.text, p);
        }
      });

      await t.step("promtool query prints the same against both", async () => {
        const cmds = [
          ["query", "instant", "--time", String(START + 3600), "URL", "sum by (region) (up)"],
          ["query", "instant", "--time", String(START + 3600), "URL", "up"],
          [
            "query",
            "range",
            "--start",
            String(START),
            "--end",
            String(START + 1800),
            "--step",
            "5m",
            "URL",
            "count by (region) (up)",
          ],
          [
            "query",
            "series",
            "--match",
            "up",
            "--start",
            String(START),
            "--end",
            String(END),
            "URL",
          ],
          ["query", "labels", "--start", String(START), "--end", String(END), "URL", "job"],
        ];
        for (const c of cmds) {
          const [a, b] = await Promise.all([
            promtool(c.map((x) => x === "URL" ? q.url : x)),
            promtool(c.map((x) => x === "URL" ? prom.url : x)),
          ]);
          assert(a.trim() !== "", `empty output for ${c.join(" ")}`);
          assertEquals(sortedLines(a), sortedLines(b), c.join(" "));
        }
      });

      await t.step(
        "bad input gets Prometheus's status codes, error types and messages",
        async () => {
          const bad = [
            "/api/v1/query?query=sum(",
            "/api/v1/query?query=",
            "/api/v1/query?query=up&time=abc",
            "/api/v1/query?query=up&timeout=abc",
            "/api/v1/query_range?query=up&start=abc&end=1&step=1",
            "/api/v1/query_range?query=up&start=1&end=abc&step=1",
            "/api/v1/query_range?query=up&start=10&end=1&step=1",
            "/api/v1/query_range?query=up&start=1&end=10&step=0",
            "/api/v1/query_range?query=up&start=1&end=10&step=-1",
            "/api/v1/query_range?query=up&start=1&end=10&step=abc",
            "/api/v1/query_range?query=up&start=1&end=100000&step=1",
            "/api/v1/query_range?query=up%5B5m%5D&start=1&end=10&step=1",
            "/api/v1/query_range?query=sum(&start=1&end=10&step=1",
            "/api/v1/series",
            "/api/v1/series?match[]=sum(",
            "/api/v1/series?match[]=up&start=abc",
            "/api/v1/labels?start=abc",
            "/api/v1/labels?match[]=sum(",
            "/api/v1/label/a-b/values",
            "/api/v1/query?query=vector(1)&time=1.5&unknown_param=x",
            "/api/v1/query_exemplars?query=up&start=1&end=2",
            "/api/v1/metadata",
          ];
          for (const p of bad) {
            const [a, b] = await Promise.all([getJSON(q.url + p), getJSON(prom.url + p)]);
            assertEquals(a.status, b.status, `${p}: ${a.text}`);
            assertEquals(a.text, b.text, p);
          }
        },
      );

      await t.step(
        "generated odd parameters get Prometheus's status codes and error messages",
        async () => {
          // Prometheus's own parameters only, with values each parser must judge; compared
          // where both sides define the behaviour. Left out: a start, end or time of ±Inf or
          // NaN (Go converts them to a time with an undefined float-to-int conversion), a
          // timeout short enough to race the evaluation, a range query without a step (Thanos
          // picks a default step where Prometheus refuses), and
          // the metadata APIs' "end timestamp must not be before start time", Thanos's check
          // (parseMetadataTimeRange) that Prometheus 2.42 lacks.
          const values = [
            "",
            "abc",
            "-1",
            "0",
            String(START + 3600),
            String(END),
            "1e300",
            "-1e300",
            "2023-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "10000-01-01T00:00:00Z",
            "9999999999999",
            "5m",
            "-5m",
            "1ms",
            "0.001",
            "1e-9",
            "11001",
            "true",
            "{",
            "up",
            'up{region="east"}',
            "rate(http_requests_total[5m])",
            'sum by (region) (up{job=~"a|p.*"})',
            '{__name__=~".+"}',
            '{a=""}',
            "up[5m]",
            "up[5m:1s]",
            "%",
            "{}",
            "null",
            "😀",
          ];
          const paths: Record<string, string[]> = {
            "/api/v1/query": ["query", "time", "timeout"],
            "/api/v1/query_range": ["query", "start", "end", "step", "timeout"],
            "/api/v1/series": ["match[]", "start", "end"],
            "/api/v1/labels": ["match[]", "start", "end"],
            "/api/v1/label/job/values": ["match[]", "start", "end"],
            "/api/v1/label/a.b/values": ["match[]"],
          };
          const r = rng(12);
          let compared = 0;
          for (let i = 0; i < 500; i++) {
            const path = pick(r, Object.keys(paths));
            const params = new URLSearchParams();
            for (let k = below(r, 5); k >= 0; k--) {
              params.append(pick(r, paths[path]), pick(r, values));
            }
            const undefinedTime = [...params].some(([k, v]) =>
              ["start", "end", "time"].includes(k) && /^[+-]?(inf|nan)$/i.test(v)
            );
            // a timeout of a millisecond or less (or an expired one: zero, negative) races the
            // evaluation on either side, and Prometheus's own stage in its message is random
            const racing = params.getAll("timeout").some((v) =>
              ["1ms", "-5m"].includes(v) || (v !== "" && Number(v) < 1)
            );
            // Thanos answers a range query without a step with its default step
            const noStep = path === "/api/v1/query_range" && (params.get("step") ?? "") === "";
            if (undefinedTime || racing || noStep) continue;
            const url = `${path}?${params}`;
            const [a, b] = await Promise.all([getJSON(q.url + url), getJSON(prom.url + url)]);
            if (
              !path.startsWith("/api/v1/query") &&
              a.body.error === "end timestamp must not be before start time"
            ) continue;
            compared++;
            assertEquals(a.status, b.status, `${url}: ${a.text} against ${b.text}`);
            if (a.status !== 200) assertEquals(a.text, b.text, url);
          }
          assert(compared > 250, `only ${compared} requests compared`);
        },
      );

      await t.step("form POST works like GET", async () => {
        const body = `query=${encodeURIComponent("count(up)")}&time=${START + 3600}`;
        const opts = {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body,
        };
        const [a, b] = await Promise.all([
          fetch(`${q.url}/api/v1/query`, opts).then((r) => r.text()),
          fetch(`${prom.url}/api/v1/query`, opts).then((r) => r.text()),
        ]);
        assertEquals(a, b);
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
);
