// A thread that opens its I/O-turn pair (runutil/loop_turn.ts) and gives some turns, for
// tests/runutil/loop_turn_test.ts. As a Worker: in {port}, out {socket, reasons, turns}. As a
// process (`deno run probe.ts <port>`): the same, printed as JSON, then it just ends without
// closing the pair (the test checks that nothing holds the process).

import { ioTurn, ioTurnsUseSocket, useIoTurnPort } from "../../runutil/loop_turn.ts";

/** What the probe reports. */
export interface IoTurnProbeResult {
  /** The turns went through the loopback pair. */
  socket: boolean;
  /** Why the pair is unavailable (reported once at most). */
  reasons: string[];
  /** Turns given (all resolved). */
  turns: number;
}

async function probe(port: number): Promise<IoTurnProbeResult> {
  const reasons: string[] = [];
  useIoTurnPort(port, (r) => reasons.push(r));
  let turns = 0;
  for (let i = 0; i < 20; i++) {
    await ioTurn();
    turns++;
  }
  return { socket: ioTurnsUseSocket(), reasons, turns };
}

// a Worker's entry module is `import.meta.main` too
if (!("WorkerGlobalScope" in globalThis)) {
  console.log(JSON.stringify(await probe(Number(Deno.args[0]))));
} else {
  const scope = self as unknown as {
    onmessage: (e: MessageEvent) => void;
    postMessage(msg: unknown): void;
  };
  scope.onmessage = async (e: MessageEvent) => {
    scope.postMessage(await probe((e.data as { port: number }).port));
  };
}
