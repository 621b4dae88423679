// Prometheus relabel configs (model/relabel) for `--selector.relabel-config`: the store gateway
// runs them over each block's external labels plus `__block_id` and serves only the blocks
// that survive, which is how several store gateways shard one bucket
// (https://thanos.io/tip/thanos/sharding.md/#relabelling).

import { md5 } from "./md5.ts";
import { InvalidRegexError } from "../re2/parser.ts";
import { expandTemplate, Re2Regex } from "../re2/regex.ts";
import { compareStrings } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";

/** Relabel actions Prometheus knows. */
export type RelabelAction =
  | "replace"
  | "keep"
  | "drop"
  | "keepequal"
  | "dropequal"
  | "hashmod"
  | "labelmap"
  | "labeldrop"
  | "labelkeep"
  | "lowercase"
  | "uppercase";

const ACTIONS: readonly RelabelAction[] = [
  "replace",
  "keep",
  "drop",
  "keepequal",
  "dropequal",
  "hashmod",
  "labelmap",
  "labeldrop",
  "labelkeep",
  "lowercase",
  "uppercase",
];

/** One validated relabel rule with Prometheus's defaults applied. */
export interface RelabelConfig {
  sourceLabels: string[];
  separator: string;
  /** The pattern as written (default `(.*)`). */
  regex: string;
  modulus: number;
  targetLabel: string;
  replacement: string;
  action: RelabelAction;
}

/** A relabel configuration is invalid; the message names the rule and the field. */
export class RelabelConfigError extends Error {
  override name = "RelabelConfigError";
}

/** A compiled rule. */
interface CompiledRule extends RelabelConfig {
  re: Re2Regex;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function compile(pattern: string, where: string): { re: Re2Regex } {
  try {
    return { re: Re2Regex.compile(pattern) };
  } catch (e) {
    if (e instanceof InvalidRegexError) {
      throw new RelabelConfigError(
        `${where}: invalid regex ${JSON.stringify(pattern)}: ${e.message}`,
      );
    }
    throw e;
  }
}

function str(v: unknown, field: string, where: string, def: string): string {
  if (v === undefined || v === null) return def;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new RelabelConfigError(`${where}: ${field} must be a string`);
}

/**
 * Validates a parsed relabel config list (a YAML document's value, as Prometheus
 * `relabel_configs`) like Prometheus; null or undefined means no rules. Throws
 * {@link RelabelConfigError}. The YAML text itself is parsed by `relabel/parse.ts`.
 */
export function relabelConfigsFromDoc(doc: unknown): RelabelConfig[] {
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) {
    throw new RelabelConfigError("relabel configuration must be a YAML list of rules");
  }
  return doc.map((raw, i) => validateRule(raw, `relabel rule ${i + 1}`));
}

function validateRule(raw: unknown, where: string): RelabelConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new RelabelConfigError(`${where}: must be a mapping`);
  }
  const r = raw as Record<string, unknown>;
  const src = r.source_labels ?? [];
  if (!Array.isArray(src)) throw new RelabelConfigError(`${where}: source_labels must be a list`);
  const action = str(r.action, "action", where, "replace").toLowerCase() as RelabelAction;
  if (!ACTIONS.includes(action)) {
    throw new RelabelConfigError(`${where}: unknown relabel action ${JSON.stringify(r.action)}`);
  }
  let modulus = 0;
  if (r.modulus !== undefined && r.modulus !== null) {
    if (typeof r.modulus !== "number" || !Number.isSafeInteger(r.modulus) || r.modulus < 0) {
      throw new RelabelConfigError(`${where}: modulus must be a non-negative integer`);
    }
    modulus = r.modulus;
  }
  const cfg: RelabelConfig = {
    sourceLabels: src.map((s, k) => str(s, `source_labels[${k}]`, where, "")),
    separator: str(r.separator, "separator", where, ";"),
    regex: str(r.regex, "regex", where, "(.*)"),
    modulus,
    targetLabel: str(r.target_label, "target_label", where, ""),
    replacement: str(r.replacement, "replacement", where, "$1"),
    action,
  };
  compile(cfg.regex, where);
  if (action === "hashmod" && modulus === 0) {
    throw new RelabelConfigError(
      `${where}: relabel configuration for hashmod requires non-zero modulus`,
    );
  }
  const needsTarget = ["replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"];
  if (needsTarget.includes(action) && cfg.targetLabel === "") {
    throw new RelabelConfigError(
      `${where}: relabel configuration for ${action} action requires 'target_label' value`,
    );
  }
  if (
    (action === "replace" && !cfg.targetLabel.includes("$") ||
      ["hashmod", "lowercase", "uppercase", "keepequal", "dropequal"].includes(action)) &&
    !LABEL_NAME.test(cfg.targetLabel)
  ) {
    throw new RelabelConfigError(
      `${where}: ${JSON.stringify(cfg.targetLabel)} is invalid 'target_label' for ${action} action`,
    );
  }
  if (action === "labeldrop" || action === "labelkeep") {
    if (
      cfg.sourceLabels.length > 0 || cfg.targetLabel !== "" || modulus !== 0 ||
      cfg.separator !== ";" || cfg.replacement !== "$1"
    ) {
      throw new RelabelConfigError(
        `${where}: ${action} action requires only 'regex', and no other fields`,
      );
    }
  }
  if (action === "keepequal" || action === "dropequal") {
    if (
      r.regex !== undefined || modulus !== 0 || cfg.separator !== ";" || cfg.replacement !== "$1"
    ) {
      throw new RelabelConfigError(
        `${where}: ${action} action requires only 'source_labels' and 'target_label', and no ` +
          "other fields",
      );
    }
  }
  return cfg;
}

