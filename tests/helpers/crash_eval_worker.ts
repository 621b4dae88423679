// A stand-in evaluation Worker for tests/components/eval_workers_test.ts: like
// query/eval_worker.ts it says "ready" and takes a port; on the port, "ping" answers "pong" and
// "crash" throws an uncaught error (the Worker dies, as one with a bug would).

const scope = self as unknown as {
  onmessage: (e: MessageEvent) => void;
  postMessage(msg: unknown): void;
};

scope.onmessage = (e: MessageEvent) => {
  const m = e.data as { type: string; port?: MessagePort };
  if (m.type !== "port" || !m.port) return;
  const port = m.port;
  port.onmessage = (ev: MessageEvent) => {
    if (ev.data === "ping") port.postMessage("pong");
    else if (ev.data === "crash") {
      setTimeout(() => {
        throw new Error("evaluation bug");
      }, 0);
    }
  };
};

scope.postMessage({ type: "ready" });
