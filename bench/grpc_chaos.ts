// Issue 20, full size: thousands of chaos rounds (tests/helpers/grpc_chaos.ts) against the gRPC
// server in its own process — random cancels, RST_STREAMs, GOAWAYs, socket closes, stalls and
// cut frames at random points of random streams of up to ~20 MB — then restarts of the server
// under our reading client. Prints per-action counts, server deaths and incomplete streams.
//   deno run -A bench/grpc_chaos.ts [--rounds=1000] [--series=5000] [--restarts=50] [--seed=1]

import { parseArgs } from "node:util";
import {
  chaosRound,
  readAll,
  restartRound,
  rng,
  startChaosServer,
} from "../tests/helpers/grpc_chaos.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "1000" },
    series: { type: "string", default: "5000" },
    restarts: { type: "string", default: "50" },
    seed: { type: "string", default: "1" },
  },
});
const rounds = Number(values.rounds);
const maxSeries = Number(values.series);
const rnd = rng(Number(values.seed));
let server = await startChaosServer();
let deaths = 0;
let incomplete = 0;
const actions: Record<string, number> = {};
const t0 = Date.now();
for (let i = 0; i < rounds; i++) {
  const r = await chaosRound(server.grpcPort, rnd, maxSeries);
  actions[r.action] = (actions[r.action] ?? 0) + 1;
  incomplete += r.incomplete;
  if (!server.alive) {
    deaths++;
    console.log(`round ${i} (${r.action}): SERVER DIED\n${server.logs().slice(-2000)}`);
    server = await startChaosServer(server.grpcPort);
  }
  if ((i + 1) % 100 === 0) {
    console.log(`${i + 1}/${rounds} rounds, deaths=${deaths}, incomplete=${incomplete}`);
  }
}
const full = await readAll(server.grpcPort, maxSeries);
console.log(`after the chaos: a full read returned ${full}/${maxSeries} series`);
const chaosSecs = (Date.now() - t0) / 1000;

const outcomes: Record<string, number> = {};
let reconnectFailures = 0;
for (let i = 0; i < Number(values.restarts); i++) {
  const r = await restartRound(server, rnd, maxSeries);
  server = r.server;
  outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  if (r.after !== 100) reconnectFailures++;
}
await server.stop();
console.log(JSON.stringify({
  rounds,
  maxSeries,
  serverDeaths: deaths,
  incompleteUntouchedStreams: incomplete,
  actions,
  chaosSeconds: chaosSecs,
  restarts: Number(values.restarts),
  clientOutcomesDuringRestart: outcomes,
  reconnectFailures,
}));
