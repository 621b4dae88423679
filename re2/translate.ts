// RE2 → JavaScript regex translation: the tree of ./parser.ts emitted as RegExp source for the
// `u` flag, which ./regex.ts runs only for patterns a backtracking engine matches in linear time.
// RE2-only syntax is rewritten, JS-only syntax (backreferences, lookaround) was already rejected
// by the parser, and `.` does not match `\n` unless `(?s)`, as in Go.

import { InvalidRegexError, isAlnumCode, parseRe2, type ReNode } from "./parser.ts";

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
export function simplify(n: ReNode): ReNode {
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
  const { ast, groupNames } = parseRe2(pattern);
  return { source: emit(ast, true), groupNames };
}

/**
 * Compiles a parsed pattern as the JS RegExp `^(?:re)$` (`u` flag), with or without capture
 * groups. Backtracking: only ./regex.ts calls this, for patterns ./backtrack.ts proves safe.
 * `pattern` is the original text, for the error message.
 */
export function compileAnchoredNode(ast: ReNode, pattern: string, captures: boolean): RegExp {
  try {
    return new RegExp(`^(?:${emit(ast, captures)})$`, "u");
  } catch (e) {
    throw new InvalidRegexError(
      `error parsing regexp: cannot translate ${JSON.stringify(pattern)}: ${(e as Error).message}`,
    );
  }
}
