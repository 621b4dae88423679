// Builds one self-contained executable per OS/arch with `deno compile`, plus SHA256SUMS.
// Usage: deno task compile [--target <triple>]… [--out dist]
// `deno compile` needs the `denort` runtime for each target: it downloads it, or uses the
// binary named by DENORT_BIN (only for the host's own target). Without either, the build of
// that target fails with Deno's message and the script reports it.

import { parseArgs } from "node:util";
import denoConfig from "../deno.json" with { type: "json" };
import { V8_FLAGS, v8FlagsArgs } from "../components/v8_flags.ts";

/** Targets and their artifact suffixes. */
export const TARGETS: Record<string, string> = {
  "x86_64-unknown-linux-gnu": "linux-amd64",
  "aarch64-unknown-linux-gnu": "linux-arm64",
  "x86_64-apple-darwin": "darwin-amd64",
  "aarch64-apple-darwin": "darwin-arm64",
  "x86_64-pc-windows-msvc": "windows-amd64",
};

/** The target triple of the machine running this script. */
export function hostTarget(): string {
  const arch = Deno.build.arch;
  switch (Deno.build.os) {
    case "linux":
      return `${arch}-unknown-linux-gnu`;
    case "darwin":
      return `${arch}-apple-darwin`;
    case "windows":
      return `${arch}-pc-windows-msvc`;
    default:
      return `${arch}-unknown-${Deno.build.os}`;
  }
}

/** Artifact file name for a target. */
export function artifactName(target: string, version = denoConfig.version): string {
  const suffix = TARGETS[target];
  if (!suffix) {
    throw new Error(`unknown target ${target}; known: ${Object.keys(TARGETS).join(", ")}`);
  }
  return `thanos-${version}-${suffix}${target.includes("windows") ? ".exe" : ""}`;
}

/**
 * `deno compile` arguments building `out` for `target`. The program's V8 flags are baked in
 * whole: a compiled binary reads no DENO_V8_FLAGS, so the builder's environment changes nothing.
 */
export function compileArgs(
  target: string,
  out: string,
  v8Flags: readonly string[] = V8_FLAGS,
): string[] {
  return [
    "compile",
    "--allow-all", // the launcher itself; each role runs in a worker with only its own grants
    "--unstable-worker-options",
    "--unstable-no-legacy-abort",
    "--no-check",
    "--frozen",
    ...v8FlagsArgs("", v8Flags),
    "--include",
    "components/worker.ts",
    "--include",
    "query/eval_worker.ts",
    "--target",
    target,
    "--output",
    out,
    "main.ts",
  ];
}

/** Compiles `main.ts` for `target` into `outDir`; returns the artifact path. */
export async function compileTarget(target: string, outDir: string): Promise<string> {
  const root = new URL("..", import.meta.url).pathname;
  const out = `${outDir}/${artifactName(target)}`;
  const args = compileArgs(target, out);
  const p = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  })
    .output();
  if (!p.success) throw new Error(`deno compile for ${target} failed (exit ${p.code})`);
  return out;
}

async function sha256Hex(path: string): Promise<string> {
  const data = await Deno.readFile(path);
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string", multiple: true },
      out: { type: "string", default: "dist" },
    },
  });
  const targets = values.target ?? Object.keys(TARGETS);
  const outDir = values.out!;
  await Deno.mkdir(outDir, { recursive: true });
  const built: string[] = [];
  const failed: string[] = [];
  for (const t of targets) {
    try {
      console.log(`compile: building ${t}`);
      built.push(await compileTarget(t, outDir));
    } catch (e) {
      console.error(`compile: ${(e as Error).message}`);
      failed.push(t);
    }
  }
  const sums = await Promise.all(
    built.map(async (p) => `${await sha256Hex(p)}  ${p.split("/").pop()}`),
  );
  if (sums.length) await Deno.writeTextFile(`${outDir}/SHA256SUMS`, sums.join("\n") + "\n");
  console.log(
    `compile: built ${built.length}, failed ${failed.length}${
      failed.length ? ` (${failed.join(", ")})` : ""
    }`,
  );
  Deno.exit(failed.length ? 1 : 0);
}
