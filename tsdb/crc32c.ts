// CRC-32C (Castagnoli), the checksum of every TSDB section, chunk record and WAL record.
// Slicing-by-8 tables: ~1 GB/s in V8, no allocation per call.

const POLY = 0x82f63b78;
const TABLES: Uint32Array[] = (() => {
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0][i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[0][i];
    for (let k = 1; k < 8; k++) {
      c = t[0][c & 0xff] ^ (c >>> 8);
      t[k][i] = c >>> 0;
    }
  }
  return t;
})();

/**
 * Continues a CRC-32C over `data[start, end)` from a previous raw state.
 * Pass `crc32cInit()` first and finish with `crc32cFinish()`; or use {@link crc32c}.
 */
export function crc32cUpdate(
  state: number,
  data: Uint8Array,
  start = 0,
  end = data.length,
): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = state >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    c = t7[c & 0xff] ^ t6[(c >>> 8) & 0xff] ^ t5[(c >>> 16) & 0xff] ^ t4[c >>> 24] ^
      t3[data[i + 4]] ^ t2[data[i + 5]] ^ t1[data[i + 6]] ^ t0[data[i + 7]];
  }
  for (; i < end; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** Initial raw CRC state. */
export function crc32cInit(): number {
  return 0xffffffff;
}

/** Final XOR of a raw CRC state, giving the checksum value. */
export function crc32cFinish(state: number): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** CRC-32C of `data[start, end)` as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  return crc32cFinish(crc32cUpdate(0xffffffff, data, start, end));
}
