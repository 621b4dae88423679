// PromQL parser with Prometheus 2.42's grammar, type checks and error messages: a precedence
// climbing parser that reproduces the yacc grammar's associativity and its "unexpected …"
// messages. Errors are ParseError with Prometheus's `line:col: parse error: …` text.

import { InvalidDurationError, parseDuration } from "../tsdb/duration.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { InvalidRegexError } from "../re2/parser.ts";
import { goQuote } from "../strconv/quote.ts";
import {
  type AggregateExpr,
  type AggregateOp,
  type BinaryExpr,
  type BinaryOp,
  type Call,
  children,
  documentedType,
  type Expr,
  getFunction,
  isComparison,
  isSetOperator,
  type MatrixSelector,
  type PosRange,
  type SubqueryExpr,
  typeOf,
  type ValueType,
  type VectorMatching,
  type VectorSelector,
} from "./ast.ts";
import type { FunctionOptions } from "./functions_table.ts";
import {
  AGGREGATORS,
  decodeUtf8,
  digitVal,
  isLabelName,
  type Item,
  ITEM_TYPE_STR,
  itemDesc,
  type ItemType,
  Lexer,
  SIMPLE_ESCAPES,
} from "./lexer.ts";

/** One parse error: its byte range in the query and the message without the position prefix. */
export interface ParseErrorDetail {
  position: PosRange;
  message: string;
}

/**
 * A query that does not parse or type-check. `message` is Prometheus's text, e.g.
 * `1:7: parse error: unexpected end of input`; `line`/`column` are 1-based (column in bytes).
 */
export class ParseError extends Error {
  override name = "ParseError";
  /** Byte range of the first error. */
  readonly position: PosRange;
  readonly line: number;
  readonly column: number;
  /** The first error's message without the `line:col: parse error: ` prefix. */
  readonly detail: string;
  /** Every error found, first one first (the message shows only the first, as Prometheus). */
  readonly errors: ParseErrorDetail[];

  constructor(readonly query: string, errors: ParseErrorDetail[]) {
    const first = errors[0];
    const bytes = new TextEncoder().encode(query);
    const pos = first.position.start;
    let line = 1;
    let column = -1;
    let prefix: string;
    if (pos < 0 || pos > bytes.length) {
      prefix = "invalid position:";
    } else {
      let lastBreak = -1;
      for (let i = 0; i < pos; i++) {
        if (bytes[i] === 0x0a) {
          lastBreak = i;
          line++;
        }
      }
      column = pos - lastBreak;
      prefix = `${line}:${column}:`;
    }
    super(`${prefix} parse error: ${first.message}`);
    this.position = first.position;
    this.line = line;
    this.column = column;
    this.detail = first.message;
    this.errors = errors;
  }
}

// ---------------------------------------------------------------------------------------------
// Literals.

function invalidNumber(s: string): string {
  return `strconv.ParseFloat: parsing ${goQuote(s)}: invalid syntax`;
}

/** Go `strconv.ParseInt(s, 0, 64)` then `ParseFloat(s, 64)` as the PromQL parser does. */
function parseNumber(s: string): number | string {
  const lower = s.toLowerCase();
  if (lower === "inf" || lower === "+inf" || lower === "infinity") return Infinity;
  if (lower === "-inf") return -Infinity;
  if (lower === "nan") return NaN;
  if (/^0[xX]/.test(s)) {
    const digits = s.slice(2).replace(/^0+/, "");
    if (!/^[0-9a-fA-F]+$/.test(s.slice(2))) return invalidNumber(s);
    // beyond int64 ParseInt fails and ParseFloat wants a `p` exponent for hex: invalid
    if (digits.length > 16 || (digits.length === 16 && parseInt(digits[0], 16) >= 8)) {
      return invalidNumber(s);
    }
    return Number(s.slice(0, 2).toLowerCase() + s.slice(2));
  }
  if (/^0[0-7]+$/.test(s)) {
    const digits = s.replace(/^0+/, "");
    if (digits.length < 22) return parseInt(digits, 8);
    // not an int64: ParseFloat reads it as decimal
  }
  if (!/^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(s)) return invalidNumber(s);
  const v = Number(s);
  if (!Number.isFinite(v)) return `strconv.ParseFloat: parsing ${goQuote(s)}: value out of range`;
  return v;
}

/**
 * Go `strutil.Unquote` of the token at bytes [from, to) of the lexer's query; invalid UTF-8 from
 * \x / octal escapes becomes U+FFFD. null when the token is not a valid quoted string. A string
 * without escapes is the text between its quotes, sliced from the query as it is.
 */
function unquote(lx: Lexer, from: number, to: number): string | null {
  if (to - from < 2) return null;
  const q = lx.byteAt(from);
  if (q !== lx.byteAt(to - 1)) return null;
  const bodyStart = from + 1;
  const bodyEnd = to - 1;
  if (q === 0x60) {
    for (let i = bodyStart; i < bodyEnd; i++) if (lx.byteAt(i) === 0x60) return null;
    return lx.slice(bodyStart, bodyEnd);
  }
  if (q !== 0x22 && q !== 0x27) return null;
  for (let i = bodyStart; i < bodyEnd; i++) {
    const c = lx.byteAt(i);
    if (c === q || c === 0x0a) return null;
    if (c === 0x5c) return unquoteEscaped(lx, q, bodyStart, bodyEnd);
  }
  return lx.slice(bodyStart, bodyEnd);
}

