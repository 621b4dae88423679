// Rule groups and their evaluation loops, as Prometheus 2.42's rules manager
// (https://github.com/prometheus/prometheus/blob/v2.42.0/rules/manager.go):
// - a group is evaluated at interval-aligned times shifted by a per-group offset: the offset is
//   the hash of the labels {name=<group>, file=<file>} (xxHash64 of `file\xff<file>\xffname\xff
//   <group>\xff`, labels.Labels.Hash) modulo the interval; the first evaluation is the first
//   such time after the start, later ones follow every interval; evaluations that could not run
//   in time are skipped and counted (`prometheus_rule_group_iterations_missed_total`);
// - the rules of a group run in order at one timestamp; results are appended to local storage;
//   series a rule returned last time but not this time get a stale marker; a failed rule is
//   counted, its health is "err" and its previous series are left alone;
// - alerting rules hand their due alerts to the notifier after each evaluation;
// - `update` replaces the groups: state (active alerts, the series written last time) carries
//   over to the rule with the same name and labels in the group with the same file and name;
//   groups that disappear get stale markers for what they wrote;
// - a group's query offset (its `query_offset`, else `--rule-query-offset`; Prometheus v3's
//   rules/group.go `QueryOffset`) moves the time its rules are evaluated at, and the timestamps of
//   the samples and stale markers it writes, `offset` before the scheduled time.

import { separatedHash } from "../tsdb/label_hash.ts";
import type { Logger } from "../logging/log.ts";
import type { Counter, Gauge, Registry } from "../metrics/registry.ts";
import { sleepUnlessAborted } from "../runutil/sleep.ts";
import { labelsKey } from "../tsdb/labels.ts";
import type { Labels, Queryable } from "../tsdb/series.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { ChunkEncoding } from "../tsdb/series.ts";
import { decodeXorSamples } from "../tsdb/chunkenc/xor.ts";
import { isStaleAt } from "../tsdb/value.ts";
import {
  type Alert,
  AlertingRule,
  type QueryFunc,
  RecordingRule,
  type Rule,
  type RuleSample,
} from "./alerting.ts";
import type { PartialResponseStrategy, RuleGroupNode } from "./rulefmt.ts";
import { compareStrings } from "../tsdb/labels.ts";

/** Label pairs sorted by name, keeping empty values (an empty rule label removes the label). */
export function rulePairs(o: Record<string, string>): Labels {
  return Object.keys(o).sort(compareStrings).flatMap((k) => [k, o[k]]);
}

/** Where rule results go (the local TSDB's appender). */
export interface RuleAppendable {
  appender(): {
    append(labels: Labels, t: number, v: number): number;
    appendStale(labels: Labels, t: number): number;
    commit(): Promise<unknown>;
    rollback(): Promise<unknown>;
  };
}

/** Restoring the `for` state of alerts from the `ALERTS_FOR_STATE` series after a start. */
export interface ForStateRestore {
  /** Where the ALERTS_FOR_STATE series were written (the local TSDB). */
  queryable: Queryable;
  /** `--for-outage-tolerance`: how far back the series is looked up. */
  outageToleranceMs: number;
  /** `--for-grace-period`: the least time left before a restored alert fires. */
  forGracePeriodMs: number;
}

/** Receives the alerts to send, with the rule's expression (for the generator URL). */
export type NotifyFunc = (expr: string, alerts: Alert[]) => void | Promise<void>;

/** Options of {@link RuleManager}. */
export interface RuleManagerOptions {
  /** The query function for a group's partial response strategy. */
  query: (strategy: PartialResponseStrategy) => QueryFunc;
  appendable: RuleAppendable;
  notify: NotifyFunc;
  /** `--eval-interval` in ms: the interval of groups without their own. */
  evalIntervalMs: number;
  /** `--rule-query-offset` in ms: the query offset of groups without `query_offset` (0). */
  queryOffsetMs?: number;
  /** `--resend-delay` in ms. */
  resendDelayMs: number;
  externalLabels: Labels;
  externalURL: string;
  logger: Logger;
  registry: Registry;
  /** Clock (ms); tests may drive it. */
  now?: () => number;
  /** Restore the `for` state of alerts on the first load (none: alerts start afresh). */
  restore?: ForStateRestore;
}

