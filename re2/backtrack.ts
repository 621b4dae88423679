// Which RE2 patterns a backtracking engine (V8's irregexp) still matches in linear time. A
// conservative syntactic test on the parsed tree: a pattern passes only when, read as a sequence
// of single-character atoms, repetitions of one atom, alternations of literal strings and
// zero-width assertions, at most one choice point is ambiguous (both of its branches could
// consume the next character), and no unbounded repetition after it can re-read the places where
// the rest of the pattern may start. Every other choice then fails within a constant number of
// steps, so a match attempt costs O(input × pattern). Anything else — nested repetition such as
// `(a+)+`, two overlapping `.*`, repeated groups — is left to the linear-time RE2 automaton
// (./regex.ts). Background on the backtracking blow-up: https://github.com/google/re2/wiki/WhyRE2

import type { ReNode } from "./parser.ts";

const MAX_CP = 0x10ffff;

/** Flat sorted `[lo, hi, …]` ranges: an over-approximation of the characters an atom takes. */
type CharSet = number[];

/** `set{min,max}` (max -1 = unbounded), or one of several literal strings. */
type Item =
  | { k: "rep"; set: CharSet; min: number; max: number }
  | { k: "alt"; alts: CharSet[][] };

const ALL: CharSet = [0, MAX_CP];

function union(a: CharSet, b: CharSet): CharSet {
  const pairs: [number, number][] = [];
  for (let i = 0; i < a.length; i += 2) pairs.push([a[i], a[i + 1]]);
  for (let i = 0; i < b.length; i += 2) pairs.push([b[i], b[i + 1]]);
  pairs.sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], hi);
    else out.push(lo, hi);
  }
  return out;
}

function overlaps(a: CharSet, b: CharSet): boolean {
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      if (a[i] <= b[j + 1] && b[j] <= a[i + 1]) return true;
    }
  }
  return false;
}

function complement(r: CharSet): CharSet {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < r.length; i += 2) {
    if (r[i] > next) out.push(next, r[i] - 1);
    next = r[i + 1] + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}

/** Adds what case folding may add: the other ASCII case, and all of non-ASCII (K→U+212A…). */
function foldSet(s: CharSet): CharSet {
  let extra: number[] = [];
  let letters = false;
  for (let i = 0; i < s.length; i += 2) {
    for (const [lo, hi, delta] of [[0x41, 0x5a, 0x20], [0x61, 0x7a, -0x20]]) {
      const a = Math.max(lo, s[i]);
      const b = Math.min(hi, s[i + 1]);
      if (a <= b) {
        extra.push(a + delta, b + delta);
        letters = true;
      }
    }
    if (s[i + 1] >= 0x80) letters = true;
  }
  if (letters) extra = union(extra, [0x80, MAX_CP]);
  return union(s, extra);
}

function atomSet(n: ReNode): CharSet | null {
  switch (n.k) {
    case "lit":
      return n.cps.length === 1
        ? (n.fold ? foldSet([n.cps[0], n.cps[0]]) : [n.cps[0], n.cps[0]])
        : null;
    case "class": {
      if (n.props.length > 0) return ALL;
      const s = n.neg ? complement(n.ranges) : n.ranges;
      return n.fold ? foldSet(s) : s;
    }
    case "any":
      return n.nl ? ALL : [0, 0x09, 0x0b, MAX_CP];
    default:
      return null;
  }
}

/** The pattern as a sequence of items, or null when it uses anything outside that shape. */
function items(n: ReNode): Item[] | null {
  switch (n.k) {
    case "lit":
      return n.cps.map((cp) => ({
        k: "rep",
        set: n.fold ? foldSet([cp, cp]) : [cp, cp],
        min: 1,
        max: 1,
      }));
    case "class":
    case "any":
      return [{ k: "rep", set: atomSet(n)!, min: 1, max: 1 }];
    case "group":
      return items(n.sub);
    case "concat": {
      const out: Item[] = [];
      for (const s of n.subs) {
        const sub = items(s);
        if (sub === null) return null;
        out.push(...sub);
      }
      return out;
    }
    case "alt": {
      const alts: CharSet[][] = [];
      for (const s of n.subs) {
        const sub = items(s);
        if (sub === null || sub.length === 0) return null;
        const str: CharSet[] = [];
        for (const it of sub) {
          if (it.k !== "rep" || it.min !== 1 || it.max !== 1) return null;
          str.push(it.set);
        }
        alts.push(str);
      }
      return [{ k: "alt", alts }];
    }
    case "rep": {
      const sub = items(n.sub);
      if (sub === null || sub.length !== 1) return null;
      const it = sub[0];
      if (it.k !== "rep" || it.min !== 1 || it.max !== 1) return null;
      return [{ k: "rep", set: it.set, min: n.min, max: n.max }];
    }
    case "assert":
      // zero-width tests (^ $ \b \B, the (?m) line edges) only prune paths, never add any
      return [];
  }
}

