// Label matchers with Prometheus 2.42 semantics: `=`, `!=`, `=~`, `!~`. Regexes are Go RE2
// syntax, fully anchored, and are translated to an equivalent JS RegExp (`u` flag) here:
// RE2-only syntax is rewritten, JS-only syntax (backreferences, lookaround) is rejected, and
// `.` does not match `\n` as in 2.x. Literal sets, `.*`, `.+` and `.*lit.*` get fast paths.

/** Matcher operator. */
export enum MatchType {
  Equal = "=",
  NotEqual = "!=",
  Regexp = "=~",
  NotRegexp = "!~",
}

/** A regex matcher's pattern is not valid RE2 (or uses RE2 syntax we cannot translate). */
export class InvalidRegexError extends Error {
  override name = "InvalidRegexError";
}

// ---------------------------------------------------------------------------------------------
// Go-compatible quoting (strconv.Quote / QuoteRune), shared with the PromQL printer.

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

// ---------------------------------------------------------------------------------------------
// RE2 parser. Produces a small AST that is both emitted as JS source and analysed for fast paths.

const MAX_CP = 0x10ffff;
const MAX_REPEAT = 1000; // RE2's limit on {n,m}
const MAX_SET_MATCHES = 256; // as Prometheus's later SetMatches bound

interface Flags {
  fold: boolean; // (?i)
  multiLine: boolean; // (?m)
  dotNL: boolean; // (?s)
  ungreedy: boolean; // (?U)
}

type ReNode =
  | { k: "lit"; cps: number[]; fold: boolean }
  | { k: "class"; ranges: number[]; props: string[]; neg: boolean; fold: boolean }
  | { k: "any"; nl: boolean }
  | { k: "assert"; src: string } // emitted verbatim: ^, $, \b, \B, lookarounds for (?m)
  | { k: "group"; cap: number; name: string; sub: ReNode } // cap 0 = non-capturing
  | { k: "concat"; subs: ReNode[] }
  | { k: "alt"; subs: ReNode[] }
  | { k: "rep"; sub: ReNode; min: number; max: number; greedy: boolean }; // max -1 = unbounded

const PERL_CLASSES: Record<string, number[]> = {
  d: [0x30, 0x39],
  s: [0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x20],
  w: [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a],
};

const POSIX_CLASSES: Record<string, number[]> = {
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  ascii: [0x00, 0x7f],
  blank: [0x09, 0x09, 0x20, 0x20],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
  digit: [0x30, 0x39],
  graph: [0x21, 0x7e],
  lower: [0x61, 0x7a],
  print: [0x20, 0x7e],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  space: [0x09, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  word: [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a],
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};

// Go's unicode.Categories (the names RE2 accepts as \p{..} besides scripts and "Any").
const CATEGORIES = new Set(
  (
    "C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps " +
    "S Sc Sk Sm So Z Zl Zp Zs"
  ).split(" "),
);

/** Complement of sorted, merged code point ranges over [0, 0x10FFFF]. */
function negateRanges(r: number[]): number[] {
  const s = sortRanges(r);
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < s.length; i += 2) {
    if (s[i] > next) out.push(next, s[i] - 1);
    next = s[i + 1] + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}

function sortRanges(r: number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < r.length; i += 2) pairs.push([r[i], r[i + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], hi);
    else out.push(lo, hi);
  }
  return out;
}

