// A client's calls repeat their request header fields (issue 19): the gRPC channel reuses the
// previous call's field list (same method, same frozen metadata, no deadline) and the HTTP/2
// connection sends the previous header block again when it changed nothing in the table; the
// decoders of both sides answer a repeated block from the fields they decoded it to.
// What must hold: every block the server decodes is exactly the fields of its own call, in
// order, whatever came before it (other fields, new table entries, a smaller peer table).

import { assert, assertEquals } from "../helpers/assert.ts";
import { h2Frame, RecordingConn } from "../helpers/h2_raw.ts";
import { TenantRecorder } from "../helpers/tenant_recorder.ts";
import { H2ClientConnection } from "../../storeapi/h2client.ts";
import { S_HEADER_TABLE_SIZE, T_HEADERS } from "../../storeapi/h2frame.ts";
import { HpackDecoder, hpackEncode, HpackEncoder } from "../../storeapi/hpack.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcChannel } from "../../storeapi/grpc.ts";
import { STORE_METHODS, StoreServer } from "../../storeapi/server.ts";
import {
  encodeSeriesRequest,
  PartialResponseStrategy,
  type SeriesRequest,
} from "../../storeapi/codec.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 1));
}

/** The HEADERS payloads (END_HEADERS, no padding or priority from our client) in write order. */
function headerBlocks(writes: Uint8Array[], skip: number): Uint8Array[] {
  const all = new Uint8Array(writes.reduce((n, w) => n + w.length, 0));
  let o = 0;
  for (const w of writes) {
    all.set(w, o);
    o += w.length;
  }
  const out: Uint8Array[] = [];
  for (let p = skip; p + 9 <= all.length;) {
    const len = (all[p] << 16) | (all[p + 1] << 8) | all[p + 2];
    if (all[p + 3] === T_HEADERS) out.push(all.slice(p + 9, p + 9 + len));
    p += 9 + len;
  }
  return out;
}

function settings(pairs: [number, number][]): Uint8Array {
  const b = new Uint8Array(6 * pairs.length);
  const dv = new DataView(b.buffer);
  pairs.forEach(([k, v], i) => {
    dv.setUint16(6 * i, k);
    dv.setUint32(6 * i + 2, v);
  });
  return h2Frame(0x4, 0, 0, b);
}

const PREFACE_BYTES = 24;

function call(tenant: string, extra: [string, string][] = []): [string, string][] {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/thanos.Store/Series"],
    [":authority", "127.0.0.1:10901"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
    ["thanos-tenant", tenant],
  ];
}

Deno.test("h2 client: each request's header block decodes to its own fields, repeated or not", async () => {
  const conn = new RecordingConn();
  const c = H2ClientConnection.over(conn);
  try {
    conn.feed(h2Frame(0x4, 0, 0, new Uint8Array(0))); // the server's SETTINGS
    await settle();
    const sent = [
      call("default-tenant"), // new entries
      call("default-tenant"), // indexes only
      call("default-tenant"), // the same again
      call("team-a"), // one new value
      call("default-tenant"),
      call("default-tenant"),
      call("default-tenant", [["grpc-timeout", "100m"]]), // a literal never indexed
      call("default-tenant"),
      call("default-tenant").map(([k, v]): [string, string] => [k, k === ":path" ? "/x" : v]),
      call("default-tenant"),
    ];
    for (const fields of sent) {
      // a new list with equal strings each time, as well as the very same list
      await c.request(fields, new Uint8Array(0), new AbortController().signal);
      await c.request(fields.slice(), new Uint8Array(0), new AbortController().signal);
    }
    await settle();
    const dec = new HpackDecoder();
    const blocks = headerBlocks(conn.writes, PREFACE_BYTES);
    assertEquals(blocks.length, 2 * sent.length);
    assertEquals(
      blocks.map((b) => dec.decode(b)),
      sent.flatMap((f) => [f, f]),
    );
  } finally {
    c.close();
    conn.close();
  }
});

Deno.test("h2 client: after the peer shrinks its table the next block announces it and decodes", async () => {
  const conn = new RecordingConn();
  const c = H2ClientConnection.over(conn);
  try {
    conn.feed(h2Frame(0x4, 0, 0, new Uint8Array(0)));
    await settle();
    for (let i = 0; i < 3; i++) {
      await c.request(call("default-tenant"), new Uint8Array(0), new AbortController().signal);
    }
    await settle();
    // the server's decoder has no room for a table any more
    conn.feed(settings([[S_HEADER_TABLE_SIZE, 0]]));
    await settle();
    for (let i = 0; i < 2; i++) {
      await c.request(call("default-tenant"), new Uint8Array(0), new AbortController().signal);
    }
    await settle();
    const blocks = headerBlocks(conn.writes, PREFACE_BYTES);
    assertEquals(blocks.length, 5);
    // RFC 7541 §4.2: the first block after the change starts with a table size update to 0
    assertEquals(blocks[3][0], 0x20);
    const dec = new HpackDecoder();
    for (const b of blocks) assertEquals(dec.decode(b), call("default-tenant"));
  } finally {
    c.close();
    conn.close();
  }
});

