// PromQL lexer with Prometheus 2.42's token rules and error messages. It works on the UTF-8
// bytes of the query, so every position is a byte offset as in Prometheus's error messages.

import { goQuote, goQuoteRune, isGoPrintable } from "../strconv/quote.ts";
import { byteString } from "../strconv/byte_string.ts";

/** Token kinds (names as in Prometheus's generated parser). */
export type ItemType =
  | "EOF"
  | "ERROR"
  | "COMMENT"
  | "IDENTIFIER"
  | "METRIC_IDENTIFIER"
  | "NUMBER"
  | "DURATION"
  | "STRING"
  | "LEFT_PAREN"
  | "RIGHT_PAREN"
  | "LEFT_BRACE"
  | "RIGHT_BRACE"
  | "LEFT_BRACKET"
  | "RIGHT_BRACKET"
  | "COMMA"
  | "EQL"
  | "COLON"
  // operators
  | "ADD"
  | "SUB"
  | "MUL"
  | "DIV"
  | "MOD"
  | "POW"
  | "EQLC"
  | "NEQ"
  | "LTE"
  | "LSS"
  | "GTE"
  | "GTR"
  | "EQL_REGEX"
  | "NEQ_REGEX"
  | "LAND"
  | "LOR"
  | "LUNLESS"
  | "ATAN2"
  | "AT"
  // aggregators
  | "AVG"
  | "BOTTOMK"
  | "COUNT"
  | "COUNT_VALUES"
  | "GROUP"
  | "LIMITK"
  | "LIMIT_RATIO"
  | "MAX"
  | "MIN"
  | "QUANTILE"
  | "STDDEV"
  | "STDVAR"
  | "SUM"
  | "TOPK"
  // keywords
  | "BOOL"
  | "BY"
  | "GROUP_LEFT"
  | "GROUP_RIGHT"
  | "IGNORING"
  | "OFFSET"
  | "ON"
  | "WITHOUT"
  // @ preprocessors
  | "START"
  | "END";

/** One token. `pos`/`end` are byte offsets into the query; `val` is the token's text. */
export interface Item {
  type: ItemType;
  pos: number;
  end: number;
  val: string;
}

// a Map, not an object literal: `constructor` or `__proto__` must not find Object.prototype's
const KEYWORDS: ReadonlyMap<string, ItemType> = new Map<string, ItemType>(Object.entries({
  and: "LAND",
  or: "LOR",
  unless: "LUNLESS",
  atan2: "ATAN2",
  sum: "SUM",
  avg: "AVG",
  count: "COUNT",
  min: "MIN",
  max: "MAX",
  group: "GROUP",
  stddev: "STDDEV",
  stdvar: "STDVAR",
  topk: "TOPK",
  bottomk: "BOTTOMK",
  // Prometheus v3's experimental aggregations (lexed always, refused unless enabled)
  limitk: "LIMITK",
  limit_ratio: "LIMIT_RATIO",
  count_values: "COUNT_VALUES",
  quantile: "QUANTILE",
  offset: "OFFSET",
  by: "BY",
  without: "WITHOUT",
  on: "ON",
  ignoring: "IGNORING",
  group_left: "GROUP_LEFT",
  group_right: "GROUP_RIGHT",
  bool: "BOOL",
  start: "START",
  end: "END",
  inf: "NUMBER",
  nan: "NUMBER",
}));
/** The longest keyword's length: a longer word is an identifier without a lookup. */
const MAX_KEYWORD_LENGTH = Math.max(...Array.from(KEYWORDS.keys(), (k) => k.length));

/** Canonical text of fixed tokens (Prometheus's ItemTypeStr), e.g. LAND → "and". */
export const ITEM_TYPE_STR: Partial<Record<ItemType, string>> = {
  LEFT_PAREN: "(",
  RIGHT_PAREN: ")",
  LEFT_BRACE: "{",
  RIGHT_BRACE: "}",
  LEFT_BRACKET: "[",
  RIGHT_BRACKET: "]",
  COMMA: ",",
  EQL: "=",
  COLON: ":",
  SUB: "-",
  ADD: "+",
  MUL: "*",
  MOD: "%",
  DIV: "/",
  EQLC: "==",
  NEQ: "!=",
  LTE: "<=",
  LSS: "<",
  GTE: ">=",
  GTR: ">",
  EQL_REGEX: "=~",
  NEQ_REGEX: "!~",
  POW: "^",
};
for (const [word, t] of KEYWORDS) if (t !== "NUMBER") ITEM_TYPE_STR[t] = word;

