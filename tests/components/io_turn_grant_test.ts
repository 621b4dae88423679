// The role's thread gets exactly one extra net grant, `127.0.0.1:<port>` for the loopback pair
// of its I/O turns (runutil/loop_turn.ts), on a port the launcher picked (main.ts ioTurnPort):
// with it a Worker's turns go through the pair; without it they are timer turns, reported once.
// A role the launcher starts opens its pair on that port (seen in its debug log).

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  emptyPermissions,
  ioTurnGrant,
  withIoTurnPort,
  workerPermissions,
} from "../../components/permissions.ts";
import { ioTurnPort } from "../../main.ts";
import type { IoTurnProbeResult } from "../helpers/io_turn_probe.ts";
import { startComponent } from "../helpers/thanos.ts";

const PROBE = new URL("../helpers/io_turn_probe.ts", import.meta.url);

Deno.test("a role Worker granted exactly its turn port gives I/O turns through it", async () => {
  const port = ioTurnPort();
  assert(port !== undefined && port > 0);
  const perms = withIoTurnPort(emptyPermissions(), port);
  assertEquals([...(perms.net as Set<string>)], [`127.0.0.1:${port}`]);
  assertEquals(await inWorker(workerPermissions(perms), port), {
    socket: true,
    reasons: [],
    turns: 20,
  });
  // without the grant: timer turns, reported once
  const denied = await inWorker(workerPermissions(emptyPermissions()), port);
  assertEquals([denied.socket, denied.turns, denied.reasons.length], [false, 20, 1]);
  assert(denied.reasons[0].includes(`127.0.0.1:${port}`), denied.reasons[0]);
});

Deno.test("the turn-port grant is one loopback address, added to a copy", () => {
  assertEquals(ioTurnGrant(40123), "127.0.0.1:40123");
  const set = emptyPermissions();
  (set.net as Set<string>).add("0.0.0.0:10902");
  const granted = withIoTurnPort(set, 40123);
  assertEquals([...(granted.net as Set<string>)].sort(), ["0.0.0.0:10902", "127.0.0.1:40123"]);
  assertEquals([...(set.net as Set<string>)], ["0.0.0.0:10902"]);
  const all = emptyPermissions();
  all.net = true;
  assertEquals(withIoTurnPort(all, 40123).net, true);
});

/** Runs the probe in a Worker with `permissions`, terminated afterwards. */
async function inWorker(
  permissions: Deno.PermissionOptionsObject,
  port: number,
): Promise<IoTurnProbeResult> {
  const w = new Worker(PROBE, { type: "module", deno: { permissions } });
  try {
    return await new Promise<IoTurnProbeResult>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data as IoTurnProbeResult);
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      w.postMessage({ port });
    });
  } finally {
    w.terminate();
  }
}

Deno.test("a role started by the launcher opens its turn pair on the granted port", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  // no stores, no evaluation Workers: the query below is evaluated on the role's thread, whose
  // engine gives the loop a turn every few ms of work
  const q = await startComponent("query", ["--log.level=debug", "--query.eval-workers=0"]);
  try {
    const expr = encodeURIComponent("sum(count_over_time(vector(1)[6h:1s]))");
    const res = await fetch(`${q.http}/api/v1/query?query=${expr}&time=1700000000`);
    const body = await res.json();
    assertEquals([res.status, body.data.result[0].value[1]], [200, "21601"]);
    await q.waitFor(
      () => Promise.resolve(q.logs().includes("through a loopback pair")),
      "turn pair opened",
      10_000,
    );
    const line = q.logs().split("\n").find((l) => l.includes("through a loopback pair"))!;
    const port = Number(/port=(\d+)/.exec(line)?.[1]);
    assert(port > 0, line);
    assert(!q.logs().includes("through timer turns"), q.logs().slice(-2000));
  } finally {
    await q.stop();
  }
});
