// A PromQL evaluation Worker (query/eval_worker.ts), started with the permissions the launcher
// gives it (components/permissions.ts evalWorkerPermissions), runs its thread at nice
// EVAL_WORKER_NICE on Linux, while the thread that started it keeps its priority (issue 20:
// under contention the role's thread, which answers probes, runs first).

import { assert, assertEquals } from "../helpers/assert.ts";
import { emptyPermissions, evalWorkerPermissions } from "../../components/permissions.ts";
import { EVAL_WORKER_NICE } from "../../query/eval_pool.ts";
import { lowerThreadPriority } from "../../runutil/thread_priority.ts";

/** Nice value of each thread of this process, by tid (/proc/self/task/<tid>/stat field 19). */
function threadNice(): Map<string, { comm: string; nice: number }> {
  const out = new Map<string, { comm: string; nice: number }>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
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
