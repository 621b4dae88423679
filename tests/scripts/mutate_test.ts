// The mutation check itself (scripts/mutate.ts) on a tiny fake repository: stale `find`
// detection, caught / missed / type-error classification, the baseline guard, which files are
// copied, and that the list in scripts/mutations.ts is well-formed and in step with the code.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  allCaught,
  countOccurrences,
  formatResult,
  missingEnv,
  type MutationResult,
  parseSubset,
  repoFiles,
  runMutations,
  selectMutations,
  staleReason,
  summarize,
} from "../../scripts/mutate.ts";
import { type Mutation, MUTATIONS } from "../../scripts/mutations.ts";
import { withTempDir } from "../helpers/tmp.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function git(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  assert(out.success, new TextDecoder().decode(out.stderr));
}

/** A git repository with `lib.ts`, a passing and an always-failing test, and an ignored file. */
async function fakeRepo(dir: string): Promise<void> {
  await git(dir, "init", "-q");
  await Deno.writeTextFile(
    `${dir}/lib.ts`,
    "// adds two numbers\nexport function add(a: number, b: number): number {\n" +
      "  return a + b;\n}\n\nexport function twice(a: number): number {\n  return a + a;\n}\n",
  );
  await Deno.mkdir(`${dir}/tests`);
  await Deno.writeTextFile(
    `${dir}/tests/lib_test.ts`,
    'import { add } from "../lib.ts";\n' +
      'Deno.test("add", () => {\n  if (add(2, 3) !== 5) throw new Error("add(2, 3) = " + add(2, 3));\n});\n',
  );
  await Deno.writeTextFile(
    `${dir}/tests/broken_test.ts`,
    'Deno.test("broken", () => {\n  throw new Error("always fails");\n});\n',
  );
  await Deno.writeTextFile(`${dir}/.gitignore`, "ignored.txt\n");
  await Deno.writeTextFile(`${dir}/ignored.txt`, "not copied\n");
  await git(dir, "add", "lib.ts", ".gitignore");
  // tests/ stays untracked (but not ignored): it must be copied too
}

const mutation = (m: Partial<Mutation> & Pick<Mutation, "name" | "find" | "replace">) => ({
  file: "lib.ts",
  tests: ["tests/lib_test.ts"],
  ...m,
});

Deno.test("countOccurrences and staleReason", () => {
  assertEquals(countOccurrences("a + b; a + b", "a + b"), 2);
  assertEquals(countOccurrences("aaaa", "aa"), 2);
  assertEquals(countOccurrences("abc", "x"), 0);
  const src = "return a + b;\nreturn a + a;\n";
  assertEquals(
    staleReason(mutation({ name: "x", find: "a + b", replace: "a - b" }), src),
    undefined,
  );
  assertEquals(
    staleReason(mutation({ name: "x", find: "return a", replace: "return b" }), src),
    "find occurs 2 times in lib.ts (must be exactly once)",
  );
  assertEquals(
    staleReason(mutation({ name: "x", find: "a * b", replace: "a / b" }), src),
    "find occurs 0 times in lib.ts (must be exactly once)",
  );
  assertEquals(
    staleReason(mutation({ name: "x", find: "a + b", replace: "a + b" }), src),
    "find and replace are identical",
  );
});

Deno.test("repoFiles lists tracked and untracked files, not ignored ones", async () => {
  await withTempDir(async (dir) => {
    await fakeRepo(dir);
    assertEquals(await repoFiles(dir), [
      ".gitignore",
      "lib.ts",
      "tests/broken_test.ts",
      "tests/lib_test.ts",
    ]);
  });
});

