// Loading the rule files named by `--rule-file` (Go filepath.Glob patterns, runutil/glob.ts):
// every file is read and validated (rules/rulefmt.ts) before anything is replaced, so one bad
// file fails the whole load with every problem named, and a reload keeps the old rules.

import { expandGlob, hasGlobMeta } from "../runutil/glob.ts";
import { parseRuleFile, RuleFileError, type RuleGroupNode } from "./rulefmt.ts";
import type { FunctionOptions } from "../promql/functions_table.ts";

/** Rule files could not be loaded; `errors` holds one line per problem. */
export class RuleLoadError extends Error {
  override name = "RuleLoadError";
  constructor(readonly errors: string[]) {
    super(errors.join("\n"));
  }
}

/** The files the patterns name (a pattern without glob characters is taken as given), sorted. */
export async function ruleFiles(patterns: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const p of patterns) {
    if (!hasGlobMeta(p)) {
      out.add(p);
      continue;
    }
    for (const f of await expandGlob(p)) out.add(f);
  }
  return [...out].sort();
}

/** Reads and validates every file; throws RuleLoadError naming each bad one. */
export async function loadRuleFiles(
  patterns: readonly string[],
  functions: FunctionOptions = {},
): Promise<Map<string, RuleGroupNode[]>> {
  const files = await ruleFiles(patterns);
  const out = new Map<string, RuleGroupNode[]>();
  const errors: string[] = [];
  for (const f of files) {
    let content: string;
    try {
      content = await Deno.readTextFile(f);
    } catch (e) {
      errors.push(`${f}: ${(e as Error).message}`);
      continue;
    }
    try {
      out.set(f, parseRuleFile(f, content, functions));
    } catch (e) {
      if (e instanceof RuleFileError) errors.push(...e.errors);
      else errors.push(`${f}: ${(e as Error).message}`);
    }
  }
  if (errors.length > 0) throw new RuleLoadError(errors);
  return out;
}
