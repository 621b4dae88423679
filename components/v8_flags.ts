// The V8 flags the program runs with, in one place: `scripts/compile.ts` bakes them into the
// compiled binary (`deno compile --v8-flags`; a compiled binary reads no DENO_V8_FLAGS), and
// whatever runs `main.ts` from source (the demo, the tests' and benchmarks' spawners) passes them
// to `deno run`, so what is measured is what ships. V8 flags are per process: every isolate in it
// (the launcher, the role's Worker, the querier's evaluation Workers) gets them.

/** The flags (README, issue 19 memory: why these). */
export const V8_FLAGS: readonly string[] = ["--max-semi-space-size=8", "--heap-growing-percent=50"];

/** A V8 flag's name as V8 compares them: no dashes, no `no-` prefix, `_` as `-`, no value. */
export function v8FlagName(flag: string): string {
  const name = flag.replace(/^-+/, "").split("=")[0].replaceAll("_", "-");
  return name.startsWith("no-") ? name.slice(3) : name;
}

/**
 * The `--v8-flags=…` argument for `deno run` or `deno compile` (none when no flag is left).
 * `deno run` applies `--v8-flags` after `DENO_V8_FLAGS` and V8 keeps a flag's last value, so a
 * flag the user's `userFlags` (the DENO_V8_FLAGS text, comma-separated) sets is left out here and
 * the user's value stays in force.
 */
export function v8FlagsArgs(userFlags = "", flags: readonly string[] = V8_FLAGS): string[] {
  const user = new Set(userFlags.split(",").map((f) => f.trim()).filter(Boolean).map(v8FlagName));
  const kept = flags.filter((f) => !user.has(v8FlagName(f)));
  return kept.length ? [`--v8-flags=${kept.join(",")}`] : [];
}

/** `v8FlagsArgs` for this process's environment (DENO_V8_FLAGS, when env access is granted). */
export function v8FlagsArgsFromEnv(): string[] {
  let env = "";
  try {
    env = Deno.env.get("DENO_V8_FLAGS") ?? "";
  } catch {
    // no env permission: the user's flags cannot be seen, ours apply
  }
  return v8FlagsArgs(env);
}