/** {@link unquote} of a body [from, to) with a backslash in it. */
function unquoteEscaped(lx: Lexer, q: number, from: number, to: number): string | null {
  for (let i = from; i < to; i++) if (lx.byteAt(i) === 0x0a) return null;
  // an escape never decodes to more bytes than it is written with
  const out = new Uint8Array(to - from);
  let o = 0;
  let i = from;
  while (i < to) {
    const c = lx.byteAt(i);
    if (c === q) return null;
    if (c !== 0x5c) {
      out[o++] = c;
      i++;
      continue;
    }
    if (i + 1 >= to) return null;
    const e = lx.byteAt(i + 1);
    i += 2;
    const simple = SIMPLE_ESCAPES.get(e);
    if (simple !== undefined) {
      out[o++] = simple;
      continue;
    }
    if (e === 0x27 || e === 0x22) {
      if (e !== q) return null;
      out[o++] = e;
      continue;
    }
    if (e === 0x78 || e === 0x75 || e === 0x55) {
      const len = e === 0x78 ? 2 : e === 0x75 ? 4 : 8;
      if (i + len > to) return null;
      let v = 0;
      for (let j = 0; j < len; j++) {
        const h = digitVal(lx.byteAt(i + j));
        if (h >= 16) return null;
        v = v * 16 + h;
      }
      i += len;
      if (e === 0x78) out[o++] = v; // a raw byte, as in Go
      else {
        if (v > 0x10ffff) return null;
        o = putUtf8(out, o, v >= 0xd800 && v < 0xe000 ? 0xfffd : v);
      }
      continue;
    }
    if (e >= 0x30 && e <= 0x37) {
      if (i + 2 > to) return null;
      let v = e - 0x30;
      for (let j = 0; j < 2; j++) {
        const d = lx.byteAt(i + j) - 0x30;
        if (!(d >= 0 && d <= 7)) return null;
        v = v * 8 + d;
      }
      i += 2;
      if (v > 255) return null;
      out[o++] = v;
      continue;
    }
    return null;
  }
  return decodeUtf8(out.subarray(0, o));
}

/** Writes code point `r` (not a surrogate) as UTF-8 at `out[o]`; returns the next offset. */
function putUtf8(out: Uint8Array, o: number, r: number): number {
  if (r < 0x80) out[o++] = r;
  else if (r < 0x800) {
    out[o++] = 0xc0 | (r >> 6);
    out[o++] = 0x80 | (r & 0x3f);
  } else if (r < 0x10000) {
    out[o++] = 0xe0 | (r >> 12);
    out[o++] = 0x80 | ((r >> 6) & 0x3f);
    out[o++] = 0x80 | (r & 0x3f);
  } else {
    out[o++] = 0xf0 | (r >> 18);
    out[o++] = 0x80 | ((r >> 12) & 0x3f);
    out[o++] = 0x80 | ((r >> 6) & 0x3f);
    out[o++] = 0x80 | (r & 0x3f);
  }
  return o;
}

/** Go `%f` (6 decimals; ±Inf, NaN spelled as Go does). */
function goFormatF(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Math.abs(v) < 1e21) return v.toFixed(6);
  return BigInt(v).toString() + ".000000";
}

// ---------------------------------------------------------------------------------------------
// Parser.

/** Thrown internally to stop at the first syntax error (errors are in `Parser.errors`). */
class Abort {}

/**
 * Deepest nesting accepted. Prometheus has no limit (Go stacks grow), but here the parser, type
 * checker, engine and printer recurse per level on a fixed JS stack: 10k nested parentheses gave
 * "Maximum call stack size exceeded" (HTTP 500). The parser refuses deeper nesting (parentheses,
 * unary operators, calls, aggregations) as a parse error, HTTP 400. Operator chains (`a or b or
 * …`) parse, type-check and print at any length without recursion; the engine, which recurses
 * along them, refuses a tree deeper than this with {@link checkEvalDepth}.
 */
export const MAX_EXPR_DEPTH = 1000;

function depthError(position: PosRange): ParseErrorDetail {
  return {
    position,
    message: `expression nested too deeply: more than ${MAX_EXPR_DEPTH} levels of sub-expressions`,
  };
}

/**
 * Throws ParseError (`expression nested too deeply…`) when `expr`'s tree is deeper than
 * {@link MAX_EXPR_DEPTH}, as a long operator chain is; measured without recursion.
 */
export function checkEvalDepth(input: string, expr: Expr): void {
  const { depth, deepest } = exprDepth(expr);
  if (depth > MAX_EXPR_DEPTH) throw new ParseError(input, [depthError(deepest.posRange)]);
}

/** Depth of the expression tree, measured without recursion; the deepest node comes with it. */
function exprDepth(root: Expr): { depth: number; deepest: Expr } {
  let depth = 0;
  let deepest = root;
  const stack: [Expr, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [n, d] = stack.pop()!;
    if (d >= depth) {
      depth = d;
      deepest = n;
    }
    for (const c of children(n)) stack.push([c, d + 1]);
  }
  return { depth, deepest };
}

