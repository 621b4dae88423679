// The rules lab for e2e and browser tests: an HA pair of real Prometheus servers (external labels
// cluster="lab", replica="a"/"b", one shared rule file with alerting and recording rules, both
// scraping both), a sidecar each, our ruler (its own rule file, querying through the querier) and
// a querier over all three with `--query.replica-label=replica`. The caller stops it in `finally`.

import { freePort } from "./ports.ts";
import { type LabProc, LabPrometheus, startSidecar } from "./sidecar_lab.ts";
import { startComponent } from "./thanos.ts";
import type { TempDirs } from "./tmp.ts";

/** The Prometheus pair's rules: one alert always firing, one never, one recording rule. */
export const PROM_RULES = `groups:
- name: ha
  interval: 1s
  rules:
  - alert: AlwaysFiring
    expr: vector(1)
    labels:
      severity: page
    annotations:
      summary: always firing
  - alert: NeverFiring
    expr: vector(1) == 0
  - record: job:up:sum
    expr: sum by (job) (up)
`;

/** The ruler's rules. */
export const RULER_RULES = `groups:
- name: ruler
  rules:
  - alert: RulerFiring
    expr: vector(1)
  - record: ruler:up:count
    expr: count(up)
`;

/**
 * A scrape target in the OpenMetrics format whose counter carries an exemplar
 * (`trace_id="abc123"`), for Prometheus's exemplar storage.
 */
export function startExemplarExporter(): { target: string; stop(): Promise<void> } {
  const ac = new AbortController();
  let n = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    () => {
      n++;
      const body = [
        "# TYPE lab_jobs counter",
        "# HELP lab_jobs Jobs done.",
        `lab_jobs_total{path="/a"} ${n} # {trace_id="abc123"} 1.0`,
        "# EOF",
        "",
      ].join("\n");
      return new Response(body, {
        headers: { "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8" },
      });
    },
  );
  return {
    target: `127.0.0.1:${server.addr.port}`,
    stop: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

/** The started lab. */
export interface RulesLab {
  proms: LabPrometheus[];
  sidecars: LabProc[];
  ruler: LabProc;
  querier: LabProc;
  /** Path of the pair's shared rule file (the `file` of its group). */
  promRulesFile: string;
  /** The OpenMetrics exporter both Prometheus scrape (job `exemplars`), when asked for. */
  exemplarTarget?: string;
  stop(): Promise<void>;
}

/**
 * Starts the lab; on a failed start, stops what it started before rethrowing. With `exemplars`,
 * both Prometheus also store exemplars and scrape an OpenMetrics exporter that has one.
 */
export async function startRulesLab(
  dirs: TempDirs,
  opts: { exemplars?: boolean } = {},
): Promise<RulesLab> {
  const procs: LabProc[] = [];
  const proms: LabPrometheus[] = [];
  const exporter = opts.exemplars ? startExemplarExporter() : undefined;
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.stop();
    for (const p of proms) await p.dispose();
    await exporter?.stop();
  };
  try {
    const base = await dirs.make();
    const promRulesFile = `${base}/prom-rules.yml`;
    await Deno.writeTextFile(promRulesFile, PROM_RULES);
    await Deno.mkdir(`${base}/ruler-rules`);
    await Deno.writeTextFile(`${base}/ruler-rules/r.yml`, RULER_RULES);
    for (const replica of ["a", "b"]) {
      proms.push(
        new LabPrometheus({
          dataDir: `${base}/prom-${replica}`,
          externalLabels: { cluster: "lab", replica },
          extraFlags: [
            "--log.level=warn",
            ...(exporter ? ["--enable-feature=exemplar-storage"] : []),
          ],
        }),
      );
    }
    const targets = proms.map((p) => `'127.0.0.1:${p.port}'`).join(", ");
    for (const p of proms) {
      const ext = p.opts.externalLabels;
      // LabPrometheus writes no rule_files: write the config here and start with it
      await Deno.writeTextFile(
        p.configFile,
        `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n` +
          `  external_labels:\n    cluster: ${ext.cluster}\n    replica: ${ext.replica}\n` +
          `rule_files:\n- ${promRulesFile}\n` +
          `scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: [${targets}]\n` +
          (exporter
            ? `- job_name: exemplars\n  static_configs:\n  - targets: ['${exporter.target}']\n`
            : ""),
      );
      await p.start(true);
    }
    const sidecars: LabProc[] = [];
    for (const p of proms) {
      const s = await startSidecar(p.url, [`--tsdb.path=${p.opts.dataDir}`, "--log.level=warn"]);
      sidecars.push(s);
      procs.push(s);
    }
    const queryPort = freePort();
    const ruler = await startComponent("rule", [
      `--data-dir=${base}/ruler-data`,
      `--rule-file=${base}/ruler-rules/*.yml`,
      `--query=127.0.0.1:${queryPort}`,
      '--label=cluster="lab"',
      '--label=ruler="r1"',
      "--eval-interval=1s",
      "--log.level=warn",
    ], { name: "ruler" });
    procs.push(ruler);
    const querier = await startComponent("query", [
      "--endpoint.info-timeout=1s",
      "--log.level=warn",
      "--query.replica-label=replica",
      ...sidecars.map((s) => `--store=${s.grpc}`),
      `--store=${ruler.grpc}`,
    ], { name: "querier", httpPort: queryPort });
    procs.push(querier);
    return {
      proms,
      sidecars,
      ruler,
      querier,
      promRulesFile,
      exemplarTarget: exporter?.target,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
