// utf8Length: the byte length TextEncoder would produce, without encoding.

import { assertEquals } from "../helpers/assert.ts";
import { utf8Length } from "../../strconv/utf8.ts";

Deno.test("utf8Length equals TextEncoder's byte count, lone surrogates included", () => {
  const enc = new TextEncoder();
  const cases = [
    "",
    "ascii",
    "café",
    "日本語",
    "\u{1F600}x",
    "\ud800",
    "\udc00",
    "a\ud800b",
    "\ud800\ud800\udc00",
    "\u07ff\u0800\uffff",
  ];
  for (const s of cases) {
    assertEquals(utf8Length(s), enc.encode(s).length, JSON.stringify(s));
  }
});
