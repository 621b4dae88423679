// HPACK (RFC 7541, https://www.rfc-editor.org/rfc/rfc7541) for our own HTTP/2 layers (h2server.ts,
// h2client.ts): a decoder with the dynamic table and Huffman strings, bounded by the header list
// size; a stateless encoder of literals without indexing, and a connection's encoder that indexes
// the fields every call repeats (method, path, authority, content type, tenant…), so a call's
// header block is mostly one-byte references the peer decodes without building strings.

import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from "./hpack_tables.ts";

/** A header block the decoder cannot accept: a COMPRESSION_ERROR of the connection. */
export class HpackError extends Error {
  override name = "HpackError";
}

// Huffman decoding trie: node i has children at [2i] (bit 0) and [2i+1] (bit 1); a value
// >= 0 is a child node index, -1 - sym a leaf, and -1 - 257 "no such code".
const NONE = -1 - 257;
const trie: Int32Array = (() => {
  const nodes: number[] = [NONE, NONE];
  for (let sym = 0; sym < 257; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) & 1;
      const slot = 2 * node + bit;
      if (b === 0) {
        nodes[slot] = -1 - sym;
      } else {
        if (nodes[slot] === NONE) {
          nodes[slot] = nodes.length / 2;
          nodes.push(NONE, NONE);
        }
        node = nodes[slot];
      }
    }
  }
  return Int32Array.from(nodes);
})();

function huffmanDecode(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(((end - start) * 8) / 5));
  let n = 0;
  let node = 0;
  let depth = 0; // bits consumed since the last symbol
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const next = trie[2 * node + bit];
      depth++;
      allOnes = allOnes && bit === 1;
      if (next >= 0) {
        node = next;
        continue;
      }
      if (next === NONE || next === -1 - 256) {
        throw new HpackError("invalid Huffman code");
      }
      out[n++] = -1 - next;
      node = 0;
      depth = 0;
      allOnes = true;
    }
  }
  // padding: at most 7 bits, all ones (a prefix of EOS)
  if (depth > 7 || !allOnes) throw new HpackError("invalid Huffman padding");
  return out.subarray(0, n);
}

const latin1 = new TextDecoder("latin1");
/** Strings up to this long are built in JavaScript when ASCII (most header names and values). */
const SHORT_STRING = 256;

/**
 * The text of header bytes `b[start, end)` as the decoder has always read them (the "latin1"
 * TextDecoder). Short ASCII strings, nearly every gRPC header, are built without the decoder:
 * each decoder call is a runtime op, and a call's 15–20 header strings cost ≈12 µs per call on
 * both sides of a Series call that way (issue 19, the querier–store hop).
 */
function headerText(b: Uint8Array, start: number, end: number): string {
  if (end - start > SHORT_STRING) return latin1.decode(b.subarray(start, end));
  for (let i = start; i < end; i++) {
    // non-ASCII: the decoder's own mapping (WHATWG "latin1" is windows-1252)
    if (b[i] >= 0x80) return latin1.decode(b.subarray(start, end));
  }
  return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
}

/** Blocks a decoder keeps decoded: a request's headers, or a response's headers and trailers. */
const KEPT_BLOCKS = 2;
/**
 * The largest block a decoder keeps (a gRPC call's header blocks are a few dozen to a few hundred
 * bytes): a peer's large blocks are decoded each time rather than held a second time.
 */
const KEPT_BLOCK_MAX_BYTES = 1024;

/** True when `a` and `b` hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when `a` and `b` hold the same fields in the same order. */
function sameFields(
  a: readonly (readonly [string, string])[],
  b: readonly (readonly [string, string])[],
): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1]) return false;
  }
  return true;
}

/** Decodes header blocks of one connection (its dynamic table persists across blocks). */
export class HpackDecoder {
  private dyn: [string, string][] = []; // newest first
  private dynSize = 0;
  private maxSize: number;
  /**
   * Changes of the table so far (insertions, size updates): the same bytes decode to the same
   * fields as long as this count stays.
   */
  private changes = 0;
  /** The last blocks {@link decodeRecord} decoded without a table change, with their fields. */
  private readonly kept: {
    block: Uint8Array;
    changes: number;
    fields: Readonly<Record<string, string>>;
  }[] = [];

