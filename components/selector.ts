// `--selector.relabel-config(-file)`: the block selection rules of the roles that read a bucket
// (store, compact, tools bucket, query). Each role declares the two flags with its own help text, as Thanos does.

import { type RelabelConfig, RelabelConfigError, Relabeler } from "../relabel/relabel.ts";
import { parseRelabelConfigs } from "../relabel/parse.ts";
import { type Flags, UsageError } from "./flags.ts";

/** The two flag names the selector rules come from. */
export type SelectorRelabelFlag = "selector.relabel-config-file" | "selector.relabel-config";

/** The relabel actions a selector may use (Thanos's block.SelectorSupportedRelabelActions). */
export const SELECTOR_ACTIONS: readonly string[] = ["keep", "drop", "hashmod"];

/**
 * The selector relabel rules as data; UsageError when both flags are set, the rules are invalid
 * or use an action other than keep, drop and hashmod (as Thanos's block.ParseRelabelConfig).
 */
export function selectorRelabelConfigsFromFlags(
  flags: Flags<SelectorRelabelFlag>,
): RelabelConfig[] {
  const fromFile = flags.fileContents("selector.relabel-config-file");
  const inline = flags.string("selector.relabel-config");
  if (fromFile !== "" && inline !== "") {
    throw new UsageError(
      "--selector.relabel-config-file and --selector.relabel-config are mutually exclusive",
    );
  }
  let configs: RelabelConfig[];
  try {
    configs = parseRelabelConfigs(fromFile || inline);
  } catch (e) {
    if (e instanceof RelabelConfigError) {
      throw new UsageError(`selector relabel config: ${e.message}`);
    }
    throw e;
  }
  for (const c of configs) {
    if (!SELECTOR_ACTIONS.includes(c.action)) {
      throw new UsageError(`selector relabel config: unsupported relabel action: ${c.action}`);
    }
  }
  return configs;
}

/** The selector relabel rules; UsageError as {@link selectorRelabelConfigsFromFlags}. */
export function selectorRelabelerFromFlags(flags: Flags<SelectorRelabelFlag>): Relabeler {
  return new Relabeler(selectorRelabelConfigsFromFlags(flags));
}