function isAlnumCode(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Parses Go RE2 syntax (Perl flags, as `regexp.Compile`) into a {@link ReNode} tree. */
class Re2Parser {
  private pos = 0;
  private readonly cps: number[];
  private capCount = 0;
  readonly names: string[] = [""]; // capture index → name ("" when unnamed)

  constructor(private readonly pattern: string) {
    this.cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  }

  /** Go's exact text: `error parsing regexp: <code>: \`<offending fragment>\``. */
  private err(code: string, fragment: string): InvalidRegexError {
    return new InvalidRegexError(`error parsing regexp: ${code}: \`${fragment}\``);
  }

  /** The string Go actually compiles (error fragments that span the whole pattern show it). */
  private wrapped(): string {
    return `^(?:${this.pattern})$`;
  }

  private text(from: number, to = this.cps.length): string {
    return String.fromCodePoint(...this.cps.slice(from, to));
  }

  parse(): ReNode {
    const flags: Flags = { fold: false, multiLine: false, dotNL: false, ungreedy: false };
    const node = this.parseAlt(flags, 0);
    if (this.pos < this.cps.length) {
      // only a `)` stops parseAlt before the end
      throw this.err("unexpected )", this.wrapped());
    }
    return node;
  }

  private parseAlt(flags: Flags, depth: number): ReNode {
    const alts: ReNode[] = [this.parseConcat(flags, depth)];
    while (this.pos < this.cps.length && this.cps[this.pos] === 0x7c /* | */) {
      this.pos++;
      alts.push(this.parseConcat(flags, depth));
    }
    return alts.length === 1 ? alts[0] : { k: "alt", subs: alts };
  }

  private parseConcat(flags: Flags, depth: number): ReNode {
    const items: ReNode[] = [];
    // `lastRepeatStart` marks where the last repetition operator began, for Go's
    // "invalid nested repetition operator" (a** or a{2}{3}).
    let lastWasRepeat = false;
    let lastRepeatStart = -1;
    while (this.pos < this.cps.length) {
      const c = this.cps[this.pos];
      if (c === 0x7c /* | */ || c === 0x29 /* ) */) {
        if (c === 0x29 && depth === 0) throw this.err("unexpected )", this.wrapped());
        break;
      }
      const start = this.pos;
      if (c === 0x2a || c === 0x2b || c === 0x3f /* * + ? */) {
        this.pos++;
        const min = c === 0x2b ? 1 : 0;
        const max = c === 0x3f ? 1 : -1;
        this.applyRepeat(items, flags, min, max, start, lastWasRepeat, lastRepeatStart);
        lastWasRepeat = true;
        lastRepeatStart = start;
        continue;
      }
      if (c === 0x7b /* { */) {
        const rep = this.tryParseRepeat();
        if (rep !== null) {
          this.applyRepeat(items, flags, rep[0], rep[1], start, lastWasRepeat, lastRepeatStart);
          lastWasRepeat = true;
          lastRepeatStart = start;
          continue;
        }
        // not a valid repeat: a literal `{`, as in Go
      }
      lastWasRepeat = false;
      const item = this.parseAtom(flags, depth);
      if (item !== null) items.push(item);
    }
    if (items.length === 1) return items[0];
    return { k: "concat", subs: items };
  }

  private applyRepeat(
    items: ReNode[],
    flags: Flags,
    min: number,
    max: number,
    start: number,
    lastWasRepeat: boolean,
    lastRepeatStart: number,
  ): void {
    let greedy = true;
    if (this.pos < this.cps.length && this.cps[this.pos] === 0x3f /* ? */) {
      this.pos++;
      greedy = false;
    }
    if (flags.ungreedy) greedy = !greedy;
    const opText = this.text(start, this.pos);
    if (lastWasRepeat) {
      throw this.err("invalid nested repetition operator", this.text(lastRepeatStart, this.pos));
    }
    const prev = items.pop();
    if (prev === undefined) throw this.err("missing argument to repetition operator", opText);
    if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
      throw this.err("invalid repeat count", opText);
    }
    items.push({ k: "rep", sub: prev, min, max, greedy });
  }

  /** `{n}`, `{n,}`, `{n,m}` at pos → [min, max] and advances; null (pos unchanged) otherwise. */
  private tryParseRepeat(): [number, number] | null {
    let p = this.pos + 1;
    const num = (): number => {
      const s = p;
      while (p < this.cps.length && this.cps[p] >= 0x30 && this.cps[p] <= 0x39) p++;
      if (p === s) return -2;
      // RE2 treats numbers too large to parse as an invalid repeat count
      const v = Number(this.text(s, p));
      return v > 1e8 ? MAX_REPEAT + 1 : v;
    };
    const min = num();
    if (min === -2) return null;
    let max = min;
    if (p < this.cps.length && this.cps[p] === 0x2c /* , */) {
      p++;
      if (p < this.cps.length && this.cps[p] === 0x7d) max = -1;
      else {
        max = num();
        if (max === -2) return null;
      }
    }
    if (p >= this.cps.length || this.cps[p] !== 0x7d /* } */) return null;
    this.pos = p + 1;
    return [min, max];
  }

  private parseAtom(flags: Flags, depth: number): ReNode | null {
    const c = this.cps[this.pos];
    switch (c) {
      case 0x28: // (
        return this.parseGroup(flags, depth);
      case 0x5b: // [
        return this.parseClass(flags);
      case 0x2e: // .
        this.pos++;
        return { k: "any", nl: flags.dotNL };
      case 0x5e: // ^
        this.pos++;
        return { k: "assert", src: flags.multiLine ? "(?:^|(?<=\\n))" : "^" };
      case 0x24: // $
        this.pos++;
        return { k: "assert", src: flags.multiLine ? "(?:$|(?=\\n))" : "$" };
      case 0x5c: // backslash
        return this.parseEscapeAtom(flags);
      default:
        this.pos++;
        return { k: "lit", cps: [c], fold: flags.fold };
    }
  }

  private parseGroup(flags: Flags, depth: number): ReNode | null {
    const start = this.pos;
    this.pos++;
    let cap = 0;
    let name = "";
    const inner: Flags = { ...flags };
    if (this.cps[this.pos] === 0x3f /* ? */) {
      const next = this.cps[this.pos + 1];
      if (next === 0x50 /* P */ && this.cps[this.pos + 2] === 0x3c /* < */) {
        const end = this.cps.indexOf(0x3e, /* > */ this.pos);
        if (end < 0) throw this.err("invalid named capture", this.text(start));
        name = this.text(this.pos + 3, end);
        if (!/^[A-Za-z0-9_]+$/.test(name)) {
          throw this.err("invalid named capture", this.text(start, end + 1));
        }
        this.pos = end + 1;
        cap = ++this.capCount;
        this.names.push(name);
      } else {
        if (next === 0x3d || next === 0x21 || next === 0x3c) { // (?= (?! (?<
          // lookahead, lookbehind and (?<name>) are JS-only syntax (Go 1.19's RE2)
          throw this.err("invalid or unsupported Perl syntax", this.text(start, this.pos + 2));
        }
        // flags: (?flags) or (?flags:re), as Go's parsePerlFlags
        let p = this.pos + 1;
        let neg = false;
        let sawFlag = false;
        for (;;) {
          if (p >= this.cps.length) {
            // Go sees the `)` of its `^(?:…)$` wrapper close the flag group
            throw this.err("missing closing )", this.wrapped());
          }
          const f = this.cps[p++];
          if (f === 0x69 || f === 0x6d || f === 0x73 || f === 0x55) { // i m s U
            const v = !neg;
            if (f === 0x69) inner.fold = v;
            else if (f === 0x6d) inner.multiLine = v;
            else if (f === 0x73) inner.dotNL = v;
            else inner.ungreedy = v;
            sawFlag = true;
            continue;
          }
          if (f === 0x2d /* - */ && !neg) {
            neg = true;
            sawFlag = false;
            continue;
          }
          if ((f === 0x3a /* : */ || f === 0x29 /* ) */) && (!neg || sawFlag)) {
            this.pos = p;
            if (f === 0x29) {
              // (?flags) applies to the rest of the current group
              Object.assign(flags, inner);
              return null;
            }
            break;
          }
          throw this.err("invalid or unsupported Perl syntax", this.text(start, p));
        }
      }
    } else {
      cap = ++this.capCount;
      this.names.push("");
    }
    const sub = this.parseAlt(inner, depth + 1);
    if (this.pos >= this.cps.length || this.cps[this.pos] !== 0x29) {
      throw this.err("missing closing )", this.wrapped());
    }
    this.pos++;
    return { k: "group", cap, name, sub };
  }

  private parseEscapeAtom(flags: Flags): ReNode {
    const start = this.pos;
    if (start + 1 >= this.cps.length) {
      // Go compiles `^(?:` + re + `)$`: a trailing backslash escapes the closing paren
      throw this.err("missing closing )", this.wrapped());
    }
    const c = this.cps[start + 1];
    switch (c) {
      case 0x41: // \A
        this.pos += 2;
        return { k: "assert", src: "^" };
      case 0x7a: // \z
        this.pos += 2;
        return { k: "assert", src: "$" };
      case 0x62: // \b
        this.pos += 2;
        return { k: "assert", src: "\\b" };
      case 0x42: // \B
        this.pos += 2;
        return { k: "assert", src: "\\B" };
      case 0x51: { // \Q...\E
        let p = start + 2;
        const lit: number[] = [];
        while (p < this.cps.length) {
          if (this.cps[p] === 0x5c && this.cps[p + 1] === 0x45) break;
          lit.push(this.cps[p]);
          p++;
        }
        if (p >= this.cps.length) {
          // Go compiles `^(?:` + re + `)$`: an open \Q swallows the closing paren
          throw this.err("missing closing )", this.wrapped());
        }
        this.pos = p + 2;
        const subs: ReNode[] = lit.map((cp) => ({ k: "lit", cps: [cp], fold: flags.fold }));
        return subs.length === 1 ? subs[0] : { k: "concat", subs };
      }
    }
    const cls = this.tryParseClassEscape(flags);
    if (cls !== null) return cls;
    const cp = this.parseEscapeChar();
    return { k: "lit", cps: [cp], fold: flags.fold };
  }

  /** \d \D \s \S \w \W \pX \p{..} \PX \P{..} at pos → class node; null when not one. */
  private tryParseClassEscape(flags: Flags): ReNode | null {
    const item = this.tryParseClassEscapeItem();
    if (item === null) return null;
    return { k: "class", ranges: item.ranges, props: item.props, neg: false, fold: flags.fold };
  }

  private tryParseClassEscapeItem(): { ranges: number[]; props: string[] } | null {
    const start = this.pos;
    const c = this.cps[start + 1];
    const lower = String.fromCharCode(c | 0x20);
    if ((c === 0x64 || c === 0x73 || c === 0x77 || c === 0x44 || c === 0x53 || c === 0x57)) {
      this.pos += 2;
      const r = PERL_CLASSES[lower];
      return { ranges: c >= 0x61 ? r.slice() : negateRanges(r), props: [] };
    }
    if (c === 0x70 || c === 0x50) { // \p \P
      let neg = c === 0x50;
      let p = start + 2;
      if (p >= this.cps.length) {
        throw this.err("invalid character class range", this.text(start) + ")");
      }
      let name: string;
      if (this.cps[p] === 0x7b /* { */) {
        const end = this.cps.indexOf(0x7d, p);
        if (end < 0) throw this.err("invalid character class range", this.text(start));
        name = this.text(p + 1, end);
        p = end + 1;
      } else {
        name = String.fromCodePoint(this.cps[p]);
        p++;
      }
      const whole = this.text(start, p);
      if (name.startsWith("^")) {
        neg = !neg;
        name = name.slice(1);
      }
      this.pos = p;
      if (name === "Any") {
        return { ranges: neg ? [] : [0, MAX_CP], props: [] };
      }
      let prop: string;
      if (CATEGORIES.has(name)) prop = name;
      else {
        prop = `Script=${name}`;
        try {
          new RegExp(`\\p{${prop}}`, "u");
        } catch {
          throw this.err("invalid character class range", whole);
        }
      }
      return { ranges: [], props: [`\\${neg ? "P" : "p"}{${prop}}`] };
    }
    return null;
  }

  /** One escaped character (after `\`) as Go's parseEscape; advances pos. */
  private parseEscapeChar(): number {
    const start = this.pos;
    const c = this.cps[start + 1];
    let p = start + 2;
    const bad = (): InvalidRegexError =>
      this.err("invalid escape sequence", this.text(start, Math.min(p, this.cps.length)));
    if (c === undefined) throw this.err("missing closing )", this.wrapped());
    // octal: \0, \0nn, \nnn (a single non-zero digit would be a backreference: not RE2)
    if (c >= 0x30 && c <= 0x37) {
      const next = this.cps[p];
      if (c !== 0x30 && (next === undefined || next < 0x30 || next > 0x37)) throw bad();
      let v = c - 0x30;
      for (let i = 0; i < 2 && p < this.cps.length; i++) {
        const d = this.cps[p];
        if (d < 0x30 || d > 0x37) break;
        v = v * 8 + d - 0x30;
        p++;
      }
      this.pos = p;
      return v;
    }
    if (c === 0x78 /* x */) {
      if (p >= this.cps.length) throw bad();
      if (this.cps[p] === 0x7b /* { */) {
        p++;
        let v = 0;
        let n = 0;
        while (p < this.cps.length && this.cps[p] !== 0x7d) {
          const h = hexVal(this.cps[p]);
          if (h < 0) {
            p++;
            throw bad();
          }
          v = v * 16 + h;
          n++;
          p++;
          if (v > MAX_CP) throw bad();
        }
        if (p >= this.cps.length || n === 0) throw bad();
        p++;
        this.pos = p;
        return v;
      }
      const h1 = hexVal(this.cps[p]);
      const h2 = p + 1 < this.cps.length ? hexVal(this.cps[p + 1]) : -1;
      p += 2;
      if (h1 < 0 || h2 < 0) throw bad();
      this.pos = p;
      return h1 * 16 + h2;
    }
    const simple: Record<number, number> = {
      0x61: 0x07, // \a
      0x66: 0x0c, // \f
      0x6e: 0x0a, // \n
      0x72: 0x0d, // \r
      0x74: 0x09, // \t
      0x76: 0x0b, // \v
    };
    if (simple[c] !== undefined) {
      this.pos = p;
      return simple[c];
    }
    // escaped ASCII punctuation is itself; anything else (letters, \8, \1, non-ASCII) is not RE2
    if (c < 0x80 && !isAlnumCode(c)) {
      this.pos = p;
      return c;
    }
    if (c >= 0x31 && c <= 0x39) {
      // a backreference, which RE2 does not have
      throw this.err("invalid escape sequence", this.text(start, p));
    }
    throw bad();
  }

  private parseClass(flags: Flags): ReNode {
    const start = this.pos;
    this.pos++;
    let neg = false;
    if (this.cps[this.pos] === 0x5e /* ^ */) {
      neg = true;
      this.pos++;
    }
    const ranges: number[] = [];
    const props: string[] = [];
    let first = true;
    while (this.pos < this.cps.length && (this.cps[this.pos] !== 0x5d /* ] */ || first)) {
      first = false;
      const c = this.cps[this.pos];
      // POSIX class [:name:] / [:^name:]
      if (c === 0x5b && this.cps[this.pos + 1] === 0x3a) {
        const rest = this.text(this.pos);
        const end = rest.indexOf(":]", 2);
        if (end >= 0) {
          const whole = rest.slice(0, end + 2);
          let name = whole.slice(2, -2);
          let n = false;
          if (name.startsWith("^")) {
            n = true;
            name = name.slice(1);
          }
          const r = POSIX_CLASSES[name];
          if (r === undefined) throw this.err("invalid character class range", whole);
          ranges.push(...(n ? negateRanges(r) : r));
          this.pos += Array.from(whole).length;
          continue;
        }
      }
      if (c === 0x5c && this.pos + 1 < this.cps.length) {
        const item = this.tryParseClassEscapeItem();
        if (item !== null) {
          ranges.push(...item.ranges);
          props.push(...item.props);
          continue;
        }
      }
      const loStart = this.pos;
      const lo = this.parseClassChar(start);
      let hi = lo;
      if (
        this.pos + 1 < this.cps.length && this.cps[this.pos] === 0x2d /* - */ &&
        this.cps[this.pos + 1] !== 0x5d
      ) {
        this.pos++;
        hi = this.parseClassChar(start);
        if (hi < lo) throw this.err("invalid character class range", this.text(loStart, this.pos));
      }
      ranges.push(lo, hi);
    }
    if (this.pos >= this.cps.length) throw this.err("missing closing ]", this.text(start) + ")$");
    this.pos++; // ]
    return { k: "class", ranges: sortRanges(ranges), props, neg, fold: flags.fold };
  }

  private parseClassChar(classStart: number): number {
    if (this.pos >= this.cps.length) {
      throw this.err("missing closing ]", this.text(classStart) + ")$");
    }
    const c = this.cps[this.pos];
    if (c === 0x5c) return this.parseEscapeChar();
    this.pos++;
    return c;
  }
}