Deno.test({
  name: "runMutations classifies caught, missed, type error, stale and baseline failures",
  sanitizeResources: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      await fakeRepo(dir);
      const list: Mutation[] = [
        mutation({ name: "caught", find: "return a + b;", replace: "return a - b;" }),
        // `twice` is not tested: a real gap
        mutation({ name: "missed", find: "return a + a;", replace: "return a * a;" }),
        mutation({ name: "typed", find: "return a + b;", replace: 'return a + "b";' }),
        mutation({ name: "stale-none", find: "return a * b;", replace: "return a;" }),
        mutation({ name: "stale-twice", find: "return a", replace: "return b" }),
        mutation({
          name: "baseline",
          find: "// adds",
          replace: "// sums",
          tests: ["tests/broken_test.ts"],
        }),
        // a file failing without the mutation is skipped; a healthy one still catches
        mutation({
          name: "caught-past-broken",
          find: "return a + b;",
          replace: "return a - b;",
          tests: ["tests/broken_test.ts", "tests/lib_test.ts"],
        }),
        // … but when no healthy file catches it, it is an error, not a miss
        mutation({
          name: "uncaught-with-broken",
          find: "return a + a;",
          replace: "return a * a;",
          tests: ["tests/lib_test.ts", "tests/broken_test.ts"],
        }),
      ];
      const seen: string[] = [];
      const results = await runMutations(list, {
        root: dir,
        jobs: 2,
        timeoutMs: 120_000,
        onResult: (r) => seen.push(r.mutation.name),
      });
      const got = Object.fromEntries(results.map((r) => [r.mutation.name, r.outcome]));
      assertEquals(got, {
        caught: "caught",
        missed: "missed",
        typed: "caught (type error)",
        "stale-none": "stale",
        "stale-twice": "stale",
        baseline: "error",
        "caught-past-broken": "caught",
        "uncaught-with-broken": "error",
      });
      assertEquals(results[0].detail, "tests/lib_test.ts");
      assert(results[5].detail.startsWith("tests/broken_test.ts fails without the mutation"));
      assertEquals(results[6].detail, "tests/lib_test.ts");
      assert(
        results[7].detail.startsWith(
          "not caught by tests/lib_test.ts; tests/broken_test.ts fails without the mutation: fail",
        ),
        results[7].detail,
      );
      assertEquals(seen.sort(), list.map((m) => m.name).sort());
      assert(formatResult(results[0]).startsWith("caught  caught  by tests/lib_test.ts"));
      assert(
        formatResult(results[1]).startsWith("MISSED  missed  (lib.ts; ran tests/lib_test.ts)"),
      );
      // the repository itself is never modified
      assertEquals(
        await Deno.readTextFile(`${dir}/lib.ts`),
        "// adds two numbers\nexport function add(a: number, b: number): number {\n" +
          "  return a + b;\n}\n\nexport function twice(a: number): number {\n  return a + a;\n}\n",
      );
    });
  },
});

Deno.test("a test file that runs past the time limit counts as caught (timeout)", async () => {
  await withTempDir(async (dir) => {
    await fakeRepo(dir);
    await Deno.writeTextFile(
      `${dir}/tests/slow_test.ts`,
      'import { add } from "../lib.ts";\nDeno.test("slow", async () => {\n' +
        "  if (add(1, 1) === 0) await new Promise((r) => setTimeout(r, 60_000));\n});\n",
    );
    const [r] = await runMutations([
      mutation({
        name: "hang",
        find: "return a + b;",
        replace: "return a - b;",
        tests: ["tests/slow_test.ts"],
      }),
    ], { root: dir, jobs: 1, timeoutMs: 20_000, baseline: false });
    assertEquals(r.outcome, "caught (timeout)");
  });
});

Deno.test({
  name: "a mutation whose requiresEnv is unset is skipped by name, not missed",
  sanitizeResources: false,
  fn: async () => {
    // a name no environment sets
    const VAR = "THANOS_TS_MUTATE_TEST_UNSET_VARIABLE";
    assertEquals(Deno.env.get(VAR), undefined);
    await withTempDir(async (dir) => {
      await fakeRepo(dir);
      const list: Mutation[] = [
        mutation({ name: "caught", find: "return a + b;", replace: "return a - b;" }),
        // would be caught if it ran: skipped must not run it
        mutation({
          name: "needs-var",
          find: "return a + b;",
          replace: "return a * b;",
          requiresEnv: VAR,
        }),
        // its test fails even unmutated: skipped, not a baseline error
        mutation({
          name: "needs-var-broken",
          find: "// adds",
          replace: "// sums",
          tests: ["tests/broken_test.ts"],
          requiresEnv: VAR,
        }),
      ];
      assertEquals(missingEnv(list[0]), undefined);
      assertEquals(missingEnv(list[1]), VAR);
      assertEquals(missingEnv(list[1], { [VAR]: "" }), VAR);
      assertEquals(missingEnv(list[1], { [VAR]: "/usr/bin/x" }), undefined);

      const results = await runMutations(list, { root: dir, jobs: 1, timeoutMs: 120_000 });
      assertEquals(
        results.map((r) => [r.mutation.name, r.outcome, r.detail]),
        [
          ["caught", "caught", "tests/lib_test.ts"],
          ["needs-var", "skipped", VAR],
          ["needs-var-broken", "skipped", VAR],
        ],
      );
      assertEquals(formatResult(results[1]), `skipped needs-var (needs ${VAR})`);
      assertEquals(summarize(results, 12.3), [
        "mutate: 1 caught (0 by type error), 0 missed, 0 stale, 0 errors, 2 skipped, of 3 in 12s",
        `mutate: skipped (not verified here): needs-var (needs ${VAR}), ` +
        `needs-var-broken (needs ${VAR})`,
      ]);
      // skipped does not fail the run
      assert(allCaught(results));

      // with the variable set (through the run's env) the mutation runs and is caught
      const [ran] = await runMutations([list[1]], {
        root: dir,
        jobs: 1,
        timeoutMs: 120_000,
        env: { [VAR]: "1" },
      });
      assertEquals([ran.outcome, ran.detail], ["caught", "tests/lib_test.ts"]);
    });
  },
});

