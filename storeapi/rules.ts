// Thanos's Rules gRPC API (`thanos.Rules/Rules`,
// https://github.com/thanos-io/thanos/blob/main/pkg/rules/rulespb/rpc.proto): request and
// response codecs over the rule groups of Prometheus's `/api/v1/rules` JSON
// (https://prometheus.io/docs/prometheus/2.42/querying/api/#rules), the request's filters, and
// the querier's merge: groups joined by file and name, rules deduplicated once replica labels are
// removed (https://github.com/thanos-io/thanos/blob/main/pkg/rules/rules.go).

import type { Labels } from "../tsdb/series.ts";
import {
  type ApiStreamClient,
  type ApiWarning,
  compareLabelMaps,
  compareStrings,
  decodeFrame,
  type LabelMap,
  readLabelMap,
  readTimestamp,
  serveComputedStream,
  withExternalLabelMap,
  withoutLabels,
  writeLabelMap,
  writeTimestamp,
  ZERO_TIME,
} from "./api_common.ts";
import { PartialResponseStrategy } from "./codec.ts";
import type { GrpcServer } from "./grpc.ts";
import { ProtoReader, ProtoWriter } from "./wire.ts";

/** Full method path. */
export const RULES_METHOD = "/thanos.Rules/Rules";

/** `RulesRequest.Type`: which rules a caller wants. */
export type RuleTypeFilter = "all" | "alert" | "record";

/** `thanos.RulesRequest`. */
export interface RulesRequest {
  type: RuleTypeFilter;
  partialResponseStrategy: PartialResponseStrategy;
  matchers?: string[];
  ruleName?: string[];
  ruleGroup?: string[];
  file?: string[];
}

/** Alert states, ordered as Thanos's enum (INACTIVE < PENDING < FIRING). */
export type AlertState = "inactive" | "pending" | "firing";
const STATES: AlertState[] = ["inactive", "pending", "firing"];

/** One alert of an alerting rule (`thanos.AlertInstance`, Prometheus's alert JSON). */
export interface AlertInstance {
  labels: LabelMap;
  annotations: LabelMap;
  state: AlertState;
  activeAt?: string;
  value: string;
  partialResponseStrategy?: string;
}

/** An alerting rule (`thanos.Alert`). */
export interface AlertingRule {
  type: "alerting";
  state: AlertState;
  name: string;
  query: string;
  duration: number;
  labels: LabelMap;
  annotations: LabelMap;
  alerts: AlertInstance[];
  health: string;
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
  keepFiringFor?: number;
}

/** A recording rule (`thanos.RecordingRule`). */
export interface RecordingRule {
  type: "recording";
  name: string;
  query: string;
  labels: LabelMap;
  health: string;
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
}

export type Rule = AlertingRule | RecordingRule;

/** A rule group (`thanos.RuleGroup`). */
export interface RuleGroup {
  name: string;
  file: string;
  rules: Rule[];
  interval: number;
  limit?: number;
  evaluationTime: number;
  lastEvaluation: string;
  partialResponseStrategy?: string;
}

/** One frame of a Rules stream. */
export type RulesFrame = { group: RuleGroup } | ApiWarning;

// ---------------------------------------------------------------------------------------------
// request

const TYPE_TO_WIRE: Record<RuleTypeFilter, number> = { all: 0, alert: 1, record: 2 };
const WIRE_TO_TYPE: RuleTypeFilter[] = ["all", "alert", "record"];

/** Encodes a `thanos.RulesRequest`. */
export function encodeRulesRequest(req: RulesRequest): Uint8Array {
  const w = ProtoWriter.growable();
  w.uintField(1, TYPE_TO_WIRE[req.type]);
  w.uintField(2, req.partialResponseStrategy);
  w.repeatedString(3, req.matchers);
  w.repeatedString(4, req.ruleName);
  w.repeatedString(5, req.ruleGroup);
  w.repeatedString(6, req.file);
  return w.finish();
}