/** One loaded rule group. */
export class Group {
  readonly rules: Rule[];
  /** Per rule: the series written by the last evaluation, by key. */
  seriesInPreviousEval: Map<string, Labels>[];
  /** Seconds the last evaluation took; ms timestamp of it (0 = never). */
  evaluationTime = 0;
  lastEvaluation = 0;
  private lastEvalTimestamp = 0;
  /** Restore the `for` state after the second evaluation (first load after a start). */
  shouldRestore = false;
  private readonly stop = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    readonly file: string,
    readonly name: string,
    readonly intervalMs: number,
    /** The group's `query_offset` (ms), or null for the manager's default. */
    readonly ownQueryOffsetMs: number | null,
    readonly limit: number,
    readonly strategy: PartialResponseStrategy,
    rules: Rule[],
    private readonly m: RuleManager,
  ) {
    this.rules = rules;
    this.seriesInPreviousEval = rules.map(() => new Map());
  }

  /** `file;name`, the `rule_group` label of the metrics. */
  key(): string {
    return `${this.file};${this.name}`;
  }

  /** The query offset (ms): the group's `query_offset`, else the manager's default. */
  queryOffsetMs(): number {
    return this.ownQueryOffsetMs ?? this.m.opts.queryOffsetMs ?? 0;
  }

  /** Prometheus's per-group offset within the interval (whole ms). */
  offsetMs(): number {
    // Prometheus: labels.FromStrings("file", file, "name", name).Hash()
    const h = separatedHash(null, ["file", this.file, "name", this.name]);
    const intervalNs = BigInt(this.intervalMs) * 1_000_000n;
    // Prometheus keeps nanoseconds and truncates to ms when appending; the interval is whole
    // ms, so whole ms of the offset give the same sample timestamps
    return Number((h % intervalNs) / 1_000_000n);
  }

  /** The evaluation time at or before `now` (ms): aligned to the interval plus the offset. */
  evalTimestamp(now: number): number {
    const offset = this.offsetMs();
    const adj = now - offset;
    const base = adj - (((adj % this.intervalMs) + this.intervalMs) % this.intervalMs);
    return base + offset;
  }

  /** Copies alert states and written series from the same group before a reload. */
  copyState(from: Group): void {
    this.lastEvalTimestamp = from.lastEvalTimestamp;
    this.shouldRestore = from.shouldRestore;
    this.evaluationTime = from.evaluationTime;
    this.lastEvaluation = from.lastEvaluation;
    const byKey = new Map<string, number>();
    from.rules.forEach((r, i) => byKey.set(`${r.kind}\x00${r.key()}`, i));
    this.rules.forEach((r, i) => {
      const j = byKey.get(`${r.kind}\x00${r.key()}`);
      if (j === undefined) return;
      this.seriesInPreviousEval[i] = from.seriesInPreviousEval[j];
      const old = from.rules[j];
      if (r instanceof AlertingRule && old instanceof AlertingRule) {
        r.active = old.active;
        r.restored = old.restored;
      }
      r.health = old.health;
      r.lastError = old.lastError;
      r.evaluationTime = old.evaluationTime;
      r.lastEvaluation = old.lastEvaluation;
    });
  }

  /**
   * Prometheus's `RestoreForState` (rules/manager.go): for each alerting rule whose `for` is
   * at least the grace period, each active alert looks up its ALERTS_FOR_STATE series in
   * [ts - outage tolerance, ts]; from the last sample (its time = when the ruler went down, its
   * value = the alert's activeAt) the pending time already served is kept: an alert that had
   * fired fires again at once, one with less than the grace period left gets the grace period,
   * any other has its activeAt moved forward by the downtime. A stale last sample (the alert
   * had resolved) restores nothing.
   */
  async restoreForState(ts: number): Promise<void> {
    const r = this.m.opts.restore;
    for (const rule of this.rules) {
      if (!(rule instanceof AlertingRule)) continue;
      if (!r || rule.holdDurationMs < r.forGracePeriodMs) {
        rule.restored = true;
        continue;
      }
      const mint = ts - r.outageToleranceMs;
      for (const a of rule.active.values()) {
        const matchers = [new Matcher(MatchType.Equal, "__name__", "ALERTS_FOR_STATE")];
        for (let i = 0; i < a.labels.length; i += 2) {
          matchers.push(new Matcher(MatchType.Equal, a.labels[i], a.labels[i + 1]));
        }
        let last: { t: number; v: number; stale: boolean } | null = null;
        try {
          for await (const s of r.queryable.select(matchers, { start: mint, end: ts })) {
            for (const c of s.chunks) {
              if (c.encoding !== ChunkEncoding.XOR) continue;
              const { ts: tt, vs } = decodeXorSamples(c.data);
              for (let i = 0; i < tt.length; i++) {
                if (tt[i] < mint || tt[i] > ts) continue;
                if (last === null || tt[i] >= last.t) {
                  last = { t: tt[i], v: vs[i], stale: isStaleAt(vs, i) };
                }
              }
            }
            break; // the first series, as Prometheus
          }
        } catch (e) {
          this.m.log.error("Failed to restore 'for' state", {
            group: this.name,
            alert: rule.name,
            err: (e as Error).message,
          });
          continue;
        }
        if (last === null || last.stale) {
          this.m.log.debug("no 'for' state to restore", {
            alert: rule.name,
            labels: labelsKey(a.labels),
            found: last === null ? "none" : "stale",
          });
          continue;
        }
        const downAt = Math.floor(last.t / 1000) * 1000;
        let activeAt = Math.trunc(last.v) * 1000;
        const remaining = rule.holdDurationMs - (downAt - activeAt);
        if (remaining <= 0) {
          // it had fired: it fires again at the next evaluation if still active
        } else if (remaining < r.forGracePeriodMs) {
          activeAt = ts + r.forGracePeriodMs - rule.holdDurationMs;
        } else {
          activeAt += ts - downAt;
        }
        a.activeAt = activeAt;
        this.m.log.debug("'for' state restored", {
          alert: rule.name,
          activeAt: new Date(activeAt).toISOString(),
        });
      }
      rule.restored = true;
    }
  }

  /** Evaluates every rule at `ts` and appends the results (Prometheus's Group.Eval). */
  async eval(ts: number, signal?: AbortSignal): Promise<void> {
    const m = this.m;
    const gk = this.key();
    const start = performance.now();
    let samplesTotal = 0;
    const query = m.opts.query(this.strategy);
    const queryOffsetMs = this.queryOffsetMs();
    // samples and stale markers carry the time the expressions were evaluated at
    const sampleTs = ts - queryOffsetMs;
    for (let i = 0; i < this.rules.length; i++) {
      if (signal?.aborted) return;
      const rule = this.rules[i];
      const t0 = performance.now();
      m.metrics.evalTotal.labels(gk).inc();
      let vector: RuleSample[];
      try {
        vector = await rule.eval(ts, {
          query,
          externalLabels: m.opts.externalLabels,
          externalURL: m.opts.externalURL,
          limit: this.limit,
          queryOffsetMs,
          signal,
          onTemplateError: (r, e) =>
            m.log.warn("Expanding alert template failed", {
              err: e.message,
              group: this.name,
              rule: r,
            }),
        });
      } catch (e) {
        // stopped mid-evaluation (reload, shutdown): not a failure of the rule
        if (signal?.aborted) return;
        rule.health = "err";
        rule.lastError = (e as Error).message;
        rule.evaluationTime = (performance.now() - t0) / 1000;
        rule.lastEvaluation = m.now();
        m.metrics.evalFailures.labels(gk).inc();
        m.log.warn("Evaluating rule failed", {
          group: this.name,
          file: this.file,
          rule: rule.name,
          err: (e as Error).message,
        });
        continue;
      }
      rule.health = "ok";
      rule.lastError = "";
      samplesTotal += vector.length;
      if (rule instanceof AlertingRule) {
        const due = rule.alertsToSend(ts, m.opts.resendDelayMs, this.intervalMs);
        if (due.length > 0) await m.opts.notify(rule.expr, due);
      }
      const app = m.opts.appendable.appender();
      const returned = new Map<string, Labels>();
      for (const s of vector) {
        try {
          app.append(s.labels, sampleTs, s.v);
          returned.set(labelsKey(s.labels), s.labels);
        } catch (e) {
          m.log.warn("Rule evaluation result discarded", {
            err: (e as Error).message,
            sample: labelsKey(s.labels),
          });
        }
      }
      for (const [k, ls] of this.seriesInPreviousEval[i]) {
        if (returned.has(k)) continue;
        try {
          app.appendStale(ls, sampleTs);
        } catch { /* out of order etc.: Prometheus ignores these too */ }
      }
      try {
        await app.commit();
      } catch (e) {
        m.log.warn("Rule sample appending failed", { err: (e as Error).message });
      }
      this.seriesInPreviousEval[i] = returned;
      rule.evaluationTime = (performance.now() - t0) / 1000;
      rule.lastEvaluation = m.now();
    }
    this.evaluationTime = (performance.now() - start) / 1000;
    this.lastEvaluation = m.now();
    this.lastEvalTimestamp = ts;
    m.metrics.lastDuration.labels(gk).set(this.evaluationTime);
    m.metrics.lastEvalTs.labels(gk).set(ts / 1000);
    m.metrics.lastSamples.labels(gk).set(samplesTotal);
  }

  /** Starts the evaluation loop. */
  start(): void {
    const m = this.m;
    const signal = this.stop.signal;
    const gk = this.key();
    m.metrics.interval.labels(gk).set(this.intervalMs / 1000);
    m.metrics.rules.labels(gk).set(this.rules.length);
    m.metrics.iterations.labels(gk);
    m.metrics.missed.labels(gk);
    m.metrics.evalTotal.labels(gk);
    m.metrics.evalFailures.labels(gk);
    this.loop = (async () => {
      let evalTs = this.evalTimestamp(m.now()) + this.intervalMs;
      if (this.lastEvalTimestamp >= evalTs) evalTs = this.lastEvalTimestamp + this.intervalMs;
      await sleepUnlessAborted(Math.max(0, evalTs - m.now()), signal);
      for (let iter = 0; !signal.aborted; iter++) {
        m.metrics.iterations.labels(gk).inc();
        try {
          await this.eval(evalTs, signal);
        } catch (e) {
          m.log.error("rule group evaluation failed", { group: this.name, err: String(e) });
        }
        if (signal.aborted) break;
        if (this.shouldRestore && iter === 1) {
          // after the second evaluation, as Prometheus: recording rules had a chance to run
          await this.restoreForState(m.now());
          this.shouldRestore = false;
        }
        let next = evalTs + this.intervalMs;
        const now = m.now();
        if (now >= next + this.intervalMs) {
          const missed = Math.floor((now - next) / this.intervalMs);
          m.metrics.missed.labels(gk).inc(missed);
          next += missed * this.intervalMs;
        }
        evalTs = next;
        await sleepUnlessAborted(Math.max(0, evalTs - m.now()), signal);
      }
    })();
  }

  /** Stops the loop; with `markStale`, writes stale markers for everything written last. */
  async stopLoop(markStale: boolean): Promise<void> {
    this.stop.abort();
    await this.loop;
    if (!markStale) return;
    const app = this.m.opts.appendable.appender();
    const ts = this.m.now() - this.queryOffsetMs();
    for (const series of this.seriesInPreviousEval) {
      for (const ls of series.values()) {
        try {
          app.appendStale(ls, ts);
        } catch { /* ignore */ }
      }
    }
    await app.commit().catch(() => {});
  }
}