const OPERATORS = new Set<ItemType>([
  "ADD",
  "DIV",
  "EQLC",
  "EQL_REGEX",
  "GTE",
  "GTR",
  "LAND",
  "LOR",
  "LSS",
  "LTE",
  "LUNLESS",
  "MOD",
  "MUL",
  "NEQ",
  "NEQ_REGEX",
  "POW",
  "SUB",
  "AT",
  "ATAN2",
]);
/** Aggregation operator tokens (`sum`, `topk`, …): the one list the lexer and parser share. */
export const AGGREGATORS: ReadonlySet<ItemType> = new Set<ItemType>([
  "AVG",
  "BOTTOMK",
  "COUNT",
  "COUNT_VALUES",
  "GROUP",
  "LIMITK",
  "LIMIT_RATIO",
  "MAX",
  "MIN",
  "QUANTILE",
  "STDDEV",
  "STDVAR",
  "SUM",
  "TOPK",
]);
const KEYWORD_TYPES = new Set<ItemType>([
  "BOOL",
  "BY",
  "GROUP_LEFT",
  "GROUP_RIGHT",
  "IGNORING",
  "OFFSET",
  "ON",
  "WITHOUT",
]);

/** True for arithmetic, comparison and set operators (and `@`, as in Prometheus). */
export function isOperator(t: ItemType): boolean {
  return OPERATORS.has(t);
}

/** True for aggregation operators (`sum`, `topk`, …). */
export function isAggregator(t: ItemType): boolean {
  return AGGREGATORS.has(t);
}

/** True for `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`, `bool`, `offset`. */
export function isKeyword(t: ItemType): boolean {
  return KEYWORD_TYPES.has(t);
}

// Go's generated token numbers, only visible in Prometheus's message for an unexpected `@`.
const AT_TOKEN_NUMBER = 57385;

/** Prometheus's `Item.String()`. */
export function itemString(i: Item): string {
  if (i.type === "EOF") return "EOF";
  if (i.type === "ERROR") return i.val;
  if (i.type === "IDENTIFIER" || i.type === "METRIC_IDENTIFIER") return goQuote(i.val);
  if (isKeyword(i.type)) return `<${i.val}>`;
  if (isOperator(i.type)) return `<op:${i.val}>`;
  if (isAggregator(i.type)) return `<aggr:${i.val}>`;
  const runes = Array.from(i.val);
  if (runes.length > 10) return goQuote(runes.slice(0, 10).join("")) + "...";
  return goQuote(i.val);
}

/** Prometheus's `Item.desc()`, as used in "unexpected …" parse errors. */
export function itemDesc(i: Item): string {
  if (ITEM_TYPE_STR[i.type] !== undefined) return itemString(i);
  switch (i.type) {
    case "EOF":
      return "end of input";
    case "ERROR":
      return `error ${itemString(i)}`;
    case "COMMENT":
      return `comment ${itemString(i)}`;
    case "IDENTIFIER":
      return `identifier ${itemString(i)}`;
    case "METRIC_IDENTIFIER":
      return `metric identifier ${itemString(i)}`;
    case "STRING":
      return `string ${itemString(i)}`;
    case "NUMBER":
      return `number ${itemString(i)}`;
    case "DURATION":
      return `duration ${itemString(i)}`;
    case "AT":
      return `"<Item ${AT_TOKEN_NUMBER}>" ${itemString(i)}`;
  }
  return itemString(i);
}

const EOF = -1;

/**
 * One-character string escapes (`\a \b \f \n \r \t \v \\`) and the byte each stands for: what the
 * lexer accepts and the parser decodes (besides the quote and the numeric escapes).
 */
export const SIMPLE_ESCAPES: ReadonlyMap<number, number> = new Map([
  [0x61, 0x07], // \a
  [0x62, 0x08], // \b
  [0x66, 0x0c], // \f
  [0x6e, 0x0a], // \n
  [0x72, 0x0d], // \r
  [0x74, 0x09], // \t
  [0x76, 0x0b], // \v
  [0x5c, 0x5c], // \\
]);