const PRECEDENCE: Partial<Record<ItemType, number>> = {
  LOR: 1,
  LAND: 2,
  LUNLESS: 2,
  EQLC: 3,
  NEQ: 3,
  LTE: 3,
  LSS: 3,
  GTE: 3,
  GTR: 3,
  ADD: 4,
  SUB: 4,
  MUL: 5,
  DIV: 5,
  MOD: 5,
  ATAN2: 5,
  POW: 6,
};
const POW_PRECEDENCE = 6;

// the grammar's `metric_identifier`: names a metric although it lexes as a keyword
const METRIC_IDENTIFIER_TYPES = new Set<ItemType>([
  ...AGGREGATORS,
  "BY",
  "END",
  "IDENTIFIER",
  "LAND",
  "LOR",
  "LUNLESS",
  "METRIC_IDENTIFIER",
  "OFFSET",
  "START",
  "WITHOUT",
]);

// the grammar's `maybe_label`: tokens that may name a label inside by(…)/on(…)/group_left(…)
const MAYBE_LABEL_TYPES = new Set<ItemType>([
  ...AGGREGATORS,
  "ATAN2",
  "BOOL",
  "BY",
  "END",
  "GROUP_LEFT",
  "GROUP_RIGHT",
  "IDENTIFIER",
  "IGNORING",
  "LAND",
  "LOR",
  "LUNLESS",
  "METRIC_IDENTIFIER",
  "OFFSET",
  "ON",
  "START",
]);

const MATCH_OPS: Partial<Record<ItemType, MatchType>> = {
  EQL: MatchType.Equal,
  NEQ: MatchType.NotEqual,
  EQL_REGEX: MatchType.Regexp,
  NEQ_REGEX: MatchType.NotRegexp,
};

/** Closing tokens whose end Prometheus records as the end of the expression being built. */
const CLOSING_TYPES = new Set<ItemType>([
  "RIGHT_BRACE",
  "RIGHT_PAREN",
  "RIGHT_BRACKET",
  "DURATION",
  "NUMBER",
]);

class Parser {
  readonly errors: ParseErrorDetail[] = [];
  private readonly lexer: Lexer;
  private tok: Item;
  private peeked: Item | null = null;
  private lastClosing = 0;
  /** Nesting depth of aggregations, for yacc's "… in aggregation" error context. */
  private aggDepth = 0;
  /** Recursion depth of parseBinary, bounded by MAX_EXPR_DEPTH. */
  private depth = 0;

  constructor(readonly input: string, private readonly fnOpts: FunctionOptions = {}) {
    this.lexer = new Lexer(input);
    this.tok = this.lexNonComment();
  }

  private lexNonComment(): Item {
    for (;;) {
      const it = this.lexer.next();
      if (it.type !== "COMMENT") return it;
    }
  }

  private advance(): void {
    if (CLOSING_TYPES.has(this.tok.type)) this.lastClosing = this.tok.end;
    if (this.peeked !== null) {
      this.tok = this.peeked;
      this.peeked = null;
    } else this.tok = this.lexNonComment();
  }

  /** True when the current token has type `t` (a call, so TS does not narrow across advance()). */
  private is(t: ItemType): boolean {
    return this.tok.type === t;
  }

  private peekNext(): Item {
    if (this.peeked === null) this.peeked = this.lexNonComment();
    return this.peeked;
  }

  private addErr(position: PosRange, message: string): void {
    this.errors.push({ position, message });
  }

  /** Stops on a syntax error: "unexpected <token> [in context][, expected …]". */
  private unexpected(context = "", expected = ""): never {
    const t = this.tok;
    if (t.type === "ERROR") {
      // the lexer's own message is the error, as in Prometheus
      this.addErr({ start: t.pos, end: t.end }, t.val);
      throw new Abort();
    }
    let msg = "unexpected " + itemDesc(t);
    if (context !== "") msg += " in " + context;
    if (expected !== "") msg += ", expected " + expected;
    this.addErr({ start: t.pos, end: t.end }, msg);
    throw new Abort();
  }

  /** Unexpected token where an expression or operator belongs. */
  private unexpectedInExpr(): never {
    this.unexpected(this.aggDepth > 0 ? "aggregation" : "");
  }

  private range(t: Item): PosRange {
    return { start: t.pos, end: t.end };
  }

  // --- entry points -----------------------------------------------------------------------

  parseExpression(): Expr | null {
    try {
      if (this.is("EOF")) {
        this.addErr({ start: 0, end: 0 }, "no expression found in input");
        return null;
      }
      const e = this.parseBinary(0);
      if (!this.is("EOF")) this.unexpectedInExpr();
      return e;
    } catch (e) {
      if (e instanceof Abort) return null;
      throw e;
    }
  }