/** Decodes a `thanos.RulesRequest`; an unknown type reads as "all". */
export function decodeRulesRequest(buf: Uint8Array): RulesRequest {
  const r = new ProtoReader(buf, "RulesRequest");
  const req: RulesRequest = {
    type: "all",
    partialResponseStrategy: PartialResponseStrategy.WARN,
    matchers: [],
    ruleName: [],
    ruleGroup: [],
    file: [],
  };
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) req.type = WIRE_TO_TYPE[r.varint()] ?? "all";
    else if (t === 0x10) req.partialResponseStrategy = r.varint();
    else if (t === 0x1a) req.matchers!.push(r.string());
    else if (t === 0x22) req.ruleName!.push(r.string());
    else if (t === 0x2a) req.ruleGroup!.push(r.string());
    else if (t === 0x32) req.file!.push(r.string());
    else r.skip(t & 7);
  }
  return req;
}

// ---------------------------------------------------------------------------------------------
// response

function strategyToWire(s: string | undefined): number {
  return s?.toUpperCase() === "ABORT" ? PartialResponseStrategy.ABORT : 0;
}

function strategyName(n: number): string {
  return n === PartialResponseStrategy.ABORT ? "ABORT" : "WARN";
}

function stateToWire(s: string | undefined): number {
  const i = STATES.indexOf((s ?? "").toLowerCase() as AlertState);
  return i < 0 ? 0 : i;
}

function writeAlertInstance(w: ProtoWriter, a: AlertInstance): void {
  writeLabelMap(w, 1, a.labels);
  writeLabelMap(w, 2, a.annotations);
  w.uintField(3, stateToWire(a.state));
  if (a.activeAt !== undefined) writeTimestamp(w, 4, a.activeAt);
  w.stringField(5, a.value);
  w.uintField(6, strategyToWire(a.partialResponseStrategy));
}

function writeRule(w: ProtoWriter, r: Rule): void {
  if (r.type === "alerting") {
    w.message(2, (x) => {
      x.uintField(1, stateToWire(r.state));
      x.stringField(2, r.name);
      x.stringField(3, r.query);
      x.doubleField(4, r.duration ?? 0);
      writeLabelMap(x, 5, r.labels);
      writeLabelMap(x, 6, r.annotations);
      for (const a of r.alerts ?? []) x.message(7, (y) => writeAlertInstance(y, a));
      x.stringField(8, r.health);
      x.stringField(9, r.lastError);
      x.doubleField(10, r.evaluationTime ?? 0);
      writeTimestamp(x, 11, r.lastEvaluation);
      x.doubleField(12, r.keepFiringFor ?? 0);
    });
  } else {
    w.message(1, (x) => {
      x.stringField(1, r.name);
      x.stringField(2, r.query);
      writeLabelMap(x, 3, r.labels);
      x.stringField(4, r.health);
      x.stringField(5, r.lastError);
      x.doubleField(6, r.evaluationTime ?? 0);
      writeTimestamp(x, 7, r.lastEvaluation);
    });
  }
}

/** Encodes a `RulesResponse` carrying one group. */
export function encodeRulesResponseGroup(g: RuleGroup): Uint8Array {
  const w = ProtoWriter.growable();
  w.message(1, (x) => {
    x.stringField(1, g.name);
    x.stringField(2, g.file);
    for (const r of g.rules) x.message(3, (y) => writeRule(y, r));
    x.doubleField(4, g.interval ?? 0);
    x.doubleField(5, g.evaluationTime ?? 0);
    writeTimestamp(x, 6, g.lastEvaluation);
    x.uintField(8, strategyToWire(g.partialResponseStrategy));
    x.int64Field(9, g.limit ?? 0);
  });
  return w.finish();
}

/** Encodes a `RulesResponse` carrying a warning. */
export function encodeRulesResponseWarning(warning: string): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(2, warning);
  return w.finish();
}