/** Runes that are a whole token by themselves outside braces. */
const ONE_RUNE_TOKENS: ReadonlyMap<number, ItemType> = new Map<number, ItemType>([
  [0x2c, "COMMA"], // ,
  [0x2a, "MUL"], // *
  [0x2f, "DIV"], // /
  [0x25, "MOD"], // %
  [0x2b, "ADD"], // +
  [0x2d, "SUB"], // -
  [0x5e, "POW"], // ^
  [0x40, "AT"], // @
]);

function isSpace(r: number): boolean {
  return r === 0x20 || r === 0x09 || r === 0x0a || r === 0x0d;
}
function isDigit(r: number): boolean {
  return r >= 0x30 && r <= 0x39;
}
function isAlpha(r: number): boolean {
  return r === 0x5f || (r >= 0x61 && r <= 0x7a) || (r >= 0x41 && r <= 0x5a);
}
function isAlphaNumeric(r: number): boolean {
  return isAlpha(r) || isDigit(r);
}

/** True when `s` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`). */
export function isLabelName(s: string): boolean {
  if (s.length === 0 || !isAlpha(s.charCodeAt(0))) return false;
  for (let i = 1; i < s.length; i++) if (!isAlphaNumeric(s.charCodeAt(i))) return false;
  return true;
}

/** Go's `%#U` of a rune: `U+0063 'c'` (quoted char only when printable). */
function goRuneU(r: number): string {
  const hex = "U+" + r.toString(16).toUpperCase().padStart(4, "0");
  return isGoPrintable(r) ? `${hex} '${String.fromCodePoint(r)}'` : hex;
}

/**
 * UTF-8 bytes of PromQL text as a string, invalid sequences as U+FFFD. ignoreBOM: a U+FEFF at the
 * start is text, as in Go (the default decoder drops it). The parser's unquote decodes with it too.
 */
export function decodeUtf8(b: Uint8Array): string {
  return utf8.decode(b);
}
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** True when every UTF-16 unit of `s` is ASCII, so that its UTF-8 bytes are its char codes. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * Streaming lexer: `next()` returns one token at a time (comments included); after an ERROR or
 * EOF token it keeps returning EOF. Lexing is lazy, like Prometheus's, so a lexer error only
 * surfaces when the parser gets that far.
 */
export class Lexer {
  /**
   * The query's UTF-8 bytes as char codes 0–255: the query itself when it is ASCII (the usual
   * case, lexed and sliced without encoding or decoding), else a string made of its bytes.
   */
  private readonly src: string;
  private readonly ascii: boolean;
  private encoded: Uint8Array | null = null;
  private pos = 0;
  private start = 0;
  private width = 0;
  private parenDepth = 0;
  private braceOpen = false;
  private bracketOpen = false;
  private gotColon = false;
  private stringOpen = 0;
  private done = false;
  private pendingDuration = false;

  constructor(readonly input: string) {
    this.ascii = isAscii(input);
    if (this.ascii) this.src = input;
    else {
      this.encoded = utf8Encoder.encode(input);
      this.src = byteString(this.encoded);
    }
  }

  /** The query's UTF-8 bytes. */
  get bytes(): Uint8Array {
    return this.encoded ??= utf8Encoder.encode(this.input);
  }

  /** Length of the query in UTF-8 bytes. */
  get byteLength(): number {
    return this.src.length;
  }

  /** Byte `i` of the query's UTF-8 (NaN past the end). */
  byteAt(i: number): number {
    return this.src.charCodeAt(i);
  }

  /** Text of bytes [from, to). */
  slice(from: number, to: number): string {
    if (this.ascii) return this.input.substring(from, to);
    // ASCII bytes are their own text in the byte string: only other text is decoded
    const src = this.src;
    for (let i = from; i < to; i++) {
      if (src.charCodeAt(i) >= 0x80) return decodeUtf8(this.bytes.subarray(from, to));
    }
    return src.substring(from, to);
  }