  parseSelectorOnly(): Matcher[] | null {
    try {
      let vs: VectorSelector;
      if (this.is("LEFT_BRACE")) vs = this.parseLabelMatchers("");
      else if (METRIC_IDENTIFIER_TYPES.has(this.tok.type)) vs = this.parseNamedSelector();
      else this.unexpected();
      if (!this.is("EOF")) this.unexpected();
      return vs.matchers;
    } catch (e) {
      if (e instanceof Abort) return null;
      throw e;
    }
  }

  // --- expressions ------------------------------------------------------------------------

  private parseBinary(minPrec: number): Expr {
    if (this.depth >= MAX_EXPR_DEPTH) {
      this.errors.push(depthError(this.range(this.tok)));
      throw new Abort();
    }
    this.depth++;
    try {
      return this.parseBinaryLevel(minPrec);
    } finally {
      this.depth--;
    }
  }

  private parseBinaryLevel(minPrec: number): Expr {
    let lhs = this.parseUnary();
    for (;;) {
      const prec = PRECEDENCE[this.tok.type];
      if (prec === undefined || prec < minPrec) return lhs;
      const opTok = this.tok;
      this.advance();
      const mods = this.parseBinModifiers();
      const rhs = this.parseBinary(opTok.type === "POW" ? prec : prec + 1);
      lhs = {
        kind: "BinaryExpr",
        op: ITEM_TYPE_STR[opTok.type] as BinaryOp,
        lhs,
        rhs,
        returnBool: mods.returnBool,
        vectorMatching: mods.vectorMatching,
        posRange: { start: lhs.posRange.start, end: rhs.posRange.end },
      };
    }
  }

  private parseBinModifiers(): { returnBool: boolean; vectorMatching: VectorMatching } {
    const vm: VectorMatching = { card: "one-to-one", matchingLabels: [], on: false, include: [] };
    let returnBool = false;
    if (this.is("BOOL")) {
      returnBool = true;
      this.advance();
    }
    if (this.is("ON") || this.is("IGNORING")) {
      vm.on = this.is("ON");
      this.advance();
      vm.matchingLabels = this.parseGroupingLabels();
      if (this.is("GROUP_LEFT") || this.is("GROUP_RIGHT")) {
        vm.card = this.is("GROUP_LEFT") ? "many-to-one" : "one-to-many";
        this.advance();
        if (this.is("LEFT_PAREN")) vm.include = this.parseGroupingLabels();
      }
    }
    return { returnBool, vectorMatching: vm };
  }

  private parseUnary(): Expr {
    if (this.is("ADD") || this.is("SUB")) {
      const opTok = this.tok;
      this.advance();
      // unary binds like `*`: only `^` (and postfix modifiers) bind tighter
      const operand = this.parseBinary(POW_PRECEDENCE);
      if (operand.kind === "NumberLiteral") {
        if (opTok.type === "SUB") operand.val *= -1;
        operand.posRange.start = opTok.pos;
        return operand;
      }
      return {
        kind: "UnaryExpr",
        op: opTok.type === "SUB" ? "-" : "+",
        expr: operand,
        posRange: { start: opTok.pos, end: operand.posRange.end },
      };
    }
    return this.parsePostfix(this.parsePrimary());
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    switch (t.type) {
      case "NUMBER": {
        const v = this.number(t);
        this.advance();
        return { kind: "NumberLiteral", val: v, posRange: this.range(t) };
      }
      case "STRING": {
        const v = this.unquoteToken(t);
        this.advance();
        return { kind: "StringLiteral", val: v, posRange: this.range(t) };
      }
      case "LEFT_PAREN": {
        this.advance();
        const e = this.parseBinary(0);
        if (!this.is("RIGHT_PAREN")) this.unexpectedInExpr();
        const end = this.tok.end;
        this.advance();
        return { kind: "ParenExpr", expr: e, posRange: { start: t.pos, end } };
      }
      case "LEFT_BRACE":
        return this.parseLabelMatchers("");
    }
    if (t.type === "IDENTIFIER" && this.peekNext().type === "LEFT_PAREN") return this.parseCall();
    if (AGGREGATORS.has(t.type)) {
      const n = this.peekNext().type;
      if (n === "LEFT_PAREN" || n === "BY" || n === "WITHOUT") return this.parseAggregation();
    }
    if (METRIC_IDENTIFIER_TYPES.has(t.type)) return this.parseNamedSelector();
    this.unexpectedInExpr();
  }

  private parsePostfix(e: Expr): Expr {
    for (;;) {
      switch (this.tok.type) {
        case "LEFT_BRACKET":
          e = this.parseRangeOrSubquery(e);
          break;
        case "OFFSET":
          this.parseOffset(e);
          break;
        case "AT":
          this.parseAt(e);
          break;
        default:
          return e;
      }
    }
  }

  // --- selectors ----------------------------------------------------------------------------

  private parseNamedSelector(): VectorSelector {
    const nameTok = this.tok;
    this.advance();
    let vs: VectorSelector;
    if (this.is("LEFT_BRACE")) {
      vs = this.parseLabelMatchers(nameTok.val);
      vs.posRange.start = nameTok.pos;
    } else {
      vs = {
        kind: "VectorSelector",
        name: nameTok.val,
        matchers: [new Matcher(MatchType.Equal, "__name__", nameTok.val)],
        offset: 0,
        timestamp: null,
        startOrEnd: null,
        posRange: this.range(nameTok),
      };
    }
    return vs;
  }

