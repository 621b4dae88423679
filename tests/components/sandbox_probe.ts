// Test worker: runs a command exactly as components/worker.ts does (same run table, same
// permissions from the launcher), then tries a read and a connection the flags did not name.

import { commandKey, COMMANDS } from "../../components/commands.ts";
import { Flags, type RawFlags } from "../../components/flags.ts";
import { Logger } from "../../components/log.ts";
import { RUN_TABLE } from "../../components/run_table.ts";

const scope = self as unknown as {
  onmessage: (e: MessageEvent) => void;
  postMessage(msg: unknown): void;
};

async function attempt(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return "allowed";
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

scope.onmessage = async (e: MessageEvent) => {
  const { raw, forbiddenPath, forbiddenAddr } = e.data as {
    raw: RawFlags;
    forbiddenPath: string;
    forbiddenAddr: string;
  };
  const key = commandKey(raw.command);
  const spec = COMMANDS.find((c) => commandKey(c.path) === key)!;
  let out = "";
  let code: number;
  try {
    code = await RUN_TABLE[key](new Flags(spec, raw), {
      signal: new AbortController().signal,
      logger: new Logger("error", "logfmt", {}, () => {}),
      stdout: (t) => out += t,
    });
  } catch (err) {
    code = -1;
    out += `run failed: ${(err as Error).message}`;
  }
  const read = await attempt(() => Deno.readTextFile(forbiddenPath));
  const connect = await attempt(async () =>
    (await fetch(`http://${forbiddenAddr}/`)).body?.cancel()
  );
  const spawn = await attempt(() => new Deno.Command("true").output());
  scope.postMessage({ code, out, read, connect, spawn });
};