function readAlertInstance(r: ProtoReader): AlertInstance {
  const a: AlertInstance = {
    labels: {},
    annotations: {},
    state: "inactive",
    value: "",
    partialResponseStrategy: "WARN",
  };
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) a.labels = readLabelMap(r.sub("LabelSet"));
    else if (t === 0x12) a.annotations = readLabelMap(r.sub("LabelSet"));
    else if (t === 0x18) a.state = STATES[r.varint()] ?? "inactive";
    else if (t === 0x22) a.activeAt = readTimestamp(r.sub("Timestamp"));
    else if (t === 0x2a) a.value = r.string();
    else if (t === 0x30) a.partialResponseStrategy = strategyName(r.varint());
    else r.skip(t & 7);
  }
  return a;
}

function readAlertingRule(r: ProtoReader): AlertingRule {
  const a: AlertingRule = {
    type: "alerting",
    state: "inactive",
    name: "",
    query: "",
    duration: 0,
    labels: {},
    annotations: {},
    alerts: [],
    health: "",
    evaluationTime: 0,
    lastEvaluation: ZERO_TIME,
    keepFiringFor: 0,
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 0x08:
        a.state = STATES[r.varint()] ?? "inactive";
        break;
      case 0x12:
        a.name = r.string();
        break;
      case 0x1a:
        a.query = r.string();
        break;
      case 0x21:
        a.duration = r.double();
        break;
      case 0x2a:
        a.labels = readLabelMap(r.sub("LabelSet"));
        break;
      case 0x32:
        a.annotations = readLabelMap(r.sub("LabelSet"));
        break;
      case 0x3a:
        a.alerts.push(readAlertInstance(r.sub("AlertInstance")));
        break;
      case 0x42:
        a.health = r.string();
        break;
      case 0x4a:
        a.lastError = r.string();
        break;
      case 0x51:
        a.evaluationTime = r.double();
        break;
      case 0x5a:
        a.lastEvaluation = readTimestamp(r.sub("Timestamp"));
        break;
      case 0x61:
        a.keepFiringFor = r.double();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return a;
}

function readRecordingRule(r: ProtoReader): RecordingRule {
  const x: RecordingRule = {
    type: "recording",
    name: "",
    query: "",
    labels: {},
    health: "",
    evaluationTime: 0,
    lastEvaluation: ZERO_TIME,
  };
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) x.name = r.string();
    else if (t === 0x12) x.query = r.string();
    else if (t === 0x1a) x.labels = readLabelMap(r.sub("LabelSet"));
    else if (t === 0x22) x.health = r.string();
    else if (t === 0x2a) x.lastError = r.string();
    else if (t === 0x31) x.evaluationTime = r.double();
    else if (t === 0x3a) x.lastEvaluation = readTimestamp(r.sub("Timestamp"));
    else r.skip(t & 7);
  }
  return x;
}