  /** Decodes the next rune; U+FFFD for invalid UTF-8 (as Go's utf8.RuneError). */
  private nextRune(): number {
    const b = this.src;
    const p = this.pos;
    if (p >= b.length) {
      this.width = 0;
      return EOF;
    }
    const c = b.charCodeAt(p);
    let r = 0xfffd;
    let w = 1;
    if (c < 0x80) {
      r = c;
    } else {
      const c1 = b.charCodeAt(p + 1); // NaN past the end: fails every test below
      if (c >= 0xc2 && c < 0xe0 && (c1 & 0xc0) === 0x80) {
        r = ((c & 0x1f) << 6) | (c1 & 0x3f);
        w = 2;
      } else if (c >= 0xe0 && c < 0xf0) {
        const c2 = b.charCodeAt(p + 2);
        if ((c1 & 0xc0) === 0x80 && (c2 & 0xc0) === 0x80) {
          r = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
          w = 3;
          if (r < 0x800 || (r >= 0xd800 && r <= 0xdfff)) {
            r = 0xfffd;
            w = 1;
          }
        }
      } else if (c >= 0xf0 && c < 0xf5) {
        const c2 = b.charCodeAt(p + 2);
        const c3 = b.charCodeAt(p + 3);
        if ((c1 & 0xc0) === 0x80 && (c2 & 0xc0) === 0x80 && (c3 & 0xc0) === 0x80) {
          r = ((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f);
          w = 4;
          if (r < 0x10000 || r > 0x10ffff) {
            r = 0xfffd;
            w = 1;
          }
        }
      }
    }
    this.width = w;
    this.pos += w;
    return r;
  }

  private peek(): number {
    const r = this.nextRune();
    this.backup();
    return r;
  }

  private backup(): void {
    this.pos -= this.width;
  }

  /** Consumes the next rune when it is one of `valid`'s (ASCII) characters. */
  private accept(valid: string): boolean {
    const r = this.nextRune();
    for (let i = 0; i < valid.length; i++) if (valid.charCodeAt(i) === r) return true;
    this.backup();
    return false;
  }

  private acceptRun(valid: string): void {
    while (this.accept(valid)) {
      // consume
    }
  }

  private emit(type: ItemType): Item {
    const it: Item = {
      type,
      pos: this.start,
      end: this.pos,
      val: this.slice(this.start, this.pos),
    };
    this.start = this.pos;
    return it;
  }

  private error(msg: string): Item {
    this.done = true;
    return { type: "ERROR", pos: this.start, end: this.src.length, val: msg };
  }

  /** The next token. */
  next(): Item {
    if (this.done) return { type: "EOF", pos: this.pos, end: this.pos, val: "" };
    for (;;) {
      const it = this.braceOpen ? this.lexInsideBraces() : this.lexStatements();
      if (it !== null) {
        if (it.type === "EOF") this.done = true;
        return it;
      }
    }
  }

  private atComment(): boolean {
    return this.src.charCodeAt(this.pos) === 0x23; // #
  }

  private lexComment(): Item {
    this.pos++;
    for (;;) {
      const r = this.nextRune();
      if (r === EOF || r === 0x0a || r === 0x0d) break;
    }
    this.backup();
    return this.emit("COMMENT");
  }

  private skipSpaces(): void {
    const src = this.src;
    let p = this.pos;
    while (isSpace(src.charCodeAt(p))) p++;
    this.pos = p;
    this.start = p;
  }

  /** Moves past the letters, digits, `_` (and `:` when `colons`) at the position. */
  private skipIdentifier(colons: boolean): void {
    const src = this.src;
    let p = this.pos;
    for (;;) {
      const c = src.charCodeAt(p); // NaN past the end
      if (!(isAlphaNumeric(c) || (colons && c === 0x3a))) break;
      p++;
    }
    this.pos = p;
  }

  /** One token outside braces, or null after skipping whitespace. */
  private lexStatements(): Item | null {
    if (this.pendingDuration) {
      // right after `[` a duration must follow (Prometheus's lexDuration state)
      this.pendingDuration = false;
      return this.lexDuration();
    }
    if (this.atComment()) return this.lexComment();
    const r = this.nextRune();
    const single = ONE_RUNE_TOKENS.get(r);
    if (single !== undefined) return this.emit(single);
    switch (r) {
      case EOF:
        if (this.parenDepth !== 0) return this.error("unclosed left parenthesis");
        if (this.bracketOpen) return this.error("unclosed left bracket");
        return this.emit("EOF");
      case 0x3d: { // =
        if (this.accept("=")) return this.emit("EQLC");
        const t = this.peek();
        if (t === 0x7e) return this.error(`unexpected character after '=': ${goQuoteRune(t)}`);
        return this.emit("EQL");
      }
      case 0x21: { // !
        const t = this.nextRune();
        if (t === 0x3d) return this.emit("NEQ");
        return this.error(`unexpected character after '!': ${goQuoteRune(t)}`);
      }
      case 0x3c: // <
        return this.emit(this.accept("=") ? "LTE" : "LSS");
      case 0x3e: // >
        return this.emit(this.accept("=") ? "GTE" : "GTR");
      case 0x22:
      case 0x27:
        this.stringOpen = r;
        return this.lexString();
      case 0x60:
        this.stringOpen = r;
        return this.lexRawString();
      case 0x28:
        this.parenDepth++;
        return this.emit("LEFT_PAREN");
      case 0x29: {
        const it = this.emit("RIGHT_PAREN");
        this.parenDepth--;
        if (this.parenDepth < 0) {
          return this.error(`unexpected right parenthesis ${goQuoteRune(r)}`);
        }
        return it;
      }
      case 0x7b: {
        this.braceOpen = true;
        return this.emit("LEFT_BRACE");
      }
      case 0x5b: {
        if (this.bracketOpen) return this.error(`unexpected left bracket ${goQuoteRune(r)}`);
        this.gotColon = false;
        const it = this.emit("LEFT_BRACKET");
        this.skipSpaces();
        this.bracketOpen = true;
        this.pendingDuration = true;
        return it;
      }
      case 0x5d:
        if (!this.bracketOpen) return this.error(`unexpected right bracket ${goQuoteRune(r)}`);
        this.bracketOpen = false;
        return this.emit("RIGHT_BRACKET");
    }
    if (isSpace(r)) {
      this.skipSpaces();
      return null;
    }
    if (isDigit(r) || (r === 0x2e && isDigit(this.peek()))) {
      this.backup();
      return this.lexNumberOrDuration();
    }
    if (isAlpha(r) || r === 0x3a) {
      if (!this.bracketOpen) {
        this.backup();
        return this.lexKeywordOrIdentifier();
      }
      if (this.gotColon) return this.error(`unexpected colon ${goQuoteRune(r)}`);
      this.gotColon = true;
      return this.emit("COLON");
    }
    return this.error(`unexpected character: ${goQuoteRune(r)}`);
  }

  private lexInsideBraces(): Item | null {
    if (this.atComment()) return this.lexComment();
    const r = this.nextRune();
    if (r === EOF) return this.error("unexpected end of input inside braces");
    if (isSpace(r)) {
      this.skipSpaces();
      return null;
    }
    if (isAlpha(r)) {
      this.skipIdentifier(false);
      return this.emit("IDENTIFIER");
    }
    switch (r) {
      case 0x2c:
        return this.emit("COMMA");
      case 0x22:
      case 0x27:
        this.stringOpen = r;
        return this.lexString();
      case 0x60:
        this.stringOpen = r;
        return this.lexRawString();
      case 0x3d: // =
        if (this.nextRune() === 0x7e) return this.emit("EQL_REGEX");
        this.backup();
        return this.emit("EQL");
      case 0x21: { // !
        const nr = this.nextRune();
        if (nr === 0x7e) return this.emit("NEQ_REGEX");
        if (nr === 0x3d) return this.emit("NEQ");
        return this.error(`unexpected character after '!' inside braces: ${goQuoteRune(nr)}`);
      }
      case 0x7b:
        return this.error(`unexpected left brace ${goQuoteRune(r)}`);
      case 0x7d:
        this.braceOpen = false;
        return this.emit("RIGHT_BRACE");
    }
    return this.error(`unexpected character inside braces: ${goQuoteRune(r)}`);
  }

  private lexEscape(): string | null {
    let ch = this.nextRune();
    if (SIMPLE_ESCAPES.has(ch) || ch === this.stringOpen) return null;
    let n: number;
    let base: number;
    let max: number;
    switch (ch) {
      case 0x30:
      case 0x31:
      case 0x32:
      case 0x33:
      case 0x34:
      case 0x35:
      case 0x36:
      case 0x37:
        [n, base, max] = [3, 8, 255];
        break;
      case 0x78:
        ch = this.nextRune();
        [n, base, max] = [2, 16, 255];
        break;
      case 0x75:
        ch = this.nextRune();
        [n, base, max] = [4, 16, 0x10ffff];
        break;
      case 0x55:
        ch = this.nextRune();
        [n, base, max] = [8, 16, 0x10ffff];
        break;
      case EOF:
        return "escape sequence not terminated";
      default:
        return `unknown escape sequence ${goRuneU(ch)}`;
    }
    let x = 0;
    while (n > 0) {
      const d = digitVal(ch);
      if (d >= base) {
        if (ch === EOF) return "escape sequence not terminated";
        return `illegal character ${goRuneU(ch)} in escape sequence`;
      }
      x = x * base + d;
      n--;
      if (n > 0) ch = this.nextRune();
    }
    if (x > max || (x >= 0xd800 && x < 0xe000)) {
      return "escape sequence is an invalid Unicode code point";
    }
    return null;
  }

  private lexString(): Item {
    const src = this.src;
    const q = this.stringOpen;
    for (;;) {
      // plain ASCII needs no rune decoding (NaN past the end fails the test)
      const c = src.charCodeAt(this.pos);
      if (c < 0x80 && c !== q && c !== 0x5c && c !== 0x0a) {
        this.pos++;
        continue;
      }
      const r = this.nextRune();
      if (r === 0x5c) {
        const err = this.lexEscape();
        if (err !== null) return this.error(err);
        continue;
      }
      // Go's lexer compares with utf8.RuneError, so a literal U+FFFD is rejected as well
      if (r === 0xfffd) return this.error("invalid UTF-8 rune");
      if (r === EOF || r === 0x0a) return this.error("unterminated quoted string");
      if (r === this.stringOpen) break;
    }
    return this.emit("STRING");
  }

  private lexRawString(): Item {
    const src = this.src;
    const q = this.stringOpen;
    for (;;) {
      const c = src.charCodeAt(this.pos);
      if (c < 0x80 && c !== q) {
        this.pos++;
        continue;
      }
      const r = this.nextRune();
      if (r === 0xfffd) return this.error("invalid UTF-8 rune");
      if (r === EOF) return this.error("unterminated raw string");
      if (r === this.stringOpen) break;
    }
    return this.emit("STRING");
  }

  private lexDuration(): Item {
    if (this.scanNumber()) return this.error("missing unit character in duration");
    if (!this.acceptRemainingDuration()) {
      return this.error(`bad duration syntax: ${goQuote(this.slice(this.start, this.pos))}`);
    }
    this.backup();
    return this.emit("DURATION");
  }

  private lexNumberOrDuration(): Item {
    if (this.scanNumber()) return this.emit("NUMBER");
    if (this.acceptRemainingDuration()) {
      this.backup();
      return this.emit("DURATION");
    }
    return this.error(
      `bad number or duration syntax: ${goQuote(this.slice(this.start, this.pos))}`,
    );
  }

  private acceptRemainingDuration(): boolean {
    if (!this.accept("smhdwy")) return false;
    this.accept("s"); // ms; bad units (hs, ys) are caught when the duration is parsed
    while (this.accept("0123456789")) {
      this.acceptRun("0123456789");
      if (!this.accept("smhdw")) return false;
      this.accept("s");
    }
    return !isAlphaNumeric(this.nextRune());
  }

  /** Scans decimal/hex/float syntax; false when followed by an alphanumeric (e.g. a unit). */
  private scanNumber(): boolean {
    let digits = "0123456789";
    if (this.accept("0") && this.accept("xX")) digits = "0123456789abcdefABCDEF";
    this.acceptRun(digits);
    if (this.accept(".")) this.acceptRun(digits);
    if (this.accept("eE")) {
      this.accept("+-");
      this.acceptRun("0123456789");
    }
    return !isAlphaNumeric(this.peek());
  }

  private lexKeywordOrIdentifier(): Item {
    this.skipIdentifier(true);
    const word = this.slice(this.start, this.pos);
    const kw = word.length <= MAX_KEYWORD_LENGTH ? KEYWORDS.get(word.toLowerCase()) : undefined;
    if (kw !== undefined) return this.emit(kw);
    return this.emit(word.includes(":") ? "METRIC_IDENTIFIER" : "IDENTIFIER");
  }
}

/** Value of a hex digit (any case), or 16 for anything else, as Go's `digitVal`. */
export function digitVal(ch: number): number {
  if (ch >= 0x30 && ch <= 0x39) return ch - 0x30;
  if (ch >= 0x61 && ch <= 0x66) return ch - 0x61 + 10;
  if (ch >= 0x41 && ch <= 0x46) return ch - 0x41 + 10;
  return 16;
}

/** All tokens of `input` up to and including EOF or the first ERROR (comments included). */
export function lex(input: string): Item[] {
  const l = new Lexer(input);
  const out: Item[] = [];
  for (let i = 0; i <= l.byteLength + 1; i++) {
    const it = l.next();
    out.push(it);
    if (it.type === "EOF" || it.type === "ERROR") break;
  }
  return out;
}
