// `--tracing.config(-file)` in a role's worker: the config text from the flags, parsed (the
// launcher has already checked it while deriving permissions), and the role's tracer started
// for as long as the role runs. Libraries trace through tracing/tracer.ts and never see flags.

import type { RawFlags } from "./flags.ts";
import { UsageError } from "./flags.ts";
import { type OtlpConfig, parseTracingConfig, TracingConfigError } from "../tracing/config.ts";

/**
 * The tracing configuration of a parsed command, or null when tracing is off (the flags are
 * absent, unset or blank). Throws UsageError when both flags are set or the config is bad.
 */
export function tracingConfig(raw: RawFlags): OtlpConfig | null {
  const inline = (raw.values["tracing.config"] ?? []).at(-1) ?? "";
  const path = (raw.values["tracing.config-file"] ?? []).at(-1) ?? "";
  if (inline.trim() !== "" && path.trim() !== "") {
    throw new UsageError(
      "--tracing.config-file and --tracing.config are mutually exclusive; set one of them",
    );
  }
  const file = path.trim() !== "";
  const text = file ? raw.files[path] ?? "" : inline;
  try {
    return parseTracingConfig(text);
  } catch (e) {
    if (!(e instanceof TracingConfigError)) throw e;
    // one line naming the flag and its value (shortened: configs are YAML documents)
    const v = file ? path : inline;
    const shown = JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
    throw new UsageError(`--tracing.config${file ? "-file" : ""}=${shown}: ${e.message}`);
  }
}
