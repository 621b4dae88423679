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

/** The started lab. */
export interface RulesLab {
  proms: LabPrometheus[];
  sidecars: LabProc[];
  ruler: LabProc;
  querier: LabProc;
  /** Path of the pair's shared rule file (the `file` of its group). */
  promRulesFile: string;
  stop(): Promise<void>;
}

/** Starts the lab; on a failed start, stops what it started before rethrowing. */
export async function startRulesLab(dirs: TempDirs): Promise<RulesLab> {
  const procs: LabProc[] = [];
  const proms: LabPrometheus[] = [];
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.stop();
    for (const p of proms) await p.dispose();
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
          extraFlags: ["--log.level=warn"],
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
          `scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: [${targets}]\n`,
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
    return { proms, sidecars, ruler, querier, promRulesFile, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