// ---------------------------------------------------------------------------------------------
// Emission to JS source (u flag) and fast-path analysis.

function emitCp(cp: number): string {
  if (isAlnumCode(cp) || cp === 0x5f) return String.fromCharCode(cp);
  return `\\u{${cp.toString(16)}}`;
}

function emitClass(n: { ranges: number[]; props: string[]; neg: boolean }): string {
  let s = n.neg ? "[^" : "[";
  for (let i = 0; i < n.ranges.length; i += 2) {
    s += emitCp(n.ranges[i]);
    if (n.ranges[i + 1] !== n.ranges[i]) s += "-" + emitCp(n.ranges[i + 1]);
  }
  for (const p of n.props) s += p;
  return s + "]";
}

/** JS source for `n`; `keepCaptures` keeps capture groups (numbered as in Go) for label_replace. */
function emit(n: ReNode, keepCaptures: boolean): string {
  switch (n.k) {
    case "lit": {
      const s = n.cps.map(emitCp).join("");
      return n.fold ? `(?i:${s})` : s;
    }
    case "class": {
      const s = emitClass(n);
      return n.fold ? `(?i:${s})` : s;
    }
    case "any":
      return n.nl ? "[^]" : "[^\\n]";
    case "assert":
      return n.src;
    case "group":
      if (n.cap > 0 && keepCaptures) return `(${emit(n.sub, keepCaptures)})`;
      return `(?:${emit(n.sub, keepCaptures)})`;
    case "concat":
      return n.subs.map((s) => emitConcatItem(s, keepCaptures)).join("");
    case "alt":
      return n.subs.map((s) => emit(s, keepCaptures)).join("|");
    case "rep": {
      let sub = emit(n.sub, keepCaptures);
      const atomic = (n.sub.k === "lit" && n.sub.cps.length === 1 && !n.sub.fold) ||
        (n.sub.k === "class" && !n.sub.fold) || n.sub.k === "any" || n.sub.k === "group";
      if (!atomic) sub = `(?:${sub})`;
      let q: string;
      if (n.min === 0 && n.max === -1) q = "*";
      else if (n.min === 1 && n.max === -1) q = "+";
      else if (n.min === 0 && n.max === 1) q = "?";
      else if (n.max === -1) q = `{${n.min},}`;
      else if (n.min === n.max) q = `{${n.min}}`;
      else q = `{${n.min},${n.max}}`;
      return sub + q + (n.greedy ? "" : "?");
    }
  }
}