function readRuleGroup(r: ProtoReader): RuleGroup {
  const g: RuleGroup = {
    name: "",
    file: "",
    rules: [],
    interval: 0,
    limit: 0,
    evaluationTime: 0,
    lastEvaluation: ZERO_TIME,
    partialResponseStrategy: "WARN",
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 0x0a:
        g.name = r.string();
        break;
      case 0x12:
        g.file = r.string();
        break;
      case 0x1a: {
        const rr = r.sub("Rule");
        while (!rr.eof()) {
          const tt = rr.tag();
          if (tt === 0x0a) g.rules.push(readRecordingRule(rr.sub("RecordingRule")));
          else if (tt === 0x12) g.rules.push(readAlertingRule(rr.sub("Alert")));
          else rr.skip(tt & 7);
        }
        break;
      }
      case 0x21:
        g.interval = r.double();
        break;
      case 0x29:
        g.evaluationTime = r.double();
        break;
      case 0x32:
        g.lastEvaluation = readTimestamp(r.sub("Timestamp"));
        break;
      case 0x40:
        g.partialResponseStrategy = strategyName(r.varint());
        break;
      case 0x48:
        g.limit = r.int64();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return g;
}

/** Decodes a `RulesResponse`; null for an empty frame (neither group nor warning). */
export function decodeRulesResponse(buf: Uint8Array): RulesFrame | null {
  const r = new ProtoReader(buf, "RulesResponse");
  let out: RulesFrame | null = null;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) out = { group: readRuleGroup(r.sub("RuleGroup")) };
    else if (t === 0x12) out = { warning: r.string() };
    else r.skip(t & 7);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// filters, external labels, merge

/**
 * Keeps what a request asks for, as Prometheus 2.42's `/api/v1/rules` does: groups by
 * `rule_group[]` and `file[]`, rules by `type` and `rule_name[]`. A group left without rules is
 * dropped when `rule_name[]` filtered it; under a type filter alone it stays, empty (the proto's
 * note: "The implementation has to return empty rule groups as well").
 */
export function filterRuleGroups(groups: readonly RuleGroup[], req: RulesRequest): RuleGroup[] {
  const names = new Set(req.ruleName ?? []);
  const groupNames = new Set(req.ruleGroup ?? []);
  const files = new Set(req.file ?? []);
  const out: RuleGroup[] = [];
  for (const g of groups) {
    if (groupNames.size > 0 && !groupNames.has(g.name)) continue;
    if (files.size > 0 && !files.has(g.file)) continue;
    const rules = g.rules.filter((r) =>
      (req.type === "all" || (req.type === "alert") === (r.type === "alerting")) &&
      (names.size === 0 || names.has(r.name))
    );
    if (names.size > 0 && rules.length === 0) continue;
    out.push({ ...g, rules });
  }
  return out;
}

/**
 * Adds external labels to every rule's labels and every alert's labels (external labels win),
 * as Thanos's sidecar and ruler answer: "Returned rules are expected to include external labels".
 */
export function withExternalLabelsOnRules(
  groups: readonly RuleGroup[],
  ext: Labels,
): RuleGroup[] {
  if (ext.length === 0) return [...groups];
  return groups.map((g) => ({
    ...g,
    rules: g.rules.map((r): Rule =>
      r.type === "alerting"
        ? {
          ...r,
          labels: withExternalLabelMap(r.labels, ext),
          alerts: (r.alerts ?? []).map((a) => ({
            ...a,
            labels: withExternalLabelMap(a.labels, ext),
          })),
        }
        : { ...r, labels: withExternalLabelMap(r.labels, ext) }
    ),
  }));
}

/** Thanos `Rule.Compare`: type (alerting first), name, labels, query, then alert duration. */
function compareRules(a: Rule, b: Rule): number {
  if (a.type !== b.type) return a.type === "alerting" ? -1 : 1;
  return compareStrings(a.name, b.name) ||
    compareLabelMaps(a.labels, b.labels) ||
    compareStrings(a.query, b.query) ||
    (a.type === "alerting" && b.type === "alerting"
      ? Math.sign((a.duration ?? 0) - (b.duration ?? 0))
      : 0);
}

function evalTime(s: string): number {
  const t = Date.parse(s);
  return Number.isNaN(t) ? -Infinity : t;
}

/**
 * Among equal rules, the one to keep: the more critical alert state, then the later
 * evaluation (Thanos `Alert.Compare` / `RecordingRule.Compare`). Negative: `a` wins.
 */
function compareEqualRules(a: Rule, b: Rule): number {
  if (a.type === "alerting" && b.type === "alerting") {
    const d = stateToWire(b.state) - stateToWire(a.state);
    if (d !== 0) return d;
  }
  return Math.sign(evalTime(b.lastEvaluation) - evalTime(a.lastEvaluation));
}

/**
 * Rules of one group without replica duplicates: rule labels lose the replica labels, rules that
 * are then equal are kept once (the firing / most recently evaluated one), sorted as Thanos sorts.
 */
export function dedupRules(rules: readonly Rule[], replicaLabels: readonly string[]): Rule[] {
  const drop = new Set(replicaLabels);
  const sorted = [...rules].sort(compareRules);
  const out: Rule[] = [];
  for (const r0 of sorted) {
    const r: Rule = drop.size > 0 ? { ...r0, labels: withoutLabels(r0.labels, drop) } : r0;
    const last = out[out.length - 1];
    if (last === undefined || compareRules(last, r) !== 0) {
      out.push(r);
      continue;
    }
    if (compareEqualRules(last, r) > 0) out[out.length - 1] = r;
  }
  // removing replica labels can change the order of rules that differed only in them
  return out.sort(compareRules);
}

/**
 * Merges the groups several endpoints returned: groups with the same file and name become one
 * (Thanos `RuleGroup.Key`, sorted by it), and their rules are deduplicated by `dedupRules`.
 */
export function mergeRuleGroups(
  groups: readonly RuleGroup[],
  replicaLabels: readonly string[],
): RuleGroup[] {
  const byKey = new Map<string, RuleGroup>();
  for (const g of groups) {
    const key = `${g.file};${g.name}`;
    const have = byKey.get(key);
    if (have) have.rules.push(...g.rules);
    else byKey.set(key, { ...g, rules: [...g.rules] });
  }
  const keys = [...byKey.keys()].sort(compareStrings);
  return keys.map((k) => {
    const g = byKey.get(k)!;
    return { ...g, rules: dedupRules(g.rules, replicaLabels) };
  });
}

/** A rule group as JSON in the field order of Thanos's querier. */
export function ruleGroupJSON(g: RuleGroup): unknown {
  return {
    name: g.name,
    file: g.file,
    rules: g.rules.map(ruleJSON),
    interval: g.interval,
    evaluationTime: g.evaluationTime,
    lastEvaluation: g.lastEvaluation,
    limit: g.limit ?? 0,
    partialResponseStrategy: g.partialResponseStrategy ?? "WARN",
  };
}

/** An alert as JSON in the field order of Thanos's querier. */
export function alertJSON(a: AlertInstance): unknown {
  return {
    labels: a.labels,
    annotations: a.annotations,
    state: a.state,
    ...(a.activeAt !== undefined ? { activeAt: a.activeAt } : {}),
    value: a.value,
    partialResponseStrategy: a.partialResponseStrategy ?? "WARN",
  };
}

function ruleJSON(r: Rule): unknown {
  const err = r.lastError ? { lastError: r.lastError } : {};
  if (r.type === "alerting") {
    return {
      state: r.state,
      name: r.name,
      query: r.query,
      duration: r.duration,
      labels: r.labels,
      annotations: r.annotations,
      alerts: (r.alerts ?? []).map(alertJSON),
      health: r.health,
      ...err,
      evaluationTime: r.evaluationTime,
      lastEvaluation: r.lastEvaluation,
      keepFiringFor: r.keepFiringFor ?? 0,
      type: "alerting",
    };
  }
  return {
    name: r.name,
    query: r.query,
    labels: r.labels,
    health: r.health,
    ...err,
    evaluationTime: r.evaluationTime,
    lastEvaluation: r.lastEvaluation,
    type: "recording",
  };
}

/** Answers Rules calls (the sidecar: its Prometheus's `/api/v1/rules`; the ruler: its groups). */
export interface RulesBackend {
  rules(
    req: RulesRequest,
    signal: AbortSignal,
  ): Promise<{ groups: RuleGroup[]; warnings: string[] }>;
}

/** Registers `thanos.Rules/Rules` on `grpc`: warnings first, then one frame per group. */
export function serveRules(grpc: GrpcServer, backend: RulesBackend): void {
  serveComputedStream(grpc, RULES_METHOD, decodeRulesRequest, async (req, signal) => {
    const r = await backend.rules(req, signal);
    return [
      ...r.warnings.map(encodeRulesResponseWarning),
      ...r.groups.map(encodeRulesResponseGroup),
    ];
  });
}

/** Calls Rules on one endpoint and collects its frames. */
export async function callRules(
  client: ApiStreamClient,
  req: RulesRequest,
  signal?: AbortSignal,
): Promise<{ groups: RuleGroup[]; warnings: string[] }> {
  const out = { groups: [] as RuleGroup[], warnings: [] as string[] };
  for await (const f of client.stream(RULES_METHOD, encodeRulesRequest(req), signal)) {
    const r = decodeFrame(() => decodeRulesResponse(f));
    if (r === null) continue;
    if ("warning" in r) out.warnings.push(r.warning);
    else out.groups.push(r.group);
  }
  return out;
}
