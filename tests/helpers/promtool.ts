// Wrappers around the real `promtool tsdb …` (the oracle for block formats and dump output).

import { basename, dirname } from "node:path";

/** promtool exited non-zero; the message carries its stderr. */
export class PromtoolError extends Error {
  override name = "PromtoolError";
}

/** Binary used for every call (a name on PATH or a path). */
export const PROMTOOL = "promtool";

async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command(PROMTOOL, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  if (!out.success) {
    throw new PromtoolError(
      `promtool ${args.join(" ")} exited with code ${out.code}: ${td.decode(out.stderr).trim()}`,
    );
  }
  return td.decode(out.stdout);
}

/**
 * `promtool tsdb create-blocks-from openmetrics <omFile> <outDir>`; returns promtool's listing of
 * the created blocks. `maxBlockDuration` is a Go duration such as "2h" (default: promtool's 2h).
 */
export function createBlocksFromOpenMetrics(
  omFile: string,
  outDir: string,
  opts: { maxBlockDuration?: string; quiet?: boolean } = {},
): Promise<string> {
  const args = ["tsdb", "create-blocks-from"];
  if (opts.maxBlockDuration) args.push(`--max-block-duration=${opts.maxBlockDuration}`);
  if (opts.quiet) args.push("--quiet");
  args.push("openmetrics", omFile, outDir);
  return run(args);
}

/** Options of promtool's `tsdb dump`. */
export interface PromtoolDumpOptions {
  minTime?: number;
  maxTime?: number;
  /** Series selector, e.g. `{job="api"}` (promtool's default selects everything). */
  match?: string;
}

function dumpArgs(dir: string, opts: PromtoolDumpOptions): string[] {
  const args = ["tsdb", "dump"];
  if (opts.minTime !== undefined) args.push(`--min-time=${opts.minTime}`);
  if (opts.maxTime !== undefined) args.push(`--max-time=${opts.maxTime}`);
  if (opts.match !== undefined) args.push(`--match=${opts.match}`);
  args.push(dir);
  return args;
}

/**
 * promtool 2.42's dump replays the WAL and fails with "open <dir>/wal: no such file" when a
 * data dir has none (e.g. only backfilled blocks): create an empty one.
 */
async function ensureWalDir(dataDir: string): Promise<void> {
  await Deno.mkdir(`${dataDir}/wal`, { recursive: true });
}

/**
 * `promtool tsdb dump <dataDir>` output as text (use {@link dumpToFile} for big dumps).
 * Creates an empty `<dataDir>/wal` if missing (promtool 2.42 needs one).
 */
export async function dump(dataDir: string, opts: PromtoolDumpOptions = {}): Promise<string> {
  await ensureWalDir(dataDir);
  return await run(dumpArgs(dataDir, opts));
}

/**
 * `promtool tsdb dump <dataDir>` streamed into `outFile` (dumps of millions of samples do not
 * fit in one JS string). Creates an empty `<dataDir>/wal` if missing (promtool 2.42 needs one).
 */
export async function dumpToFile(
  dataDir: string,
  outFile: string,
  opts: PromtoolDumpOptions = {},
): Promise<void> {
  await ensureWalDir(dataDir);
  const args = dumpArgs(dataDir, opts);
  const child = new Deno.Command(PROMTOOL, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const file = await Deno.open(outFile, { write: true, create: true, truncate: true });
  const [, stderr, status] = await Promise.all([
    child.stdout.pipeTo(file.writable),
    new Response(child.stderr).text(),
    child.status,
  ]);
  if (!status.success) {
    throw new PromtoolError(
      `promtool ${args.join(" ")} exited with code ${status.code}: ${stderr.trim()}`,
    );
  }
}

/**
 * `promtool tsdb analyze <parent> <block id>` for a block directory; returns the report.
 * Throws {@link PromtoolError} when promtool rejects the block.
 */
export function analyze(blockDir: string, opts: { limit?: number } = {}): Promise<string> {
  const args = ["tsdb", "analyze"];
  if (opts.limit !== undefined) args.push(`--limit=${opts.limit}`);
  args.push(dirname(blockDir), basename(blockDir));
  return run(args);
}

/** `promtool tsdb list <dataDir>` output. */
export function list(dataDir: string): Promise<string> {
  return run(["tsdb", "list", dataDir]);
}
