// Worker module of tests/helpers/sandbox.ts: runs a command exactly as components/worker.ts does
// (same run table, within the permissions the launcher computed), does the role's real work, then
// tries a read, a connection and a process start that the flags did not grant, plus the
// file-system accesses next to its grants that the test lists, and stops it.

import { commandKey, COMMANDS } from "../../components/commands.ts";
import { Flags } from "../../components/flags.ts";
import { Logger } from "../../logging/log.ts";
import { RUN_TABLE } from "../../components/run_table.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { SandboxProbeRequest, SandboxProbeResult, SandboxWork } from "./sandbox.ts";

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

/** Polls `probe` every 50 ms for up to 30 s. */
async function waitUntil(probe: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 600 && Date.now() < deadline; i++) {
    try {
      if (await probe()) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

async function readyAt(http: string): Promise<boolean> {
  const res = await fetch(`http://${http}/-/ready`);
  await res.body?.cancel();
  return res.status === 200;
}

/** Waits for the role and does its work; fills `ready` and the work fields of `r`. */
async function doWork(work: SandboxWork, r: SandboxProbeResult): Promise<void> {
  switch (work.kind) {
    case "exit":
      r.ready = true;
      return;
    case "file":
      r.ready = await waitUntil(async () => (await Deno.stat(work.path), true));
      return;
    case "http":
      r.ready = await waitUntil(() => readyAt(work.http));
      if (!r.ready) return;
      {
        const res = await fetch(`http://${work.http}${work.path}`);
        r.workStatus = res.status;
        r.workBody = await res.text();
      }
      return;
    case "series": {
      r.ready = await waitUntil(() => readyAt(work.http));
      if (!r.ready) return;
      const client = new StoreClient(work.grpc);
      try {
        r.series = 0;
        for await (
          const _ of client.series({
            minTime: 0,
            maxTime: 1e13,
            matchers: [new Matcher(MatchType.Regexp, "__name__", ".+")],
          })
        ) r.series++;
      } catch (err) {
        r.logs.push(`series failed: ${(err as Error).message}`);
      } finally {
        client.close();
      }
    }
  }
}

scope.onmessage = async (e: MessageEvent) => {
  const req = e.data as SandboxProbeRequest;
  const key = commandKey(req.raw.command);
  const spec = COMMANDS.find((c) => commandKey(c.path) === key)!;
  const r: SandboxProbeResult = {
    code: -1,
    out: "",
    logs: [],
    ready: false,
    workStatus: -1,
    workBody: "",
    series: -1,
    read: "",
    connect: "",
    spawn: "",
    neighbours: [],
  };
  const ac = new AbortController();
  const running = RUN_TABLE[key](new Flags(spec, req.raw), {
    signal: ac.signal,
    logger: new Logger("info", "logfmt", {}, (l) => r.logs.push(l)),
    stdout: (t) => r.out += t,
  }).catch((err) => {
    r.logs.push(`run failed: ${(err as Error).message}`);
    return -1;
  });
  // A one-shot command finishes before the forbidden attempts, as it would in the launcher.
  if (req.work.kind === "exit") await running;
  await doWork(req.work, r);
  r.read = await attempt(() => Deno.readTextFile(req.forbiddenPath));
  r.connect = await attempt(async () =>
    (await fetch(`http://${req.forbiddenAddr}/`)).body?.cancel()
  );
  r.spawn = await attempt(() => new Deno.Command("true").output());
  for (const n of req.neighbours) {
    r.neighbours.push(
      await attempt(async () => {
        if (n.op === "read") await Deno.readTextFile(n.path);
        else if (n.op === "write") await Deno.writeTextFile(n.path, "probe");
        else for await (const _ of Deno.readDir(n.path)) break;
      }),
    );
  }
  ac.abort(new Error("test stop"));
  r.code = await running;
  scope.postMessage(r);
};

// every import has been evaluated: ask for the request (see runSandboxed)
scope.postMessage({ type: "ready" });
