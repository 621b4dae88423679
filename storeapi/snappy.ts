// Snappy *framing* (stream) format (https://github.com/google/snappy/blob/main/framing_format.txt),
// the gRPC compressor Thanos registers as "snappy"
// (https://github.com/thanos-io/thanos/blob/main/pkg/extgrpc/snappy/snappy.go): a stream identifier
// chunk, then chunks of ≤64 KiB of input, each compressed (type 0x00) or stored (0x01) with a
// masked CRC-32C of the uncompressed bytes. Block compression comes from snappyjs; the framing and
// checksums are ours. The bare block format is exported too: Prometheus remote read compresses
// whole bodies with it.

import * as snappyjs from "snappyjs";
import { crc32c } from "../tsdb/crc32c.ts";

/** A snappy-framed message is malformed: bad chunk type, checksum or length. */
export class SnappyFrameError extends Error {
  override name = "SnappyFrameError";
  constructor(readonly offset: number, detail: string) {
    super(`snappy stream at byte ${offset}: ${detail}`);
  }
}

const MAX_BLOCK = 65536;
const STREAM_ID = new Uint8Array([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);

/** Snappy block (unframed) compression of `data`. */
export function snappyBlockCompress(data: Uint8Array): Uint8Array {
  return snappyjs.compress(data) as Uint8Array;
}

/** Snappy block decompression; throws (snappyjs's Error) when corrupt or over `maxLength` bytes. */
export function snappyBlockUncompress(data: Uint8Array, maxLength: number): Uint8Array {
  return snappyjs.uncompress(data, maxLength) as Uint8Array;
}

/** Masked CRC-32C as the framing format defines it (rotate right 15, add a constant). */
export function maskedCrc32c(data: Uint8Array, start = 0, end = data.length): number {
  const c = crc32c(data, start, end);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

function putChunkHeader(out: Uint8Array, p: number, type: number, len: number, crc: number) {
  out[p] = type;
  out[p + 1] = len & 0xff;
  out[p + 2] = (len >>> 8) & 0xff;
  out[p + 3] = (len >>> 16) & 0xff;
  out[p + 4] = crc & 0xff;
  out[p + 5] = (crc >>> 8) & 0xff;
  out[p + 6] = (crc >>> 16) & 0xff;
  out[p + 7] = (crc >>> 24) & 0xff;
}

/** Compresses `data` into one self-contained snappy stream (identifier + chunks). */
export function snappyFrameEncode(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [STREAM_ID];
  let total = STREAM_ID.length;
  for (let off = 0; off < data.length || off === 0; off += MAX_BLOCK) {
    const block = data.subarray(off, Math.min(off + MAX_BLOCK, data.length));
    const crc = maskedCrc32c(block);
    const comp = snappyBlockCompress(block);
    // like Go's writer: store the block when compression saves less than 1/8
    const useComp = comp.length < block.length - (block.length >>> 3);
    const body = useComp ? comp : block;
    const chunk = new Uint8Array(8 + body.length);
    putChunkHeader(chunk, 0, useComp ? 0x00 : 0x01, body.length + 4, crc);
    chunk.set(body, 8);
    parts.push(chunk);
    total += chunk.length;
    if (data.length === 0) break;
  }
  const out = new Uint8Array(total);
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/**
 * Decompresses a snappy stream; throws SnappyFrameError when it is malformed or would exceed
 * `maxSize` bytes.
 */
export function snappyFrameDecode(data: Uint8Array, maxSize = 1 << 30): Uint8Array {
  const blocks: Uint8Array[] = [];
  let total = 0;
  let p = 0;
  let sawId = false;
  while (p < data.length) {
    if (p + 4 > data.length) throw new SnappyFrameError(p, "truncated chunk header");
    const type = data[p];
    const len = data[p + 1] | (data[p + 2] << 8) | (data[p + 3] << 16);
    const body = p + 4;
    if (body + len > data.length) {
      throw new SnappyFrameError(p, `chunk length ${len} exceeds the ${data.length - body} left`);
    }
    if (type === 0xff) {
      if (len !== 6 || data[body] !== 0x73 || data[body + 5] !== 0x59) {
        throw new SnappyFrameError(p, "bad stream identifier");
      }
      sawId = true;
    } else if (type === 0x00 || type === 0x01) {
      if (!sawId) throw new SnappyFrameError(p, "data chunk before the stream identifier");
      if (len < 4) throw new SnappyFrameError(p, "chunk too short for its checksum");
      const want = (data[body] | (data[body + 1] << 8) | (data[body + 2] << 16) |
        (data[body + 3] << 24)) >>> 0;
      const payload = data.subarray(body + 4, body + len);
      let block: Uint8Array;
      if (type === 0x00) {
        try {
          block = snappyBlockUncompress(payload, MAX_BLOCK);
        } catch (e) {
          throw new SnappyFrameError(p, `corrupt compressed block: ${(e as Error).message}`);
        }
      } else {
        if (payload.length > MAX_BLOCK) throw new SnappyFrameError(p, "stored block over 64 KiB");
        block = payload;
      }
      if (maskedCrc32c(block) !== want) throw new SnappyFrameError(p, "checksum mismatch");
      total += block.length;
      if (total > maxSize) {
        throw new SnappyFrameError(p, `decompressed size exceeds the limit of ${maxSize} bytes`);
      }
      blocks.push(block);
    } else if (type >= 0x02 && type <= 0x7f) {
      throw new SnappyFrameError(p, `reserved unskippable chunk type 0x${type.toString(16)}`);
    }
    // 0x80–0xfe: padding and reserved skippable chunks
    p = body + len;
  }
  if (blocks.length === 1) return blocks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
