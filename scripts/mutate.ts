// Mutation check: applies each small deliberate bug from scripts/mutations.ts to a scratch copy of
// the repository and runs the tests that should catch it. A mutation is "caught" when one of its
// test files fails (first against the unmutated copy, they must pass), "MISSED" when all pass.
// Usage: deno task mutate [--only=<substring>[,<substring>…]] [--list] [--subset=N/M] [--jobs=2]
//                         [--timeout=<seconds per test file>] [--no-baseline]
// Exit status: 0 when every selected mutation was caught or skipped; 1 on any miss, stale `find`,
// baseline failure or run error; 2 on bad arguments. A mutation with `requiresEnv` is skipped
// (reported by name, not counted as missed) when that environment variable is unset.

import { type Mutation, MUTATIONS } from "./mutations.ts";

/** How one mutation ended. */
export type Outcome =
  | "caught" // a test file failed
  | "caught (type error)" // the mutated tree does not type-check
  | "caught (timeout)" // a test file ran past the time limit
  | "missed" // every test file passed
  | "stale" // `find` does not occur exactly once
  | "skipped" // its `requiresEnv` variable is unset, so its tests cannot catch it here
  | "error"; // could not run (e.g. a test file fails even without the mutation)

/** The result of one mutation. */
export interface MutationResult {
  mutation: Mutation;
  outcome: Outcome;
  /** The test file that failed (caught), the reason (stale, error) or the missing variable. */
  detail: string;
  ms: number;
}

/** Options of {@link runMutations}. */
export interface RunOptions {
  /** Repository root to copy. */
  root: string;
  /** Parallel scratch copies. */
  jobs?: number;
  /** Time limit per test-file run, ms. */
  timeoutMs?: number;
  /** Run each referenced test file once on the unmutated copy first. */
  baseline?: boolean;
  /** Called with each result as soon as it is known. */
  onResult?: (r: MutationResult) => void;
  /** Extra environment for the test runs. */
  env?: Record<string, string>;
}

const decoder = new TextDecoder();

/**
 * The environment variable `m` needs that is unset (neither in `env` nor in this process's
 * environment), or undefined when `m` can run.
 */
export function missingEnv(m: Mutation, env: Record<string, string> = {}): string | undefined {
  const name = m.requiresEnv;
  if (name === undefined) return undefined;
  const value = env[name] ?? Deno.env.get(name);
  return value === undefined || value === "" ? name : undefined;
}

/** Files to copy: tracked plus untracked non-ignored files that exist in the work tree. */
export async function repoFiles(root: string): Promise<string[]> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`git ls-files failed: ${decoder.decode(out.stderr)}`);
  const files = new Set(decoder.decode(out.stdout).split("\0").filter((f) => f !== ""));
  const present: string[] = [];
  for (const f of [...files].sort()) {
    try {
      if ((await Deno.lstat(`${root}/${f}`)).isFile) present.push(f);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // deleted in the work tree
    }
  }
  return present;
}

/** Copies `files` (relative to `root`) into a new temp dir and returns it. */
export async function scratchCopy(root: string, files: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-mutate-" });
  const made = new Set<string>();
  for (const f of files) {
    const slash = f.lastIndexOf("/");
    if (slash > 0) {
      const parent = f.slice(0, slash);
      if (!made.has(parent)) {
        await Deno.mkdir(`${dir}/${parent}`, { recursive: true });
        made.add(parent);
      }
    }
    await Deno.copyFile(`${root}/${f}`, `${dir}/${f}`);
  }
  return dir;
}

/** Number of non-overlapping occurrences of `needle` in `hay`. */
export function countOccurrences(hay: string, needle: string): number {
  if (needle === "") return 0;
  let n = 0;
  for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + needle.length)) n++;
  return n;
}

/**
 * Checks a mutation against the source text: `find` must occur exactly once and differ from
 * `replace`. Returns an error message, or undefined when the mutation applies.
 */
export function staleReason(m: Mutation, source: string): string | undefined {
  if (m.find === m.replace) return "find and replace are identical";
  const n = countOccurrences(source, m.find);
  if (n !== 1) return `find occurs ${n} times in ${m.file} (must be exactly once)`;
  return undefined;
}

/** Result of one `deno test` run. */
interface TestRun {
  status: "pass" | "fail" | "type error" | "timeout";
  output: string;
}

/** Matches Deno's type-check failure output. */
const TYPE_ERROR = /(^|\n)\s*(error: )?TS\d+ \[ERROR\]|Type checking failed/;

async function runTestFile(
  dir: string,
  file: string,
  timeoutMs: number,
  env: Record<string, string>,
): Promise<TestRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", file],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const output = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  if (timedOut) return { status: "timeout", output };
  if (out.success) return { status: "pass", output };
  return { status: TYPE_ERROR.test(output) ? "type error" : "fail", output };
}

