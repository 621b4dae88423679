// The command table of the launcher: every `thanos <component> …` that exists, by path.
// Flag tables only (cheap to import); the run functions live in run_table.ts (worker side).

import type { CommandSpec } from "./flags.ts";
import { TOOLS_COMMANDS } from "./tools/flags.ts";
import { STORE_COMMANDS } from "./store/flags.ts";
import { QUERY_COMMAND } from "./query/flags.ts";
import { SIDECAR_COMMAND } from "./sidecar/flags.ts";
import { RECEIVE_COMMAND } from "./receive/flags.ts";
import { COMPACT_COMMAND } from "./compact/flags.ts";
import { QUERY_FRONTEND_COMMAND } from "./query-frontend/flags.ts";
import { RULE_COMMAND } from "./rule/flags.ts";

/** Every runnable command. */
export const COMMANDS: readonly CommandSpec[] = [
  QUERY_COMMAND,
  SIDECAR_COMMAND,
  RECEIVE_COMMAND,
  COMPACT_COMMAND,
  QUERY_FRONTEND_COMMAND,
  RULE_COMMAND,
  ...STORE_COMMANDS,
  ...TOOLS_COMMANDS,
];

/** Key of a command path, e.g. `tools tsdb dump`. */
export function commandKey(path: readonly string[]): string {
  return path.join(" ");
}

/** The command with exactly this path, if any. */
export function findCommand(path: readonly string[]): CommandSpec | undefined {
  const key = commandKey(path);
  return COMMANDS.find((c) => commandKey(c.path) === key);
}

/** One-line descriptions of command groups, for `--help` listings. */
export const GROUP_HELP: Record<string, string> = {
  tools: "Tools utility commands.",
  "tools tsdb": "Inspect local TSDB data (like promtool tsdb).",
  "tools bucket": "Bucket utility commands.",
};
