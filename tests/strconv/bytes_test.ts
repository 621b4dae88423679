// Byte sizes as Thanos writes them: units are powers of 1024 with or without the `i`.

import { assertEquals } from "../helpers/assert.ts";
import { parseBase2Bytes } from "../../strconv/bytes.ts";

Deno.test("byte sizes parse as alecthomas/units.ParseBase2Bytes reads them", () => {
  assertEquals(parseBase2Bytes("512"), 512);
  assertEquals(parseBase2Bytes("1KB"), 1024);
  assertEquals(parseBase2Bytes("1kib"), 1024);
  assertEquals(parseBase2Bytes("250MB"), 250 * 1024 * 1024);
  assertEquals(parseBase2Bytes("1GiB"), 1024 ** 3);
  assertEquals(parseBase2Bytes(" 2TB "), 2 * 1024 ** 4);
  assertEquals(parseBase2Bytes("1.5MiB"), 1.5 * 1024 * 1024);
  for (const bad of ["", "MB", "-1MB", "1XB", "1 MB MB"]) {
    assertEquals(parseBase2Bytes(bad), undefined, bad);
  }
});