/** A small random generator (xorshift32), seeded: the same sequence every run. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

Deno.test("hpack: repeated blocks are the bytes plain encoding gives and decode to what plain decoding gives", () => {
  const rand = rng(19);
  // two encoders and two decoders of one connection each: the repeating ones against the plain
  const repEnc = new HpackEncoder();
  const plainEnc = new HpackEncoder();
  const repDec = new HpackDecoder();
  const plainDec = new HpackDecoder();
  // blocks reach the decoder as views of one reused read buffer, as from a socket
  const readBuf = new Uint8Array(64 << 10);
  let repeats = 0;
  let decodedAgain = 0;
  let last: Uint8Array | null = null;
  let lastGot: Readonly<Record<string, string>> | null = null;
  for (let i = 0; i < 3000; i++) {
    const r = rand();
    let fields: [string, string][];
    if (r < 0.5) fields = call("default-tenant");
    else if (r < 0.6) fields = call(`team-${Math.floor(rand() * 40)}`); // new entries, evictions
    else if (r < 0.7) fields = call("default-tenant", [["grpc-timeout", `${i}m`]]); // not indexed
    else if (r < 0.8) fields = call("t", [["x-long", "v".repeat(Math.floor(rand() * 300))]]);
    else if (r < 0.9) {
      // the same names, another value of the last one
      fields = call("default-tenant").map(([k, v]): [string, string] => [k, k === "te" ? "x" : v]);
    } else fields = [[":status", "200"], ["content-type", "application/grpc"]];
    if (rand() < 0.01) {
      const size = Math.floor(rand() * 4096);
      repEnc.setPeerMaxTableSize(size);
      plainEnc.setPeerMaxTableSize(size);
    }
    const block = repEnc.encodeRepeated(fields.map(([k, v]): [string, string] => [k, v]));
    const plain = plainEnc.encode(fields);
    assertEquals(block, plain, `block ${i}`);
    readBuf.set(block);
    const got = repDec.decodeRecord(readBuf.subarray(0, block.length));
    const want: Record<string, string> = {};
    for (const [k, v] of plainDec.decode(plain)) {
      want[k] = want[k] === undefined ? v : `${want[k]},${v}`;
    }
    assertEquals(got, want, `block ${i}`);
    assert(Object.isFrozen(got));
    if (got === lastGot) decodedAgain++;
    lastGot = got;
    readBuf.fill(0x80, 0, block.length + 8); // the next read overwrites the buffer
    if (block === last) repeats++;
    last = block;
  }
  // many blocks were repeats on both sides (else the test would not test them)
  assert(repeats > 300 && decodedAgain > 300, `${repeats} repeats, ${decodedAgain} kept`);
});

Deno.test("hpack: a kept block's dynamic index means the newest entry of the table as it is now", () => {
  const dec = new HpackDecoder();
  const newest = Uint8Array.of(0xbe); // index 62: the newest entry of the dynamic table
  // a literal with incremental indexing, new name "a" = "1"
  assertEquals(dec.decodeRecord(Uint8Array.of(0x40, 1, 0x61, 1, 0x31)), { a: "1" });
  const first = dec.decodeRecord(newest);
  assertEquals(first, { a: "1" });
  assert(dec.decodeRecord(newest) === first); // kept: not decoded again
  assertEquals(dec.decodeRecord(Uint8Array.of(0x40, 1, 0x62, 1, 0x32)), { b: "2" });
  assertEquals(dec.decodeRecord(newest), { b: "2" });
  // a size update to 0 empties the table: the kept block's index is invalid now
  dec.decodeRecord(Uint8Array.of(0x20));
  let failed = false;
  try {
    dec.decodeRecord(newest);
  } catch {
    failed = true;
  }
  assert(failed, "an index into an empty table must fail");
  // a large block (a literal without indexing of 2,000 chars) is decoded each time, not kept
  const big = hpackEncode([["d", "z".repeat(2000)]]);
  const once = dec.decodeRecord(big);
  assertEquals(once.d.length, 2000);
  const again = dec.decodeRecord(big);
  assertEquals(again, once);
  assert(again !== once, "a block above the kept size is decoded again");
  // repeated names are joined as HTTP/2 allows
  assertEquals(
    dec.decodeRecord(Uint8Array.of(0x00, 1, 0x63, 1, 0x78, 0x00, 1, 0x63, 1, 0x79)),
    { c: "x,y" },
  );
});

Deno.test("hpack: encodeRepeated gives the same block only while the table is unchanged", () => {
  const enc = new HpackEncoder();
  const f = call("t");
  const b1 = enc.encodeRepeated(f);
  const b2 = enc.encodeRepeated(f);
  assert(b1 !== b2, "the first block added entries: the next one is indexes");
  assert(enc.encodeRepeated(f.slice()) === b2);
  // another value of one field is another block
  const g = f.map(([k, v]): [string, string] => [k, k === "thanos-tenant" ? "u" : v]);
  assert(enc.encodeRepeated(g) !== b2);
  const b3 = enc.encodeRepeated(f);
  assert(b3 !== b2); // "u" was added: the dynamic indexes moved by one
  assertEquals(new HpackDecoder().decode(b1), f);
  assert(enc.encodeRepeated(f) === b3);
  enc.setPeerMaxTableSize(100);
  const b4 = enc.encodeRepeated(f);
  assertEquals(b4[0] & 0xe0, 0x20); // the size update comes first
});

Deno.test("h2 client: repeated response header blocks decode to their fields while the table changes", async () => {
  const conn = new RecordingConn();
  const c = H2ClientConnection.over(conn);
  try {
    conn.feed(h2Frame(0x4, 0, 0, new Uint8Array(0)));
    await settle();
    // the server's encoder: headers and trailers, new table entries now and then
    const enc = new HpackEncoder();
    const answers: [string, string][][][] = [];
    const ok: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"]];
    const trailers = (code: string, msg: string): [string, string][] => [
      ["grpc-status", code],
      ["grpc-message", msg],
    ];
    // after a new entry, the same bytes can stand for other fields: the trailers "grpc-status:
    // 13" of the third answer are the bytes that meant "grpc-status: 0" in the second
    const xNew: [string, string][] = [[":status", "200"], ["x-new", "one"]];
    const heads: [string, string][][] = [
      ok,
      ok,
      ok,
      ok,
      ok,
      xNew,
      xNew,
      ok,
      [
        ...xNew,
        ["x-other", "two"],
      ],
      ok,
      ok,
      ok,
    ];
    const codes = ["0", "0", "13", "13", "0", "0", "0", "0", "0", "0", "0", "0"];
    heads.forEach((head, i) => {
      answers.push([head, trailers(codes[i], i === 10 ? "bad" : "")]);
    });
    for (const [head, trail] of answers) {
      const s = await c.request(call("t"), new Uint8Array(0), new AbortController().signal);
      conn.feed(h2Frame(0x1, 0x4, s.id, enc.encode(head)));
      conn.feed(h2Frame(0x1, 0x4 | 0x1, s.id, enc.encode(trail)));
      await s.waitHeaders();
      while (await s.read() !== null) { /* no data */ }
      assertEquals(s.headers, Object.fromEntries(head));
      assertEquals(s.trailers, Object.fromEntries(trail));
    }
  } finally {
    c.close();
    conn.close();
  }
});