  /** `{…}` at the current token; appends the `__name__` matcher when `name` is set. */
  private parseLabelMatchers(name: string): VectorSelector {
    const lbrace = this.tok;
    this.advance();
    const matchers: Matcher[] = [];
    if (!this.is("RIGHT_BRACE")) {
      for (;;) {
        if (!this.is("IDENTIFIER")) {
          this.unexpected("label matching", 'identifier or "}"');
        }
        const label = this.tok;
        this.advance();
        const op = MATCH_OPS[this.tok.type];
        if (op === undefined) this.unexpected("label matching", "label matching operator");
        this.advance();
        if (!this.is("STRING")) this.unexpected("label matching", "string");
        const value = this.tok;
        const m = this.newLabelMatcher(label, op, value);
        if (m !== null) matchers.push(m);
        this.advance();
        if (this.is("COMMA")) {
          this.advance();
          if (this.is("RIGHT_BRACE")) break;
          continue;
        }
        if (this.is("RIGHT_BRACE")) break;
        this.unexpected("label matching", '"," or "}"');
      }
    }
    const end = this.tok.end;
    this.advance();
    if (name !== "") matchers.push(new Matcher(MatchType.Equal, "__name__", name));
    return {
      kind: "VectorSelector",
      name,
      matchers,
      offset: 0,
      timestamp: null,
      startOrEnd: null,
      posRange: { start: lbrace.pos, end },
    };
  }

  private newLabelMatcher(label: Item, type: MatchType, value: Item): Matcher | null {
    const v = this.unquoteToken(value);
    try {
      return new Matcher(type, label.val, v);
    } catch (e) {
      if (e instanceof RangeError && (type === MatchType.Regexp || type === MatchType.NotRegexp)) {
        // the regex compiler recurses per nesting level: 10k nested groups overflow the stack;
        // Go's regexp/syntax refuses more than 1000 levels with this message (a 400 either way)
        this.addErr(
          { start: label.pos, end: value.end },
          `error parsing regexp: expression nests too deeply: \`^(?:${v})$\``,
        );
        return null;
      }
      if (!(e instanceof InvalidRegexError)) throw e;
      this.addErr({ start: label.pos, end: value.end }, e.message);
      return null;
    }
  }

  private parseRangeOrSubquery(e: Expr): Expr {
    const lb = this.tok;
    this.advance();
    if (!this.is("DURATION")) this.unexpected("subquery selector", "duration");
    const range = this.duration(this.tok);
    this.advance();
    if (this.is("RIGHT_BRACKET")) {
      const rb = this.tok;
      this.advance();
      let err = "";
      if (e.kind !== "VectorSelector") err = "ranges only allowed for vector selectors";
      else if (e.offset !== 0) err = "no offset modifiers allowed before range";
      else if (e.timestamp !== null) err = "no @ modifiers allowed before range";
      if (err !== "") this.addErr({ start: lb.pos, end: rb.end }, err);
      if (e.kind !== "VectorSelector") return e;
      const ms: MatrixSelector = {
        kind: "MatrixSelector",
        vectorSelector: e,
        range,
        posRange: { start: e.posRange.start, end: this.lastClosing },
      };
      return ms;
    }
    if (!this.is("COLON")) this.unexpected("subquery or range", '":" or "]"');
    this.advance();
    let step = 0;
    if (this.is("DURATION")) {
      step = this.duration(this.tok);
      this.advance();
      if (!this.is("RIGHT_BRACKET")) this.unexpected("subquery selector", '"]"');
    } else if (!this.is("RIGHT_BRACKET")) {
      this.unexpected("subquery selector", 'duration or "]"');
    }
    const rb = this.tok;
    this.advance();
    const sq: SubqueryExpr = {
      kind: "SubqueryExpr",
      expr: e,
      range,
      step,
      offset: 0,
      timestamp: null,
      startOrEnd: null,
      posRange: { start: e.posRange.start, end: rb.pos + 1 },
    };
    return sq;
  }

  private parseOffset(e: Expr): void {
    this.advance();
    let sign = 1;
    if (this.is("SUB")) {
      sign = -1;
      this.advance();
    }
    if (!this.is("DURATION")) this.unexpected("offset", "duration");
    const d = this.duration(this.tok);
    this.advance();
    let target: VectorSelector | SubqueryExpr;
    if (e.kind === "VectorSelector" || e.kind === "SubqueryExpr") target = e;
    else if (e.kind === "MatrixSelector") target = e.vectorSelector;
    else {
      this.addErr(
        e.posRange,
        "offset modifier must be preceded by an instant vector selector or range vector " +
          "selector or a subquery",
      );
      return;
    }
    if (target.offset !== 0) this.addErr(e.posRange, "offset may not be set multiple times");
    else target.offset = sign * d;
    e.posRange.end = this.lastClosing;
  }

