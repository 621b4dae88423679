// Recording and alerting rules as Prometheus 2.42 evaluates them
// (https://github.com/prometheus/prometheus/blob/v2.42.0/rules/recording.go, alerting.go):
// - a recording rule sets `__name__` to its record name and its labels on every sample; two
//   samples with one label set after that, or more series than the group's limit, fail it;
// - an alerting rule turns every sample of its expression into an alert: labels = the sample's
//   labels without `__name__` + the rule's labels (templated; an empty result removes the label)
//   + `alertname`; annotations are templated with `$labels`, `$externalLabels`,
//   `$externalURL`, `$value`. A new alert is pending; after `for` it fires; when its sample is
//   gone it becomes inactive (resolved) — unless it fired and `keep_firing_for` has not yet
//   elapsed — and resolved alerts are kept 15 minutes to be sent as resolved. Every pending or
//   firing alert yields an `ALERTS{alertstate=…}` sample (1) and an `ALERTS_FOR_STATE` sample
//   (its activeAt in Unix seconds). More active alerts than the limit clears them all and fails.
// - alerts that are firing or resolved since the last send are sent again every `resend-delay`,
//   valid until 4 × max(resend-delay, group interval) (`sendAlerts`, `needsSending`).
// - with a query offset (Prometheus 2.53+'s `rule_query_offset`, Thanos's `--rule-query-offset`)
//   a rule's expression is evaluated at `ts - offset` and its samples (ALERTS too) carry that
//   time, while alert states keep the evaluation time `ts` (activeAt, firedAt, resolvedAt) and
//   template `query` calls run at `ts`, as Prometheus v3's rules/alerting.go does.

import type { Labels } from "../tsdb/series.ts";
import {
  compareStrings,
  labelsFromObject,
  labelsKey,
  labelsToObject,
  METRIC_NAME,
} from "../tsdb/labels.ts";
import { expandAlertTemplate, type TemplateEnv } from "./template.ts";

/** One sample of a rule's result (timestamp = the evaluation time minus the query offset). */
export interface RuleSample {
  labels: Labels;
  v: number;
}

/** Runs a rule's expression at `t` (ms). */
export type QueryFunc = (expr: string, t: number, signal?: AbortSignal) => Promise<RuleSample[]>;

/** Rule health as the rules API reports it. */
export type RuleHealth = "unknown" | "ok" | "err";

/** Alert states. */
export type AlertState = "inactive" | "pending" | "firing";

/** One alert of an alerting rule. */
export interface Alert {
  state: AlertState;
  labels: Labels;
  annotations: Labels;
  value: number;
  /** ms; 0 = unset. */
  activeAt: number;
  firedAt: number;
  resolvedAt: number;
  lastSentAt: number;
  validUntil: number;
  keepFiringSince: number;
}

/** What evaluating a rule needs besides the query. */
export interface EvalContext {
  query: QueryFunc;
  externalLabels: Labels;
  externalURL: string;
  limit: number;
  /** The group's query offset (ms): expressions are evaluated this long before `ts`. */
  queryOffsetMs?: number;
  signal?: AbortSignal;
  /** Called when a template fails to expand (Prometheus logs a warning). */
  onTemplateError?: (rule: string, err: Error) => void;
}

/** Resolved alerts are kept this long to be sent as resolved (Prometheus's resolvedRetention). */
export const RESOLVED_RETENTION_MS = 15 * 60_000;

const ALERT_NAME = "alertname";
const ALERT_STATE = "alertstate";

/** State shared by both rule kinds: health, last error, timing. */
abstract class RuleBase {
  health: RuleHealth = "unknown";
  lastError = "";
  /** Seconds the last evaluation took. */
  evaluationTime = 0;
  /** ms of the last evaluation; 0 = never. */
  lastEvaluation = 0;

  constructor(
    readonly name: string,
    readonly expr: string,
    /** Sorted label pairs from the rule file. */
    readonly labels: Labels,
  ) {}

