// Rule evaluation (rules/alerting.ts, rules/manager.ts) against a scripted query function and an
// in-memory appender: recording rule labels and errors, the alert state machine (pending →
// firing after `for`, resolved, keep_firing_for, limit), ALERTS/ALERTS_FOR_STATE samples, stale
// markers, resend rules, the group offset/alignment, failure metrics and state kept across
// updates.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";
import {
  AlertingRule,
  type EvalContext,
  RecordingRule,
  RESOLVED_RETENTION_MS,
  type RuleSample,
} from "../../rules/alerting.ts";
import { RuleManager, rulePairs } from "../../rules/manager.ts";
import { parseRuleFile } from "../../rules/rulefmt.ts";
import { DB } from "../../tsdb/db.ts";
import { TempDirs } from "../helpers/tmp.ts";

const L = labelsFromObject;

/** A query function answering from a mutable table expr → samples. */
function scripted(table: Map<string, RuleSample[] | Error>) {
  return (expr: string): Promise<RuleSample[]> => {
    const r = table.get(expr);
    if (r instanceof Error) return Promise.reject(r);
    return Promise.resolve(r ?? []);
  };
}

function ctx(table: Map<string, RuleSample[] | Error>, limit = 0): EvalContext {
  return {
    query: scripted(table),
    externalLabels: L({ cluster: "eu" }),
    externalURL: "http://q",
    limit,
  };
}

class MemAppendable {
  samples: { labels: Record<string, string>; t: number; v: number; stale: boolean }[] = [];
  appender() {
    const pending: typeof this.samples = [];
    return {
      append: (labels: Labels, t: number, v: number) => {
        pending.push({ labels: labelsToObject(labels), t, v, stale: false });
        return 0;
      },
      appendStale: (labels: Labels, t: number) => {
        pending.push({ labels: labelsToObject(labels), t, v: NaN, stale: true });
        return 0;
      },
      commit: () => {
        this.samples.push(...pending);
        return Promise.resolve();
      },
      rollback: () => Promise.resolve(),
    };
  }
}

const quiet = new Logger("error", "logfmt", {}, () => {});

Deno.test("recording rule: name and labels set, duplicates and limit refused", async () => {
  const t = new Map<string, RuleSample[] | Error>([
    ["sum by (job) (x)", [{ labels: L({ job: "a" }), v: 1 }, { labels: L({ job: "b" }), v: 2 }]],
    ["x", [{ labels: L({ __name__: "x", i: "1" }), v: 1 }, {
      labels: L({ __name__: "x", i: "2" }),
      v: 2,
    }]],
  ]);
  const r = new RecordingRule("job:x:sum", "sum by (job) (x)", rulePairs({ team: "t", job: "" }));
  // an empty rule label removes the label (job), so both samples collide
  await assertRejects(() => r.eval(1000, ctx(t)), Error, "same labelset");
  const one = new Map<string, RuleSample[] | Error>([["q", [{
    labels: L({ job: "a", k: "1" }),
    v: 3,
  }]]]);
  const r1 = new RecordingRule("one", "q", rulePairs({ job: "", team: "t" }));
  assertEquals((await r1.eval(1000, ctx(one))).map((s) => [labelsToObject(s.labels), s.v]), [
    [{ __name__: "one", k: "1", team: "t" }, 3],
  ]);
  const r2 = new RecordingRule("y", "x", L({ team: "t" }));
  assertEquals((await r2.eval(1000, ctx(t))).map((s) => labelsToObject(s.labels)), [
    { __name__: "y", i: "1", team: "t" },
    { __name__: "y", i: "2", team: "t" },
  ]);
  await assertRejects(() => r2.eval(1000, ctx(t, 1)), Error, "exceeded limit of 1 with 2 series");
});

