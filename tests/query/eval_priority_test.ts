// A PromQL evaluation Worker (query/eval_worker.ts), started with the permissions the launcher
// gives it (components/permissions.ts evalWorkerPermissions), runs its thread at nice
// EVAL_WORKER_NICE on Linux, while the thread that started it keeps its priority (issue 20:
// under contention the role's thread, which answers probes, runs first).

import { assert, assertEquals } from "../helpers/assert.ts";
import { emptyPermissions, evalWorkerPermissions } from "../../components/permissions.ts";
import { EVAL_WORKER_NICE } from "../../query/eval_pool.ts";
import { lowerThreadPriority } from "../../runutil/thread_priority.ts";
import { startQuerier } from "../helpers/query_e2e.ts";

/** Nice value of each thread of a process, by tid (/proc/<pid>/task/<tid>/stat field 19). */
function threadNice(pid: number | "self" = "self"): Map<string, { comm: string; nice: number }> {
  const out = new Map<string, { comm: string; nice: number }>();
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`);
      // fields after "(comm) ": state is field 3, nice field 19
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(t.name, {
        comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
        nice: Number(f[16]),
      });
    } catch { /* thread gone */ }
  }
  return out;
}

const myTid = () => Deno.readLinkSync("/proc/thread-self").split("/").at(-1)!;

Deno.test({
  name: "an evaluation Worker lowers its own thread's priority, not its starter's",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const before = threadNice();
    const workers: Worker[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const w = new Worker(new URL("../../query/eval_worker.ts", import.meta.url), {
          type: "module",
          deno: { permissions: evalWorkerPermissions(emptyPermissions(), "linux") },
        });
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          w.onmessage = (e) => (e.data as { type: string }).type === "ready" && resolve();
          w.onerror = (e) => {
            e.preventDefault();
            reject(new Error(e.message));
          };
        });
      }
      const after = threadNice();
      // Deno names a Web Worker's thread worker-<n>; threads a Worker spawns after (its I/O
      // pool) inherit its nice value
      const workerThreads = [...after].filter(([tid, t]) =>
        !before.has(tid) && t.comm.startsWith("worker-")
      );
      assertEquals(workerThreads.length, 2, JSON.stringify([...after]));
      for (const [, t] of workerThreads) assertEquals(t.nice, EVAL_WORKER_NICE, t.comm);
      // only the Workers' own threads: this thread and every thread that was there keep theirs
      assertEquals(after.get(myTid())?.nice, 0);
      for (const [tid, t] of before) {
        if (after.has(tid)) assertEquals(after.get(tid)!.nice, t.nice, `${tid} ${t.comm}`);
      }
      assert(EVAL_WORKER_NICE > 0 && EVAL_WORKER_NICE <= 19);
    } finally {
      for (const w of workers) w.terminate();
    }
  },
});

Deno.test("lowerThreadPriority does nothing where a nice value is the whole process's", () => {
  assertEquals(lowerThreadPriority(19, "darwin"), undefined);
  assertEquals(lowerThreadPriority(19, "windows"), undefined);
  assertEquals(threadNice().get(myTid())?.nice, 0);
});

Deno.test({
  name: "lowerThreadPriority without the setPriority permission says why and changes nothing",
  ignore: Deno.build.os !== "linux",
  permissions: { sys: false },
  fn() {
    const why = lowerThreadPriority(5, "linux");
    assert(why !== undefined && /setPriority/.test(why), why);
  },
});

Deno.test({
  name: "a querier evaluates in Workers at the lowered priority; its other threads keep theirs",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const q = await startQuerier(["--store=127.0.0.1:1", "--query.eval-workers=2"]);
    try {
      // a range query goes to an evaluation Worker
      const r = await fetch(`${q.url}/api/v1/query_range?query=1&start=0&end=60&step=15`);
      assertEquals(r.status, 200, await r.text());
      const threads = [...threadNice(q.child.pid).values()];
      const workers = threads.filter((t) => t.comm.startsWith("worker-"));
      const lowered = workers.filter((t) => t.nice === EVAL_WORKER_NICE);
      // the evaluation Workers (started on demand or at start: 1 or 2), not the role's Worker
      assert(lowered.length >= 1 && lowered.length <= 2, JSON.stringify(threads));
      assert(workers.some((t) => t.nice === 0), JSON.stringify(threads));
      assertEquals(threadNice(q.child.pid).get(String(q.child.pid))?.nice, 0);
      assert(!q.logs().includes("cannot lower"), q.logs());
    } finally {
      await q.stop();
    }
  },
});