function emitConcatItem(n: ReNode, keepCaptures: boolean): string {
  // an alternation inside a concatenation needs its own group
  return n.k === "alt" ? `(?:${emit(n, keepCaptures)})` : emit(n, keepCaptures);
}

/** Strips non-capturing/capturing groups and flattens nested concatenations and literals. */
function simplify(n: ReNode): ReNode {
  switch (n.k) {
    case "group":
      return simplify(n.sub);
    case "concat": {
      const out: ReNode[] = [];
      for (const s0 of n.subs) {
        const s = simplify(s0);
        const parts = s.k === "concat" ? s.subs : [s];
        for (const p of parts) {
          const last = out[out.length - 1];
          if (p.k === "lit" && last !== undefined && last.k === "lit" && last.fold === p.fold) {
            out[out.length - 1] = { k: "lit", cps: [...last.cps, ...p.cps], fold: p.fold };
          } else out.push(p);
        }
      }
      return out.length === 1 ? out[0] : { k: "concat", subs: out };
    }
    case "alt":
      return { k: "alt", subs: n.subs.map(simplify) };
    case "rep":
      return { ...n, sub: simplify(n.sub) };
    default:
      return n;
  }
}

/** The finite set of strings `n` matches (case-sensitive literals only), or null. */
function literalSet(n: ReNode): string[] | null {
  switch (n.k) {
    case "lit":
      return n.fold ? null : [String.fromCodePoint(...n.cps)];
    case "class": {
      if (n.neg || n.fold || n.props.length > 0) return null;
      let count = 0;
      for (let i = 0; i < n.ranges.length; i += 2) count += n.ranges[i + 1] - n.ranges[i] + 1;
      if (count > 16) return null;
      const out: string[] = [];
      for (let i = 0; i < n.ranges.length; i += 2) {
        for (let c = n.ranges[i]; c <= n.ranges[i + 1]; c++) out.push(String.fromCodePoint(c));
      }
      return out;
    }
    case "concat": {
      let acc: string[] = [""];
      for (const s of n.subs) {
        const set = literalSet(s);
        if (set === null || acc.length * set.length > MAX_SET_MATCHES) return null;
        const next: string[] = [];
        for (const a of acc) for (const b of set) next.push(a + b);
        acc = next;
      }
      return acc;
    }
    case "alt": {
      const out: string[] = [];
      for (const s of n.subs) {
        const set = literalSet(s);
        if (set === null || out.length + set.length > MAX_SET_MATCHES) return null;
        out.push(...set);
      }
      return [...new Set(out)];
    }
    case "group":
      return literalSet(n.sub);
    default:
      return null;
  }
}

