// A load-generating writer process for the SIGKILL crash tests (tests/e2e/head_crash_test.ts,
// tests/e2e/ooo_compaction_crash_test.ts): the script is run with `deno run -A <script> <dir>`,
// prints `ready …` once its storage is open and `ack <batch>` after each acknowledged commit on
// stdout; the test kills it when it chooses, at the latest after 30 s.

/** A running writer. */
export interface WriterProcess {
  /** Batch ids acknowledged so far. */
  readonly acked: number[];
  /** Resolves when the writer printed `ready` (or exited). */
  readonly ready: Promise<void>;
  /** Resolves when the writer exited. */
  readonly exited: Promise<void>;
  /** Everything the writer wrote to stderr so far. */
  stderr(): string;
  /** Sends SIGKILL now, from inside a hook too (no wait). */
  killNow(): void;
  /** SIGKILLs the writer (if it still runs) and waits until its output is read. */
  kill(): Promise<void>;
}

/**
 * Starts `script` on `dir`. `onLine` sees every stdout line (after `ready` / `ack` are taken
 * into account), `onStderr` every piece of stderr as it arrives.
 */
export function startWriter(
  script: string,
  dir: string,
  hooks: { onLine?: (line: string) => void; onStderr?: (text: string) => void } = {},
): WriterProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, dir],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const acked: number[] = [];
  let stderr = "";
  let ready!: () => void;
  const readyP = new Promise<void>((r) => ready = r);
  const td = new TextDecoder();
  const readOut = (async () => {
    let buf = "";
    for await (const chunk of child.stdout) {
      buf += td.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("ready")) ready();
        else if (line.startsWith("ack ")) acked.push(Number(line.slice(4)));
        hooks.onLine?.(line);
      }
    }
  })();
  const readErr = (async () => {
    const etd = new TextDecoder();
    for await (const chunk of child.stderr) {
      const text = etd.decode(chunk, { stream: true });
      stderr += text;
      hooks.onStderr?.(text);
    }
  })();
  const timeout = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const exited = child.status.then(() => {});
  const killNow = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  };
  return {
    acked,
    ready: Promise.race([readyP, exited]),
    exited,
    stderr: () => stderr,
    killNow,
    async kill() {
      killNow();
      await child.status;
      clearTimeout(timeout);
      await readOut;
      await readErr;
    },
  };
}
