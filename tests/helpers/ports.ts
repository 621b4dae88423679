// Free TCP ports on 127.0.0.1 for servers started by tests.
//
// Test files run in parallel (`deno test --parallel`) and open many outgoing connections. A port
// found by binding port 0 comes from the kernel's ephemeral range, the same range outgoing
// connections take their local ports from, so between our check and the server's bind another
// test's connection could take it ("Address already in use"). Ports are therefore picked below
// the ephemeral range, and each pick is reserved across processes with a lock file (created
// exclusively), so two tests never get the same port in one run.

const LOCK_DIR = `${Deno.env.get("TMPDIR") ?? "/tmp"}/thanos-ts-test-ports`;
/** A reservation older than this is considered left over from an earlier run. */
const STALE_MS = 2 * 3600_000;

function ephemeralLow(): number {
  try {
    const text = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const low = Number(text.trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12_000) return low;
  } catch { /* not Linux: use the IANA dynamic range's start */ }
  return 32_768;
}

const RANGE_LOW = 11_000;
const RANGE_HIGH = Math.min(ephemeralLow(), 49_152) - 1;

function reserve(port: number): boolean {
  const path = `${LOCK_DIR}/${port}`;
  const create = () => {
    Deno.openSync(path, { write: true, createNew: true }).close();
    return true;
  };
  try {
    return create();
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  try {
    const st = Deno.statSync(path);
    if (st.mtime !== null && Date.now() - st.mtime.getTime() > STALE_MS) {
      Deno.removeSync(path);
      return create();
    }
  } catch { /* another process took it meanwhile */ }
  return false;
}

function bindable(port: number): boolean {
  for (const hostname of ["127.0.0.1", "0.0.0.0"]) {
    try {
      Deno.listen({ hostname, port }).close();
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Returns a port that is free on 127.0.0.1 (and on all interfaces), outside the kernel's
 * ephemeral range, and not handed to any other test in this run.
 */
export function freePort(): number {
  Deno.mkdirSync(LOCK_DIR, { recursive: true });
  for (let i = 0; i < 2000; i++) {
    const port = RANGE_LOW + Math.floor(Math.random() * (RANGE_HIGH - RANGE_LOW + 1));
    if (!reserve(port)) continue;
    if (bindable(port)) return port;
  }
  // everything reserved or busy: fall back to the kernel's choice
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return (l.addr as Deno.NetAddr).port;
  } finally {
    l.close();
  }
}
