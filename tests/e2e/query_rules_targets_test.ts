// Rules, alerts, targets and metadata through the querier: an HA pair of real Prometheus 2.42
// servers (external labels replica="a" / "b", the same rule file with alerting and recording
// rules, both scraping both), a sidecar each, and our ruler (its own rule file, querying through
// the querier). The querier (`--query.replica-label=replica`) lists each rule and alert once,
// each scraped target once, and Prometheus's metric metadata.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { api, eventually } from "../helpers/sidecar_lab.ts";
import { type RulesLab, startRulesLab } from "../helpers/rules_lab.ts";
import { startComponent } from "../helpers/thanos.ts";

interface Rule {
  name: string;
  type: string;
  state?: string;
  labels: Record<string, string>;
  alerts?: { labels: Record<string, string>; state: string }[];
}
interface Group {
  name: string;
  file: string;
  rules: Rule[];
}
interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  scrapePool: string;
  health: string;
}

e2eTest(
  "querier: rules, alerts, targets and metadata of an HA pair and a ruler, deduplicated",
  { peers: [PROMETHEUS] },
  async (t) => {
    const dirs = new TempDirs();
    let lab: RulesLab | undefined;
    try {
      lab = await startRulesLab(dirs, { exemplars: true });
      const { proms, querier: q, promRulesFile: promRules } = lab;
      const rules = () => api<{ groups: Group[] }>(q.http, "rules");
      await eventually("both alerts firing through the querier", async () => {
        const gs = (await rules()).groups;
        const states = gs.flatMap((g) => g.rules).filter((r) => r.type === "alerting")
          .map((r) => `${r.name}=${r.state}`).sort();
        return states.join(",") === "AlwaysFiring=firing,NeverFiring=inactive,RulerFiring=firing";
      }, 60_000);

      await t.step("/api/v1/rules: each rule once, replica label removed", async () => {
        const gs = (await rules()).groups;
        assertEquals(gs.map((g) => g.name).sort(), ["ha", "ruler"]);
        const ha = gs.find((g) => g.name === "ha")!;
        assertEquals(ha.file, promRules);
        assertEquals(ha.rules.map((r) => r.name), ["AlwaysFiring", "NeverFiring", "job:up:sum"]);
        for (const r of ha.rules) {
          assertEquals(r.labels.replica, undefined, JSON.stringify(r));
          assertEquals(r.labels.cluster, "lab", JSON.stringify(r));
        }
        assertEquals(ha.rules[0].labels.severity, "page");
        const ruler = gs.find((g) => g.name === "ruler")!;
        assertEquals(ruler.rules.map((r) => r.name), ["RulerFiring", "ruler:up:count"]);
        assertEquals(ruler.rules[0].labels, { cluster: "lab", ruler: "r1" });
        // without the dedup, both replicas' rules are there
        const sidecarA = await api<{ groups: Group[] }>(proms[0].url, "rules");
        assertEquals(sidecarA.groups[0].rules.length, 3);
      });

      await t.step("/api/v1/rules filters: type, rule_name[], rule_group[], file[]", async () => {
        const rec = await api<{ groups: Group[] }>(q.http, "rules", { type: "record" });
        assertEquals(
          rec.groups.flatMap((g) => g.rules.map((r) => r.name)).sort(),
          ["job:up:sum", "ruler:up:count"],
        );
        const byName = await api<{ groups: Group[] }>(q.http, "rules", {
          "rule_name[]": "AlwaysFiring",
        });
        assertEquals(byName.groups.map((g) => g.rules.map((r) => r.name)), [["AlwaysFiring"]]);
        const byGroup = await api<{ groups: Group[] }>(q.http, "rules", {
          "rule_group[]": "ruler",
        });
        assertEquals(byGroup.groups.map((g) => g.name), ["ruler"]);
        const byFile = await api<{ groups: Group[] }>(q.http, "rules", { "file[]": promRules });
        assertEquals(byFile.groups.map((g) => g.name), ["ha"]);
      });

      await t.step("/api/v1/alerts: each firing alert once", async () => {
        const d = await api<{ alerts: { labels: Record<string, string>; state: string }[] }>(
          q.http,
          "alerts",
        );
        const names = d.alerts.map((a) => a.labels.alertname).sort();
        assertEquals(names, ["AlwaysFiring", "RulerFiring"]);
        for (const a of d.alerts) assertEquals(a.state, "firing");
      });

      await t.step("/api/v1/targets: the pair's three targets once each", async () => {
        await eventually("targets scraped", async () => {
          const d = await api<{ activeTargets: Target[] }>(q.http, "targets");
          // Prometheus's discovery delivers its first targets after a few seconds
          return d.activeTargets.length >= 3 && d.activeTargets.every((x) => x.health === "up");
        });
        const d = await api<{ activeTargets: Target[]; droppedTargets: unknown[] }>(
          q.http,
          "targets",
        );
        assertEquals(
          d.activeTargets.map((x) => `${x.scrapePool} ${x.scrapeUrl}`).sort(),
          [
            `exemplars http://${lab!.exemplarTarget}/metrics`,
            ...proms.map((p) => `prometheus http://127.0.0.1:${p.port}/metrics`).sort(),
          ],
        );
        for (const x of d.activeTargets) {
          assertEquals(x.labels.replica, undefined);
          assertEquals(x.labels.cluster, "lab");
        }
        const dropped = await api<{ activeTargets: Target[] }>(q.http, "targets", {
          state: "dropped",
        });
        assertEquals(dropped.activeTargets, []);
      });

      await t.step("/api/v1/query_exemplars: the pair's exemplars, one series", async () => {
        type Ex = {
          seriesLabels: Record<string, string>;
          exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
        }[];
        const params = () => ({
          query: "lab_jobs_total",
          start: Date.now() / 1000 - 120,
          end: Date.now() / 1000 + 5,
        });
        await eventually("exemplars stored", async () => {
          const d = await api<Ex>(q.http, "query_exemplars", params());
          return d.length > 0 && d[0].exemplars.length > 0;
        });
        const d = await api<Ex>(q.http, "query_exemplars", params());
        assertEquals(d.length, 1, JSON.stringify(d));
        assertEquals(d[0].seriesLabels, {
          __name__: "lab_jobs_total",
          cluster: "lab",
          instance: lab!.exemplarTarget!,
          job: "exemplars",
          path: "/a",
        });
        const e = d[0].exemplars[0];
        assertEquals([e.labels, e.value], [{ trace_id: "abc123" }, "1"]);
        assert(e.timestamp > Date.now() / 1000 - 300, String(e.timestamp));
        // each replica alone has the series (the replicas scrape independently: the querier may
        // have answered from the other one before this one scraped the exemplar)
        for (const p of proms) {
          await eventually(`exemplar scraped by ${p.url}`, async () => {
            const a = await api<Ex>(p.url, "query_exemplars", params());
            return a.length === 1;
          });
        }
        const bad = await fetch(`${q.http}/api/v1/query_exemplars?query=sum(`);
        assertEquals(bad.status, 400);
        await bad.body?.cancel();
      });

      await t.step("/api/v1/metadata: Prometheus's metric metadata, limit", async () => {
        type Md = Record<string, { type: string; help: string; unit: string }[]>;
        await eventually("metadata scraped", async () => {
          const d = await api<Md>(q.http, "metadata");
          return d["prometheus_build_info"] !== undefined;
        });
        const d = await api<Md>(q.http, "metadata", { metric: "prometheus_build_info" });
        assertEquals(Object.keys(d), ["prometheus_build_info"]);
        // both replicas report the same entry: once
        assertEquals(d["prometheus_build_info"].length, 1);
        assertEquals(d["prometheus_build_info"][0].type, "gauge");
        const one = await api<Md>(q.http, "metadata", { limit: 1 });
        assertEquals(Object.keys(one).length, 1);
        const direct = await api<Md>(proms[0].url, "metadata");
        const all = await api<Md>(q.http, "metadata");
        assert(Object.keys(all).length >= Object.keys(direct).length);
      });

      await t.step("a querier over this querier (stacked) lists the same", async () => {
        const top = await startComponent("query", [
          "--endpoint.info-timeout=1s",
          "--log.level=warn",
          "--query.replica-label=replica",
          `--store=${q.grpc}`,
        ], { name: "top-querier" });
        try {
          const names = (gs: Group[]) => gs.map((g) => `${g.name}:${g.rules.map((r) => r.name)}`);
          await eventually("the top querier sees the rules", async () => {
            const d = await api<{ groups: Group[] }>(top.http, "rules");
            return d.groups.length === 2;
          });
          assertEquals(
            names((await api<{ groups: Group[] }>(top.http, "rules")).groups),
            names((await rules()).groups),
          );
          const tg = await api<{ activeTargets: Target[] }>(top.http, "targets");
          assertEquals(tg.activeTargets.length, 3);
          const md = await api<Record<string, unknown>>(top.http, "metadata", {
            metric: "prometheus_build_info",
          });
          assertEquals(Object.keys(md), ["prometheus_build_info"]);
        } finally {
          await top.stop();
        }
      });

      await t.step("with one replica's Prometheus stopped, the other still answers", async () => {
        await proms[1].stop();
        const r = await fetch(`${q.http}/api/v1/rules?partial_response=true`);
        const body = await r.json();
        assertEquals(r.status, 200);
        assertEquals(
          body.data.groups.map((g: Group) => g.rules.length),
          [3, 2],
          JSON.stringify(body),
        );
        // until the sidecar's heartbeat marks it unready, its failure is a warning naming it
        for (const w of body.warnings ?? []) assert(String(w).includes("rules"), String(w));
      });
    } finally {
      await lab?.stop();
      await dirs.cleanup();
    }
  },
);
