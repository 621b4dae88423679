// `--selector.relabel-config(-file)`: the block selection rules of the roles that read a bucket
// (store, compact). Each role declares the two flags with its own help text, as Thanos does.

import { parseRelabelConfigs, RelabelConfigError, Relabeler } from "../relabel/relabel.ts";
import { type Flags, UsageError } from "./flags.ts";

/** The two flag names the selector rules come from. */
export type SelectorRelabelFlag = "selector.relabel-config-file" | "selector.relabel-config";

/** The selector relabel rules; UsageError when both flags are set or the rules are invalid. */
export function selectorRelabelerFromFlags(flags: Flags<SelectorRelabelFlag>): Relabeler {
  const fromFile = flags.fileContents("selector.relabel-config-file");
  const inline = flags.string("selector.relabel-config");
  if (fromFile !== "" && inline !== "") {
    throw new UsageError(
      "--selector.relabel-config-file and --selector.relabel-config are mutually exclusive",
    );
  }
  try {
    return new Relabeler(parseRelabelConfigs(fromFile || inline));
  } catch (e) {
    if (e instanceof RelabelConfigError) {
      throw new UsageError(`selector relabel config: ${e.message}`);
    }
    throw e;
  }
}