  /** `maxTableSize` is our SETTINGS_HEADER_TABLE_SIZE; `maxListSize` bounds a decoded block. */
  constructor(private readonly maxTableSize = 4096, private readonly maxListSize = 64 << 10) {
    this.maxSize = maxTableSize;
  }

  /** Decodes one complete header block into [name, value] pairs. */
  decode(block: Uint8Array): [string, string][] {
    const out: [string, string][] = [];
    let listSize = 0;
    let p = 0;
    const int = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let v = block[p++] & mask;
      if (v < mask) return v;
      let m = 0;
      while (true) {
        if (p >= block.length) throw new HpackError("truncated integer");
        const b = block[p++];
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if (v > 0x7fffffff) throw new HpackError("integer overflow");
        if ((b & 0x80) === 0) return v;
      }
    };
    const str = (): string => {
      if (p >= block.length) throw new HpackError("truncated string");
      const huff = (block[p] & 0x80) !== 0;
      const len = int(7);
      if (len > this.maxListSize || p + len > block.length) {
        throw new HpackError("string longer than the header block");
      }
      let s: string;
      if (huff) {
        const raw = huffmanDecode(block, p, p + len);
        s = headerText(raw, 0, raw.length);
      } else s = headerText(block, p, p + len);
      p += len;
      return s;
    };
    const add = (name: string, value: string) => {
      listSize += name.length + value.length + 32;
      if (listSize > this.maxListSize) {
        throw new HpackError(`header list larger than ${this.maxListSize} bytes`);
      }
      out.push([name, value]);
    };
    let first = true;
    while (p < block.length) {
      const b = block[p];
      if (b & 0x80) { // indexed
        const [n, v] = this.entry(int(7));
        add(n, v);
      } else if (b & 0x40) { // literal with incremental indexing
        const idx = int(6);
        const name = idx === 0 ? str() : this.entry(idx)[0];
        const value = str();
        this.insert(name, value);
        add(name, value);
      } else if (b & 0x20) { // dynamic table size update (only at the start of a block)
        if (!first) throw new HpackError("table size update after a header field");
        const size = int(5);
        if (size > this.maxTableSize) throw new HpackError("table size update too large");
        this.maxSize = size;
        this.changes++;
        this.evict(0);
      } else { // literal without indexing / never indexed
        const idx = int(4);
        const name = idx === 0 ? str() : this.entry(idx)[0];
        add(name, str());
      }
      first = false;
    }
    return out;
  }

  private entry(idx: number): readonly [string, string] {
    if (idx >= 1 && idx <= STATIC_TABLE.length) return STATIC_TABLE[idx - 1];
    const d = this.dyn[idx - STATIC_TABLE.length - 1];
    if (d === undefined) throw new HpackError(`invalid header index ${idx}`);
    return d;
  }

  /**
   * One complete header block as a record (repeated names joined by ","), frozen. A peer sends
   * the same blocks again and again (a gRPC client its calls' headers, a server its answers'
   * headers and trailers): a block of the same bytes as one of the last {@link KEPT_BLOCKS}
   * blocks (of at most {@link KEPT_BLOCK_MAX_BYTES}) that changed nothing in the table is
   * answered with their fields while the table has not changed since; any other block is
   * decoded (the table must follow every block).
   */
  decodeRecord(block: Uint8Array): Readonly<Record<string, string>> {
    const kept = this.kept;
    for (let i = 0; i < kept.length; i++) {
      const k = kept[i];
      if (k.changes === this.changes && sameBytes(k.block, block)) return k.fields;
    }
    const before = this.changes;
    const fields = this.decode(block);
    const h: Record<string, string> = {};
    for (const [k, v] of fields) h[k] = h[k] === undefined ? v : `${h[k]},${v}`;
    Object.freeze(h);
    if (this.changes !== before) return h; // the kept blocks stand for nothing now
    if (block.length > KEPT_BLOCK_MAX_BYTES) return h;
    if (kept.length >= KEPT_BLOCKS) kept.shift();
    // the block may be a view of a read buffer that is filled again
    kept.push({ block: block.slice(), changes: before, fields: h });
    return h;
  }

  private insert(name: string, value: string): void {
    this.changes++;
    const size = name.length + value.length + 32;
    this.evict(size);
    if (size <= this.maxSize) {
      this.dyn.unshift([name, value]);
      this.dynSize += size;
    }
  }

  private evict(room: number): void {
    while (this.dyn.length > 0 && this.dynSize + room > this.maxSize) {
      const [n, v] = this.dyn.pop()!;
      this.dynSize -= n.length + v.length + 32;
    }
  }
}

