// Prometheus rule files (https://prometheus.io/docs/prometheus/2.42/configuration/recording_rules/
// and alerting_rules/), as Prometheus 2.42's rulefmt reads them, plus Thanos's per-group
// `partial_response_strategy` (https://thanos.io/tip/components/rule.md/#partial-response) and
// the group's `query_offset` Thanos v0.42 takes from Prometheus's newer rulefmt
// (https://thanos.io/tip/components/rule.md/#configuring-rules, default `--rule-query-offset`):
// - unknown fields are errors (`line N: field x not found in type rulefmt.RuleNode`, the
//   strict YAML unmarshal's wording);
// - validation errors name the file, the group, the rule (1-based index and name) and the
//   line:column of the rule, as `promtool check rules` prints them:
//   `<file>: 4:13: group "g", rule 1, "A": invalid field 'keep_firing_for' in recording rule`;
// - label and annotation templates are parsed (a template syntax error is a validation error).
// One validator serves `thanos rule` (start and reload) and `thanos tools rules-check`.

import { isMap, isScalar, isSeq, LineCounter, parseDocument, type YAMLMap } from "yaml";
import { parseExpr } from "../promql/parser.ts";
import type { FunctionOptions } from "../promql/functions_table.ts";
import { parseDuration } from "../tsdb/duration.ts";
import { Template } from "./template.ts";

/** Thanos's partial response strategies. */
export type PartialResponseStrategy = "WARN" | "ABORT";

/** One rule as written. */
export interface RuleNode {
  record: string;
  alert: string;
  expr: string;
  /** `for` in ms. */
  forMs: number;
  /** `keep_firing_for` in ms. */
  keepFiringForMs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** 1-based line and column of the rule in its file. */
  line: number;
  column: number;
}

/** One group as written. */
export interface RuleGroupNode {
  name: string;
  /** `interval` in ms; 0 = the global evaluation interval. */
  intervalMs: number;
  /** `query_offset` in ms; null = not set (`--rule-query-offset` applies; an explicit 0 wins). */
  queryOffsetMs: number | null;
  limit: number;
  partialResponseStrategy: PartialResponseStrategy;
  rules: RuleNode[];
  line: number;
}