/** The loaded groups of every rule file. */
export class RuleManager {
  groups: Group[] = [];
  readonly log: Logger;
  readonly metrics: {
    evalTotal: Counter;
    evalFailures: Counter;
    iterations: Counter;
    missed: Counter;
    interval: Gauge;
    lastDuration: Gauge;
    lastEvalTs: Gauge;
    lastSamples: Gauge;
    rules: Gauge;
  };
  readonly now: () => number;

  constructor(readonly opts: RuleManagerOptions) {
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    const r = opts.registry;
    const g = ["rule_group"];
    this.metrics = {
      evalTotal: r.counter({
        name: "prometheus_rule_evaluations_total",
        help: "The total number of rule evaluations.",
        labelNames: g,
      }),
      evalFailures: r.counter({
        name: "prometheus_rule_evaluation_failures_total",
        help: "The total number of rule evaluation failures.",
        labelNames: g,
      }),
      iterations: r.counter({
        name: "prometheus_rule_group_iterations_total",
        help: "The total number of scheduled rule group evaluations, whether executed or missed.",
        labelNames: g,
      }),
      missed: r.counter({
        name: "prometheus_rule_group_iterations_missed_total",
        help: "The total number of rule group evaluations missed due to slow rule group " +
          "evaluation.",
        labelNames: g,
      }),
      interval: r.gauge({
        name: "prometheus_rule_group_interval_seconds",
        help: "The interval of a rule group.",
        labelNames: g,
      }),
      lastDuration: r.gauge({
        name: "prometheus_rule_group_last_duration_seconds",
        help: "The duration of the last rule group evaluation.",
        labelNames: g,
      }),
      lastEvalTs: r.gauge({
        name: "prometheus_rule_group_last_evaluation_timestamp_seconds",
        help: "The timestamp of the last rule group evaluation in seconds.",
        labelNames: g,
      }),
      lastSamples: r.gauge({
        name: "prometheus_rule_group_last_evaluation_samples",
        help: "The number of samples returned during the last rule group evaluation.",
        labelNames: g,
      }),
      rules: r.gauge({
        name: "prometheus_rule_group_rules",
        help: "The number of rules.",
        labelNames: g,
      }),
    };
  }