/** Runs one mutation in the scratch copy `dir` and restores the file afterwards. */
async function runOne(
  dir: string,
  m: Mutation,
  timeoutMs: number,
  env: Record<string, string>,
  broken: Map<string, string>,
): Promise<MutationResult> {
  const start = performance.now();
  const done = (outcome: Outcome, detail: string): MutationResult => ({
    mutation: m,
    outcome,
    detail,
    ms: performance.now() - start,
  });
  const needs = missingEnv(m, env);
  if (needs !== undefined) return done("skipped", needs);
  const path = `${dir}/${m.file}`;
  let original: string;
  try {
    original = await Deno.readTextFile(path);
  } catch {
    return done("stale", `${m.file} does not exist`);
  }
  const stale = staleReason(m, original);
  if (stale) return done("stale", stale);
  if (m.tests.length === 0) return done("error", "no test files listed");
  // Only a test file that passed on the unmutated copy can catch; one that failed there is
  // skipped, and the mutation is an error (not missed) unless another listed file catches it.
  const healthy = m.tests.filter((t) => !broken.has(t));
  const unhealthy = m.tests.find((t) => broken.has(t));
  const brokenReason = (t: string) => `${t} fails without the mutation: ${broken.get(t)}`;
  if (healthy.length === 0) return done("error", brokenReason(m.tests[0]));
  await Deno.writeTextFile(path, original.replace(m.find, () => m.replace));
  try {
    for (const t of healthy) {
      const r = await runTestFile(dir, t, timeoutMs, env);
      if (r.status === "fail") return done("caught", t);
      if (r.status === "type error") return done("caught (type error)", t);
      if (r.status === "timeout") return done("caught (timeout)", t);
    }
    if (unhealthy !== undefined) {
      return done("error", `not caught by ${healthy.join(", ")}; ${brokenReason(unhealthy)}`);
    }
    return done("missed", m.tests.join(", "));
  } finally {
    await Deno.writeTextFile(path, original);
  }
}