Deno.test("alerting rule: pending, firing after for, resolved, ALERTS samples", async () => {
  const t = new Map<string, RuleSample[] | Error>();
  t.set("up == 0", [{ labels: L({ __name__: "up", instance: "a" }), v: 0 }]);
  const r = new AlertingRule(
    "Down",
    "up == 0",
    L({ severity: "page", inst: "{{ $labels.instance }}" }),
    L({ summary: "{{ $labels.instance }} down ({{ $value }}) in {{ $externalLabels.cluster }}" }),
    10_000,
    0,
  );
  let out = await r.eval(100_000, ctx(t));
  assertEquals(r.state(), "pending");
  const labels = { alertname: "Down", inst: "a", instance: "a", severity: "page" };
  assertEquals(out.map((s) => [labelsToObject(s.labels), s.v]), [
    [{ ...labels, __name__: "ALERTS", alertstate: "pending" }, 1],
    [{ ...labels, __name__: "ALERTS_FOR_STATE" }, 100],
  ]);
  assertEquals(r.alertsToSend(100_000, 60_000, 1000), [], "pending alerts are not sent");
  out = await r.eval(105_000, ctx(t));
  assertEquals(r.state(), "pending");
  out = await r.eval(110_000, ctx(t));
  assertEquals(r.state(), "firing");
  assertEquals(labelsToObject(out[0].labels).alertstate, "firing");
  assertEquals(out[1].v, 100, "ALERTS_FOR_STATE keeps the activeAt");
  const a = r.activeAlerts()[0];
  assertEquals(labelsToObject(a.annotations), { summary: "a down (0) in eu" });
  assertEquals([a.activeAt, a.firedAt], [100_000, 110_000]);
  let sent = r.alertsToSend(110_000, 60_000, 1000);
  assertEquals(sent.length, 1);
  assertEquals(sent[0].validUntil, 110_000 + 4 * 60_000);
  assertEquals(r.alertsToSend(111_000, 60_000, 1000), [], "not again before resend-delay");
  assertEquals(r.alertsToSend(170_001, 60_000, 1000).length, 1, "again after resend-delay");
  // resolution
  t.set("up == 0", []);
  out = await r.eval(180_000, ctx(t));
  assertEquals(out, []);
  assertEquals(r.state(), "inactive");
  assertEquals(r.activeAlerts(), []);
  sent = r.alertsToSend(180_000, 60_000, 1000);
  assertEquals(sent.length, 1, "resolved alerts are sent once");
  assertEquals(sent[0].resolvedAt, 180_000);
  assertEquals(r.alertsToSend(181_000, 60_000, 1000), []);
  // kept for the resolved retention, then forgotten
  await r.eval(180_000 + RESOLVED_RETENTION_MS, ctx(t));
  assertEquals(r.active.size, 1);
  await r.eval(180_000 + RESOLVED_RETENTION_MS + 1000, ctx(t));
  assertEquals(r.active.size, 0);
});

Deno.test("alerting rule: pending alerts vanish, keep_firing_for, limit, duplicates", async () => {
  const t = new Map<string, RuleSample[] | Error>();
  t.set("e", [{ labels: L({ i: "1" }), v: 1 }]);
  const r = new AlertingRule("A", "e", [], [], 5000, 0);
  await r.eval(0, ctx(t));
  t.set("e", []);
  await r.eval(1000, ctx(t));
  assertEquals(r.active.size, 0, "a pending alert is dropped at once");

  const k = new AlertingRule("K", "e", [], [], 0, 3000);
  t.set("e", [{ labels: L({ i: "1" }), v: 1 }]);
  await k.eval(0, ctx(t));
  assertEquals(k.state(), "firing");
  t.set("e", []);
  await k.eval(1000, ctx(t));
  await k.eval(3000, ctx(t));
  assertEquals(k.state(), "firing", "kept firing for keep_firing_for");
  await k.eval(4000, ctx(t));
  assertEquals(k.state(), "inactive");

  t.set("e", [{ labels: L({ i: "1" }), v: 1 }, { labels: L({ i: "2" }), v: 1 }]);
  const lim = new AlertingRule("L", "e", [], [], 0, 0);
  await assertRejects(() => lim.eval(0, ctx(t, 1)), Error, "exceeded limit of 1 with 2 alerts");
  assertEquals(lim.active.size, 0);
  const dup = new AlertingRule("D", "e", L({ i: "x" }), [], 0, 0);
  await assertRejects(
    () => dup.eval(0, ctx(t)),
    Error,
    "same labelset after applying alert labels",
  );
});

function manager(
  table: Map<string, RuleSample[] | Error>,
  app: MemAppendable,
  sent: unknown[],
  extra: { queryOffsetMs?: number; asked?: [string, number][] } = {},
) {
  const registry = new Registry();
  const m = new RuleManager({
    query: () => (expr: string, t: number) => {
      extra.asked?.push([expr, t]);
      return scripted(table)(expr);
    },
    queryOffsetMs: extra.queryOffsetMs,
    appendable: app,
    notify: (expr, alerts) => {
      sent.push({ expr, alerts });
    },
    evalIntervalMs: 60_000,
    resendDelayMs: 60_000,
    externalLabels: L({ cluster: "eu" }),
    externalURL: "",
    logger: quiet,
    registry,
  });
  return { m, registry };
}

const FILE = `groups:
- name: g
  interval: 10s
  rules:
  - record: r
    expr: x
  - alert: A
    expr: x > 1
`;

