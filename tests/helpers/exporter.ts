// A tiny metrics exporter for e2e labs: serves `/metrics` in the Prometheus text format on a
// free 127.0.0.1 port, with a counter that grows on every scrape and a constant gauge, so
// Prometheus has something real to scrape besides itself.

/** A running exporter. */
export interface Exporter {
  /** `127.0.0.1:<port>` (a scrape target). */
  target: string;
  /** Scrapes served so far. */
  scrapes(): number;
  /** Stops the server. */
  stop(): Promise<void>;
}

/** Starts the exporter; `stop()` it in `finally`. */
export function startExporter(): Exporter {
  const ac = new AbortController();
  let n = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      if (new URL(req.url).pathname !== "/metrics") {
        return new Response("not found", { status: 404 });
      }
      n++;
      const body = [
        "# HELP lab_requests_total Requests handled by the lab exporter.",
        "# TYPE lab_requests_total counter",
        `lab_requests_total{path="/a"} ${n}`,
        `lab_requests_total{path="/b"} ${2 * n}`,
        "# HELP lab_temperature_celsius A constant gauge.",
        "# TYPE lab_temperature_celsius gauge",
        "lab_temperature_celsius 21.5",
        "",
      ].join("\n");
      return new Response(body, { headers: { "content-type": "text/plain; version=0.0.4" } });
    },
  );
  return {
    target: `127.0.0.1:${server.addr.port}`,
    scrapes: () => n,
    stop: async () => {
      ac.abort();
      await server.finished;
    },
  };
}