  /** Prometheus matches rules across reloads by name and labels. */
  key(): string {
    return `${this.name}\x00${labelsKey(this.labels)}`;
  }
}

function withSet(ls: Labels, name: string, value: string): Record<string, string> {
  const o = labelsToObject(ls);
  if (value === "") delete o[name];
  else o[name] = value;
  return o;
}

function hasDuplicateLabelsets(v: RuleSample[]): boolean {
  const seen = new Set<string>();
  for (const s of v) {
    const k = labelsKey(s.labels);
    if (seen.has(k)) return true;
    seen.add(k);
  }
  return false;
}

/** A recording rule. */
export class RecordingRule extends RuleBase {
  readonly kind = "recording";

  async eval(ts: number, ctx: EvalContext): Promise<RuleSample[]> {
    const res = await ctx.query(this.expr, ts - (ctx.queryOffsetMs ?? 0), ctx.signal);
    const out: RuleSample[] = res.map((s) => {
      const o = labelsToObject(s.labels);
      o[METRIC_NAME] = this.name;
      for (let i = 0; i < this.labels.length; i += 2) {
        if (this.labels[i + 1] === "") delete o[this.labels[i]];
        else o[this.labels[i]] = this.labels[i + 1];
      }
      return { labels: labelsFromObject(o), v: s.v };
    });
    if (hasDuplicateLabelsets(out)) {
      throw new Error("vector contains metrics with the same labelset after applying rule labels");
    }
    if (ctx.limit > 0 && out.length > ctx.limit) {
      throw new Error(`exceeded limit of ${ctx.limit} with ${out.length} series`);
    }
    return out;
  }
}

/** An alerting rule and its active alerts. */
export class AlertingRule extends RuleBase {
  readonly kind = "alerting";
  /** Active alerts by label-set key. */
  active = new Map<string, Alert>();
  /**
   * False until the `for` state was restored after a start: until then no ALERTS /
   * ALERTS_FOR_STATE samples are written (Prometheus's `restored`).
   */
  restored = true;

  constructor(
    name: string,
    expr: string,
    labels: Labels,
    /** Sorted annotation pairs. */
    readonly annotations: Labels,
    readonly holdDurationMs: number,
    readonly keepFiringForMs: number,
  ) {
    super(name, expr, labels);
  }

  /** The rule's state: the highest state of its alerts. */
  state(): AlertState {
    let s: AlertState = "inactive";
    for (const a of this.active.values()) {
      if (a.state === "firing") return "firing";
      if (a.state === "pending") s = "pending";
    }
    return s;
  }

  /** Pending and firing alerts, sorted by labels. */
  activeAlerts(): Alert[] {
    return [...this.active.values()].filter((a) => a.state !== "inactive").sort((a, b) =>
      compareStrings(labelsKey(a.labels), labelsKey(b.labels))
    );
  }

