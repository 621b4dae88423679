// The one way user regexes are compiled (matchers, label_replace, relabel configs): Go RE2
// semantics, fully anchored as Prometheus compiles them (`^(?:re)$`), matched in time linear in
// the input. Patterns that ./backtrack.ts proves safe for a backtracking engine run as the
// translated JavaScript RegExp (./translate.ts: fastest for the common shapes, `10\.0\..*`,
// `(\w+)-(\d+)`); every other pattern runs on `re2js`, a pure-JS port of Go's regexp
// (DFA + NFA, https://github.com/le0pard/re2js), which cannot blow up on `(a+)+$`; patterns proven
// safe only for inputs without a "\n" (`(.*):.*`) run as the RegExp on those and on re2js on
// the others (a `.includes` per input). Both see the
// same pattern text, already validated with Go's error messages by ./parser.ts.

import { RE2JS } from "re2js";
import { guardDepth, InvalidRegexError, parseRe2, type ReNode } from "./parser.ts";
import { backtrackSafe } from "./backtrack.ts";
import { compileAnchoredNode } from "./translate.ts";

/** Which engine runs a compiled regex. */
export type Re2Engine = "regexp" | "re2js";

/**
 * Which engines a compiled regex uses: one for every input, or (`"regexp-unless-newline"`) the
 * RegExp for inputs without a "\n" and the automaton for the others, for patterns such as
 * `(.*):.*` whose backtracking is linear only when `.` takes every character of the input.
 */
export type Re2Engines = Re2Engine | "regexp-unless-newline";

/** Capture groups of a match: index 0 is the whole match; undefined when a group took no part. */
export type Re2Groups = (string | undefined)[];

/** A user regex compiled with RE2 semantics, anchored at both ends. */
export class Re2Regex {
  private constructor(
    /** The pattern as the user wrote it. */
    readonly pattern: string,
    /** Capture group names by index (index 0 = whole match, "" when unnamed), as Go's SubexpNames. */
    readonly groupNames: string[],
    /** "regexp" only for patterns proven safe for backtracking (see {@link Re2Engines}). */
    readonly engine: Re2Engines,
    private readonly js: RegExp | null,
    /** The automaton, or how to compile it when first needed (an input with a newline). */
    private re2: RE2JS | (() => RE2JS) | null,
    /** False for a search regex ({@link Re2Regex.compileSearch}): matches anywhere in the text. */
    readonly anchored = true,
  ) {
    this.test = js !== null && re2 !== null
      ? (s) => this.engineFor(s) === "regexp" ? js.test(s) : this.automaton().testExact(s)
      : js !== null
      ? (s) => js.test(s)
      : anchored
      ? (s) => this.automaton().testExact(s)
      : (s) => this.automaton().matcher(s).find();
  }

  /** The RE2 automaton, compiled on first use when it is only the fallback (about 50 µs). */
  private automaton(): RE2JS {
    if (typeof this.re2 === "function") this.re2 = this.re2();
    return this.re2!;
  }

  /** True when the whole of `s` matches (a search regex: when some part of `s` matches). */
  readonly test: (s: string) => boolean;

  /**
   * Compiles `pattern` unanchored, as Go's `regexp.MustCompile` (text/template's `match` and
   * `reReplaceAll` in alert templates). Always the RE2 automaton: a backtracking engine searching
   * from every start position is quadratic even for patterns that are linear when anchored, so
   * search keeps the guarantee of linear time per scanned position range as Go's does.
   */
  static compileSearch(pattern: string): Re2Regex {
    const { ast, groupNames } = parseRe2(pattern);
    return guardDepth(pattern, () => {
      const re2 = compileRe2js(ast, pattern, pattern);
      return new Re2Regex(pattern, groupNames, "re2js", null, re2, false);
    });
  }