Deno.test("summary and exit decision: a miss fails the run, a skip alone does not", () => {
  const r = (name: string, outcome: MutationResult["outcome"], detail = "t") => ({
    mutation: mutation({ name, find: "x", replace: "y" }),
    outcome,
    detail,
    ms: 0,
  });
  const ok = [r("a", "caught"), r("b", "caught (type error)"), r("c", "skipped", "DENORT_BIN")];
  assert(allCaught(ok));
  assertEquals(summarize(ok, 5), [
    "mutate: 2 caught (1 by type error), 0 missed, 0 stale, 0 errors, 1 skipped, of 3 in 5s",
    "mutate: skipped (not verified here): c (needs DENORT_BIN)",
  ]);
  for (const bad of ["missed", "stale", "error"] as const) {
    assert(!allCaught([...ok, r("d", bad)]), bad);
  }
  // each failure is named again after the counts (a long run's log is often seen by its tail)
  assertEquals(summarize([r("a", "missed"), r("b", "caught"), r("c", "stale", "gone")], 1), [
    "mutate: 1 caught (0 by type error), 1 missed, 1 stale, 0 errors, 0 skipped, of 3 in 1s",
    "mutate: MISSED  a  (lib.ts; ran t)  (0.0s)",
    "mutate: STALE   c  gone",
  ]);
});

Deno.test("selection: --only and --subset", () => {
  const list = ["a1", "b2", "a3", "b4", "a5"].map((name) =>
    mutation({ name, find: "x", replace: "y" })
  );
  const names = (ms: Mutation[]) => ms.map((m) => m.name);
  assertEquals(names(selectMutations(list, "a")), ["a1", "a3", "a5"]);
  assertEquals(names(selectMutations(list, undefined, parseSubset("1/2"))), ["b2", "b4"]);
  assertEquals(names(selectMutations(list, "a", parseSubset("0/2"))), ["a1", "a3", "a5"]);
  assertEquals(parseSubset("2/3"), { n: 2, m: 3 });
  for (const bad of ["3/3", "1", "a/b", "0/0"]) {
    let threw = false;
    try {
      parseSubset(bad);
    } catch {
      threw = true;
    }
    assert(threw, bad);
  }
});

Deno.test("the mutation list is well-formed and every find applies to the current code", async () => {
  assert(MUTATIONS.length >= 40, `${MUTATIONS.length} mutations`);
  const names = new Set<string>();
  for (const m of MUTATIONS) {
    assert(!names.has(m.name), `duplicate name ${m.name}`);
    names.add(m.name);
    assert(m.tests.length > 0, `${m.name}: no tests`);
    for (const t of m.tests) await Deno.stat(`${ROOT}${t}`);
    const src = await Deno.readTextFile(`${ROOT}${m.file}`);
    assertEquals(staleReason(m, src), undefined, m.name);
  }
  // the eight planted bugs are all in the list
  const planted = new Set(MUTATIONS.flatMap((m) => m.planted ? [m.planted] : []));
  assertEquals([...planted].sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
  // the compiled-binary mutation is skipped (by name), not missed, where denort is unavailable
  assertEquals(
    MUTATIONS.filter((m) => m.requiresEnv).map((m) => [m.name, m.requiresEnv]),
    [["compile-launcher-without-net", "DENORT_BIN"]],
  );
});
