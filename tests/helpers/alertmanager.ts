// Starting a real Alertmanager (Debian's `prometheus-alertmanager`, 0.25) for e2e tests: its own
// config and storage dir, a free 127.0.0.1 port, clustering off, a bounded readiness wait, logs
// kept for failure messages, and a bounded stop.

import { freePort } from "./ports.ts";
import { Proc } from "./thanos.ts";

/** Binary of the Debian package. */
export const ALERTMANAGER = "prometheus-alertmanager";

/** A config whose only receiver discards notifications (the API still lists the alerts). */
export const DISCARD_CONFIG = `route:
  receiver: discard
  group_wait: 1s
  group_interval: 1s
receivers:
- name: discard
`;

/** A running Alertmanager. */
export interface RunningAlertmanager {
  url: string;
  proc: Proc;
  stop(): Promise<void>;
}

/** One alert as `GET /api/v2/alerts` lists it. */
export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  status: { state: string };
}

/**
 * Starts Alertmanager with `config` in `dir` (on `port`, default a free one); resolves once
 * `/-/ready` answers 200.
 */
export async function startAlertmanager(
  dir: string,
  config = DISCARD_CONFIG,
  port = freePort(),
): Promise<RunningAlertmanager> {
  await Deno.writeTextFile(`${dir}/alertmanager.yml`, config);
  const child = new Deno.Command(ALERTMANAGER, {
    args: [
      `--config.file=${dir}/alertmanager.yml`,
      `--storage.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = new Proc(child, port, "alertmanager");
  const url = `http://127.0.0.1:${port}`;
  await proc.waitFor(async () => {
    const r = await fetch(`${url}/-/ready`);
    await r.body?.cancel();
    return r.status === 200;
  }, "start");
  return { url, proc, stop: () => proc.stop() };
}

/** `GET /api/v2/alerts` (active, silenced and inhibited alike). */
export async function amAlerts(url: string): Promise<AmAlert[]> {
  const r = await fetch(`${url}/api/v2/alerts`);
  if (r.status !== 200) throw new Error(`alertmanager answered ${r.status}: ${await r.text()}`);
  return await r.json();
}