  /**
   * Compiles `pattern` as Prometheus does (`^(?:pattern)$`). Throws InvalidRegexError with Go's
   * message when it is not valid RE2. `force` picks the engine regardless of the pattern: for
   * tests and benchmarks only (a forced "regexp" can backtrack exponentially).
   */
  static compile(pattern: string, force?: Re2Engine): Re2Regex {
    const { ast, groupNames } = parseRe2(pattern);
    return Re2Regex.fromTree(ast, pattern, groupNames, { captures: true, force });
  }

  /**
   * Compiles an already parsed tree of `pattern` (possibly simplified, but equivalent).
   * `captures` false drops capture groups (matchers only test); `force` as in compile().
   */
  static fromTree(
    ast: ReNode,
    pattern: string,
    groupNames: string[],
    opts: { captures: boolean; force?: Re2Engine },
  ): Re2Regex {
    return guardDepth(pattern, () => {
      const engine: Re2Engines = opts.force ??
        (backtrackSafe(ast)
          ? "regexp"
          : backtrackSafe(ast, true)
          ? "regexp-unless-newline"
          : "re2js");
      const js = engine === "re2js" ? null : compileAnchoredNode(ast, pattern, opts.captures);
      const source = `^(?:${pattern})$`;
      if (engine === "regexp") return new Re2Regex(pattern, groupNames, engine, js, null);
      if (engine === "re2js") {
        return new Re2Regex(pattern, groupNames, engine, js, compileRe2js(ast, pattern, source));
      }
      // most label values hold no newline: the automaton is compiled for the first that does
      checkProgramSize(ast, pattern);
      const later = () => guardDepth(pattern, () => compileRe2js(ast, pattern, source));
      return new Re2Regex(pattern, groupNames, engine, js, later);
    });
  }

  /**
   * The capture groups when the whole of `s` matches, else null (a search regex: the groups of
   * the leftmost match).
   */
  exec(s: string): Re2Groups | null {
    if (this.engineFor(s) === "regexp") {
      const m = this.js!.exec(s);
      return m === null ? null : Array.from(m);
    }
    const m = this.automaton().matcher(s);
    if (!(this.anchored ? m.matches() : m.find())) return null;
    return groupsOf(m);
  }

  /** The engine that matches `s`: the RE2 automaton for every input that may backtrack badly. */
  engineFor(s: string): Re2Engine {
    if (this.js === null) return "re2js";
    return this.engine === "regexp-unless-newline" && s.includes("\n") ? "re2js" : "regexp";
  }

  /**
   * Every successive non-overlapping match of a search regex, leftmost-first, as Go's
   * `FindAllStringSubmatchIndex`: an empty match right after the previous match is skipped, and
   * the search moves on by one character (code point) after an empty match. `index`/`end` are
   * UTF-16 offsets into `s`. At most `limit` matches.
   */
  *matchAll(
    s: string,
    limit = Infinity,
  ): Generator<{ index: number; end: number; groups: Re2Groups }> {
    if (this.anchored || this.re2 === null) {
      throw new Error("matchAll needs a search regex (Re2Regex.compileSearch)");
    }
    const m = this.automaton().matcher(s);
    let prevEnd = -1;
    let n = 0;
    while (n < limit && m.find()) {
      const start = m.start();
      const end = m.end();
      if (start === end) {
        // Go: "Empty matches abutting a preceding match are ignored"; and no empty match
        // between the two halves of a surrogate pair (Go steps over whole runes)
        const c = s.charCodeAt(start - 1);
        if (start === prevEnd || (start > 0 && c >= 0xd800 && c <= 0xdbff)) continue;
      }
      n++;
      prevEnd = end;
      yield { index: start, end, groups: groupsOf(m) };
    }
  }

  /**
   * Go's `Regexp.ReplaceAllString`: every match of a search regex replaced by `template`
   * expanded as `Regexp.Expand` does (`$1`, `${name}`, `$$`).
   */
  replaceAll(s: string, template: string): string {
    let out = "";
    let last = 0;
    for (const m of this.matchAll(s)) {
      out += s.slice(last, m.index) + expandTemplate(template, m.groups, this.groupNames);
      last = m.end;
    }
    return out + s.slice(last);
  }
}