const SERIES: SeriesRequest = {
  minTime: 0,
  maxTime: 10,
  matchers: [new Matcher(MatchType.Equal, "__name__", "up")],
  partialResponseStrategy: PartialResponseStrategy.ABORT,
};

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) { /* nothing */ }
}

Deno.test("store client: repeated calls carry each call's own tenant and metadata", async () => {
  const rec = new TenantRecorder();
  const server = new StoreServer(rec, { serving: true });
  const { port } = await server.listen("127.0.0.1", 0);
  const client = new StoreClient(`127.0.0.1:${port}`);
  const channel = new GrpcChannel(`127.0.0.1:${port}`);
  try {
    const signal = new AbortController().signal;
    const tenants = ["a", "a", "a", "b", "a", undefined, "a", "b", "b"];
    for (const t of tenants) {
      await drain(client.series(SERIES, signal, t === undefined ? undefined : { tenant: t }));
    }
    assertEquals(rec.tenants, tenants);
    // metadata that is not frozen may change between calls: each call sends what it holds
    rec.tenants.length = 0;
    const md: Record<string, string> = { "thanos-tenant": "x" };
    const req = encodeSeriesRequest(SERIES);
    await drain(channel.serverStream(STORE_METHODS.series, req, { metadata: md }));
    md["thanos-tenant"] = "y";
    await drain(channel.serverStream(STORE_METHODS.series, req, { metadata: md }));
    // a frozen object of other metadata, then one with a deadline, then the first again
    const frozen = Object.freeze({ "thanos-tenant": "z" });
    const other = Object.freeze({ "thanos-tenant": "w" });
    await drain(channel.serverStream(STORE_METHODS.series, req, { metadata: frozen }));
    await drain(channel.serverStream(STORE_METHODS.series, req, { metadata: frozen }));
    await drain(channel.serverStream(STORE_METHODS.series, req, { metadata: other }));
    await drain(
      channel.serverStream(STORE_METHODS.series, req, { metadata: frozen, timeoutMs: 5000 }),
    );
    await drain(channel.serverStream(STORE_METHODS.series, req, { metadata: frozen }));
    assertEquals(rec.tenants, ["x", "y", "z", "z", "w", "z", "z"]);
  } finally {
    channel.close();
    client.close();
    await server.close();
  }
});
