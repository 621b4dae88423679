// Go-compatible quoting: `strconv.Quote` / `strconv.QuoteRune` (the `%q` verb), as Prometheus
// prints label values, matchers and string literals in its messages.

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** True when Go's `unicode.IsPrint` would accept code point `cp`. */
export function isGoPrintable(cp: number): boolean {
  if (cp === 0x20) return true;
  if (cp < 0x20 || cp === 0x7f) return false;
  return PRINTABLE.test(String.fromCodePoint(cp));
}

function escapeRune(cp: number, quote: number): string {
  if (cp === quote || cp === 0x5c) return "\\" + String.fromCodePoint(cp);
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // a lone surrogate is what Go calls an invalid rune
  if (isGoPrintable(cp)) return String.fromCodePoint(cp);
  switch (cp) {
    case 0x07:
      return "\\a";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x0b:
      return "\\v";
  }
  if (cp < 0x20 || cp === 0x7f) return "\\x" + cp.toString(16).padStart(2, "0");
  if (cp < 0x10000) return "\\u" + cp.toString(16).padStart(4, "0");
  return "\\U" + cp.toString(16).padStart(8, "0");
}

// Printable ASCII without `"` and `\`: strconv.Quote leaves such strings as they are.
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Go `strconv.Quote` (`%q`): double-quoted, Go escapes, printable Unicode kept as is. */
export function goQuote(s: string): string {
  // the common case (label values in promtool dump) skips the per-rune walk
  if (PLAIN_ASCII.test(s)) return '"' + s + '"';
  let out = '"';
  for (const ch of s) out += escapeRune(ch.codePointAt(0)!, 0x22);
  return out + '"';
}

/** Go `strconv.QuoteRune` (`%q` of a rune); -1 (end of input) prints as the replacement char. */
export function goQuoteRune(cp: number): string {
  if (cp < 0 || cp > 0x10ffff) cp = 0xfffd;
  return "'" + escapeRune(cp, 0x27) + "'";
}

/**
 * Go `strconv.Quote` of a byte string: valid UTF-8 runs print as {@link goQuote} does, each
 * byte that starts no valid UTF-8 sequence prints as `\xNN` (as Go quotes invalid bytes).
 */
export function goQuoteBytes(b: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const n = utf8SeqLength(b, i);
    if (n === 0) {
      out += "\\x" + b[i].toString(16).padStart(2, "0");
      i++;
      continue;
    }
    const ch = new TextDecoder().decode(b.subarray(i, i + n));
    out += escapeRune(ch.codePointAt(0)!, 0x22);
    i += n;
  }
  return out + '"';
}

/** Length of the valid UTF-8 sequence at `b[i]`, or 0 when it is not one (Go's rules). */
function utf8SeqLength(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) =>
    i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf; // no surrogates
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
