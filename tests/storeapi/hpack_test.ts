// HPACK header strings (storeapi/hpack.ts), which both our HTTP/2 sides decode on every gRPC call:
// RFC 7541's own examples (plain and Huffman-coded literals), and the text of every byte exactly
// as the "latin1" TextDecoder reads it, whether a string takes the short ASCII path or the
// decoder (non-ASCII bytes, long strings); a connection's encoder whose dynamic table stays in
// step with the peer's decoder.

import { assertEquals } from "../helpers/assert.ts";
import { HpackDecoder, hpackEncode, HpackEncoder } from "../../storeapi/hpack.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** A literal without indexing with a new name, the value given as raw bytes. */
function literal(name: string, value: Uint8Array): Uint8Array {
  if (name.length > 126 || value.length > 126) throw new Error("test helper: short strings only");
  const out = new Uint8Array(3 + name.length + value.length);
  out[0] = 0x00;
  out[1] = name.length;
  for (let i = 0; i < name.length; i++) out[2 + i] = name.charCodeAt(i);
  out[2 + name.length] = value.length;
  out.set(value, 3 + name.length);
  return out;
}

const REQUEST: [string, string][] = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];

Deno.test("HPACK decodes RFC 7541's request example without Huffman coding (C.3.1)", () => {
  assertEquals(new HpackDecoder().decode(hex("828684410f7777772e6578616d706c652e636f6d")), REQUEST);
});

Deno.test("HPACK decodes RFC 7541's request example with Huffman coding (C.4.1)", () => {
  assertEquals(new HpackDecoder().decode(hex("828684418cf1e3c2e5f23a6ba0ab90f4ff")), REQUEST);
});

Deno.test("HPACK reads non-ASCII header bytes as the latin1 TextDecoder does", () => {
  // 0x80 is the first byte outside ASCII; the decoder maps it (windows-1252) to U+20AC
  const bytes = Uint8Array.from([0x41, 0x80, 0xe9, 0x7f, 0xff]);
  const [[name, value]] = new HpackDecoder().decode(literal("x-bytes", bytes));
  assertEquals(name, "x-bytes");
  assertEquals(value, new TextDecoder("latin1").decode(bytes));
  assertEquals(value, "A\u20ac\u00e9\u007f\u00ff");
  const [[, only]] = new HpackDecoder().decode(literal("x-one", Uint8Array.from([0x80])));
  assertEquals(only, "\u20ac");
});

Deno.test("HPACK round-trips gRPC headers, short and long, ASCII and not", () => {
  const long = "v".repeat(300) + "/end";
  const headers: [string, string][] = [
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-message", "percent%20encoded"],
    ["x-empty", ""],
    ["x-long", long],
    ["traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
  ];
  assertEquals(new HpackDecoder().decode(hpackEncode(headers)), headers);
  // the encoder writes UTF-8; its bytes read back one character per byte
  const [[, utf8]] = new HpackDecoder().decode(hpackEncode([["x-utf8", "é"]]));
  assertEquals(utf8, new TextDecoder("latin1").decode(new TextEncoder().encode("é")));
  const longBytes = new Uint8Array(400).fill(0x61);
  longBytes[399] = 0x80;
  const block = hpackEncode([["x-long-bytes", "a".repeat(400)]]);
  // replace the value's last byte by 0x80: a long string with a non-ASCII byte
  block[block.length - 1] = 0x80;
  const [[, lv]] = new HpackDecoder().decode(block);
  assertEquals(lv, new TextDecoder("latin1").decode(longBytes));
});

/** A Series call's request headers as our client sends them. */
function callHeaders(tenant: string, timeout?: string): [string, string][] {
  const h: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/thanos.Store/Series"],
    [":authority", "127.0.0.1:10901"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["grpc-accept-encoding", "identity,snappy"],
    ["user-agent", "thanos-ts-grpc/1"],
    ["thanos-tenant", tenant],
  ];
  if (timeout !== undefined) h.push(["grpc-timeout", timeout]);
  return h;
}

Deno.test("HPACK encoder sends a repeated call's headers as one-byte indices the decoder reads back", () => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  const first = enc.encode(callHeaders("team-a"));
  assertEquals(dec.decode(first), callHeaders("team-a"));
  const second = enc.encode(callHeaders("team-a"));
  assertEquals(dec.decode(second), callHeaders("team-a"));
  assertEquals(second.length, callHeaders("team-a").length);
  // a new tenant: one new literal, the other fields still indices
  const third = enc.encode(callHeaders("team-b"));
  assertEquals(dec.decode(third), callHeaders("team-b"));
  assertEquals(third.length, callHeaders("team-b").length - 1 + 3 + "thanos-tenant".length + 6);
  // static table fields are indices from the first block on (":method: POST" is 3)
  assertEquals(new HpackEncoder().encode([[":method", "POST"], [":status", "200"]]), hex("8388"));
});

Deno.test("HPACK encoder never indexes values that change per call, and decodes them each time", () => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  for (const t of ["9000m", "8999m", "9000m"]) {
    const h = callHeaders("t", t);
    const block = enc.encode(h);
    assertEquals(dec.decode(block), h);
    if (t === "8999m") {
      // indices for the constant fields, the timeout a literal without indexing
      assertEquals(block.length, h.length - 1 + 3 + "grpc-timeout".length + 5);
      assertEquals(block[h.length - 1], 0x00);
    }
  }
});

Deno.test("HPACK encoder evicts its oldest entries as the decoder does, and re-sends them as literals", () => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  // 100 fields of 32 + 5 + 100 bytes: the 4096-byte table holds 29 of them at a time
  const field = (
    i: number,
  ): [string, string] => [`x-${String(i).padStart(3, "0")}`, "v".repeat(100)];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 100; i += 7) {
      const h = [field(i), field((i * 13) % 100), ["content-type", "application/grpc"]] as [
        string,
        string,
      ][];
      assertEquals(dec.decode(enc.encode(h)), h);
    }
  }
  // the newest entries are still indices
  const h = [field(98)];
  assertEquals(dec.decode(enc.encode(h)), h);
  assertEquals(enc.encode(h).length, 1);
});

Deno.test("HPACK encoder shrinks its table to the peer's SETTINGS_HEADER_TABLE_SIZE and announces it", () => {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  const h = callHeaders("team-a");
  assertEquals(dec.decode(enc.encode(h)), h);
  enc.setPeerMaxTableSize(0);
  const block = enc.encode(h);
  // a table size update to 0 first, then every non-static field a literal again
  assertEquals(block[0], 0x20);
  assertEquals(dec.decode(block), h);
  assertEquals(dec.decode(enc.encode(h)), h);
  assertEquals(enc.encode(h)[0] !== 0x20, true);
  // a peer that allows 100 bytes: the fields that fit are indexed again, the table stays in step
  const small = new HpackEncoder();
  const dec2 = new HpackDecoder();
  small.setPeerMaxTableSize(100);
  for (let i = 0; i < 4; i++) assertEquals(dec2.decode(small.encode(h)), h);
});
