// UTF-8 lengths without encoding: protobuf sizes, index symbol sizes, `tsdb analyze` byte counts.

/**
 * Number of UTF-8 bytes of `s` as TextEncoder writes it (a lone surrogate becomes U+FFFD, 3
 * bytes), without encoding it. ASCII costs one compare per code unit.
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        // surrogate pair: 2 UTF-16 units → 4 bytes
        n += 2;
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}
