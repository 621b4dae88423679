// What one HTTP request/response costs in Deno.serve inside a Worker (where a role runs,
// components/worker.ts), by body type, with a keep-alive fetch client as the benches use
// (issue 19: the fixed cost of an instant query). A raw HTTP/1.1 responder on Deno.listen is the
// floor. Prints wall time per request and this process's CPU per request (client and server
// threads), never asserts.
//
//   deno run -A bench/serve_cost.ts [requests=3000]

const N = Number(Deno.args[0] ?? 3000);

/** The Worker: answers every request with `size` bytes of JSON as `mode` says. */
const WORKER = `
self.onmessage = async (ev) => {
  const { mode, size } = ev.data;
  const text = '{"status":"success","data":' + "1".repeat(size) + "}";
  const bytes = new TextEncoder().encode(text);
  if (mode === "raw HTTP/1.1") {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    self.postMessage(l.addr.port);
    for await (const c of l) {
      (async () => {
        const buf = new Uint8Array(16384);
        c.setNoDelay(true);
        while ((await c.read(buf)) !== null) {
          const h = new TextEncoder().encode("HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n" +
            "content-length: " + bytes.length + "\\r\\ndate: " + new Date().toUTCString() + "\\r\\n\\r\\n");
          const out = new Uint8Array(h.length + bytes.length);
          out.set(h);
          out.set(bytes, h.length);
          for (let o = 0; o < out.length;) o += await c.write(out.subarray(o));
        }
        c.close();
      })();
    }
    return;
  }
  Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => self.postMessage(a.port) }, () => {
    const headers = { "content-type": "application/json" };
    if (mode === "string") return new Response(text, { headers });
    if (mode === "Uint8Array") return new Response(bytes, { headers });
    return new Response(new ReadableStream({ start(c) { c.enqueue(bytes); c.close(); } }), { headers });
  });
};
`;

function cpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

const url = URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" }));
console.log(
  `load ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}, ${N} requests per row\n\n` +
    "| body | bytes | wall ms / request | median ms | CPU ms / request (both sides) |\n" +
    "| --- | ---: | ---: | ---: | ---: |",
);
for (const size of [1000, 25000]) {
  for (const mode of ["raw HTTP/1.1", "string", "Uint8Array", "ReadableStream (one piece)"]) {
    const w = new Worker(url, { type: "module" });
    const port = await new Promise<number>((r) => {
      w.onmessage = (e) => r(e.data as number);
      w.postMessage({ mode, size });
    });
    const u = `http://127.0.0.1:${port}/api/v1/query?query=up`;
    for (let i = 0; i < 200; i++) await (await fetch(u)).text();
    const times: number[] = [];
    const c0 = cpuMs();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      await (await fetch(u)).text();
      times.push(performance.now() - t);
    }
    const wall = (performance.now() - t0) / N;
    const cpu = (cpuMs() - c0) / N;
    times.sort((a, b) => a - b);
    console.log(
      `| ${mode} | ${size} | ${wall.toFixed(3)} | ${times[N >> 1].toFixed(3)} | ${
        cpu.toFixed(3)
      } |`,
    );
    w.terminate();
  }
}
Deno.exit(0);
