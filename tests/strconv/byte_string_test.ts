import { assertEquals } from "../helpers/assert.ts";
import { byteString } from "../../strconv/byte_string.ts";

Deno.test("byteString: one char per byte, after its prefix, across call chunks", () => {
  const b = new Uint8Array(10_000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
  const s = byteString(b, "r");
  assertEquals(s.length, b.length + 1);
  assertEquals(s[0], "r");
  for (let i = 0; i < b.length; i++) {
    if (s.charCodeAt(i + 1) !== b[i]) throw new Error(`byte ${i}: ${s.charCodeAt(i + 1)}`);
  }
  assertEquals(byteString(new Uint8Array(0)), "");
  assertEquals(byteString(new Uint8Array([0, 255, 65])), "\u0000\u00ffA");
});