/** A rule file that failed to load or validate; `errors` are complete lines. */
export class RuleFileError extends Error {
  override name = "RuleFileError";
  constructor(readonly file: string, readonly errors: string[]) {
    super(errors.join("; "));
  }
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const GROUP_FIELDS = new Set([
  "name",
  "interval",
  "query_offset",
  "limit",
  "rules",
  "partial_response_strategy",
]);
const RULE_FIELDS = new Set([
  "record",
  "alert",
  "expr",
  "for",
  "keep_firing_for",
  "labels",
  "annotations",
]);

/**
 * Parses and validates one rule file's content; throws RuleFileError with every problem.
 * `functions`: the optional PromQL functions the expressions may call (the ruler's
 * `--query.enable-x-functions`, `--enable-feature=promql-experimental-functions`).
 */
export function parseRuleFile(
  file: string,
  content: string,
  functions: FunctionOptions = {},
): RuleGroupNode[] {
  const lc = new LineCounter();
  const doc = parseDocument(content, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const pos = (offset: number | undefined) => {
    const p = lc.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new RuleFileError(file, [
      `${file}: yaml: line ${pos(e.pos[0]).line}: ${e.message.split("\n")[0]}`,
    ]);
  }
  const errs: string[] = [];
  const unmarshal: string[] = [];
  const root = doc.contents;
  const groups: RuleGroupNode[] = [];
  if (root === null || (isScalar(root) && (root.value === null || root.value === ""))) {
    return groups;
  }
  if (!isMap(root)) {
    throw new RuleFileError(file, [
      `${file}: yaml: unmarshal errors: want a mapping with "groups"`,
    ]);
  }
  const scalarOf = (
    m: YAMLMap,
    key: string,
    type: string,
  ): { v: string | number | null; line: number } | undefined => {
    const pair = m.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (!pair) return undefined;
    const node = pair.value;
    const line = pos((pair.key as { range?: number[] }).range?.[0]).line;
    if (node === null || (isScalar(node) && node.value === null)) return { v: null, line };
    if (!isScalar(node)) {
      unmarshal.push(
        `  line ${line}: cannot unmarshal ${isSeq(node) ? "!!seq" : "!!map"} into ${type}`,
      );
      return { v: null, line };
    }
    const v = node.value;
    if (typeof v === "boolean") return { v: String(v), line };
    return { v: v as string | number, line };
  };
  const stringMap = (m: YAMLMap, key: string): Record<string, string> => {
    const pair = m.items.find((p) => isScalar(p.key) && p.key.value === key);
    const out: Record<string, string> = {};
    if (!pair || pair.value === null || (isScalar(pair.value) && pair.value.value === null)) {
      return out;
    }
    if (!isMap(pair.value)) {
      const line = pos((pair.key as { range?: number[] }).range?.[0]).line;
      unmarshal.push(`  line ${line}: cannot unmarshal into map[string]string`);
      return out;
    }
    for (const p of pair.value.items) {
      const k = isScalar(p.key) ? String(p.key.value) : "";
      const v = isScalar(p.value) ? (p.value.value === null ? "" : String(p.value.value)) : "";
      out[k] = v;
    }
    return out;
  };
  const checkFields = (m: YAMLMap, allowed: Set<string>, type: string) => {
    for (const p of m.items) {
      const k = isScalar(p.key) ? String(p.key.value) : "";
      if (!allowed.has(k)) {
        const line = pos((p.key as { range?: number[] }).range?.[0]).line;
        unmarshal.push(`  line ${line}: field ${k} not found in type ${type}`);
      }
    }
  };
  checkFields(root, new Set(["groups"]), "rulefmt.RuleGroups");
  const groupsNode = root.get("groups", true);
  if (groupsNode !== undefined && groupsNode !== null && !isSeq(groupsNode)) {
    if (!(isScalar(groupsNode) && groupsNode.value === null)) {
      unmarshal.push(`  line 1: cannot unmarshal into []rulefmt.RuleGroup`);
    }
  }
  const seen = new Map<string, boolean>();
  for (const g of isSeq(groupsNode) ? groupsNode.items : []) {
    if (!isMap(g)) {
      unmarshal.push(
        `  line ${
          pos((g as { range?: number[] })?.range?.[0]).line
        }: cannot unmarshal into rulefmt.RuleGroup`,
      );
      continue;
    }
    checkFields(g, GROUP_FIELDS, "rulefmt.RuleGroup");
    const gpos = pos(g.range?.[0]);
    const name = String(scalarOf(g, "name", "string")?.v ?? "");
    const group: RuleGroupNode = {
      name,
      intervalMs: 0,
      queryOffsetMs: null,
      limit: 0,
      partialResponseStrategy: "ABORT",
      rules: [],
      line: gpos.line,
    };
    const gerr = (m: string) => errs.push(`${file}: ${gpos.line}:${gpos.col}: ${m}`);
    if (name === "") gerr("Groupname must not be empty");
    else if (seen.has(name)) gerr(`groupname: "${name}" is repeated in the same file`);
    seen.set(name, true);
    const interval = scalarOf(g, "interval", "model.Duration");
    if (interval && interval.v !== null) {
      try {
        group.intervalMs = parseDuration(String(interval.v));
      } catch (e) {
        unmarshal.push(`  line ${interval.line}: ${(e as Error).message}`);
      }
    }
    const queryOffset = scalarOf(g, "query_offset", "model.Duration");
    if (queryOffset && queryOffset.v !== null) {
      try {
        group.queryOffsetMs = parseDuration(String(queryOffset.v));
      } catch (e) {
        unmarshal.push(`  line ${queryOffset.line}: ${(e as Error).message}`);
      }
    }
    const limit = scalarOf(g, "limit", "int");
    if (limit && limit.v !== null) {
      const n = Number(limit.v);
      if (!Number.isInteger(n)) {
        unmarshal.push(`  line ${limit.line}: cannot unmarshal !!str \`${limit.v}\` into int`);
      } else group.limit = n;
    }
    const prs = scalarOf(g, "partial_response_strategy", "string");
    if (prs && prs.v !== null && String(prs.v) !== "") {
      const s = String(prs.v).toUpperCase();
      if (s !== "WARN" && s !== "ABORT") {
        gerr(`group "${name}": unknown partial_response_strategy "${prs.v}": want warn or abort`);
      } else group.partialResponseStrategy = s;
    }
    const rulesNode = g.get("rules", true);
    const rules = isSeq(rulesNode) ? rulesNode.items : [];
    rules.forEach((r, i) => {
      if (!isMap(r)) {
        unmarshal.push(
          `  line ${
            pos((r as { range?: number[] })?.range?.[0]).line
          }: cannot unmarshal into rulefmt.RuleNode`,
        );
        return;
      }
      checkFields(r, RULE_FIELDS, "rulefmt.RuleNode");
      const str = (k: string) => {
        const v = scalarOf(r, k, "string");
        return v === undefined || v.v === null ? "" : String(v.v);
      };
      const dur = (k: string): number => {
        const v = scalarOf(r, k, "model.Duration");
        if (!v || v.v === null) return 0;
        try {
          return parseDuration(String(v.v));
        } catch (e) {
          unmarshal.push(`  line ${v.line}: ${(e as Error).message}`);
          return 0;
        }
      };
      const rpos = pos(r.range?.[0]);
      const rule: RuleNode = {
        record: str("record"),
        alert: str("alert"),
        expr: str("expr"),
        forMs: dur("for"),
        keepFiringForMs: dur("keep_firing_for"),
        labels: stringMap(r, "labels"),
        annotations: stringMap(r, "annotations"),
        line: rpos.line,
        column: rpos.col,
      };
      // Prometheus names the position of the YAML node an error is about: the `record` value
      // for record-name errors, the `expr` value for expression errors, none for labels,
      // annotations and templates (rulefmt's WrappedError)
      const valuePos = (k: string): string => {
        const pair = r.items.find((p) => isScalar(p.key) && p.key.value === k);
        if (!pair || !isScalar(pair.value)) return "0:0: ";
        const p = pos(pair.value.range?.[0]);
        return `${p.line}:${p.col}: `;
      };
      const ruleName = rule.alert !== "" ? rule.alert : rule.record;
      for (const { msg, node } of validateRule(rule, r, functions)) {
        const at = node === null ? "" : valuePos(node);
        errs.push(`${file}: ${at}group "${name}", rule ${i + 1}, "${ruleName}": ${msg}`);
      }
      group.rules.push(rule);
    });
    groups.push(group);
  }
  if (unmarshal.length > 0) {
    throw new RuleFileError(file, [`${file}: yaml: unmarshal errors:\n${unmarshal.join("\n")}`]);
  }
  if (errs.length > 0) throw new RuleFileError(file, errs);
  return groups;
}

function has(m: YAMLMap, key: string): boolean {
  return m.items.some((p) => isScalar(p.key) && p.key.value === key);
}

/** Prometheus's `RuleNode.Validate` and template checks; returns the messages and
 * the node each is about (`record`, `expr`, or null for none). */
function validateRule(
  r: RuleNode,
  node: YAMLMap,
  functions: FunctionOptions,
): { msg: string; node: "record" | "expr" | null }[] {
  const out: { msg: string; node: "record" | "expr" | null }[] = [];
  const rec = (msg: string) => out.push({ msg, node: "record" });
  const none = (msg: string) => out.push({ msg, node: null });
  if (r.record !== "" && r.alert !== "") rec("only one of 'record' and 'alert' must be set");
  if (r.record === "" && r.alert === "") {
    rec("one of 'record' or 'alert' must be set");
  }
  if (r.expr === "") out.push({ msg: "field 'expr' must be set in rule", node: "expr" });
  else {
    try {
      parseExpr(r.expr, functions);
    } catch (e) {
      out.push({ msg: `could not parse expression: ${(e as Error).message}`, node: "expr" });
    }
  }
  if (r.record !== "") {
    if (Object.keys(r.annotations).length > 0 || has(node, "annotations")) {
      if (Object.keys(r.annotations).length > 0) {
        rec("invalid field 'annotations' in recording rule");
      }
    }
    if (has(node, "for") && r.forMs !== 0) rec("invalid field 'for' in recording rule");
    if (has(node, "keep_firing_for") && r.keepFiringForMs !== 0) {
      rec("invalid field 'keep_firing_for' in recording rule");
    }
    if (!METRIC_NAME_RE.test(r.record)) rec(`invalid recording rule name: ${r.record}`);
  }
  for (const [k, v] of Object.entries(r.labels)) {
    if (!LABEL_NAME_RE.test(k) || k === "__name__") none(`invalid label name: ${k}`);
    if (!isValidUtf8(v)) none(`invalid label value: ${v}`);
  }
  for (const k of Object.keys(r.annotations)) {
    if (!LABEL_NAME_RE.test(k)) none(`invalid annotation name: ${k}`);
  }
  // template syntax (Prometheus's testTemplateParsing)
  if (r.alert !== "") {
    const defs =
      "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";
    for (const [k, v] of Object.entries({ ...r.labels })) {
      try {
        Template.parse(`__alert_${r.alert}`, defs + v);
      } catch (e) {
        none(`label "${k}": ${(e as Error).message}`);
      }
    }
    for (const [k, v] of Object.entries(r.annotations)) {
      try {
        Template.parse(`__alert_${r.alert}`, defs + v);
      } catch (e) {
        none(`annotation "${k}": ${(e as Error).message}`);
      }
    }
  }
  return out;
}

function isValidUtf8(s: string): boolean {
  return !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""));
}
