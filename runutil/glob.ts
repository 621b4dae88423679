// Go's path/filepath.Match (https://pkg.go.dev/path/filepath#Match) on Unix: `*` any run of
// non-'/' characters, `?` one non-'/' character, `[…]`/`[^…]` classes with ranges, `\` escapes;
// and filepath.Glob over the file system. Used for receive's tenant globs and the querier's
// `--store.sd-files`. Malformed patterns throw when compiled.

/** One element of a compiled pattern. */
type GlobToken =
  | { k: "star" }
  | { k: "any" }
  | { k: "lit"; c: number }
  | { k: "class"; neg: boolean; ranges: number[] };

/** A compiled pattern. */
export type GlobPattern = readonly GlobToken[];

/** Compiles a pattern; throws "syntax error in pattern: …" when it is malformed. */
export function compileGlob(pattern: string): GlobToken[] {
  const cps = [...pattern].map((c) => c.codePointAt(0)!);
  const out: GlobToken[] = [];
  let i = 0;
  const bad = (why: string): never => {
    throw new Error(`syntax error in pattern: ${why}`);
  };
  const esc = (): number => {
    // one class character: c, or \c; '-' and ']' must be escaped
    if (i >= cps.length) bad("unterminated character class");
    let c = cps[i];
    if (c === 0x2d || c === 0x5d) bad("unescaped '-' or ']' in character class");
    if (c === 0x5c) {
      i++;
      if (i >= cps.length) bad("trailing backslash");
      c = cps[i];
    }
    i++;
    return c;
  };
  while (i < cps.length) {
    const c = cps[i];
    if (c === 0x2a) {
      out.push({ k: "star" });
      i++;
    } else if (c === 0x3f) {
      out.push({ k: "any" });
      i++;
    } else if (c === 0x5c) {
      if (i + 1 >= cps.length) bad("trailing backslash");
      out.push({ k: "lit", c: cps[i + 1] });
      i += 2;
    } else if (c === 0x5b) {
      i++;
      let neg = false;
      if (i < cps.length && cps[i] === 0x5e) {
        neg = true;
        i++;
      }
      const ranges: number[] = [];
      for (;;) {
        if (i < cps.length && cps[i] === 0x5d && ranges.length > 0) {
          i++;
          break;
        }
        const lo = esc();
        let hi = lo;
        if (i < cps.length && cps[i] === 0x2d) {
          i++;
          hi = esc();
        }
        ranges.push(lo, hi);
      }
      out.push({ k: "class", neg, ranges });
    } else {
      out.push({ k: "lit", c });
      i++;
    }
  }
  return out;
}

/** True when the whole of `s` matches (`*` and `?` never match '/'). */
export function matchGlob(tokens: GlobPattern, s: string): boolean {
  const cps = [...s].map((c) => c.codePointAt(0)!);
  const m = (ti: number, si: number): boolean => {
    for (; ti < tokens.length; ti++) {
      const t = tokens[ti];
      if (t.k === "star") {
        for (let j = si; j <= cps.length; j++) {
          if (m(ti + 1, j)) return true;
          if (j < cps.length && cps[j] === 0x2f) return false;
        }
        return false;
      }
      if (si >= cps.length) return false;
      const c = cps[si++];
      if (t.k === "any") {
        if (c === 0x2f) return false;
      } else if (t.k === "lit") {
        if (c !== t.c) return false;
      } else {
        let hit = false;
        for (let r = 0; r < t.ranges.length; r += 2) {
          if (t.ranges[r] <= c && c <= t.ranges[r + 1]) hit = true;
        }
        if (hit === t.neg) return false;
      }
    }
    return si === cps.length;
  };
  return m(0, 0);
}

/** True when `s` has a character that makes it a pattern rather than a literal path. */
export function hasGlobMeta(s: string): boolean {
  return /[*?[\\]/.test(s);
}

/**
 * The existing paths matching `pattern` (filepath.Glob): each path component that is a pattern
 * is matched against the directory's entries; sorted. A literal path is returned as is when it
 * exists; nothing matches → []. Throws on a malformed pattern.
 */
export async function expandGlob(pattern: string): Promise<string[]> {
  if (!hasGlobMeta(pattern)) {
    try {
      await Deno.stat(pattern);
      return [pattern];
    } catch {
      return [];
    }
  }
  const abs = pattern.startsWith("/");
  const parts = pattern.split("/").filter((p) => p !== "" && p !== ".");
  let bases = [abs ? "" : "."];
  for (const part of parts) {
    const next: string[] = [];
    for (const base of bases) {
      const join = (name: string) => `${base}/${name}`;
      if (!hasGlobMeta(part)) {
        next.push(join(part));
        continue;
      }
      const tokens = compileGlob(part);
      try {
        for await (const e of Deno.readDir(base === "" ? "/" : base)) {
          if (matchGlob(tokens, e.name)) next.push(join(e.name));
        }
      } catch {
        // not a directory, or unreadable: no match below it
      }
    }
    bases = next;
  }
  const out: string[] = [];
  for (const p of bases) {
    try {
      await Deno.stat(p);
      // relative patterns give relative paths, as filepath.Glob does
      out.push(abs || pattern.startsWith("./") ? p : p.slice(2));
    } catch {
      // a literal component that does not exist
    }
  }
  return out.sort();
}