function isDotStar(n: ReNode | undefined, min: number): n is ReNode & { k: "rep" } {
  return n !== undefined && n.k === "rep" && n.sub.k === "any" && n.min === min && n.max === -1;
}

/** A translated RE2 pattern. */
export interface Re2Translation {
  /** JS source (for the `u` flag), not anchored; capture groups kept in Go's numbering. */
  source: string;
  /** Capture group names by index (index 0 = whole match, "" when unnamed), as Go's SubexpNames. */
  groupNames: string[];
}

/**
 * Translates a Go RE2 pattern to JS RegExp source for the `u` flag (unanchored).
 * Throws InvalidRegexError naming the offending construct when the pattern is not valid RE2.
 */
export function translateRe2(pattern: string): Re2Translation {
  const p = new Re2Parser(pattern);
  const ast = p.parse();
  return { source: emit(ast, true), groupNames: p.names };
}

/**
 * Compiles `pattern` as Prometheus does for regex matchers and label_replace: `^(?:re)$`.
 * Throws InvalidRegexError when the pattern is not valid RE2.
 */
export function compileAnchoredRe2(pattern: string): RegExp {
  const { source } = translateRe2(pattern);
  return compileJs(`^(?:${source})$`, pattern);
}

function compileJs(source: string, pattern: string): RegExp {
  try {
    return new RegExp(source, "u");
  } catch (e) {
    throw new InvalidRegexError(
      `error parsing regexp: cannot translate ${JSON.stringify(pattern)}: ${(e as Error).message}`,
    );
  }
}

