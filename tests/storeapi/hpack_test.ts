// HPACK header strings (storeapi/hpack.ts), which both our HTTP/2 sides decode on every gRPC call:
// RFC 7541's own examples (plain and Huffman-coded literals), and the text of every byte exactly
// as the "latin1" TextDecoder reads it, whether a string takes the short ASCII path or the
// decoder (non-ASCII bytes, long strings).

import { assertEquals } from "../helpers/assert.ts";
import { HpackDecoder, hpackEncode } from "../../storeapi/hpack.ts";

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
