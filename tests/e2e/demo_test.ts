// `deno task demo` end to end: from an empty directory it writes the demo bucket, starts the
// store gateway and the querier, answers queries over the HA pairs (dedup halves the series),
// stops cleanly on Ctrl-C (SIGINT), and a second run reuses the data.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";

const REPO = new URL("../../", import.meta.url).pathname;

interface DemoRun {
  child: Deno.ChildProcess;
  output: () => string;
  status: Promise<Deno.CommandStatus>;
  /** Set once the demo stopped its components itself. */
  stoppedCleanly?: boolean;
}

/** PIDs of the demo's components, from its ready line. */
function componentPids(run: DemoRun): number[] {
  const m = /demo: ready .* pids=([\d,]+)/.exec(run.output());
  return m ? m[1].split(",").map(Number) : [];
}

function startDemo(dir: string): DemoRun {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO}scripts/demo.ts`,
      `--dir=${dir}`,
      "--free-ports",
      "--hours=3",
      "--series=60",
    ],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const td = new TextDecoder();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const b of s) out += td.decode(b, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]).catch(() => {});
  const status = child.status.then(async (s) => {
    await drained;
    return s;
  });
  return { child, output: () => out, status };
}

/** True when nothing listens on `host:port` any more. */
async function refused(hostPort: string): Promise<boolean> {
  const [hostname, port] = hostPort.split(":");
  try {
    const c = await Deno.connect({ hostname, port: Number(port) });
    c.close();
    return false;
  } catch {
    return true;
  }
}

/** Waits for the demo's `demo: ready query=<url>` line; throws with its output otherwise. */
async function waitReady(run: DemoRun, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  run.status.then(() => exited = true);
  for (let i = 0; i < 2000 && Date.now() < deadline && !exited; i++) {
    const m = /demo: ready query=(\S+)/.exec(run.output());
    if (m) return m[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`demo did not get ready (exited: ${exited}); output:\n${run.output()}`);
}

async function stopDemo(run: DemoRun, signal: Deno.Signal): Promise<Deno.CommandStatus> {
  try {
    run.child.kill(signal);
  } catch { /* already gone */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = await Promise.race([
    run.status.then(() => false),
    new Promise<boolean>((r) => timer = setTimeout(() => r(true), 30_000)),
  ]);
  clearTimeout(timer);
  if (late) {
    try {
      run.child.kill("SIGKILL");
    } catch { /* already gone */ }
    throw new Error(`demo did not stop within 30 s of ${signal}; output:\n${run.output()}`);
  }
  return await run.status;
}

async function getJSON(url: string): Promise<{ status: string; data: unknown }> {
  const r = await fetch(url);
  return await r.json();
}

async function vectorCount(base: string, expr: string, extra = ""): Promise<number> {
  const body = await getJSON(`${base}/api/v1/query?query=${encodeURIComponent(expr)}${extra}`);
  assertEquals(body.status, "success", JSON.stringify(body));
  const res = (body.data as { result: { value: [number, string] }[] }).result;
  assertEquals(res.length, 1, JSON.stringify(body));
  return Number(res[0].value[1]);
}

Deno.test({
  name: "demo starts from nothing, answers queries over deduplicated HA pairs and stops on Ctrl-C",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dirs = new TempDirs();
    const runs: DemoRun[] = [];
    try {
      const dir = `${await dirs.make("thanos-demo-")}/demo`;
      const first = startDemo(dir);
      runs.push(first);
      const base = await waitReady(first, 180_000);

      await t.step("the querier answers `up` over both regions, deduplicated", async () => {
        const body = await getJSON(`${base}/api/v1/query?query=up`);
        assertEquals(body.status, "success");
        const result = (body.data as { result: { metric: Record<string, string> }[] }).result;
        assert(result.length > 0, "up has series");
        const regions = new Set(result.map((s) => s.metric.region));
        assertEquals([...regions].sort(), ["east", "west"]);
        assert(result.every((s) => s.metric.replica === undefined), "no replica label");
        const deduped = await vectorCount(base, "count(up)");
        const raw = await vectorCount(base, "count(up)", "&dedup=false");
        assertEquals(raw, 2 * deduped);
      });

      await t.step("the querier serves the query UI: the embedded app", async () => {
        const r = await fetch(`${base}/graph`);
        const html = await r.text();
        assertEquals(r.status, 200, `the querier serves /graph: ${html.slice(0, 200)}`);
        assert(html.includes('name="thanos-prefix"'), html.slice(0, 300));
        const js = await fetch(`${base}/static/app.js`);
        assertEquals(js.status, 200);
        assertEquals(js.headers.get("content-type"), "text/javascript; charset=utf-8");
        assert((await js.text()).length > 1000, "app.js is the bundle");
      });

      await t.step("the stores endpoint shows the healthy gateway and its label sets", async () => {
        const body = await getJSON(`${base}/api/v1/stores`);
        const stores =
          (body.data as Record<string, { lastError: string | null; labelSets: unknown[] }[]>)
            .store;
        assertEquals(stores.length, 1);
        assertEquals(stores[0].lastError, null);
        assertEquals(stores[0].labelSets.length, 4);
      });

      await t.step("Ctrl-C stops the demo and its components", async () => {
        const st = await stopDemo(first, "SIGINT");
        assertEquals(st.code, 0, first.output());
        first.stoppedCleanly = true;
        assert(first.output().includes("demo: stopped"), first.output());
        assert(first.output().includes("demo: stopped"), first.output());
        const storeAddr = /demo: ready query=\S+ store=(\S+)/.exec(first.output())![1];
        assert(await refused(new URL(base).host), "the querier is gone after the demo stopped");
        assert(await refused(storeAddr), "the store gateway is gone after the demo stopped");
      });

      await t.step("a second run reuses the data", async () => {
        const second = startDemo(dir);
        runs.push(second);
        const base2 = await waitReady(second, 120_000);
        assert(second.output().includes("reusing the data"), second.output());
        assert((await vectorCount(base2, "count(up)")) > 0);
        const st = await stopDemo(second, "SIGTERM");
        assertEquals(st.code, 0, second.output());
        second.stoppedCleanly = true;
      });
    } finally {
      for (const r of runs) {
        try {
          r.child.kill("SIGKILL");
        } catch { /* already stopped */ }
        await r.status;
        // a demo killed before it stopped its components leaves them behind: stop them here
        if (!r.stoppedCleanly) {
          for (const pid of componentPids(r)) {
            try {
              Deno.kill(pid, "SIGKILL");
            } catch { /* already gone */ }
          }
        }
      }
      await dirs.cleanup();
    }
  },
});
