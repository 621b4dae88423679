// Thanos's published `--help` text, kept as test data for the flag-compatibility test
// (tests/components/flag_compat_test.ts), and a parser for kingpin's help layout.
//
// Thanos's docs embed each command's `--help` output in a block opened by
// ```$ mdox-exec="thanos <command> --help"
// (https://github.com/thanos-io/thanos/tree/main/docs/components). kingpin's help shows no
// default for booleans, so the booleans that default to true are read from the flag
// definitions in cmd/thanos/*.go (`.Default("true").Bool()`). Regenerate the test data from
// a Thanos source tree:
//   deno run -A scripts/thanos_help.ts --tree <thanos checkout>
//   deno run -A scripts/thanos_help.ts --git <thanos.git> --ref v0.42.4 (a git dir, no work tree)
// It writes tests/testdata/thanos_help/<command words joined by _>.txt, bool_true.txt (one
// flag name a line) and VERSION.

/**
 * The commands whose help is kept, and the docs page that embeds it. (`tools bucket cleanup`
 * and `retention` are left out: Thanos's docs embed no `--help` block for them.)
 */
export const HELP_PAGES: readonly { command: string; page: string }[] = [
  { command: "query", page: "components/query.md" },
  { command: "store", page: "components/store.md" },
  { command: "sidecar", page: "components/sidecar.md" },
  { command: "receive", page: "components/receive.md" },
  { command: "compact", page: "components/compact.md" },
  { command: "tools bucket ls", page: "components/tools.md" },
  { command: "tools bucket inspect", page: "components/tools.md" },
  { command: "rule", page: "components/rule.md" },
  { command: "query-frontend", page: "components/query-frontend.md" },
  { command: "tools rules-check", page: "components/tools.md" },
  { command: "tools bucket verify", page: "components/tools.md" },
  { command: "tools bucket mark", page: "components/tools.md" },
  { command: "tools bucket downsample", page: "components/tools.md" },
  { command: "tools bucket replicate", page: "components/tools.md" },
  { command: "tools bucket rewrite", page: "components/tools.md" },
  { command: "tools bucket web", page: "components/tools.md" },
  { command: "tools bucket upload-blocks", page: "components/tools.md" },
];

/** Test-data directory, relative to the repository root. */
export const HELP_DIR = "tests/testdata/thanos_help";

/** File name of a command's help text. */
export function helpFile(command: string): string {
  return `${command.replaceAll(" ", "_")}.txt`;
}

/** The `--help` output a docs page embeds for `command`, or null when the page has none. */
export function extractHelp(markdown: string, command: string): string | null {
  const open = '```$ mdox-exec="thanos ' + command + ' --help"\n';
  const start = markdown.indexOf(open);
  if (start < 0) return null;
  const body = start + open.length;
  const end = markdown.indexOf("\n```", body);
  if (end < 0) return null;
  return markdown.slice(body, end + 1);
}

/** One flag as Thanos's help shows it. */
export interface ThanosFlag {
  name: string;
  short?: string;
  /** `--[no-]name`: a boolean (kingpin shows no default for booleans). */
  bool: boolean;
  /** Repeatable (`...` after the value). */
  repeatable: boolean;
  /**
   * The default as text; undefined when the help shows a placeholder instead. For list
   * defaults (`--sort-by=FROM...`) kingpin shows only the first element: `listDefault` is set.
   */
  default?: string;
  listDefault?: boolean;
}

/** True when `v` (what follows `=`) is a placeholder, not a default value. */
function isPlaceholder(name: string, v: string): boolean {
  if (v.includes("<")) return true;
  if (v === name.toUpperCase()) return true;
  return /^key="value"$/.test(v);
}

/**
 * Parses kingpin's flag listing: a flag line starts with two spaces and `-x, --` or six spaces
 * and `--`; help text continues on lines indented further. `--help` and `--version` (the
 * app's own flags) are left out.
 */
