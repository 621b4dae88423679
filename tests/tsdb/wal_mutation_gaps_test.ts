// Exact-value checks found missing by the mutation check (scripts/mutations.ts, issue 21): the
// fragment sequence rules of the WAL reader on hand-made segments, and one-byte negative deltas in
// samples records. Format:
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/format/wal.md

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { crc32c } from "../../tsdb/crc32c.ts";
import { decodeSamples, encodeSamples } from "../../tsdb/wal/records.ts";
import { readRecords, segmentName, WalCorruptionError } from "../../tsdb/wal/wal.ts";

const FULL = 1, FIRST = 2, MIDDLE = 3, LAST = 4;

/** One fragment: type, big-endian uint16 length, big-endian CRC32C of the data, the data. */
function frag(type: number, text: string): Uint8Array {
  const data = new TextEncoder().encode(text);
  const out = new Uint8Array(7 + data.length);
  const crc = crc32c(data, 0, data.length);
  out[0] = type;
  out[1] = data.length >> 8;
  out[2] = data.length & 0xff;
  out[3] = crc >>> 24;
  out[4] = (crc >>> 16) & 0xff;
  out[5] = (crc >>> 8) & 0xff;
  out[6] = crc & 0xff;
  out.set(data, 7);
  return out;
}

async function readSegment(dir: string, frags: Uint8Array[]): Promise<string[] | Error> {
  const bytes = new Uint8Array(frags.reduce((n, f) => n + f.length, 0));
  let p = 0;
  for (const f of frags) {
    bytes.set(f, p);
    p += f.length;
  }
  await Deno.writeFile(segmentName(dir, 0), bytes);
  const out: string[] = [];
  try {
    for await (const r of readRecords(dir)) out.push(new TextDecoder().decode(r));
  } catch (e) {
    return e as Error;
  }
  return out;
}

Deno.test("wal reader: fragment sequences on hand-made segments", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  // well-formed: full, then first + middle + last
  assertEquals(
    await readSegment(dir, [
      frag(FULL, "one"),
      frag(FIRST, "tw"),
      frag(MIDDLE, "o-"),
      frag(LAST, "2"),
    ]),
    ["one", "two-2"],
  );
  // a last fragment with no first fragment before it
  const orphan = await readSegment(dir, [frag(FULL, "one"), frag(LAST, "xyz")]);
  assert(orphan instanceof WalCorruptionError, String(orphan));
  assertEquals(orphan.segment, 0);
  assertEquals(orphan.offset, 10, "offset of the orphan fragment");
  assert(orphan.message.includes("unexpected last fragment"), orphan.message);
  // a middle fragment with no first fragment before it
  const orphanMiddle = await readSegment(dir, [frag(MIDDLE, "xyz")]);
  assert(orphanMiddle instanceof WalCorruptionError, String(orphanMiddle));
  assertEquals(orphanMiddle.offset, 0);
  // a new first fragment while a record is open: the open record is torn
  const torn = await readSegment(dir, [frag(FIRST, "ab"), frag(FIRST, "cd"), frag(LAST, "ef")]);
  assert(torn instanceof WalCorruptionError, String(torn));
  assertEquals(torn.offset, 0, "offset of the torn record's first fragment");
  assert(torn.message.includes("record torn"), torn.message);
  // a full fragment while a record is open: torn as well
  const torn2 = await readSegment(dir, [frag(FIRST, "ab"), frag(FULL, "cd")]);
  assert(torn2 instanceof WalCorruptionError, String(torn2));
  assertEquals(torn2.offset, 0);
});

Deno.test("wal records: one-byte negative time and ref deltas decode exactly", () => {
  // deltas against the first sample are zig-zag varints; -5 and -1 take one byte each
  const b = {
    n: 4,
    refs: new Float64Array([10, 9, 10, 12]),
    ts: new Float64Array([1000, 995, 1001, 999]),
    vs: new Float64Array([1, 2, 3, 4]),
  };
  const d = decodeSamples(encodeSamples(b));
  assertEquals(d.n, 4);
  assertEquals(Array.from(d.refs), [10, 9, 10, 12]);
  assertEquals(Array.from(d.ts), [1000, 995, 1001, 999]);
  assertEquals(Array.from(d.vs), [1, 2, 3, 4]);
});
