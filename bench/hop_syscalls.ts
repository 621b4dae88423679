// Syscalls per instant query of our querier and store gateway (issue 19, the querier–store hop),
// counted by `strace -f -c` attached to each process (all threads) over `n` sequential queries
// after a warm-up, printed per query kind, never asserted:
//
//   deno run -A bench/hop_syscalls.ts --data=<dir> [--n=200] [--main=<other checkout>/main.ts]
//     [--queries=<q1>|<q2>…]
//
// `<dir>` is a data directory kept by `bench/instant_vs_prometheus.ts --keep=<dir>`. strace slows
// the processes: read the counts, not the times. sendto/recvfrom are the sockets (HTTP and gRPC);
// epoll_wait is an event-loop wake-up; futex a hand-off between threads (blocking pool, V8
// platform); write on an eventfd is the blocking pool waking the event loop.
import { startKeptDataPair } from "./kept_data.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}
const DATA = flag("data", "");
const N = Number(flag("n", "200"));
const TIME = flag("time", "1700006339");
const MAIN = flag("main", "");
const QUERIES = flag(
  "queries",
  "up|absent(nonexistent_metric)|" +
    '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))|' +
    "count(count by (instance) (node_cpu_seconds_total))",
).split("|");
if (DATA === "") {
  console.error("usage: bench/hop_syscalls.ts --data=<dir kept by instant_vs_prometheus.ts>");
  Deno.exit(2);
}

async function get(base: string, q: string): Promise<void> {
  const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}&time=${TIME}`);
  await r.text();
}

const { querier, store } = await startKeptDataPair(DATA, "syscalls", TIME, MAIN || undefined);
try {
  for (const q of QUERIES) {
    for (let i = 0; i < 50; i++) await get(querier.http, q);
    const traces = [querier.child.pid, store.child.pid].map((pid) =>
      new Deno.Command("strace", {
        args: ["-f", "-c", "-p", String(pid)],
        stdout: "null",
        stderr: "piped",
      }).spawn()
    );
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < N; i++) await get(querier.http, q);
    await new Promise((r) => setTimeout(r, 200));
    console.log(`\n=== ${q} (${N} queries)`);
    for (const [name, t] of [["querier", traces[0]], ["store", traces[1]]] as const) {
      t.kill("SIGINT");
      const out = new TextDecoder().decode((await t.output()).stderr);
      console.log(`--- ${name}: calls per query`);
      for (const line of out.split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length >= 5 && /^\d/.test(f[0]) && f[f.length - 1] !== "total") {
          const calls = Number(f[3]);
          const errors = f.length === 6 ? Number(f[4]) : 0;
          console.log(
            `${f[f.length - 1].padEnd(20)} ${(calls / N).toFixed(2).padStart(8)}${
              errors ? `  (errors ${(errors / N).toFixed(2)})` : ""
            }`,
          );
        }
      }
    }
  }
} finally {
  await querier.stop();
  await store.stop();
}
