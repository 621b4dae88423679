// Prometheus's template language for alert labels and annotations
// (https://prometheus.io/docs/prometheus/2.42/configuration/template_reference/): Go's
// text/template (https://pkg.go.dev/text/template) — actions, pipelines, variables, `if`/`else
// if`/`else`/`end`, `range` (with `$i, $e :=`), `with`, comments and `{{-`/`-}}` trimming, the
// builtins (and, or, not, len, index, print, printf, println, eq, ne, lt, le, gt, ge, urlquery)
// — plus Prometheus's functions (query, first, label, value, strvalue, sortByLabel, humanize,
// humanize1024, humanizeDuration, humanizePercentage, humanizeTimestamp, toTime, match,
// reReplaceAll, title, toUpper, toLower, safeHtml, args, externalURL, pathPrefix, graphLink,
// tableLink, parseDuration). Execution is asynchronous because `query` runs a PromQL query.
// Not supported (refused at parse time): `define`, `template`, `block`, `break`, `continue`.

import { formatG, formatValue, sprintf } from "./gofmt.ts";
import { parseDuration } from "../tsdb/duration.ts";
import { Re2Regex } from "../re2/regex.ts";

/** A template could not be parsed or executed; the message follows Go's `template: …`. */
export class TemplateError extends Error {
  override name = "TemplateError";
}

/** One sample of a `query` result: `.Labels` and `.Value`. */
export interface QuerySample {
  Labels: Record<string, string>;
  Value: number;
}

/** Runs `query` (an instant query at the evaluation time) for the template function `query`. */
export type TemplateQueryFunc = (q: string) => Promise<QuerySample[]>;

/** What a template can reach beyond its data. */
export interface TemplateEnv {
  query?: TemplateQueryFunc;
  /** `--web.external-url` / `--alert.query-url`. */
  externalURL?: string;
}

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

type Arg =
  | { k: "dot"; fields: string[] }
  | { k: "field"; fields: string[] }
  | { k: "var"; name: string; fields: string[] }
  | { k: "lit"; v: unknown }
  | { k: "ident"; name: string }
  | { k: "pipe"; pipe: Pipe; fields: string[] };

interface Pipe {
  decl: string[];
  assign: boolean; // `=` rather than `:=`
  cmds: Arg[][];
}

type Node =
  | { k: "text"; text: string }
  | { k: "action"; pipe: Pipe }
  | { k: "if" | "with"; pipe: Pipe; body: Node[]; alt: Node[] | null }
  | { k: "range"; pipe: Pipe; body: Node[]; alt: Node[] | null };

interface Tok {
  t:
    | "str"
    | "num"
    | "ident"
    | "field"
    | "var"
    | "("
    | ")"
    | "|"
    | ":="
    | "="
    | ","
    | "bool"
    | "nil";
  v: string;
}

const FIELD_CHAIN = /^(\.[A-Za-z_][A-Za-z0-9_]*)+/;

