import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { compileGlob, expandGlob, hasGlobMeta, matchGlob } from "../../runutil/glob.ts";

Deno.test("matchGlob follows Go's filepath.Match", () => {
  const cases: [string, string, boolean][] = [
    ["*.json", "sd.json", true],
    ["*.json", "sd.yaml", false],
    ["*", "a/b", false],
    ["a?c", "abc", true],
    ["a?c", "a/c", false],
    ["[a-c]x", "bx", true],
    ["[^a-c]x", "bx", false],
    ["\\*", "*", true],
    ["team-*", "team-a", true],
    ["team-*", "team-a/b", false],
  ];
  for (const [p, s, want] of cases) assertEquals(matchGlob(compileGlob(p), s), want, `${p} ~ ${s}`);
  assertThrows(() => compileGlob("[a"), Error, "syntax error in pattern");
  assertEquals([hasGlobMeta("/etc/sd.json"), hasGlobMeta("/etc/*.json")], [false, true]);
});

Deno.test("expandGlob lists the matching files, sorted, in any path component", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/a1`);
    await Deno.mkdir(`${dir}/a2`);
    await Deno.mkdir(`${dir}/b`);
    for (const f of ["a1/x.json", "a1/y.yaml", "a2/z.json", "b/w.json"]) {
      await Deno.writeTextFile(`${dir}/${f}`, "[]");
    }
    assertEquals(await expandGlob(`${dir}/a*/*.json`), [`${dir}/a1/x.json`, `${dir}/a2/z.json`]);
    assertEquals(await expandGlob(`${dir}/b/w.json`), [`${dir}/b/w.json`]);
    assertEquals(await expandGlob(`${dir}/none/*.json`), []);
    assertEquals(await expandGlob(`${dir}/b/missing.json`), []);
  });
});