  /** Builds the groups of parsed files (file path → groups), without starting them. */
  build(files: Map<string, RuleGroupNode[]>): Group[] {
    const out: Group[] = [];
    for (const [file, groups] of files) {
      for (const g of groups) {
        const rules: Rule[] = g.rules.map((r) =>
          r.record !== ""
            ? new RecordingRule(r.record, r.expr, rulePairs(r.labels))
            : new AlertingRule(
              r.alert,
              r.expr,
              rulePairs(r.labels),
              rulePairs(r.annotations),
              r.forMs,
              r.keepFiringForMs,
            )
        );
        out.push(
          new Group(
            file,
            g.name,
            g.intervalMs > 0 ? g.intervalMs : this.opts.evalIntervalMs,
            g.queryOffsetMs,
            g.limit,
            g.partialResponseStrategy,
            rules,
            this,
          ),
        );
      }
    }
    return out;
  }

  private loaded = false;

  /** Replaces the running groups by those of `files` (see the file comment). */
  async update(files: Map<string, RuleGroupNode[]>): Promise<void> {
    const next = this.build(files);
    if (!this.loaded && this.opts.restore) {
      // the first load after a start restores the `for` state (later reloads copy it)
      for (const g of next) {
        g.shouldRestore = true;
        for (const r of g.rules) if (r instanceof AlertingRule) r.restored = false;
      }
    }
    this.loaded = true;
    const old = new Map(this.groups.map((g) => [g.key(), g]));
    for (const g of next) {
      const o = old.get(g.key());
      if (o) {
        await o.stopLoop(false);
        g.copyState(o);
        old.delete(g.key());
      }
    }
    for (const o of old.values()) {
      await o.stopLoop(true);
      const gk = o.key();
      for (
        const mm of [
          this.metrics.interval,
          this.metrics.lastDuration,
          this.metrics.lastEvalTs,
          this.metrics.lastSamples,
          this.metrics.rules,
        ]
      ) mm.remove(gk);
    }
    this.groups = next;
    for (const g of next) g.start();
  }

  /** Stops every group (no stale markers: the data stays valid until the ruler returns). */
  async stop(): Promise<void> {
    await Promise.all(this.groups.map((g) => g.stopLoop(false)));
  }

  /** Every alerting rule's pending and firing alerts. */
  activeAlerts(): { rule: AlertingRule; alert: Alert }[] {
    const out: { rule: AlertingRule; alert: Alert }[] = [];
    for (const g of this.groups) {
      for (const r of g.rules) {
        if (r instanceof AlertingRule) {
          for (const a of r.activeAlerts()) out.push({ rule: r, alert: a });
        }
      }
    }
    return out;
  }
}
