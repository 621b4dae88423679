// The program's V8 flags: one list for the compiled binary and every `deno run` of main.ts, and
// a user's DENO_V8_FLAGS still deciding the flags it names.

import { assertEquals } from "../helpers/assert.ts";
import { v8FlagName, v8FlagsArgs } from "../../components/v8_flags.ts";
import { checkoutV8FlagsArgs } from "../helpers/thanos.ts";

Deno.test("v8FlagName compares flags as V8 does", () => {
  assertEquals(v8FlagName("--max-semi-space-size=2"), "max-semi-space-size");
  assertEquals(v8FlagName("--max_semi_space_size=2"), "max-semi-space-size");
  assertEquals(v8FlagName("-single-threaded-gc"), "single-threaded-gc");
  assertEquals(v8FlagName("--no-single-threaded-gc"), "single-threaded-gc");
  assertEquals(v8FlagName("--no_single_threaded_gc"), "single-threaded-gc");
});

Deno.test("v8FlagsArgs leaves out the flags the user's DENO_V8_FLAGS sets", () => {
  const ours = ["--max-semi-space-size=2", "--heap-growing-percent=30"];
  assertEquals(v8FlagsArgs("", ours), [
    "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=30",
  ]);
  assertEquals(v8FlagsArgs("--max_semi_space_size=16, --expose-gc", ours), [
    "--v8-flags=--heap-growing-percent=30",
  ]);
  assertEquals(v8FlagsArgs("--heap-growing-percent=50,--max-semi-space-size=8", ours), []);
  assertEquals(v8FlagsArgs("--expose-gc", []), []);
});

/** The heap limit (MiB) a Worker of `deno eval <flags>` reports, with `env` as DENO_V8_FLAGS. */
async function workerHeapLimit(flags: string[], env: string): Promise<number> {
  const probe = `
    import { getHeapStatistics } from "node:v8";
    const src = 'import { getHeapStatistics } from "node:v8"; ' +
      'postMessage(getHeapStatistics().heap_size_limit); close();';
    const w = new Worker(URL.createObjectURL(new Blob([src])), { type: "module" });
    w.onmessage = (e) => { console.log(e.data); w.terminate(); };
    void getHeapStatistics;
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...flags, probe],
    env: env ? { DENO_V8_FLAGS: env } : {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assertEquals(out.success, true, new TextDecoder().decode(out.stderr));
  return Number(text) / 2 ** 20;
}

Deno.test("flags from v8FlagsArgs reach a Worker, and the user's own value wins", async () => {
  const ours = ["--max-old-space-size=300"];
  const limit = await workerHeapLimit(v8FlagsArgs("", ours), "");
  assertEquals(limit > 250 && limit < 400, true, `limit ${limit} MiB`);
  const user = "--max-old-space-size=600";
  const mine = await workerHeapLimit(v8FlagsArgs(user, ours), user);
  assertEquals(mine > 550 && mine < 700, true, `limit ${mine} MiB`);
});

Deno.test("another checkout's main.ts runs with that checkout's own V8 flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "v8_flags_checkout_" });
  try {
    await Deno.mkdir(`${dir}/components`);
    const ours = await Deno.readTextFile(new URL("../../components/v8_flags.ts", import.meta.url));
    const theirs = ours.replace(
      /export const V8_FLAGS: readonly string\[\] = \[[^\]]*\];/,
      'export const V8_FLAGS: readonly string[] = ["--max-old-space-size=300"];',
    );
    assertEquals(theirs !== ours, true, "V8_FLAGS declaration not found");
    await Deno.writeTextFile(`${dir}/components/v8_flags.ts`, theirs);
    assertEquals(await checkoutV8FlagsArgs(`${dir}/main.ts`), [
      "--v8-flags=--max-old-space-size=300",
    ]);
    // a checkout from before components/v8_flags.ts: no flags, as it ran then
    await Deno.remove(`${dir}/components`, { recursive: true });
    assertEquals(await checkoutV8FlagsArgs(`${dir}/main.ts`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