/** Last lines of a test run's output, for error messages. */
function tail(output: string, lines = 15): string {
  return output.trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * Runs `mutations` against scratch copies of `opts.root` (one copy per parallel job) and returns
 * the results in list order.
 */
export async function runMutations(
  mutations: Mutation[],
  opts: RunOptions,
): Promise<MutationResult[]> {
  const jobs = Math.max(1, Math.min(opts.jobs ?? 2, mutations.length));
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const env = opts.env ?? {};
  const files = await repoFiles(opts.root);
  const dirs: string[] = [];
  try {
    for (let i = 0; i < jobs; i++) dirs.push(await scratchCopy(opts.root, files));
    // Baseline: every referenced test file must pass on the unmutated copy, otherwise a
    // "caught" would mean nothing.
    const broken = new Map<string, string>();
    if (opts.baseline ?? true) {
      const runnable = mutations.filter((m) => missingEnv(m, env) === undefined);
      const tests = [...new Set(runnable.flatMap((m) => m.tests))];
      let next = 0;
      await Promise.all(dirs.map(async (dir) => {
        while (next < tests.length) {
          const t = tests[next++];
          const r = await runTestFile(dir, t, timeoutMs, env);
          if (r.status !== "pass") broken.set(t, `${r.status}\n${tail(r.output)}`);
        }
      }));
    }
    const results: MutationResult[] = new Array(mutations.length);
    let next = 0;
    await Promise.all(dirs.map(async (dir) => {
      while (next < mutations.length) {
        const i = next++;
        const r = await runOne(dir, mutations[i], timeoutMs, env, broken);
        results[i] = r;
        opts.onResult?.(r);
      }
    }));
    return results;
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
}

/**
 * Selects mutations: `--only` a substring of the name (several, comma-separated: any of them),
 * `--subset=N/M` keeps list index i when i % M == N.
 */
export function selectMutations(
  all: Mutation[],
  only?: string,
  subset?: { n: number; m: number },
): Mutation[] {
  return all.filter((mu, i) =>
    (only === undefined || only.split(",").some((o) => mu.name.includes(o))) &&
    (subset === undefined || i % subset.m === subset.n)
  );
}

/** Parses `N/M` with 0 <= N < M. */
export function parseSubset(s: string): { n: number; m: number } {
  const match = /^(\d+)\/(\d+)$/.exec(s);
  if (!match) throw new Error(`--subset must be N/M, got ${JSON.stringify(s)}`);
  const n = Number(match[1]);
  const m = Number(match[2]);
  if (m < 1 || n >= m) throw new Error(`--subset=${s}: need 0 <= N < M`);
  return { n, m };
}

/** One report line per result. */
export function formatResult(r: MutationResult): string {
  const name = r.mutation.name;
  const secs = `(${(r.ms / 1000).toFixed(1)}s)`;
  switch (r.outcome) {
    case "caught":
      return `caught  ${name}  by ${r.detail}  ${secs}`;
    case "caught (type error)":
      return `caught (type error)  ${name}  by ${r.detail}  ${secs}`;
    case "caught (timeout)":
      return `caught (timeout)  ${name}  by ${r.detail}  ${secs}`;
    case "missed":
      return `MISSED  ${name}  (${r.mutation.file}; ran ${r.detail})  ${secs}`;
    case "stale":
      return `STALE   ${name}  ${r.detail}`;
    case "skipped":
      return `skipped ${name} (needs ${r.detail})`;
    case "error":
      return `ERROR   ${name}  ${r.detail}`;
  }
}

/** Summary lines of a run: the counts, then the skipped mutations by name. */
export function summarize(results: MutationResult[], secs: number): string[] {
  const count = (pred: (o: Outcome) => boolean) => results.filter((r) => pred(r.outcome)).length;
  const caught = count((o) => o.startsWith("caught"));
  const typeErrors = count((o) => o === "caught (type error)");
  const missed = count((o) => o === "missed");
  const stale = count((o) => o === "stale");
  const errors = count((o) => o === "error");
  const skipped = results.filter((r) => r.outcome === "skipped");
  const lines = [
    `mutate: ${caught} caught (${typeErrors} by type error), ${missed} missed, ${stale} stale, ` +
    `${errors} errors, ${skipped.length} skipped, of ${results.length} in ${secs.toFixed(0)}s`,
  ];
  if (skipped.length > 0) {
    lines.push(
      `mutate: skipped (not verified here): ` +
        skipped.map((r) => `${r.mutation.name} (needs ${r.detail})`).join(", "),
    );
  }
  // The failures again, by name, at the end: a long run's log is often seen only by its tail.
  for (const r of results) {
    if (r.outcome === "missed" || r.outcome === "stale" || r.outcome === "error") {
      lines.push(`mutate: ${formatResult(r)}`);
    }
  }
  return lines;
}

/** True when the run passes: every result caught or skipped. */
export function allCaught(results: MutationResult[]): boolean {
  return results.every((r) => r.outcome.startsWith("caught") || r.outcome === "skipped");
}

/** Validates the list itself: unique names, listed test files exist. */
export async function checkList(root: string, list: Mutation[]): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const m of list) {
    if (seen.has(m.name)) problems.push(`duplicate mutation name ${m.name}`);
    seen.add(m.name);
    for (const t of m.tests) {
      try {
        await Deno.stat(`${root}/${t}`);
      } catch {
        problems.push(`${m.name}: test file ${t} does not exist`);
      }
    }
  }
  return problems;
}

async function main(args: string[]): Promise<number> {
  let only: string | undefined;
  let subset: { n: number; m: number } | undefined;
  let list = false;
  let jobs = 2;
  let timeoutMs = 300_000;
  let baseline = true;
  for (const a of args) {
    if (a.startsWith("--only=")) only = a.slice("--only=".length);
    else if (a.startsWith("--subset=")) subset = parseSubset(a.slice("--subset=".length));
    else if (a === "--list") list = true;
    else if (a.startsWith("--jobs=")) jobs = Number(a.slice("--jobs=".length));
    else if (a.startsWith("--timeout=")) timeoutMs = Number(a.slice("--timeout=".length)) * 1000;
    else if (a === "--no-baseline") baseline = false;
    else {
      console.error(`mutate: unknown argument ${a}`);
      return 2;
    }
  }
  if (!(jobs >= 1) || !(timeoutMs > 0)) {
    console.error("mutate: --jobs and --timeout must be positive");
    return 2;
  }
  const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
  const selected = selectMutations(MUTATIONS, only, subset);
  if (list) {
    for (const m of selected) console.log(`${m.name}\t${m.file}\t${m.tests.join(",")}`);
    return 0;
  }
  const problems = await checkList(root, selected);
  if (problems.length > 0) {
    for (const p of problems) console.error(`mutate: ${p}`);
    return 1;
  }
  if (selected.length === 0) {
    console.error("mutate: no mutation selected");
    return 1;
  }
  const what = subset ? ` (subset ${subset.n}/${subset.m})` : "";
  console.log(`mutate: ${selected.length} of ${MUTATIONS.length} mutations${what}, ${jobs} jobs`);
  const start = performance.now();
  const results = await runMutations(selected, {
    root,
    jobs,
    timeoutMs,
    baseline,
    onResult: (r) => console.log(formatResult(r)),
  });
  for (const line of summarize(results, (performance.now() - start) / 1000)) console.log(line);
  return allCaught(results) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
