// Test worker for long-running roles: runs a command exactly as components/worker.ts does (same
// run table, the launcher's permissions), waits for its /-/ready, fetches one URL of its own HTTP
// API as its real work, tries a read, a connection and a process the flags did not grant, then
// stops it through the run signal and reports the exit code.

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

/** Message the test posts. */
export interface ServingProbeRequest {
  raw: RawFlags;
  /** host:port of the role's HTTP server. */
  http: string;
  /** Path (with query) fetched from the role's HTTP server once it is ready. */
  workPath: string;
  forbiddenPath: string;
  forbiddenAddr: string;
}

/** What the probe reports. */
export interface ServingProbeResult {
  ready: boolean;
  workStatus: number;
  workBody: string;
  read: string;
  connect: string;
  spawn: string;
  exitCode: number;
  logs: string[];
}

scope.onmessage = async (e: MessageEvent) => {
  const req = e.data as ServingProbeRequest;
  const key = commandKey(req.raw.command);
  const spec = COMMANDS.find((c) => commandKey(c.path) === key)!;
  const ac = new AbortController();
  const logs: string[] = [];
  const running = RUN_TABLE[key](new Flags(spec, req.raw), {
    signal: ac.signal,
    logger: new Logger("info", "logfmt", {}, (l) => logs.push(l)),
    stdout: () => {},
  }).catch((err) => {
    logs.push(`run failed: ${(err as Error).message}`);
    return -1;
  });
  let ready = false;
  for (let i = 0; i < 400 && !ready; i++) {
    try {
      const res = await fetch(`http://${req.http}/-/ready`);
      await res.body?.cancel();
      ready = res.status === 200;
    } catch {
      // not listening yet
    }
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  let workStatus = -1;
  let workBody = "";
  if (ready) {
    const res = await fetch(`http://${req.http}${req.workPath}`);
    workStatus = res.status;
    workBody = await res.text();
  }
  const read = await attempt(() => Deno.readTextFile(req.forbiddenPath));
  const connect = await attempt(async () =>
    (await fetch(`http://${req.forbiddenAddr}/`)).body?.cancel()
  );
  const spawn = await attempt(() => new Deno.Command("true").output());
  ac.abort(new Error("test stop"));
  const exitCode = await running;
  const result: ServingProbeResult = {
    ready,
    workStatus,
    workBody,
    read,
    connect,
    spawn,
    exitCode,
    logs,
  };
  scope.postMessage(result);
};