  async eval(ts: number, ctx: EvalContext): Promise<RuleSample[]> {
    const res = await ctx.query(this.expr, ts - (ctx.queryOffsetMs ?? 0), ctx.signal);
    const env: TemplateEnv = {
      externalURL: ctx.externalURL,
      query: async (q) =>
        (await ctx.query(q, ts, ctx.signal)).map((s) => ({
          Labels: labelsToObject(s.labels),
          Value: s.v,
        })),
    };
    const extLabels = labelsToObject(ctx.externalLabels);
    const expand = async (text: string, sample: RuleSample): Promise<string> => {
      try {
        return await expandAlertTemplate(`__alert_${this.name}`, text, {
          Labels: labelsToObject(sample.labels),
          ExternalLabels: extLabels,
          ExternalURL: ctx.externalURL,
          Value: sample.v,
        }, env);
      } catch (e) {
        ctx.onTemplateError?.(this.name, e as Error);
        return `<error expanding template: ${(e as Error).message}>`;
      }
    };
    const fresh = new Map<string, Alert>();
    for (const s of res) {
      const o = labelsToObject(s.labels);
      delete o[METRIC_NAME];
      let ls: Labels = labelsFromObject(o);
      for (let i = 0; i < this.labels.length; i += 2) {
        ls = labelsFromObject(withSet(ls, this.labels[i], await expand(this.labels[i + 1], s)));
      }
      ls = labelsFromObject(withSet(ls, ALERT_NAME, this.name));
      const ann: string[] = [];
      for (let i = 0; i < this.annotations.length; i += 2) {
        ann.push(this.annotations[i], await expand(this.annotations[i + 1], s));
      }
      const k = labelsKey(ls);
      if (fresh.has(k)) {
        throw new Error(
          "vector contains metrics with the same labelset after applying alert labels",
        );
      }
      fresh.set(k, {
        state: "pending",
        labels: ls,
        annotations: ann,
        value: s.v,
        activeAt: ts,
        firedAt: 0,
        resolvedAt: 0,
        lastSentAt: 0,
        validUntil: 0,
        keepFiringSince: 0,
      });
    }
    for (const [k, a] of fresh) {
      const old = this.active.get(k);
      if (old && old.state !== "inactive") {
        old.value = a.value;
        old.annotations = a.annotations;
        continue;
      }
      this.active.set(k, a);
    }
    const out: RuleSample[] = [];
    let numActive = 0;
    for (const [k, a] of this.active) {
      if (!fresh.has(k)) {
        let keepFiring = false;
        if (a.state === "firing" && this.keepFiringForMs > 0) {
          if (a.keepFiringSince === 0) a.keepFiringSince = ts;
          if (ts - a.keepFiringSince < this.keepFiringForMs) keepFiring = true;
        }
        if (
          a.state === "pending" || (a.resolvedAt !== 0 && ts - a.resolvedAt > RESOLVED_RETENTION_MS)
        ) {
          this.active.delete(k);
        }
        if (a.state !== "inactive" && !keepFiring) {
          a.state = "inactive";
          a.resolvedAt = ts;
        }
        if (!keepFiring) continue;
      } else {
        a.keepFiringSince = 0;
      }
      numActive++;
      if (a.state === "pending" && ts - a.activeAt >= this.holdDurationMs) {
        a.state = "firing";
        a.firedAt = ts;
      }
      if (!this.restored) continue;
      out.push({
        labels: labelsFromObject({
          ...labelsToObject(a.labels),
          [METRIC_NAME]: "ALERTS",
          [ALERT_STATE]: a.state,
        }),
        v: 1,
      });
      out.push({
        labels: labelsFromObject({
          ...labelsToObject(a.labels),
          [METRIC_NAME]: "ALERTS_FOR_STATE",
        }),
        v: Math.floor(a.activeAt / 1000),
      });
    }
    if (ctx.limit > 0 && numActive > ctx.limit) {
      this.active.clear();
      throw new Error(`exceeded limit of ${ctx.limit} with ${numActive} alerts`);
    }
    return out;
  }

  /**
   * The alerts to send now (marking them sent): firing ones not sent for `resendDelayMs`, and
   * ones resolved since their last send (Prometheus's `sendAlerts`).
   */
  alertsToSend(ts: number, resendDelayMs: number, intervalMs: number): Alert[] {
    const out: Alert[] = [];
    for (const a of this.active.values()) {
      if (a.state === "pending") continue;
      // never sent (Go's zero time is long before ts), resolved since, or resend-delay passed
      const due = a.lastSentAt === 0 || a.resolvedAt > a.lastSentAt ||
        a.lastSentAt + resendDelayMs < ts;
      if (!due) continue;
      a.lastSentAt = ts;
      a.validUntil = ts + 4 * Math.max(resendDelayMs, intervalMs);
      out.push({ ...a });
    }
    return out;
  }
}

/** Either kind of rule. */
export type Rule = RecordingRule | AlertingRule;