const enum Strategy {
  Regex,
  Set,
  Any, // .* (no newline unless (?s))
  NonEmpty, // .+
  Contains, // .* literal .*
}

/** One label matcher. `matches("")` is how a missing label is tested, as in Prometheus. */
export class Matcher {
  private readonly re?: RegExp;
  private readonly strategy: Strategy = Strategy.Regex;
  private readonly set: Set<string> | null = null;
  private readonly setList: string[] | null = null;
  private readonly lit: string = "";
  private readonly dotNL: boolean = false;
  private readonly pre: string = "";

  /** Throws InvalidRegexError when a regex matcher's value is not valid RE2. */
  constructor(readonly type: MatchType, readonly name: string, readonly value: string) {
    if (type !== MatchType.Regexp && type !== MatchType.NotRegexp) return;
    const parser = new Re2Parser(value);
    const ast = stripTextAnchors(simplify(parser.parse()));
    this.re = compileJs(`^(?:${emit(ast, false)})$`, value);
    this.pre = literalPrefix(ast);
    const set = ast.k === "concat" && ast.subs.length === 0 ? [""] : literalSet(ast);
    if (set !== null) {
      this.strategy = Strategy.Set;
      this.setList = set;
      this.set = new Set(set);
      return;
    }
    if (isDotStar(ast, 0) || isDotStar(ast, 1)) {
      this.strategy = ast.min === 0 ? Strategy.Any : Strategy.NonEmpty;
      this.dotNL = (ast.sub as { nl: boolean }).nl;
      return;
    }
    // `prefix.*` is left to the RegExp: V8 matches it faster than startsWith + newline scan
    if (ast.k === "concat" && ast.subs.length === 3) {
      const [a, b, c] = ast.subs;
      if (
        isDotStar(a, 0) && isDotStar(c, 0) && b.k === "lit" && !b.fold &&
        (a.sub as { nl: boolean }).nl === (c.sub as { nl: boolean }).nl
      ) {
        this.strategy = Strategy.Contains;
        this.lit = String.fromCodePoint(...b.cps);
        this.dotNL = (a.sub as { nl: boolean }).nl;
      }
    }
  }