Deno.test("group: results appended, stale markers, failures counted, alerts notified", async () => {
  const t = new Map<string, RuleSample[] | Error>();
  t.set("x", [{ labels: L({ __name__: "x", i: "1" }), v: 1 }, {
    labels: L({ __name__: "x", i: "2" }),
    v: 2,
  }]);
  t.set("x > 1", [{ labels: L({ __name__: "x", i: "2" }), v: 2 }]);
  const app = new MemAppendable();
  const sent: { expr: string; alerts: unknown[] }[] = [];
  const { m, registry } = manager(t, app, sent);
  const [g] = m.build(new Map([["f.yml", parseRuleFile("f.yml", FILE)]]));
  assertEquals(g.intervalMs, 10_000);
  await g.eval(10_000);
  assertEquals(app.samples.filter((s) => s.labels.__name__ === "r").length, 2);
  assertEquals(sent.length, 1, "a firing alert (for 0) is notified");
  assertEquals(sent[0].expr, "x > 1");
  t.set("x", [{ labels: L({ __name__: "x", i: "1" }), v: 5 }]);
  t.set("x > 1", new Error("querier down"));
  app.samples = [];
  await g.eval(20_000);
  const stale = app.samples.filter((s) => s.stale);
  assertEquals(stale.map((s) => s.labels), [{ __name__: "r", i: "2" }]);
  assertEquals(g.rules[1].health, "err");
  assertEquals(g.rules[1].lastError, "querier down");
  assertEquals(g.rules[0].health, "ok");
  const text = await registry.expose();
  assert(text.includes('prometheus_rule_evaluation_failures_total{rule_group="f.yml;g"} 1'), text);
  assert(text.includes('prometheus_rule_evaluations_total{rule_group="f.yml;g"} 4'), text);
  assert(
    text.includes('prometheus_rule_group_last_evaluation_samples{rule_group="f.yml;g"} 1'),
    text,
  );
});

Deno.test("group: the query offset (query_offset, else --rule-query-offset) moves query and sample times, not alert times", async () => {
  const t = new Map<string, RuleSample[] | Error>();
  t.set("x", [{ labels: L({ __name__: "x", i: "1" }), v: 1 }]);
  t.set("x > 1", [{ labels: L({ __name__: "x", i: "2" }), v: 2 }]);
  t.set("gone", [{ labels: L({ i: "3" }), v: 3 }]);
  const app = new MemAppendable();
  const sent: { expr: string; alerts: { activeAt: number; firedAt: number }[] }[] = [];
  const asked: [string, number][] = [];
  const { m } = manager(t, app, sent, { queryOffsetMs: 30_000, asked });
  const groups = m.build(
    new Map([["f.yml", parseRuleFile("f.yml", FILE)], [
      "o.yml",
      parseRuleFile(
        "o.yml",
        "groups:\n- name: zero\n  query_offset: 0s\n  rules:\n  - record: z\n    expr: x\n" +
          "- name: own\n  query_offset: 1m\n  rules:\n  - record: o\n    expr: gone\n",
      ),
    ]]),
  );
  assertEquals(groups.map((g) => g.queryOffsetMs()), [30_000, 0, 60_000]);
  const [g, zero, own] = groups;
  await g.eval(100_000);
  assertEquals(asked, [["x", 70_000], ["x > 1", 70_000]]);
  // every sample, ALERTS and ALERTS_FOR_STATE too, is written at ts - offset
  assertEquals([...new Set(app.samples.map((s) => s.t))], [70_000]);
  const forState = app.samples.find((s) => s.labels.__name__ === "ALERTS_FOR_STATE")!;
  assertEquals(forState.v, 100, "activeAt is the evaluation time, not the query time");
  assertEquals(sent[0].alerts[0].firedAt, 100_000);
  app.samples = [];
  asked.length = 0;
  await zero.eval(100_000);
  assertEquals([asked, app.samples.map((s) => s.t)], [[["x", 100_000]], [100_000]]);
  app.samples = [];
  await own.eval(100_000);
  t.set("gone", []);
  await own.eval(110_000);
  assertEquals(app.samples.map((s) => [s.t, s.stale]), [[40_000, false], [50_000, true]]);
});