  private parseAt(e: Expr): void {
    this.advance();
    const t = this.tok;
    if (t.type === "START" || t.type === "END") {
      this.advance();
      if (!this.is("LEFT_PAREN")) this.unexpected("@", "timestamp");
      this.advance();
      if (!this.is("RIGHT_PAREN")) this.unexpected("@", "timestamp");
      this.advance();
      const target = this.atTarget(e);
      if (target === null) return;
      target.startOrEnd = t.type === "START" ? "start" : "end";
      e.posRange.end = this.lastClosing;
      return;
    }
    let sign = 1;
    if (t.type === "ADD" || t.type === "SUB") {
      if (t.type === "SUB") sign = -1;
      this.advance();
      if (!this.is("NUMBER")) this.unexpected("@", "timestamp");
    } else if (t.type !== "NUMBER") {
      this.unexpected("@", "timestamp");
    }
    const ts = sign * this.number(this.tok);
    this.advance();
    if (!Number.isFinite(ts) || ts >= 9223372036854775807 || ts <= -9223372036854775808) {
      this.addErr(e.posRange, `timestamp out of bounds for @ modifier: ${goFormatF(ts)}`);
    }
    const target = this.atTarget(e);
    if (target === null) return;
    const scaled = ts * 1000;
    // Go's math.Round: halves away from zero
    target.timestamp = Math.sign(scaled) * Math.round(Math.abs(scaled));
    e.posRange.end = this.lastClosing;
  }

  private atTarget(e: Expr): VectorSelector | SubqueryExpr | null {
    let target: VectorSelector | SubqueryExpr;
    if (e.kind === "VectorSelector" || e.kind === "SubqueryExpr") target = e;
    else if (e.kind === "MatrixSelector") target = e.vectorSelector;
    else {
      this.addErr(
        e.posRange,
        "@ modifier must be preceded by an instant vector selector or range vector selector " +
          "or a subquery",
      );
      return null;
    }
    if (target.timestamp !== null || target.startOrEnd !== null) {
      this.addErr(e.posRange, "@ <timestamp> may not be set multiple times");
      return null;
    }
    return target;
  }

  // --- calls and aggregations ---------------------------------------------------------------

  /** `( args )`: the argument list of a call or aggregation. */
  private parseCallBody(): Expr[] {
    // current token is LEFT_PAREN
    this.advance();
    const args: Expr[] = [];
    if (this.is("RIGHT_PAREN")) {
      this.advance();
      return args;
    }
    args.push(this.parseBinary(0));
    for (;;) {
      if (this.is("RIGHT_PAREN")) {
        this.advance();
        return args;
      }
      if (!this.is("COMMA")) this.unexpectedInExpr();
      const comma = this.tok;
      this.advance();
      if (this.is("RIGHT_PAREN") || this.is("COMMA")) {
        this.addErr(this.range(comma), "trailing commas not allowed in function call args");
        continue;
      }
      args.push(this.parseBinary(0));
    }
  }

  private parseCall(): Expr {
    const id = this.tok;
    this.advance();
    const args = this.parseCallBody();
    let fn = getFunction(id.val, this.fnOpts);
    if (fn === undefined) {
      this.addErr(this.range(id), `unknown function with name ${goQuote(id.val)}`);
      fn = { name: id.val, argTypes: [], variadic: -1, returnType: "vector" };
    } else if (fn.experimental && !this.fnOpts.experimentalFunctions) {
      // Prometheus v3's message (promql/parser/generated_parser.y)
      this.addErr(this.range(id), `function ${goQuote(id.val)} is not enabled`);
    }
    const call: Call = {
      kind: "Call",
      func: fn,
      args,
      posRange: { start: id.pos, end: this.lastClosing },
    };
    return call;
  }

  private parseAggregation(): Expr {
    const opTok = this.tok;
    this.advance();
    this.aggDepth++;
    let grouping: string[] | null = null;
    let without = false;
    if (this.is("BY") || this.is("WITHOUT")) {
      without = this.is("WITHOUT");
      this.advance();
      grouping = this.parseGroupingLabels();
    }
    if (!this.is("LEFT_PAREN")) this.unexpected("aggregation");
    const args = this.parseCallBody();
    if (grouping === null && (this.is("BY") || this.is("WITHOUT"))) {
      without = this.is("WITHOUT");
      this.advance();
      grouping = this.parseGroupingLabels();
    }
    this.aggDepth--;
    const op = ITEM_TYPE_STR[opTok.type] as AggregateOp;
    const posRange = { start: opTok.pos, end: this.lastClosing };
    const agg: AggregateExpr = {
      kind: "AggregateExpr",
      op,
      expr: args[args.length - 1],
      param: null,
      grouping: grouping ?? [],
      without,
      posRange,
    };
    if (args.length === 0) {
      this.addErr(posRange, "no arguments for aggregate expression provided");
      return agg;
    }
    const limit = op === "limitk" || op === "limit_ratio";
    if (limit && !this.fnOpts.experimentalFunctions) {
      // Prometheus v3's message (promql/parser/parse.go newAggregateExpr)
      this.addErr(
        posRange,
        `${op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions`,
      );
      return agg;
    }
    const withParam = op === "topk" || op === "bottomk" || op === "count_values" ||
      op === "quantile" || limit;
    const want = withParam ? 2 : 1;
    if (withParam) agg.param = args[0];
    if (args.length !== want) {
      this.addErr(
        posRange,
        `wrong number of arguments for aggregate expression provided, expected ${want}, got ${args.length}`,
      );
    }
    agg.expr = args[want - 1] ?? args[0];
    return agg;
  }