  /** True when label value `v` satisfies the matcher. */
  matches(v: string): boolean {
    switch (this.type) {
      case MatchType.Equal:
        return v === this.value;
      case MatchType.NotEqual:
        return v !== this.value;
      case MatchType.Regexp:
        return this.regexMatches(v);
      case MatchType.NotRegexp:
        return !this.regexMatches(v);
    }
  }

  private regexMatches(v: string): boolean {
    switch (this.strategy) {
      case Strategy.Set:
        return this.set!.has(v);
      case Strategy.Any:
        return this.dotNL || !v.includes("\n");
      case Strategy.NonEmpty:
        return v.length > 0 && (this.dotNL || !v.includes("\n"));
      case Strategy.Contains:
        return v.includes(this.lit) && (this.dotNL || !v.includes("\n"));
      default:
        // no literal-prefix pre-check: irregexp already fails fast on an anchored literal
        return this.re!.test(v);
    }
  }

  /** Matches through the compiled RegExp only (no fast path): for tests of the fast paths. */
  matchesSlow(v: string): boolean {
    if (this.re === undefined) return this.matches(v);
    const m = this.re.test(v);
    return this.type === MatchType.Regexp ? m : !m;
  }

  /**
   * The only values a `=~` matcher can match (for index lookups), or null when not a finite
   * literal set. `=` gives its value; `!=` and `!~` give null.
   */
  setMatches(): string[] | null {
    if (this.type === MatchType.Equal) return [this.value];
    if (this.type !== MatchType.Regexp || this.setList === null) return null;
    return this.setList.slice();
  }

