// Go RE2 syntax (Perl flags, as Go's `regexp.Compile`) parsed into a small AST, with the exact
// error messages Go gives for invalid patterns. Prometheus regexes are RE2 and fully anchored
// (https://prometheus.io/docs/prometheus/latest/querying/basics/). The AST is emitted as a
// JavaScript RegExp by ./translate.ts and analysed for fast paths by tsdb/matchers.ts.

/** A pattern is not valid RE2 (or uses RE2 syntax we cannot translate). */
export class InvalidRegexError extends Error {
  override name = "InvalidRegexError";
}

const MAX_CP = 0x10ffff;
const MAX_REPEAT = 1000; // RE2's limit on {n,m}

interface Flags {
  fold: boolean; // (?i)
  multiLine: boolean; // (?m)
  dotNL: boolean; // (?s)
  ungreedy: boolean; // (?U)
}

/** A parsed RE2 pattern. Code point ranges are flat sorted `[lo, hi, lo, hi, …]` arrays. */
export type ReNode =
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

export function isAlnumCode(c: number): boolean {
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
    const rep: ReNode = { k: "rep", sub: prev, min, max, greedy };
    // Go also bounds nested counted repetition: (a{2}){501} repeats `a` 1002 times
    if ((min >= 2 || max >= 2) && !repeatIsValid(rep, MAX_REPEAT)) {
      throw this.err("invalid repeat count", opText);
    }
    items.push(rep);
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
    // Go's parser is iterative and limits the tree's height instead (see parseRe2); a depth
    // bound keeps this recursive one (and the tree walkers after it) off the stack limit
    if (depth >= MAX_DEPTH) throw nestingError(this.pattern);
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

/** A parsed pattern: its tree and its capture group names (as Go's `SubexpNames`). */
export interface Re2Parse {
  ast: ReNode;
  /** Capture group names by index (index 0 = whole match, "" when unnamed). */
  groupNames: string[];
}

/** Parses a Go RE2 pattern. Throws InvalidRegexError with Go's message when it is not valid. */
export function parseRe2(pattern: string): Re2Parse {
  return guardDepth(pattern, () => {
    const p = new Re2Parser(pattern);
    const ast = p.parse();
    // Go rejects trees higher than 1000 nodes (regexp/syntax maxHeight), counted on the
    // `^(?:…)$` it compiles: a nested capture group, repetition, concatenation or alternation
    // is one level; a non-capturing group is none
    if (1 + heightIn(ast, "concat") > MAX_HEIGHT) throw nestingError(pattern);
    return { ast, groupNames: p.names };
  });
}

const MAX_HEIGHT = 1000;
// Group nesting accepted by our recursive parser and tree walkers; Go takes deeper nesting of
// non-capturing groups (it limits height, above), which is the one difference.
const MAX_DEPTH = 1000;

/** Go's error for a too deeply nested pattern (the text is the anchored form Go compiles). */
export function nestingError(pattern: string): InvalidRegexError {
  return new InvalidRegexError(
    `error parsing regexp: expression nests too deeply: \`^(?:${pattern})$\``,
  );
}

/**
 * Runs `f` (parsing or walking the tree of `pattern`), turning a stack overflow into Go's
 * nesting error: a clear 4xx for any input, never a crash.
 */
export function guardDepth<T>(pattern: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError) throw nestingError(pattern);
    throw e;
  }
}

/** Go's `repeatIsValid`: the product of nested counted repetitions stays within `n`. */
function repeatIsValid(re: ReNode, n: number): boolean {
  if (re.k === "rep") {
    let m = re.max;
    if (m === 0) return true;
    if (m < 0) m = re.min;
    if (m > n) return false;
    if (m > 0) n = Math.trunc(n / m);
  }
  switch (re.k) {
    case "rep":
    case "group":
      return repeatIsValid(re.sub, n);
    case "concat":
    case "alt":
      return re.subs.every((s) => repeatIsValid(s, n));
    default:
      return true;
  }
}

/**
 * Height of `n` as Go's regexp/syntax builds it: non-capturing groups vanish, a concatenation
 * or alternation inside one of the same kind (`parent`) is merged into it, a run of literals is
 * one node.
 */
function heightIn(n: ReNode, parent: "concat" | "alt" | null): number {
  switch (n.k) {
    case "group":
      return n.cap === 0 ? heightIn(n.sub, parent) : 1 + heightIn(n.sub, null);
    case "rep":
      return 1 + heightIn(n.sub, null);
    case "concat":
    case "alt": {
      if (n.k === "concat" && n.subs.every((s) => s.k === "lit")) return 1;
      let h = 0;
      for (const s of n.subs) h = Math.max(h, heightIn(s, n.k));
      return n.k === parent ? h : 1 + h;
    }
    default:
      return 1;
  }
}