  /** `( label, … )` of by/without/on/ignoring/group_x. */
  private parseGroupingLabels(): string[] {
    if (!this.is("LEFT_PAREN")) this.unexpected("grouping opts", '"("');
    this.advance();
    const labels: string[] = [];
    if (this.is("RIGHT_PAREN")) {
      this.advance();
      return labels;
    }
    for (;;) {
      if (!MAYBE_LABEL_TYPES.has(this.tok.type) || !isLabelName(this.tok.val)) {
        this.unexpected("grouping opts", "label");
      }
      labels.push(this.tok.val);
      this.advance();
      if (this.is("COMMA")) {
        this.advance();
        if (this.is("RIGHT_PAREN")) break;
        continue;
      }
      if (this.is("RIGHT_PAREN")) break;
      this.unexpected("grouping opts", '"," or ")"');
    }
    this.advance();
    return labels;
  }

  // --- literals -----------------------------------------------------------------------------

  private number(t: Item): number {
    const v = parseNumber(t.val);
    if (typeof v === "string") {
      this.addErr(this.range(t), `error parsing number: ${v}`);
      return 0;
    }
    return v;
  }

  private duration(t: Item): number {
    try {
      const d = parseDuration(t.val);
      if (d === 0) this.addErr(this.range(t), "duration must be greater than 0");
      return d;
    } catch (e) {
      if (!(e instanceof InvalidDurationError)) throw e;
      this.addErr(this.range(t), e.message);
      return 0;
    }
  }

  private unquoteToken(t: Item): string {
    const v = unquote(this.lexer, t.pos, t.end);
    if (v === null) {
      this.addErr(this.range(t), `error unquoting string ${goQuote(t.val)}: invalid syntax`);
      return "";
    }
    return v;
  }

  // --- type checking (Prometheus's checkAST) ------------------------------------------------

  checkAST(node: Expr): ValueType {
    switch (node.kind) {
      case "AggregateExpr":
        this.expectType(node.expr, "vector", "aggregation expression");
        if (
          node.op === "topk" || node.op === "bottomk" || node.op === "quantile" ||
          node.op === "limitk" || node.op === "limit_ratio"
        ) {
          this.expectType(node.param!, "scalar", "aggregation parameter");
        }
        if (node.op === "count_values") {
          this.expectType(node.param!, "string", "aggregation parameter");
        }
        return "vector";
      case "BinaryExpr":
        return this.checkBinaryChain(node);
      case "Call":
        this.checkCall(node);
        return node.func.returnType;
      case "ParenExpr":
        return this.checkAST(node.expr);
      case "UnaryExpr": {
        const t = this.checkAST(node.expr);
        if (t !== "scalar" && t !== "vector") {
          this.addErr(
            node.posRange,
            `unary expression only allowed on expressions of type scalar or instant vector, got ${
              goQuote(documentedType(t))
            }`,
          );
        }
        return t;
      }
      case "SubqueryExpr": {
        const t = this.checkAST(node.expr);
        if (t !== "vector") {
          this.addErr(
            node.posRange,
            `subquery is only allowed on instant vector, got ${t} instead`,
          );
        }
        return "matrix";
      }
      case "MatrixSelector":
        this.checkAST(node.vectorSelector);
        return "matrix";
      case "VectorSelector":
        this.checkVectorSelector(node);
        return "vector";
      default:
        return typeOf(node);
    }
  }

  /**
   * Checks a left-leaning chain of binary expressions bottom-up without recursing along the
   * chain (errors come out in the same order as Prometheus's recursive check).
   */
  private checkBinaryChain(top: BinaryExpr): ValueType {
    const spine: BinaryExpr[] = [];
    let e: Expr = top;
    while (e.kind === "BinaryExpr") {
      spine.push(e);
      e = e.lhs;
    }
    let lt = this.checkAST(e);
    for (let i = spine.length - 1; i >= 0; i--) {
      const n = spine[i];
      const rt = this.checkAST(n.rhs);
      this.checkBinary(n, lt, rt);
      lt = lt === "scalar" && rt === "scalar" ? "scalar" : "vector";
    }
    return lt;
  }

  /** Checks `node`'s type; `context` names where it is, or is the call it is an argument of. */
  private expectType(node: Expr, want: ValueType, context: string | Call): void {
    const t = this.checkAST(node);
    if (t !== want) {
      const where = typeof context === "string"
        ? context
        : `call to function ${goQuote(context.func.name)}`;
      this.addErr(
        node.posRange,
        `expected type ${documentedType(want)} in ${where}, got ${documentedType(t)}`,
      );
    }
  }

  /** Byte range of a binary expression's operator (and modifiers), for its errors. */
  private opRange(n: BinaryExpr): PosRange {
    const lx = this.lexer;
    const isSp = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
    let start = n.lhs.posRange.end;
    while (start < lx.byteLength && isSp(lx.byteAt(start))) start++;
    let end = n.rhs.posRange.start - 1;
    while (end > 0 && isSp(lx.byteAt(end))) end--;
    return { start, end };
  }

