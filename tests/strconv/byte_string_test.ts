import { assertEquals } from "../helpers/assert.ts";
import { byteString } from "../../strconv/byte_string.ts";

Deno.test("byteString: one char per byte, across call chunks", () => {
  const b = new Uint8Array(10_000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
  const s = byteString(b);
  assertEquals(s.length, b.length);
  for (let i = 0; i < b.length; i++) {
    if (s.charCodeAt(i) !== b[i]) throw new Error(`byte ${i}: ${s.charCodeAt(i)}`);
  }
  assertEquals(byteString(new Uint8Array(0)), "");
  assertEquals(byteString(new Uint8Array([0, 255, 65])), "\u0000\u00ffA");
});
