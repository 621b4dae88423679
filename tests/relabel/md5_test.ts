// relabel/md5.ts against RFC 1321's test suite and node:crypto over every padding case.

import { createHash } from "node:crypto";
import { assertEquals } from "../helpers/assert.ts";
import { md5 } from "../../relabel/md5.ts";
import { hashMod } from "../../relabel/relabel.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("md5: RFC 1321's test suite", () => {
  const suite: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
  ];
  for (const [input, want] of suite) assertEquals(hex(md5(input)), want, input);
});

Deno.test("md5: equal to node:crypto for 0–300 bytes (every padding case) and UTF-8 text", () => {
  for (let n = 0; n <= 300; n++) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 131 + n * 7) & 255;
    assertEquals(hex(md5(b)), createHash("md5").update(b).digest("hex"), `${n} bytes`);
  }
  for (const s of ["héllo wörld", "日本語のラベル", "emoji 🦕", "x".repeat(100_000)]) {
    assertEquals(hex(md5(s)), createHash("md5").update(s).digest("hex"), s.slice(0, 20));
  }
});

Deno.test("hashmod: Prometheus's vector and node:crypto's MD5 agree", () => {
  assertEquals(hashMod("baz", 1000), 976); // Prometheus relabel_test.go
  for (let i = 0; i < 200; i++) {
    const v = `instance-${i};job`;
    const h = createHash("md5").update(v).digest();
    let want = 0n;
    for (let j = 8; j < 16; j++) want = (want << 8n) | BigInt(h[j]);
    assertEquals(hashMod(v, 7919), Number(want % 7919n), v);
  }
});