export function parseKingpinHelp(text: string): ThanosFlag[] {
  const out: ThanosFlag[] = [];
  for (const line of text.split("\n")) {
    const m = /^ {2}(?:-([a-zA-Z]), | {4})--(\S.*)$/.exec(line);
    if (!m) continue;
    const spec = m[2].split(/ {2,}/)[0];
    let bool = false;
    let rest = spec;
    if (rest.startsWith("[no-]")) {
      bool = true;
      rest = rest.slice(5);
    }
    const repeatable = / \.\.\.$/.test(rest);
    if (repeatable) rest = rest.slice(0, -4);
    const eq = rest.indexOf("=");
    const name = eq < 0 ? rest : rest.slice(0, eq);
    if (name === "help" || name === "version") continue;
    const f: ThanosFlag = { name, bool, repeatable };
    if (m[1]) f.short = m[1];
    if (eq >= 0) {
      let v = rest.slice(eq + 1);
      if (!isPlaceholder(name, v)) {
        if (v.endsWith("...") && v !== "...") {
          v = v.slice(0, -3);
          f.listDefault = true;
        }
        if (/^".*"$/.test(v)) v = JSON.parse(v);
        f.default = v;
      }
    }
    out.push(f);
  }
  return out;
}

/**
 * Names of boolean flags whose definition carries `Default("true")`, in Go sources written as
 * kingpin chains `….Flag("name", "help")….Default("true").Bool()`.
 */
export function trueBoolFlags(goSource: string): string[] {
  const out = new Set<string>();
  for (const chunk of goSource.split('Flag("').slice(1)) {
    const name = chunk.slice(0, chunk.indexOf('"'));
    const end = /\.Bool(Var)?\(/.exec(chunk);
    if (!end) continue;
    const chain = chunk.slice(0, end.index);
    // the chain must end at this Bool(): no other value type, no statement break in between
    if (/\.(String|Int|Int64|Uint|Float64|Duration|Enum|Strings|Bytes)\w*\(/.test(chain)) continue;
    if (chain.includes("\n\n") || chain.includes("Flag(")) continue;
    if (chain.includes('Default("true")')) out.add(name);
  }
  return [...out].sort();
}

type Source = { tree: string } | { git: string; ref: string };

async function git(src: { git: string }, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["--git-dir", src.git, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim());
  return new TextDecoder().decode(out.stdout);
}

async function readSource(src: Source, path: string): Promise<string> {
  if ("tree" in src) return await Deno.readTextFile(`${src.tree}/${path}`);
  return await git(src, "show", `${src.ref}:${path}`);
}

/** The non-test Go files of cmd/thanos/, concatenated. */
async function commandSources(src: Source): Promise<string> {
  let names: string[];
  if ("tree" in src) {
    names = [...Deno.readDirSync(`${src.tree}/cmd/thanos`)].map((e) => `cmd/thanos/${e.name}`);
  } else {
    names = (await git(src, "ls-tree", "-r", "--name-only", src.ref, "cmd/thanos/")).split("\n");
  }
  const go = names.filter((n) => n.endsWith(".go") && !n.endsWith("_test.go")).sort();
  const texts: string[] = [];
  for (const n of go) texts.push(await readSource(src, n));
  return texts.join("\n");
}

async function regenerate(args: string[]): Promise<void> {
  const get = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const tree = get("--tree");
  const gitDir = get("--git");
  const ref = get("--ref") ?? "";
  if (!tree && !(gitDir && ref)) {
    throw new Error(
      "usage: thanos_help.ts --tree <thanos checkout> | --git <repo.git> --ref <tag>",
    );
  }
  const src: Source = tree ? { tree } : { git: gitDir!, ref };
  const root = new URL("../", import.meta.url).pathname;
  await Deno.mkdir(`${root}${HELP_DIR}`, { recursive: true });
  for (const { command, page } of HELP_PAGES) {
    const help = extractHelp(await readSource(src, `docs/${page}`), command);
    if (help === null) throw new Error(`${page}: no --help block for "thanos ${command}"`);
    await Deno.writeTextFile(`${root}${HELP_DIR}/${helpFile(command)}`, help);
    console.log(`${HELP_DIR}/${helpFile(command)}: ${parseKingpinHelp(help).length} flags`);
  }
  const bools = trueBoolFlags(await commandSources(src));
  await Deno.writeTextFile(`${root}${HELP_DIR}/bool_true.txt`, bools.join("\n") + "\n");
  console.log(`${HELP_DIR}/bool_true.txt: ${bools.length} booleans default to true`);
  await Deno.writeTextFile(`${root}${HELP_DIR}/VERSION`, `${ref || tree}\n`);
}

if (import.meta.main) await regenerate(Deno.args);