/** Labels as a mutable map (small: external labels of a block). */
function toMap(ls: Labels): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < ls.length; i += 2) m.set(ls[i], ls[i + 1]);
  return m;
}

function fromMap(m: Map<string, string>): Labels {
  const names = [...m.keys()].filter((n) => m.get(n) !== "").sort(compareStrings);
  const out: string[] = [];
  for (const n of names) out.push(n, m.get(n)!);
  return out;
}

/** Prometheus hashmod: last 8 bytes of MD5 as a big-endian uint64, modulo `modulus`. */
export function hashMod(value: string, modulus: number): number {
  const h = md5(value);
  let v = 0n;
  for (let i = 8; i < 16; i++) v = (v << 8n) | BigInt(h[i]);
  return Number(v % BigInt(modulus));
}

/** Compiled relabel rules. */
export class Relabeler {
  private readonly rules: CompiledRule[];

  constructor(configs: readonly RelabelConfig[]) {
    this.rules = configs.map((c, i) => ({ ...c, ...compile(c.regex, `relabel rule ${i + 1}`) }));
  }

  /** True when there are no rules (everything is kept unchanged). */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Applies the rules in order; null when a rule drops the label set. */
  process(ls: Labels): Labels | null {
    if (this.rules.length === 0) return ls;
    const lb = toMap(ls);
    for (const r of this.rules) {
      if (!applyRule(lb, r)) return null;
    }
    return fromMap(lb);
  }
}

function applyRule(lb: Map<string, string>, r: CompiledRule): boolean {
  const val = r.sourceLabels.map((n) => lb.get(n) ?? "").join(r.separator);
  switch (r.action) {
    case "drop":
      return !r.re.test(val);
    case "keep":
      return r.re.test(val);
    case "dropequal":
      return (lb.get(r.targetLabel) ?? "") !== val;
    case "keepequal":
      return (lb.get(r.targetLabel) ?? "") === val;
    case "replace": {
      const m = r.re.exec(val);
      if (!m) return true;
      const target = expandTemplate(r.targetLabel, m, r.re.groupNames);
      if (!LABEL_NAME.test(target)) return true;
      const res = expandTemplate(r.replacement, m, r.re.groupNames);
      if (res === "") lb.delete(target);
      else lb.set(target, res);
      return true;
    }
    case "lowercase":
      lb.set(r.targetLabel, val.toLowerCase());
      return true;
    case "uppercase":
      lb.set(r.targetLabel, val.toUpperCase());
      return true;
    case "hashmod":
      lb.set(r.targetLabel, String(hashMod(val, r.modulus)));
      return true;
    case "labelmap":
      for (const [name, value] of [...lb]) {
        const m = r.re.exec(name);
        if (m) lb.set(expandTemplate(r.replacement, m, r.re.groupNames), value);
      }
      return true;
    case "labeldrop":
      for (const name of [...lb.keys()]) if (r.re.test(name)) lb.delete(name);
      return true;
    case "labelkeep":
      for (const name of [...lb.keys()]) if (!r.re.test(name)) lb.delete(name);
      return true;
  }
}