Deno.test("group: evaluation times are interval-aligned plus a stable per-group offset", () => {
  const t = new Map<string, RuleSample[] | Error>();
  const { m } = manager(t, new MemAppendable(), []);
  const [g] = m.build(new Map([["f.yml", parseRuleFile("f.yml", FILE)]]));
  const off = g.offsetMs();
  assert(Number.isInteger(off) && off >= 0 && off < 10_000, String(off));
  for (const now of [1_700_000_000_123, 1_700_000_004_999, 1_700_000_009_999]) {
    const ts = g.evalTimestamp(now);
    assert(ts <= now && now - ts < 10_000, `${ts} ${now}`);
    assertEquals(((ts - off) % 10_000 + 10_000) % 10_000, 0);
  }
  const [h] = m.build(new Map([["other.yml", parseRuleFile("other.yml", FILE)]]));
  assert(h.offsetMs() !== off, "the offset depends on the file");
});

Deno.test("manager: update keeps alert state of the same rule and stops old groups", async () => {
  const t = new Map<string, RuleSample[] | Error>();
  t.set("x > 1", [{ labels: L({ i: "2" }), v: 2 }]);
  const app = new MemAppendable();
  const { m } = manager(t, app, []);
  const files = new Map([["f.yml", parseRuleFile("f.yml", FILE)]]);
  await m.update(files);
  await m.groups[0].eval(1000);
  const active = m.activeAlerts();
  assertEquals(active.length, 1);
  await m.update(new Map([["f.yml", parseRuleFile("f.yml", FILE)]]));
  assertEquals(m.activeAlerts().map((a) => a.alert.activeAt), [1000]);
  app.samples = [];
  await m.update(new Map());
  assertEquals(m.groups, []);
  assert(
    app.samples.some((s) => s.stale && s.labels.__name__ === "ALERTS"),
    "removed group marks stale",
  );
  await m.stop();
});

Deno.test("for state restored from ALERTS_FOR_STATE after a start (outage, grace period)", async () => {
  await using dirs = new TempDirs();
  const db = await DB.open(await dirs.make());
  try {
    const T = 1_700_000_000_000;
    const M = 60_000;
    const app = db.appender();
    const fs = (i: string) => L({ __name__: "ALERTS_FOR_STATE", alertname: "Long", i });
    // a: pending 3m of 10m when the ruler went down 5m ago; b: pending 9m; c: had fired;
    // d: resolved before the outage (stale marker last)
    for (const [i, activeAt] of [["a", T - 8 * M], ["b", T - 14 * M], ["c", T - 20 * M]] as const) {
      app.append(fs(i), T - 6 * M, activeAt / 1000);
      app.append(fs(i), T - 5 * M, activeAt / 1000);
    }
    app.append(fs("d"), T - 7 * M, (T - 8 * M) / 1000);
    app.appendStale(fs("d"), T - 6 * M);
    await app.commit();

    const t = new Map<string, RuleSample[] | Error>();
    t.set("e", ["a", "b", "c", "d"].map((i) => ({ labels: L({ i }), v: 1 })));
    const out = new MemAppendable();
    const m = new RuleManager({
      query: () => scripted(t),
      appendable: out,
      notify: () => {},
      evalIntervalMs: 3600_000,
      resendDelayMs: 60_000,
      externalLabels: [],
      externalURL: "",
      logger: quiet,
      registry: new Registry(),
      now: () => T,
      restore: { queryable: db.querier(), outageToleranceMs: 3600_000, forGracePeriodMs: 2 * M },
    });
    await m.update(
      new Map([[
        "f.yml",
        parseRuleFile(
          "f.yml",
          "groups:\n- name: g\n  rules:\n  - alert: Long\n    expr: e\n    for: 10m\n",
        ),
      ]]),
    );
    const g = m.groups[0];
    assert(g.shouldRestore);
    await g.eval(T - 1000);
    await g.eval(T);
    assertEquals(out.samples.length, 0, "no ALERTS samples before the for state is restored");
    await g.restoreForState(T);
    const rule = g.rules[0] as AlertingRule;
    const activeAt = Object.fromEntries(
      rule.activeAlerts().map((a) => [labelsToObject(a.labels).i, a.activeAt]),
    );
    assertEquals(activeAt, {
      a: T - 8 * M + 5 * M, // moved forward by the downtime
      b: T + 2 * M - 10 * M, // the grace period left
      c: T - 20 * M, // had fired: unchanged
      d: T - 1000, // resolved before: nothing restored
    });
    await g.eval(T + 1000);
    const states = Object.fromEntries(
      rule.activeAlerts().map((a) => [labelsToObject(a.labels).i, a.state]),
    );
    assertEquals(states, { a: "pending", b: "pending", c: "firing", d: "pending" });
    assert(out.samples.some((s) => s.labels.__name__ === "ALERTS"), "ALERTS written once restored");
    await m.stop();
  } finally {
    await db.close();
  }
});
