// Test worker for the store sandbox test: runs `thanos store` exactly as components/worker.ts
// does (same run table, the launcher's permissions), waits until it is ready, serves one
// Series call, tries a read, a connection and a process the flags did not grant, then stops it.

import { commandKey, COMMANDS } from "../../components/commands.ts";
import { Flags, type RawFlags } from "../../components/flags.ts";
import { Logger } from "../../components/log.ts";
import { RUN_TABLE } from "../../components/run_table.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

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
  const { raw, forbiddenPath, forbiddenAddr, http, grpc } = e.data as {
    raw: RawFlags;
    forbiddenPath: string;
    forbiddenAddr: string;
    http: string;
    grpc: string;
  };
  const key = commandKey(raw.command);
  const spec = COMMANDS.find((c) => commandKey(c.path) === key)!;
  const ac = new AbortController();
  const logs: string[] = [];
  const running = RUN_TABLE[key](new Flags(spec, raw), {
    signal: ac.signal,
    logger: new Logger("info", "logfmt", {}, (l) => logs.push(l)),
    stdout: () => {},
  }).catch((err) => {
    logs.push(`run failed: ${(err as Error).message}`);
    return -1;
  });
  let ready = false;
  for (let i = 0; i < 300 && !ready; i++) {
    try {
      const res = await fetch(`http://${http}/-/ready`);
      await res.body?.cancel();
      ready = res.status === 200;
    } catch {
      // not up yet
    }
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  let series = -1;
  if (ready) {
    const client = new StoreClient(grpc);
    try {
      series = 0;
      for await (
        const _ of client.series({
          minTime: 0,
          maxTime: 1e13,
          matchers: [new Matcher(MatchType.Regexp, "__name__", ".+")],
        })
      ) series++;
    } catch (err) {
      logs.push(`series failed: ${(err as Error).message}`);
    } finally {
      client.close();
    }
  }
  const read = await attempt(() => Deno.readTextFile(forbiddenPath));
  const connect = await attempt(async () =>
    (await fetch(`http://${forbiddenAddr}/`)).body?.cancel()
  );
  const spawn = await attempt(() => new Deno.Command("true").output());
  ac.abort(new Error("test stop"));
  const code = await running;
  scope.postMessage({ code, ready, series, read, connect, spawn, logs });
};
