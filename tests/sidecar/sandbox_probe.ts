// Test worker: runs `thanos sidecar` exactly as components/worker.ts does (same run table, same
// permissions from the launcher), waits until it uploaded a block, then tries a read, a
// connection and a process start that its flags did not grant, and stops it.

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
  const { raw, forbiddenPath, forbiddenAddr, uploadedMeta } = e.data as {
    raw: RawFlags;
    forbiddenPath: string;
    forbiddenAddr: string;
    uploadedMeta: string;
  };
  const key = commandKey(raw.command);
  const spec = COMMANDS.find((c) => commandKey(c.path) === key)!;
  const ac = new AbortController();
  let logs = "";
  const running = RUN_TABLE[key](new Flags(spec, raw), {
    signal: ac.signal,
    logger: new Logger("info", "logfmt", {}, (l) => logs += l + "\n"),
    stdout: () => {},
  }).catch((err) => {
    logs += `run failed: ${(err as Error).message}\n`;
    return -1;
  });
  // the sidecar's own work inside the sandbox: reach Prometheus, upload to the bucket
  let uploaded = false;
  for (let i = 0; i < 150 && !uploaded; i++) {
    try {
      await Deno.stat(uploadedMeta);
      uploaded = true;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const read = await attempt(() => Deno.readTextFile(forbiddenPath));
  const connect = await attempt(async () =>
    (await fetch(`http://${forbiddenAddr}/`)).body?.cancel()
  );
  const spawn = await attempt(() => new Deno.Command("true").output());
  ac.abort();
  const code = await running;
  scope.postMessage({ code, uploaded, logs, read, connect, spawn });
};
