// Module graphs of the program's entry points, from `deno info --json` (the graph `deno compile`
// embeds): for the compile-readiness and lazy-loading tests.

import { assert } from "./assert.ts";

/** The repository root, with a trailing slash. */
export const ROOT = new URL("../../", import.meta.url).pathname;

interface DenoInfo {
  roots: string[];
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
  }[];
}

async function denoInfo(entry: string): Promise<DenoInfo> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo;
}

/** Absolute paths of the local files in the whole module graph of `entry` (dynamic imports too). */
export async function moduleGraph(entry: string): Promise<string[]> {
  const info = await denoInfo(entry);
  return info.modules.map((m) => m.specifier).filter((s) => s.startsWith("file://")).map((s) =>
    new URL(s).pathname
  );
}

/** Repository-relative files `entry` loads before running any code (static imports only). */
export async function staticGraph(entry: string): Promise<Set<string>> {
  const seen = await staticSpecifiers(entry);
  return new Set(
    [...seen].filter((s) => s.startsWith(`file://${ROOT}`)).map((s) =>
      s.slice(`file://${ROOT}`.length)
    ),
  );
}

/** The `node:` and `npm:` modules `entry` loads before running any code (static imports only). */
export async function staticExternals(entry: string): Promise<Set<string>> {
  const seen = await staticSpecifiers(entry);
  return new Set([...seen].filter((s) => s.startsWith("node:") || s.startsWith("npm:")));
}

/** Every specifier of the static part of `entry`'s graph. */
async function staticSpecifiers(entry: string): Promise<Set<string>> {
  const info = await denoInfo(entry);
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const todo = [...info.roots];
  while (todo.length > 0) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) todo.push(d.code.specifier);
    }
  }
  return seen;
}