const utf8 = new TextEncoder();

/** Writes an HPACK integer with a `prefixBits`-bit prefix at `o`; returns the end. */
function putIntAt(out: Uint8Array, o: number, prefix: number, prefixBits: number, v: number) {
  const mask = (1 << prefixBits) - 1;
  if (v < mask) {
    out[o++] = prefix | v;
    return o;
  }
  out[o++] = prefix | mask;
  v -= mask;
  while (v >= 0x80) {
    out[o++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[o++] = v;
  return o;
}

/** Writes a string literal (length-prefixed, not Huffman-coded) at `o`; returns the end. */
function putString(out: Uint8Array, o: number, s: string): number {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (!ascii) {
    const b = utf8.encode(s);
    o = putIntAt(out, o, 0, 7, b.length);
    out.set(b, o);
    return o + b.length;
  }
  // header names and most values are ASCII: one byte per character, no encoder call
  o = putIntAt(out, o, 0, 7, s.length);
  for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
  return o;
}

type FieldList = readonly (readonly [string, string])[];

/**
 * `headers` as a list, and a buffer large enough for its block of literals plus a table size
 * update: at most 3 bytes of UTF-8 per UTF-16 unit, 6 bytes per length prefix.
 */
function blockBuffer(
  headers: Iterable<readonly [string, string]>,
): { list: FieldList; out: Uint8Array } {
  const list = Array.isArray(headers) ? headers as FieldList : [...headers];
  let cap = 6;
  for (const [name, value] of list) cap += 13 + 3 * (name.length + value.length);
  return { list, out: new Uint8Array(cap) };
}

/** Encodes headers as literals without indexing (names must be lower case). */
export function hpackEncode(headers: Iterable<readonly [string, string]>): Uint8Array {
  const { list, out } = blockBuffer(headers);
  let o = 0;
  for (const [name, value] of list) {
    out[o++] = 0x00;
    o = putString(out, o, name);
    o = putString(out, o, value);
  }
  return out.subarray(0, o);
}

/** Names whose values change from call to call or are secrets: sent as literals, never indexed. */
const NOT_INDEXED = new Set([
  "grpc-timeout",
  "grpc-message",
  "traceparent",
  "tracestate",
  "grpc-trace-bin",
  "authorization",
  "cookie",
]);

/** A field larger than this (name + value + 32) is not indexed: it would evict the others. */
const MAX_INDEXED_FIELD = 512;

/**
 * Static table index of each exact field of the table (":method: POST" is 3), by name then value:
 * two lookups of the call's own strings, whose hashes V8 keeps, instead of hashing a new key.
 */
const STATIC_FIELDS: ReadonlyMap<string, ReadonlyMap<string, number>> = (() => {
  const m = new Map<string, Map<string, number>>();
  STATIC_TABLE.forEach(([n, v], i) => {
    let byValue = m.get(n);
    if (byValue === undefined) m.set(n, byValue = new Map());
    if (!byValue.has(v)) byValue.set(v, i + 1);
  });
  return m;
})();

/**
 * The encoder of one connection's header blocks (RFC 7541 §2.3): a field of the static table is
 * sent as its index; other fields are added to the dynamic table the first time (literal with
 * incremental indexing) and sent as their index from then on, except {@link NOT_INDEXED} names
 * and large fields (literals without indexing). Its table mirrors the peer's decoder only when
 * the blocks reach the peer in the order they were encoded: encode a block just before queueing
 * it for the socket, and queue header blocks in one FIFO order.
 */
export class HpackEncoder {
  /** Live entries, oldest first. */
  private entries: { name: string; value: string; size: number }[] = [];
  /** Insertion number of each live entry, by name then value (evicted ones are removed). */
  private readonly inserted = new Map<string, Map<string, number>>();
  /** Insertions so far; the entry inserted as number k has index 62 + (count - 1 - k). */
  private count = 0;
  /** Insertion number of `entries[0]`. */
  private oldest = 0;
  private size = 0;
  private maxSize: number;
  /** A smaller table size the next block must announce first (§6.3), or -1. */
  private sizeUpdate = -1;
  /** Changes of the table so far (insertions, size changes, size updates sent). */
  private changes = 0;
  /** The last block {@link encodeRepeated} encoded without a table change, with its fields. */
  private last: {
    fields: readonly (readonly [string, string])[];
    block: Uint8Array;
    changes: number;
  } | null = null;

  /** `maxSize`: the table size used, at most the peer's SETTINGS_HEADER_TABLE_SIZE (default 4096). */
  constructor(maxSize = 4096) {
    this.maxSize = maxSize;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE: a smaller one than the table's shrinks it (evicting
   * the oldest entries) and is announced at the start of the next block; a larger one is not
   * used (the table stays at most its initial size).
   */
  setPeerMaxTableSize(n: number): void {
    if (n >= this.maxSize) return;
    this.maxSize = n;
    this.changes++;
    this.evict(0);
    this.sizeUpdate = n;
  }

  /**
   * {@link encode}, but when `fields` are the same as the last block's and that block changed
   * nothing in the table (every field was indexed or a literal without indexing), and nothing
   * changed it since, that block again: the same fields would encode to the same bytes. A
   * client sends the same fields call after call (issue 19). The block is shared: not to be
   * written to.
   */
  encodeRepeated(fields: readonly (readonly [string, string])[]): Uint8Array {
    const last = this.last;
    if (last !== null && last.changes === this.changes && sameFields(last.fields, fields)) {
      return last.block;
    }
    const before = this.changes;
    const block = this.encode(fields);
    this.last = this.changes === before ? { fields, block, changes: before } : null;
    return block;
  }

  /** One header block of `headers` (names must be lower case). */
  encode(headers: Iterable<readonly [string, string]>): Uint8Array {
    const { list, out } = blockBuffer(headers);
    let o = 0;
    if (this.sizeUpdate >= 0) {
      o = putIntAt(out, o, 0x20, 5, this.sizeUpdate);
      this.sizeUpdate = -1;
      this.changes++;
    }
    for (const [name, value] of list) {
      const st = STATIC_FIELDS.get(name)?.get(value);
      if (st !== undefined) {
        o = putIntAt(out, o, 0x80, 7, st);
        continue;
      }
      let byValue = this.inserted.get(name);
      const k = byValue?.get(value);
      if (k !== undefined) {
        o = putIntAt(out, o, 0x80, 7, STATIC_TABLE.length + this.count - k);
        continue;
      }
      const size = name.length + value.length + 32;
      if (
        NOT_INDEXED.has(name) || size > MAX_INDEXED_FIELD || size > this.maxSize ||
        !ascii(name) || !ascii(value)
      ) {
        out[o++] = 0x00;
      } else {
        out[o++] = 0x40;
        this.changes++;
        this.evict(size);
        this.entries.push({ name, value, size });
        // the eviction may have dropped this name's map with its last value
        byValue = this.inserted.get(name);
        if (byValue === undefined) this.inserted.set(name, byValue = new Map());
        byValue.set(value, this.count++);
        this.size += size;
      }
      o = putString(out, o, name);
      o = putString(out, o, value);
    }
    return out.subarray(0, o);
  }

  /** Evicts the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    let i = 0;
    while (i < this.entries.length && this.size + room > this.maxSize) {
      const e = this.entries[i++];
      this.size -= e.size;
      const byValue = this.inserted.get(e.name)!;
      if (byValue.get(e.value) === this.oldest) byValue.delete(e.value);
      if (byValue.size === 0) this.inserted.delete(e.name);
      this.oldest++;
    }
    if (i > 0) this.entries = this.entries.slice(i);
  }
}

/**
 * True for ASCII text: the decoder's table holds the strings it decoded, so a field is indexed
 * only when its characters and its bytes on the wire are the same (sizes count characters).
 */
function ascii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
