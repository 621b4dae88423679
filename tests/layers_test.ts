// The layer map in docs/architecture.md is enforced here: a package imports only packages
// listed before it (and itself), no role under components/ imports another role, every
// top-level folder with source code is on the map, and tests/ mirrors the source folders.

import { assert, assertEquals } from "./helpers/assert.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** Folders that are not packages of the product (or are generated). */
const SKIP_DIRS = new Set([".git", "node_modules", ".demo", "dist", "tests", "docs", "deploy"]);
/** Folders under tests/ that mirror nothing: shared helpers, end-to-end suites, fixtures. */
const TEST_ONLY_DIRS = new Set(["helpers", "e2e", "testdata", "artifacts"]);

/** The packages in layer order (lowest first), read from docs/architecture.md. */
export function layerOrder(architectureMd: string): string[] {
  const m = /<!-- layers:begin -->([\s\S]*?)<!-- layers:end -->/.exec(architectureMd);
  if (!m) throw new Error("docs/architecture.md has no <!-- layers:begin/end --> block");
  const out: string[] = [];
  for (const line of m[1].split("\n")) {
    const name = /^\s*\d+\.\s+`([^`]+)`/.exec(line)?.[1];
    if (name !== undefined) out.push(name.replace(/\/$/, ""));
  }
  return out;
}

/** Relative module specifiers of static and dynamic imports and re-exports in `src`. */
export function relativeImports(src: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (let m = re.exec(src); m !== null; m = re.exec(src)) out.push(m[1]);
  return out;
}

/** The package of a repository-relative path: its top folder, or `main.ts` for root files. */
function packageOf(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? "main.ts" : path.slice(0, i);
}

/** The role folder of a path under components/, or undefined for the launcher's own files. */
function roleOf(path: string): string | undefined {
  const parts = path.split("/");
  return parts[0] === "components" && parts.length > 2 ? parts[1] : undefined;
}

function resolve(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== ".") parts.push(seg);
  }
  return parts.join("/");
}

/**
 * Every import in `files` (repository-relative path → source) that breaks the layer order or
 * crosses between roles, as human-readable lines.
 */
export function layeringViolations(files: Map<string, string>, order: string[]): string[] {
  const rank = new Map(order.map((p, i) => [p, i]));
  const out: string[] = [];
  for (const [path, src] of files) {
    const pkg = packageOf(path);
    const r = rank.get(pkg);
    if (r === undefined) {
      out.push(`${path}: package ${pkg}/ is not in the layer map of docs/architecture.md`);
      continue;
    }
    for (const spec of relativeImports(src)) {
      const target = resolve(path, spec);
      if (target.startsWith("..")) {
        out.push(`${path}: imports ${spec}, outside the repository`);
        continue;
      }
      // the version, from the project's config, may be read anywhere
      if (target === "deno.json") continue;
      const tpkg = packageOf(target);
      const tr = rank.get(tpkg);
      if (tr === undefined) {
        out.push(`${path}: imports ${target}, which is in no package of the layer map`);
        continue;
      }
      if (tr > r) out.push(`${path}: ${pkg}/ imports ${target} from the higher layer ${tpkg}/`);
      const role = roleOf(path);
      const trole = roleOf(target);
      if (role !== undefined && trole !== undefined && role !== trole) {
        out.push(`${path}: role ${role} imports ${target} from role ${trole}`);
      }
    }
  }
  return out;
}

async function sourceFiles(
  dir = "",
  out = new Map<string, string>(),
): Promise<Map<string, string>> {
  for await (const e of Deno.readDir(ROOT + dir)) {
    const rel = dir === "" ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (dir === "" && (SKIP_DIRS.has(e.name) || e.name.startsWith("."))) continue;
      if (rel === "ui/dist") continue;
      await sourceFiles(rel, out);
    } else if (/\.(ts|tsx|js)$/.test(e.name) && !e.name.startsWith(".")) {
      out.set(rel, await Deno.readTextFile(ROOT + rel));
    }
  }
  return out;
}

const ORDER = layerOrder(await Deno.readTextFile(ROOT + "docs/architecture.md"));

Deno.test("no package imports a higher layer and no role imports another role", async () => {
  const violations = layeringViolations(await sourceFiles(), ORDER);
  assertEquals(violations, [], violations.join("\n"));
});

Deno.test("the layer check catches a forbidden import and a cross-role import", () => {
  const files = new Map([
    ["tsdb/querier.ts", 'import { Engine } from "../promql/engine.ts";'],
    ["components/query/main.ts", 'import { parse } from "../tools/main.ts";'],
    ["promql/engine.ts", 'import type { Labels } from "../tsdb/labels.ts";'],
    ["newpkg/x.ts", ""],
  ]);
  const v = layeringViolations(files, ORDER);
  assert(
    v.some((l) => l.startsWith("tsdb/querier.ts: tsdb/ imports promql/engine.ts")),
    v.join("\n"),
  );
  assert(v.some((l) => l.includes("role query imports components/tools/main.ts")), v.join("\n"));
  assert(v.some((l) => l.includes("newpkg/ is not in the layer map")), v.join("\n"));
  assertEquals(v.length, 3, v.join("\n"));
});

Deno.test("tests/ mirrors the source folders", async () => {
  const packages = new Set(ORDER);
  const stray: string[] = [];
  for await (const e of Deno.readDir(ROOT + "tests")) {
    if (e.isDirectory && !TEST_ONLY_DIRS.has(e.name) && !packages.has(e.name)) {
      stray.push(`tests/${e.name}/ has no source package ${e.name}/`);
    }
  }
  assertEquals(stray, [], stray.join("\n"));
});

Deno.test("every path docs/architecture.md names exists", async () => {
  const md = await Deno.readTextFile(ROOT + "docs/architecture.md");
  const missing: string[] = [];
  for (const m of md.matchAll(/`([A-Za-z0-9_.\/-]+)`/g)) {
    const p = m[1];
    // repository paths only: a folder or file with a slash, not URL paths like `/metrics`
    if (!p.includes("/") || p.startsWith("/") || p.startsWith(".")) continue;
    // not a path: a gRPC method like `thanos.WriteableStore/RemoteWrite`
    if (p.slice(0, p.indexOf("/")).includes(".")) continue;
    try {
      await Deno.stat(ROOT + p);
    } catch {
      if (!missing.includes(p)) missing.push(p);
    }
  }
  assertEquals(missing, [], `docs/architecture.md names missing paths: ${missing.join(", ")}`);
});