  /** The literal prefix every matching value of a `=~` matcher starts with ("" if none). */
  prefix(): string {
    if (this.type === MatchType.Equal) return this.value;
    return this.type === MatchType.Regexp ? this.pre : "";
  }

  /** The matcher with the opposite operator (`=` ↔ `!=`, `=~` ↔ `!~`). */
  inverse(): Matcher {
    const inv: Record<MatchType, MatchType> = {
      [MatchType.Equal]: MatchType.NotEqual,
      [MatchType.NotEqual]: MatchType.Equal,
      [MatchType.Regexp]: MatchType.NotRegexp,
      [MatchType.NotRegexp]: MatchType.Regexp,
    };
    return new Matcher(inv[this.type], this.name, this.value);
  }

  /** Prometheus form, e.g. `job=~"api|web"` (Go `%q` quoting). */
  toString(): string {
    return `${this.name}${this.type}${goQuote(this.value)}`;
  }
}

/** Drops a leading `^` / trailing `$` (text anchors): redundant since matchers are anchored. */
function stripTextAnchors(n: ReNode): ReNode {
  if (n.k !== "concat") return n.k === "assert" && (n.src === "^" || n.src === "$") ? EMPTY : n;
  let subs = n.subs;
  if (subs.length > 0 && subs[0].k === "assert" && subs[0].src === "^") subs = subs.slice(1);
  const last = subs[subs.length - 1];
  if (last !== undefined && last.k === "assert" && last.src === "$") subs = subs.slice(0, -1);
  return subs.length === 1 ? subs[0] : { k: "concat", subs };
}

const EMPTY: ReNode = { k: "concat", subs: [] };

function literalPrefix(n: ReNode): string {
  if (n.k === "lit") return n.fold ? "" : String.fromCodePoint(...n.cps);
  if (n.k === "concat" && n.subs.length > 0) return literalPrefix(n.subs[0]);
  return "";
}
