// Label matchers with Prometheus 2.42 semantics: `=`, `!=`, `=~`, `!~`. Regexes are Go RE2
// syntax, fully anchored, matched in linear time by re2/regex.ts. Literal sets, `.*`, `.+` and
// `.*lit.*` get fast paths here, from the parsed RE2 tree; a literal prefix rejects early.

import { goQuote } from "../strconv/quote.ts";
import { guardDepth, parseRe2, type ReNode } from "../re2/parser.ts";
import { Re2Regex } from "../re2/regex.ts";
import { simplify } from "../re2/translate.ts";

/** Matcher operator. */
export enum MatchType {
  Equal = "=",
  NotEqual = "!=",
  Regexp = "=~",
  NotRegexp = "!~",
}

const MAX_SET_MATCHES = 256; // as Prometheus's later SetMatches bound

// ---------------------------------------------------------------------------------------------
// Fast-path analysis of the parsed pattern.

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

const enum Strategy {
  Regex,
  Set,
  Any, // .* (no newline unless (?s))
  NonEmpty, // .+
  Contains, // .* literal .*
}

/** One label matcher. `matches("")` is how a missing label is tested, as in Prometheus. */
export class Matcher {
  private readonly re?: Re2Regex;
  /** The regex test behind the fast paths (with the literal-prefix check for the automaton). */
  private readonly reTest: (v: string) => boolean = () => false;
  private readonly strategy: Strategy = Strategy.Regex;
  private readonly set: Set<string> | null = null;
  private readonly setList: string[] | null = null;
  private readonly lit: string = "";
  private readonly dotNL: boolean = false;
  private readonly pre: string = "";

  /** Throws InvalidRegexError when a regex matcher's value is not valid RE2. */
  constructor(readonly type: MatchType, readonly name: string, readonly value: string) {
    if (type !== MatchType.Regexp && type !== MatchType.NotRegexp) return;
    const parsed = parseRe2(value);
    const ast = guardDepth(value, () => stripTextAnchors(simplify(parsed.ast)));
    const re = Re2Regex.fromTree(ast, value, parsed.groupNames, { captures: false });
    this.re = re;
    this.pre = literalPrefix(ast);
    // irregexp already fails fast on an anchored literal; the RE2 automaton does not: values
    // that lack the prefix or a literal the pattern requires are rejected before it
    const pre = this.pre;
    const lits = requiredLiterals(ast).filter((l) => !pre.startsWith(l));
    if (re.engine === "regexp" || (pre === "" && lits.length === 0)) this.reTest = re.test;
    else {
      this.reTest = (v) => {
        if (!v.startsWith(pre)) return false;
        for (const l of lits) if (!v.includes(l)) return false;
        return re.test(v);
      };
    }
    const set = ast.k === "concat" && ast.subs.length === 0
      ? [""]
      : guardDepth(value, () => literalSet(ast));
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
        return this.reTest(v);
    }
  }

  /** Matches through the compiled regex only (no fast path): for tests of the fast paths. */
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

  /**
   * How a `=~`/`!~` matcher tests values (undefined for `=`/`!=`): a fast path ("set", "any",
   * "nonempty", "contains") or the regex engine ("regexp", "re2js"). For tests and benchmarks.
   */
  get regexPath(): string | undefined {
    if (this.re === undefined) return undefined;
    const paths = ["", "set", "any", "nonempty", "contains"];
    return this.strategy === Strategy.Regex ? this.re.engine : paths[this.strategy];
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

/** Case-sensitive literals of a top-level concatenation: every match contains each of them. */
function requiredLiterals(n: ReNode): string[] {
  if (n.k !== "concat") return [];
  const out: string[] = [];
  for (const s of n.subs) if (s.k === "lit" && !s.fold) out.push(String.fromCodePoint(...s.cps));
  return out;
}

function literalPrefix(n: ReNode): string {
  if (n.k === "lit") return n.fold ? "" : String.fromCodePoint(...n.cps);
  if (n.k === "concat" && n.subs.length > 0) return literalPrefix(n.subs[0]);
  return "";
}