function pairwiseDisjoint(sets: CharSet[]): boolean {
  let seen: CharSet = [];
  for (const s of sets) {
    if (overlaps(seen, s)) return false;
    seen = union(seen, s);
  }
  return true;
}

function first(it: Item): CharSet {
  if (it.k === "rep") return it.set;
  let s: CharSet = [];
  for (const a of it.alts) s = union(s, a[0]);
  return s;
}

function minus(a: CharSet, b: CharSet): CharSet {
  const out: number[] = [];
  const c = complement(b);
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < c.length; j += 2) {
      const lo = Math.max(a[i], c[j]);
      const hi = Math.min(a[i + 1], c[j + 1]);
      if (lo <= hi) out.push(lo, hi);
    }
  }
  return out;
}

function covers(a: CharSet, b: CharSet): boolean {
  return minus(b, a).length === 0;
}

/** True when nothing, not even a zero-width assertion, follows the pattern's last repetition. */
function endsWithRepetition(n: ReNode): boolean {
  switch (n.k) {
    case "rep":
      return true;
    case "group":
      return endsWithRepetition(n.sub);
    case "concat":
      return n.subs.length > 0 && endsWithRepetition(n.subs[n.subs.length - 1]);
    default:
      return false;
  }
}

const NEWLINE: CharSet = [0x0a, 0x0a];

/**
 * True when a backtracking engine matches the anchored pattern `ast` in time linear in the
 * input (see the file comment); false means "not proven", not "exponential". With `noNewline`
 * the proof only covers inputs without a "\n" (the caller checks each input): `.` then takes
 * every character, so a final `.*` always matches the rest of the input.
 */
export function backtrackSafe(ast: ReNode, noNewline = false): boolean {
  const seq = items(ast);
  if (seq === null) return false;
  const universe = noNewline ? complement(NEWLINE) : ALL;
  if (noNewline) {
    for (const it of seq) {
      if (it.k === "rep") it.set = minus(it.set, NEWLINE);
      else it.alts = it.alts.map((a) => a.map((set) => minus(set, NEWLINE)));
    }
  }
  // An attempt that reaches a last unbounded repetition of every character (`.*` at the end)
  // succeeds: the repetition takes the rest of the input and nothing after it can fail, so it
  // never re-reads the input for a failing attempt.
  const last = seq[seq.length - 1];
  const takesTheRest = last !== undefined && last.k === "rep" && last.max === -1 &&
    covers(last.set, universe) && endsWithRepetition(ast);
  let ambiguous = -1;
  let boundedOutcomes = false;
  for (let i = 0; i < seq.length; i++) {
    const it = seq[i];
    if (it.k === "alt") {
      // Alternatives that start alike (host1|host2|…) are an ambiguous choice with a bounded
      // number of outcomes: each is followed by one deterministic attempt at the rest.
      if (!pairwiseDisjoint(it.alts.map((a) => a[0]))) {
        if (ambiguous >= 0) return false;
        ambiguous = i;
        boundedOutcomes = true;
      }
      continue;
    }
    if (it.min === it.max) continue;
    // a repetition chooses between one more `set` and what follows it
    let follow: CharSet = [];
    for (let k = i + 1; k < seq.length; k++) {
      follow = union(follow, first(seq[k]));
      const nx = seq[k];
      if (nx.k === "alt" || nx.min > 0) break;
    }
    if (!overlaps(it.set, follow)) continue;
    if (ambiguous >= 0) return false;
    ambiguous = i;
  }
  if (ambiguous < 0 || boundedOutcomes) return true;
  // One ambiguous choice: its outcomes start the rest (the tail) at up to input-length places,
  // each where the input holds a character of the tail's first set F. A tail attempt can only
  // run past another such place inside a bounded item, when every unbounded repetition in the
  // tail excludes F: then each input character is read by a bounded number of attempts.
  let f: CharSet = [];
  for (let k = ambiguous + 1; k < seq.length; k++) {
    f = union(f, first(seq[k]));
    const nx = seq[k];
    if (nx.k === "alt" || nx.min > 0) break;
  }
  for (let k = ambiguous + 1; k < seq.length; k++) {
    const it = seq[k];
    if (takesTheRest && k === seq.length - 1) continue;
    if (it.k === "rep" && it.max === -1 && overlaps(it.set, f)) return false;
  }
  return true;
}