  private checkBinary(n: BinaryExpr, lt: ValueType, rt: ValueType): void {
    const vm = n.vectorMatching!;
    if (n.returnBool && !isComparison(n.op)) {
      this.addErr(this.opRange(n), "bool modifier can only be used on comparison operators");
    }
    if (isComparison(n.op) && !n.returnBool && lt === "scalar" && rt === "scalar") {
      this.addErr(this.opRange(n), "comparisons between scalars must use BOOL modifier");
    }
    if (isSetOperator(n.op) && vm.card === "one-to-one") vm.card = "many-to-many";
    if (vm.on) {
      for (const l1 of vm.matchingLabels) {
        for (const l2 of vm.include) {
          if (l1 === l2) {
            this.addErr(
              this.opRange(n),
              `label ${goQuote(l1)} must not occur in ON and GROUP clause at once`,
            );
          }
        }
      }
    }
    if (lt !== "scalar" && lt !== "vector") {
      this.addErr(
        n.lhs.posRange,
        "binary expression must contain only scalar and instant vector types",
      );
    }
    if (rt !== "scalar" && rt !== "vector") {
      this.addErr(
        n.rhs.posRange,
        "binary expression must contain only scalar and instant vector types",
      );
    }
    if (lt !== "vector" || rt !== "vector") {
      if (vm.matchingLabels.length > 0) {
        this.addErr(n.posRange, "vector matching only allowed between instant vectors");
      }
      n.vectorMatching = null;
    } else if (isSetOperator(n.op)) {
      if (vm.card === "one-to-many" || vm.card === "many-to-one") {
        this.addErr(n.posRange, `no grouping allowed for ${goQuote(n.op)} operation`);
      }
      if (vm.card !== "many-to-many") {
        this.addErr(n.posRange, "set operations must always be many-to-many");
      }
    }
    if ((lt === "scalar" || rt === "scalar") && isSetOperator(n.op)) {
      this.addErr(
        n.posRange,
        `set operator ${goQuote(n.op)} not allowed in binary scalar expression`,
      );
    }
  }

  private checkCall(n: Call): void {
    const f = n.func;
    const nargs = f.argTypes.length;
    if (f.variadic === 0) {
      if (nargs !== n.args.length) {
        this.addErr(
          n.posRange,
          `expected ${nargs} argument(s) in call to ${goQuote(f.name)}, got ${n.args.length}`,
        );
      }
    } else {
      const na = nargs - 1;
      if (na > n.args.length) {
        this.addErr(
          n.posRange,
          `expected at least ${na} argument(s) in call to ${goQuote(f.name)}, got ${n.args.length}`,
        );
      } else if (f.variadic > 0 && na + f.variadic < n.args.length) {
        this.addErr(
          n.posRange,
          `expected at most ${na + f.variadic} argument(s) in call to ${
            goQuote(f.name)
          }, got ${n.args.length}`,
        );
      }
    }
    for (let i = 0; i < n.args.length; i++) {
      let j = i;
      if (j >= nargs) {
        if (f.variadic === 0) break; // extra args of a fixed-arity function are not type-checked
        j = nargs - 1;
      }
      this.expectType(n.args[i], f.argTypes[j], n);
    }
  }

  private checkVectorSelector(n: VectorSelector): void {
    if (n.name !== "") {
      // the last matcher is the one for the name written outside the braces
      for (let i = 0; i < n.matchers.length - 1; i++) {
        const m = n.matchers[i];
        if (m.name === "__name__") {
          this.addErr(
            n.posRange,
            `metric name must not be set twice: ${goQuote(n.name)} or ${goQuote(m.value)}`,
          );
        }
      }
      return;
    }
    // at least one matcher must not match the empty string, so `{}` cannot select everything
    if (!n.matchers.some((m) => !m.matches(""))) {
      this.addErr(n.posRange, "vector selector must contain at least one non-empty matcher");
    }
  }
}

/**
 * Parses and type-checks a PromQL expression as Prometheus 2.42 does; `opts` enables the
 * experimental and the extended (x-) functions. Throws ParseError (message
 * `line:col: parse error: …`) on the first problem.
 */
export function parseExpr(input: string, opts: FunctionOptions = {}): Expr {
  const p = new Parser(input, opts);
  const expr = p.parseExpression();
  if (expr !== null && p.errors.length === 0) p.checkAST(expr);
  if (p.errors.length > 0 || expr === null) throw new ParseError(input, p.errors);
  return expr;
}

/**
 * Parses a series selector such as `up{job="api"}` or `{__name__=~"x.*"}` (the API's
 * `match[]`) into its matchers; the `__name__` matcher of a leading name comes last.
 * Like Prometheus's ParseMetricSelector it does not require a non-empty matcher.
 * Throws ParseError.
 */
export function parseMetricSelector(input: string): Matcher[] {
  const p = new Parser(input);
  const m = p.parseSelectorOnly();
  if (p.errors.length > 0 || m === null) throw new ParseError(input, p.errors);
  return m;
}