function groupsOf(m: ReturnType<RE2JS["matcher"]>): Re2Groups {
  const out: Re2Groups = [];
  for (let i = 0; i <= m.groupCount(); i++) out.push(m.group(i) ?? undefined);
  return out;
}

/** Compiles `source` (the pattern, possibly anchored) on re2js, with the program size bounded. */
function compileRe2js(ast: ReNode, pattern: string, source: string): RE2JS {
  checkProgramSize(ast, pattern);
  try {
    return RE2JS.compile(source);
  } catch (e) {
    const msg = (e as Error).message;
    // re2js reports Go's own errors (`error parsing regexp: …`) for what ./parser.ts let by
    throw new InvalidRegexError(
      msg.startsWith("error parsing regexp: ")
        ? msg
        : `error parsing regexp: cannot compile ${JSON.stringify(pattern)}: ${msg}`,
    );
  }
}

/** Throws InvalidRegexError when `ast` is too large a program for the automaton. */
function checkProgramSize(ast: ReNode, pattern: string): void {
  // re2js compiles ~10 µs per instruction: bound the program (Go allows 3.3M instructions,
  // which would block the role for most of a minute)
  const size = programSize(ast);
  if (size > MAX_PROGRAM) {
    throw new InvalidRegexError(
      `error parsing regexp: expression too large: \`${pattern}\` compiles to about ${size} ` +
        `instructions, more than the ${MAX_PROGRAM} allowed here`,
    );
  }
}

/** Largest RE2 program (instructions, as estimated by programSize) compiled for the automaton. */
export const MAX_PROGRAM = 50_000;

/** About how many instructions Go's compiler (and re2js's port of it) emits for `n`. */
export function programSize(n: ReNode): number {
  switch (n.k) {
    case "lit":
      return n.cps.length;
    case "group":
      return programSize(n.sub) + (n.cap > 0 ? 2 : 0);
    case "concat":
      return n.subs.reduce((a, s) => a + programSize(s), 0);
    case "alt":
      return n.subs.reduce((a, s) => a + programSize(s) + 1, 0);
    case "rep": {
      const sub = programSize(n.sub);
      if (n.max === -1) return sub * Math.max(n.min, 1) + 1;
      return sub * n.max + (n.max - n.min) + 1;
    }
    default:
      return 1;
  }
}

/**
 * Go's `Regexp.Expand` template (https://pkg.go.dev/regexp#Regexp.Expand), as label_replace
 * and relabel `replacement` use it: `$1`, `${1}`, `$name`, `${name}`, `$$`. A reference to a
 * group that does not exist or took no part expands to ""; the longest run of name characters
 * after `$` is the name (`$1x` names group "1x"); a malformed `${` copies the `$`.
 */
export function expandTemplate(
  template: string,
  groups: Re2Groups,
  groupNames: readonly string[],
): string {
  let out = "";
  let i = 0;
  const value = (name: string): string => {
    let g: number;
    if (/^[0-9]+$/.test(name)) g = Number(name);
    else g = groupNames.indexOf(name);
    return g >= 0 && g < groups.length ? groups[g] ?? "" : "";
  };
  while (i < template.length) {
    const c = template[i];
    if (c !== "$" || i + 1 >= template.length) {
      out += c;
      i++;
      continue;
    }
    const nx = template[i + 1];
    if (nx === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (nx === "{") {
      const close = template.indexOf("}", i + 2);
      const name = close < 0 ? "" : template.slice(i + 2, close);
      if (close < 0 || !/^[A-Za-z0-9_]+$/.test(name)) {
        out += "$";
        i++;
        continue;
      }
      out += value(name);
      i = close + 1;
      continue;
    }
    let j = i + 1;
    while (j < template.length && /[A-Za-z0-9_]/.test(template[j])) j++;
    if (j === i + 1) {
      out += "$";
      i++;
      continue;
    }
    out += value(template.slice(i + 1, j));
    i = j;
  }
  return out;
}