function lexAction(src: string, name: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const err = (m: string) => new TemplateError(`template: ${name}: ${m}`);
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === "\\" ? 2 : 1;
      if (j >= src.length) throw err("unterminated quoted string");
      try {
        toks.push({ t: "str", v: JSON.parse(src.slice(i, j + 1)) });
      } catch {
        toks.push({ t: "str", v: src.slice(i + 1, j).replace(/\\(.)/g, "$1") });
      }
      i = j + 1;
      continue;
    }
    if (c === "`") {
      const j = src.indexOf("`", i + 1);
      if (j < 0) throw err("unterminated raw quoted string");
      toks.push({ t: "str", v: src.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    if (c === "(" || c === ")" || c === "|" || c === ",") {
      toks.push({ t: c, v: c });
      i++;
      continue;
    }
    if (src.startsWith(":=", i)) {
      toks.push({ t: ":=", v: ":=" });
      i += 2;
      continue;
    }
    if (c === "=") {
      toks.push({ t: "=", v: "=" });
      i++;
      continue;
    }
    const rest = src.slice(i);
    const num = /^[-+]?(0x[0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)/.exec(rest);
    if (num && (c !== "." || /^\.\d/.test(rest))) {
      toks.push({ t: "num", v: num[0] });
      i += num[0].length;
      continue;
    }
    if (c === "$") {
      const m = /^\$[A-Za-z0-9_]*/.exec(rest)!;
      toks.push({ t: "var", v: m[0] });
      i += m[0].length;
      const f = FIELD_CHAIN.exec(src.slice(i));
      if (f) {
        toks.push({ t: "field", v: f[0] });
        i += f[0].length;
      }
      continue;
    }
    if (c === ".") {
      const f = FIELD_CHAIN.exec(rest);
      if (f) {
        toks.push({ t: "field", v: f[0] });
        i += f[0].length;
      } else {
        toks.push({ t: "field", v: "." });
        i++;
      }
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (id) {
      const w = id[0];
      if (w === "true" || w === "false") toks.push({ t: "bool", v: w });
      else if (w === "nil") toks.push({ t: "nil", v: w });
      else toks.push({ t: "ident", v: w });
      i += w.length;
      continue;
    }
    throw err(`unexpected ${JSON.stringify(c)} in command`);
  }
  return toks;
}

function splitFields(chain: string): string[] {
  return chain === "." ? [] : chain.slice(1).split(".");
}

class PipeParser {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly name: string,
    private readonly funcs: ReadonlySet<string> | null,
  ) {}

  private err(m: string): TemplateError {
    return new TemplateError(`template: ${this.name}: ${m}`);
  }

  parsePipe(allowDecl: boolean, end: Tok["t"] | null = null): Pipe {
    const pipe: Pipe = { decl: [], assign: false, cmds: [] };
    if (allowDecl) {
      // `$x :=`, `$x =`, `$i, $e :=`
      let j = this.i;
      const names: string[] = [];
      while (this.toks[j]?.t === "var") {
        names.push(this.toks[j].v);
        j++;
        if (this.toks[j]?.t === ",") j++;
        else break;
      }
      const op = this.toks[j]?.t;
      if (names.length > 0 && (op === ":=" || op === "=")) {
        pipe.decl = names;
        pipe.assign = op === "=";
        this.i = j + 1;
      }
    }
    let cmd: Arg[] = [];
    while (this.i < this.toks.length) {
      const t = this.toks[this.i];
      if (end !== null && t.t === end) break;
      if (t.t === "|") {
        if (cmd.length === 0) throw this.err("missing command");
        pipe.cmds.push(cmd);
        cmd = [];
        this.i++;
        continue;
      }
      cmd.push(this.parseOperand());
    }
    if (cmd.length === 0) {
      if (pipe.cmds.length > 0 || end === null) throw this.err("missing value for command");
      throw this.err("missing value for command");
    }
    pipe.cmds.push(cmd);
    return pipe;
  }

  private parseOperand(): Arg {
    const t = this.toks[this.i++];
    switch (t.t) {
      case "str":
        return { k: "lit", v: t.v };
      case "num":
        return { k: "lit", v: Number(t.v) };
      case "bool":
        return { k: "lit", v: t.v === "true" };
      case "nil":
        return { k: "lit", v: null };
      case "ident":
        if (!(t.v in FUNCS) || (this.funcs !== null && !this.funcs.has(t.v))) {
          throw this.err(`function "${t.v}" not defined`);
        }
        return { k: "ident", name: t.v };
      case "field":
        return t.v === "." ? { k: "dot", fields: [] } : { k: "field", fields: splitFields(t.v) };
      case "var": {
        const next = this.toks[this.i];
        let fields: string[] = [];
        if (next?.t === "field" && next.v !== ".") {
          fields = splitFields(next.v);
          this.i++;
        }
        return { k: "var", name: t.v, fields };
      }
      case "(": {
        const pipe = this.parsePipe(false, ")");
        if (this.toks[this.i]?.t !== ")") throw this.err("unclosed left paren");
        this.i++;
        let fields: string[] = [];
        const next = this.toks[this.i];
        if (next?.t === "field" && next.v !== ".") {
          fields = splitFields(next.v);
          this.i++;
        }
        return { k: "pipe", pipe, fields };
      }
      default:
        throw this.err(`unexpected "${t.v}" in operand`);
    }
  }

  done(): boolean {
    return this.i >= this.toks.length;
  }
}

/** A parsed template, ready to execute. */
export class Template {
  private constructor(readonly name: string, private readonly nodes: Node[]) {}

  /**
   * Parses `text`; throws TemplateError with Go's `template: <name>:<line>: …` wording.
   * `funcs` limits the functions it may call (default: every one of {@link FUNCS}).
   */
  static parse(name: string, text: string, funcs: ReadonlySet<string> | null = null): Template {
    const items: ({ text: string } | { action: string; line: number })[] = [];
    let pos = 0;
    let trimNext = false;
    while (pos <= text.length) {
      const open = text.indexOf("{{", pos);
      let chunk = open < 0 ? text.slice(pos) : text.slice(pos, open);
      if (trimNext) chunk = chunk.replace(/^\s+/, "");
      if (open < 0) {
        items.push({ text: chunk });
        break;
      }
      let inner = open + 2;
      if (
        text.startsWith("- ", inner) || text.startsWith("-\t", inner) ||
        text.startsWith("-\n", inner)
      ) {
        chunk = chunk.replace(/\s+$/, "");
        inner += 1;
      }
      items.push({ text: chunk });
      const line = text.slice(0, open).split("\n").length;
      let close: number;
      if (text.startsWith("/*", inner) || /^\s*\/\*/.test(text.slice(inner, inner + 4))) {
        const endC = text.indexOf("*/", inner);
        if (endC < 0) throw new TemplateError(`template: ${name}:${line}: unclosed comment`);
        close = text.indexOf("}}", endC);
      } else {
        close = findClose(text, inner);
      }
      if (close < 0) throw new TemplateError(`template: ${name}:${line}: unclosed action`);
      let body = text.slice(inner, close);
      trimNext = false;
      if (/\s-$/.test(body)) {
        body = body.slice(0, -1);
        trimNext = true;
      }
      if (!/^\s*\/\*[\s\S]*\*\/\s*$/.test(body)) items.push({ action: body, line });
      pos = close + 2;
    }
    let idx = 0;
    const parseList = (ends: string[]): { nodes: Node[]; end: string; rest: string } => {
      const nodes: Node[] = [];
      while (idx < items.length) {
        const it = items[idx++];
        if ("text" in it) {
          if (it.text !== "") nodes.push({ k: "text", text: it.text });
          continue;
        }
        const src = it.action.trim();
        const kw = /^(if|else|end|range|with|define|template|block|break|continue)\b/.exec(src);
        const err = (m: string) => new TemplateError(`template: ${name}:${it.line}: ${m}`);
        const pipeOf = (s: string, decl: boolean): Pipe => {
          const toks = lexAction(s, `${name}:${it.line}`);
          if (toks.length === 0) throw err(`missing value for ${kw?.[1] ?? "command"}`);
          const p = new PipeParser(toks, `${name}:${it.line}`, funcs);
          const pipe = p.parsePipe(decl);
          if (!p.done()) throw err("unexpected tokens");
          return pipe;
        };
        if (kw === null) {
          if (src === "") throw err("missing value for command");
          nodes.push({ k: "action", pipe: pipeOf(src, true) });
          continue;
        }
        const word = kw[1];
        const rest = src.slice(word.length).trim();
        if (word === "end" || word === "else") {
          if (!ends.includes(word)) throw err(`unexpected {{${word}}}`);
          return { nodes, end: word, rest };
        }
        if (word === "if" || word === "with" || word === "range") {
          nodes.push(parseControl(word, rest, it.line));
          continue;
        }
        throw err(`{{${word}}} is not supported in rule templates`);
      }
      if (ends.length > 0) throw new TemplateError(`template: ${name}: unexpected EOF`);
      return { nodes, end: "", rest: "" };
    };
    const parseControl = (word: string, rest: string, line: number): Node => {
      const err = (m: string) => new TemplateError(`template: ${name}:${line}: ${m}`);
      const toks = lexAction(rest, `${name}:${line}`);
      if (toks.length === 0) throw err(`missing value for ${word}`);
      const p = new PipeParser(toks, `${name}:${line}`, funcs);
      const pipe = p.parsePipe(true);
      if (!p.done()) throw err("unexpected tokens");
      const body = parseList(["end", "else"]);
      let alt: Node[] | null = null;
      if (body.end === "else") {
        const elseIf = /^(if|with)\b/.exec(body.rest);
        if (elseIf && elseIf[1] === word) {
          // `{{else if …}}` is `{{else}}{{if …}}…{{end}}` sharing the outer {{end}}
          alt = [parseControl(word, body.rest.slice(word.length).trim(), line)];
        } else {
          if (body.rest !== "") throw err(`unexpected "${body.rest}" in else`);
          alt = parseList(["end"]).nodes;
        }
      }
      return { k: word, pipe, body: body.nodes, alt } as Node;
    };
    const top = parseList([]);
    return new Template(name, top.nodes);
  }

  /** Executes with `data` as dot; variables `$` = data. */
  async execute(data: unknown, env: TemplateEnv = {}, vars: Record<string, unknown> = {}) {
    const st = new Exec(this.name, env);
    const scope: Map<string, unknown>[] = [new Map([["$", data], ...Object.entries(vars)])];
    let out = "";
    await st.walk(this.nodes, data, scope, (s) => out += s);
    return out;
  }
}

/** Index of the `}}` closing an action starting at `from`, skipping quoted strings. */
function findClose(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      i++;
      continue;
    }
    if (c === "`") {
      const j = text.indexOf("`", i + 1);
      if (j < 0) return -1;
      i = j + 1;
      continue;
    }
    if (text.startsWith("}}", i)) return i;
    i++;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Execution

function truth(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string") return v !== "";
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

/**
 * Template data with a Go struct's fields: naming a field it lacks is an execution error
 * (text/template's "can't evaluate field"), where a label map yields "".
 */
export abstract class GoStruct {
  /** The Go type the error message names. */
  abstract get goType(): string;
}

class Exec {
  constructor(readonly name: string, readonly env: TemplateEnv) {}

  err(m: string): TemplateError {
    return new TemplateError(`template: ${this.name}: ${m}`);
  }

  async walk(
    nodes: Node[],
    dot: unknown,
    scope: Map<string, unknown>[],
    out: (s: string) => void,
  ): Promise<void> {
    for (const n of nodes) {
      switch (n.k) {
        case "text":
          out(n.text);
          break;
        case "action": {
          const v = await this.pipe(n.pipe, dot, scope);
          if (n.pipe.decl.length === 0) out(formatValue(v));
          break;
        }
        case "if":
        case "with": {
          const inner = [...scope, new Map()];
          const v = await this.pipe(n.pipe, dot, inner);
          if (truth(v)) await this.walk(n.body, n.k === "with" ? v : dot, inner, out);
          else if (n.alt) await this.walk(n.alt, dot, [...scope, new Map()], out);
          break;
        }
        case "range": {
          const inner = [...scope, new Map()];
          const decl = n.pipe.decl;
          const v = await this.pipe({ ...n.pipe, decl: [] }, dot, inner);
          let entries: [unknown, unknown][];
          if (Array.isArray(v)) entries = v.map((e, i) => [i, e]);
          else if (v !== null && typeof v === "object") {
            entries = Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]);
          } else if (typeof v === "number" && Number.isInteger(v) && v <= MAX_RANGE_COUNT) {
            // Go 1.22's range over an integer (a literal); an alert's value is a float64 in Go,
            // which no range takes: a large one is refused rather than looped over
            entries = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
          } else if (v === null || v === undefined) entries = [];
          else throw this.err(`range can't iterate over ${formatValue(v)}`);
          if (entries.length === 0) {
            if (n.alt) await this.walk(n.alt, dot, [...scope, new Map()], out);
            break;
          }
          for (const [k, e] of entries) {
            const s = new Map<string, unknown>();
            if (decl.length === 1) s.set(decl[0], e);
            else if (decl.length >= 2) {
              s.set(decl[0], k);
              s.set(decl[1], e);
            }
            await this.walk(n.body, e, [...scope, s], out);
          }
          break;
        }
      }
    }
  }

  private lookupVar(name: string, scope: Map<string, unknown>[]): unknown {
    for (let i = scope.length - 1; i >= 0; i--) if (scope[i].has(name)) return scope[i].get(name);
    throw this.err(`undefined variable: ${name}`);
  }

  private field(v: unknown, fields: string[]): unknown {
    let cur = v;
    for (const f of fields) {
      if (cur === null || cur === undefined) {
        throw this.err(`nil pointer evaluating interface {}.${f}`);
      }
      if (typeof cur !== "object") {
        throw this.err(`can't evaluate field ${f} in type ${typeof cur}`);
      }
      const o = cur as Record<string, unknown>;
      if (o instanceof GoStruct && !Object.hasOwn(o, f)) {
        throw this.err(`can't evaluate field ${f} in type ${o.goType}`);
      }
      // label maps are Go map[string]string: a missing key is the zero value ""
      cur = f in o ? o[f] : (o.constructor === Object ? "" : undefined);
    }
    return cur;
  }

  async pipe(p: Pipe, dot: unknown, scope: Map<string, unknown>[]): Promise<unknown> {
    let v: unknown = undefined;
    let first = true;
    for (const cmd of p.cmds) {
      v = await this.command(cmd, dot, scope, first ? undefined : { v });
      first = false;
    }
    if (p.decl.length > 0) {
      const name = p.decl[0];
      if (p.assign) {
        let set = false;
        for (let i = scope.length - 1; i >= 0 && !set; i--) {
          if (scope[i].has(name)) {
            scope[i].set(name, v);
            set = true;
          }
        }
        if (!set) throw this.err(`undefined variable: ${name}`);
      } else scope[scope.length - 1].set(name, v);
    }
    return v;
  }

  private async operand(a: Arg, dot: unknown, scope: Map<string, unknown>[]): Promise<unknown> {
    switch (a.k) {
      case "lit":
        return a.v;
      case "dot":
        return dot;
      case "field":
        return this.field(dot, a.fields);
      case "var":
        return this.field(this.lookupVar(a.name, scope), a.fields);
      case "pipe":
        return this.field(await this.pipe(a.pipe, dot, scope), a.fields);
      case "ident":
        return await this.call(a.name, [], dot);
    }
  }

  private async command(
    cmd: Arg[],
    dot: unknown,
    scope: Map<string, unknown>[],
    piped?: { v: unknown },
  ): Promise<unknown> {
    const head = cmd[0];
    if (head.k === "ident") {
      const args: unknown[] = [];
      // `and`/`or` evaluate lazily in Go; evaluating all is equivalent for side-effect-free args
      for (const a of cmd.slice(1)) args.push(await this.operand(a, dot, scope));
      if (piped) args.push(piped.v);
      return await this.call(head.name, args, dot);
    }
    if (cmd.length > 1 || piped) {
      throw this.err(`can't give argument to non-function ${describe(head)}`);
    }
    return await this.operand(head, dot, scope);
  }

  private async call(name: string, args: unknown[], _dot: unknown): Promise<unknown> {
    const f = FUNCS[name];
    try {
      return await f(args, this.env);
    } catch (e) {
      if (e instanceof TemplateError) throw e;
      throw this.err(`error calling ${name}: ${(e as Error).message}`);
    }
  }
}

function describe(a: Arg): string {
  switch (a.k) {
    case "lit":
      return formatValue(a.v);
    case "var":
      return a.name + a.fields.map((f) => "." + f).join("");
    case "field":
      return a.fields.map((f) => "." + f).join("");
    default:
      return a.k;
  }
}

// ---------------------------------------------------------------------------------------------
// Functions

type Fn = (args: unknown[], env: TemplateEnv) => unknown;

function arity(name: string, args: unknown[], n: number): void {
  if (args.length !== n) {
    throw new Error(`wrong number of args for ${name}: want ${n} got ${args.length}`);
  }
}

/** Prometheus's `convertToFloat`: numbers, numeric strings, times. */
export function toFloat(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const s = v.trim();
    if (/^[-+]?(inf|infinity)$/i.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
    if (/^nan$/i.test(s)) return NaN;
    const n = Number(s);
    if (s === "" || Number.isNaN(n)) {
      throw new Error(`strconv.ParseFloat: parsing "${v}": invalid syntax`);
    }
    return n;
  }
  throw new Error(`can't convert ${formatValue(v)} to float`);
}

/** `humanize`: SI prefixes, 4 significant digits. */
export function humanize(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return formatG(v, 4);
  if (Math.abs(v) >= 1) {
    let prefix = "";
    for (const p of ["k", "M", "G", "T", "P", "E", "Z", "Y"]) {
      if (Math.abs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
    return formatG(v, 4) + prefix;
  }
  let prefix = "";
  for (const p of ["m", "u", "n", "p", "f", "a", "z", "y"]) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return formatG(v, 4) + prefix;
}

/** `humanize1024`: binary prefixes. */
export function humanize1024(v: number): string {
  if (Math.abs(v) <= 1 || !Number.isFinite(v)) return formatG(v, 4);
  let prefix = "";
  for (const p of ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]) {
    if (Math.abs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return formatG(v, 4) + prefix;
}

/** `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with sub-second prefixes. */
export function humanizeDuration(v: number): string {
  if (!Number.isFinite(v)) return formatG(v, 4);
  if (v === 0) return formatG(v, 4) + "s";
  if (Math.abs(v) >= 1) {
    let sign = "";
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    const d = Math.trunc(v);
    const seconds = d % 60;
    const minutes = Math.trunc(d / 60) % 60;
    const hours = Math.trunc(d / 3600) % 24;
    const days = Math.trunc(d / 86400);
    if (days !== 0) return `${sign}${days}d ${hours}h ${minutes}m ${seconds}s`;
    if (hours !== 0) return `${sign}${hours}h ${minutes}m ${seconds}s`;
    if (minutes !== 0) return `${sign}${minutes}m ${seconds}s`;
    return `${sign}${formatG(v, 4)}s`;
  }
  let prefix = "";
  for (const p of ["m", "u", "n", "p", "f", "a", "z", "y"]) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return `${formatG(v, 4)}${prefix}s`;
}

/** `humanizePercentage`: ratio × 100 with `%`. */
export function humanizePercentage(v: number): string {
  return formatG(v * 100, 4) + "%";
}

/** `humanizeTimestamp`: Unix seconds as Go prints a UTC `time.Time`. */
export function humanizeTimestamp(v: number): string {
  if (!Number.isFinite(v)) return formatG(v, 4);
  return goTimeString(v);
}

/** Go's `time.Time.String()` of Unix seconds `v` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`. */
function goTimeString(v: number): string {
  const ms = Math.floor(v * 1000);
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const frac = Math.round((v - Math.floor(v)) * 1e9);
  let fs = frac > 0 ? "." + String(frac).padStart(9, "0").replace(/0+$/, "") : "";
  if (frac >= 1e9) fs = "";
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${fs} +0000 UTC`;
}

/** Go's `url.QueryEscape`. */
export function queryEscape(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Prometheus's `strutil.TableLinkForExpression`. */
export function tableLinkForExpression(expr: string): string {
  return `/graph?g0.expr=${queryEscape(expr)}&g0.tab=1`;
}

/** `--alert.query-template`'s default (Thanos's cmd/thanos/config.go). */
export const DEFAULT_ALERT_QUERY_TEMPLATE = "/graph?g0.expr={{.Expr}}&g0.tab=1";

/** Go's text/template builtins we have: the only functions an expression link may call. */
const GO_BUILTINS: ReadonlySet<string> = new Set([
  "and",
  "or",
  "not",
  "len",
  "index",
  "print",
  "printf",
  "println",
  "urlquery",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
]);

/** The data of `--alert.query-template`: Thanos's `Expression` struct. */
class ExpressionData extends GoStruct {
  constructor(readonly Expr: string) {
    super();
  }
  get goType(): string {
    return "main.Expression";
  }
}

/**
 * `thanos rule --alert.query-template` (https://thanos.io/tip/components/rule.md/#flags): a Go
 * text/template whose only datum is `.Expr`, the rule's expression query-escaped; its output,
 * appended to `--alert.query-url`, is each alert's generator URL (Thanos's cmd/thanos/rule.go,
 * `tableLinkForExpression`).
 */
export class ExpressionLinkTemplate {
  private constructor(readonly text: string, private readonly t: Template) {}

  /**
   * Parses `text` and executes it once with `.Expr` = "test_expr", as Thanos checks the flag at
   * start; throws TemplateError on a syntax error, an unknown function or field.
   */
  static async parse(text: string): Promise<ExpressionLinkTemplate> {
    const t = Template.parse("url", text, GO_BUILTINS);
    await t.execute(new ExpressionData("test_expr"));
    return new ExpressionLinkTemplate(text, t);
  }

  /** The link of `expr`; throws TemplateError when the template fails on it. */
  link(expr: string): Promise<string> {
    return this.t.execute(new ExpressionData(queryEscape(expr)));
  }
}

/** Prometheus's `strutil.GraphLinkForExpression`. */
export function graphLinkForExpression(expr: string): string {
  return `/graph?g0.expr=${queryEscape(expr)}&g0.tab=0`;
}

/** The largest number `range` iterates over (`{{ range 3 }}`); beyond it, Go's refusal. */
const MAX_RANGE_COUNT = 100_000;

/**
 * A function's string argument. Numbers and booleans read as their text (leniently); a map, a
 * list or a sample is Go's "wrong type for value" error rather than "[object Object]".
 */
function str(v: unknown): string {
  if (v !== null && typeof v === "object") throw wrongType("string", v);
  return String(v);
}

/** Go's error for an argument of the wrong type (`expected`: the parameter's type). */
function wrongType(expected: string, v: unknown): Error {
  const got = Array.isArray(v)
    ? "a list"
    : v === null || v === undefined
    ? "nil"
    : typeof v === "object"
    ? "a map"
    : typeof v;
  return new Error(`wrong type for value; expected ${expected}; got ${got}`);
}

/** A function's sample argument (an element of a `query` result). */
function sample(v: unknown): QuerySample {
  const s = v as QuerySample | null;
  if (s === null || typeof s !== "object" || typeof s.Value !== "number") {
    throw wrongType("a sample", v);
  }
  return s;
}

function cmpArgs(name: string, a: unknown, b: unknown): number {
  if (typeof a !== typeof b) throw new Error(`incompatible types for comparison`);
  if (typeof a === "number" || typeof a === "string") {
    return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0;
  }
  throw new Error(`invalid type for comparison in ${name}`);
}

function eq(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b) throw new Error("incompatible types for comparison");
  return a === b;
}

const FUNCS: Record<string, Fn> = {
  // text/template builtins
  and: (a) => {
    for (const v of a) if (!truth(v)) return v;
    return a[a.length - 1];
  },
  or: (a) => {
    for (const v of a) if (truth(v)) return v;
    return a[a.length - 1];
  },
  not: (a) => (arity("not", a, 1), !truth(a[0])),
  len: (a) => {
    arity("len", a, 1);
    const v = a[0];
    if (typeof v === "string") return new TextEncoder().encode(v).length;
    if (Array.isArray(v)) return v.length;
    if (v && typeof v === "object") return Object.keys(v).length;
    throw new Error(`len of type ${typeof v}`);
  },
  index: (a) => {
    let v = a[0];
    for (const k of a.slice(1)) {
      if (Array.isArray(v)) {
        const i = toFloat(k);
        if (i < 0 || i >= v.length) throw new Error(`index out of range: ${i}`);
        v = v[i];
      } else if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        v = String(k) in o ? o[String(k)] : "";
      } else throw new Error(`can't index item of type ${typeof v}`);
    }
    return v;
  },
  print: (a) => {
    // fmt.Sprint: spaces between operands when neither is a string
    let s = "";
    a.forEach((v, i) => {
      if (i > 0 && typeof v !== "string" && typeof a[i - 1] !== "string") s += " ";
      s += formatValue(v);
    });
    return s;
  },
  println: (a) => a.map(formatValue).join(" ") + "\n",
  printf: (a) => sprintf(str(a[0]), a.slice(1)),
  urlquery: (a) => queryEscape(a.map(formatValue).join("")),
  eq: (a) => a.slice(1).some((b) => eq(a[0], b)),
  ne: (a) => (arity("ne", a, 2), !eq(a[0], a[1])),
  lt: (a) => cmpArgs("lt", a[0], a[1]) < 0,
  le: (a) => cmpArgs("le", a[0], a[1]) <= 0,
  gt: (a) => cmpArgs("gt", a[0], a[1]) > 0,
  ge: (a) => cmpArgs("ge", a[0], a[1]) >= 0,
  // Prometheus's functions
  query: async (a, env) => {
    arity("query", a, 1);
    if (!env.query) throw new Error("query is not available here");
    return await env.query(str(a[0]));
  },
  first: (a) => {
    arity("first", a, 1);
    const v = a[0] as QuerySample[];
    if (Array.isArray(v) && v.length > 0) return v[0];
    throw new Error("first() called on vector with no elements");
  },
  label: (a) => {
    arity("label", a, 2);
    const s = a[1] as QuerySample | null;
    if (s === null || typeof s !== "object") return "";
    return s.Labels?.[str(a[0])] ?? "";
  },
  value: (a) => (arity("value", a, 1), sample(a[0]).Value),
  strvalue: (a) => (arity("strvalue", a, 1), sample(a[0]).Labels?.__value__ ?? ""),
  args: (a) => Object.fromEntries(a.map((v, i) => [`arg${i}`, v])),
  reReplaceAll: (a) => {
    // Go's Regexp.ReplaceAllString: every non-overlapping match, `$1`/`${name}` expanded
    arity("reReplaceAll", a, 3);
    return Re2Regex.compileSearch(str(a[0])).replaceAll(str(a[2]), str(a[1]));
  },
  safeHtml: (a) => str(a[0]),
  match: (a) => {
    arity("match", a, 2);
    return Re2Regex.compileSearch(str(a[0])).test(str(a[1]));
  },
  title: (a) =>
    str(a[0]).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, p, c) => p + c.toUpperCase()),
  toUpper: (a) => str(a[0]).toUpperCase(),
  toLower: (a) => str(a[0]).toLowerCase(),
  graphLink: (a) => graphLinkForExpression(str(a[0])),
  tableLink: (a) => tableLinkForExpression(str(a[0])),
  sortByLabel: (a) => {
    arity("sortByLabel", a, 2);
    const l = str(a[0]);
    if (!Array.isArray(a[1])) throw wrongType("a query result", a[1]);
    return [...(a[1] as QuerySample[])].sort((x, y) => {
      const p = x.Labels[l] ?? "", q = y.Labels[l] ?? "";
      return p < q ? -1 : p > q ? 1 : 0;
    });
  },
  humanize: (a) => humanize(toFloat(a[0])),
  humanize1024: (a) => humanize1024(toFloat(a[0])),
  humanizeDuration: (a) => humanizeDuration(toFloat(a[0])),
  humanizePercentage: (a) => humanizePercentage(toFloat(a[0])),
  humanizeTimestamp: (a) => humanizeTimestamp(toFloat(a[0])),
  toTime: (a) => goTimeString(toFloat(a[0])),
  parseDuration: (a) => parseDuration(str(a[0])) / 1000,
  pathPrefix: (_a, env) => {
    try {
      return new URL(env.externalURL ?? "").pathname.replace(/\/$/, "");
    } catch {
      return "";
    }
  },
  externalURL: (_a, env) => env.externalURL ?? "",
};

/** The variables Prometheus defines before every alert template (rules/alerting.go). */
export interface AlertTemplateData {
  Labels: Record<string, string>;
  ExternalLabels: Record<string, string>;
  ExternalURL: string;
  Value: number;
}

const parsedCache = new Map<string, Template>();

/** Parses a template (cached by text). */
export function parseTemplate(name: string, text: string): Template {
  const key = `${name}\x00${text}`;
  let t = parsedCache.get(key);
  if (!t) {
    t = Template.parse(name, text);
    if (parsedCache.size > 10_000) parsedCache.clear();
    parsedCache.set(key, t);
  }
  return t;
}

/**
 * Expands one alert label or annotation value as Prometheus's `Expander.Expand`: with
 * `$labels`, `$externalLabels`, `$externalURL` and `$value` defined. Errors propagate.
 */
export async function expandAlertTemplate(
  name: string,
  text: string,
  data: AlertTemplateData,
  env: TemplateEnv,
): Promise<string> {
  if (!text.includes("{{")) return text;
  const t = parseTemplate(name, text);
  return await t.execute(data, env, {
    $labels: data.Labels,
    $externalLabels: data.ExternalLabels,
    $externalURL: data.ExternalURL,
    $value: data.Value,
  });
}
