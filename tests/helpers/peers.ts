// Declaring tests that need a real peer binary (promtool, prometheus, …): ignored with a printed
// reason when the peer is missing, or failed loudly when REQUIRE_E2E=1 (CI must not skip silently).

/** True when the environment demands every e2e test to run (`REQUIRE_E2E=1`). */
export function requireE2E(): boolean {
  return Deno.env.get("REQUIRE_E2E") === "1";
}

/**
 * Returns null when `binary` is found (an absolute/relative path that exists, or a name on PATH),
 * otherwise a sentence saying it is missing.
 */
export function peerMissing(binary: string): string | null {
  if (binary.includes("/")) {
    return isExecutable(binary) ? null : `${binary} not found`;
  }
  const path = Deno.env.get("PATH") ?? "";
  for (const dir of path.split(":")) {
    if (dir !== "" && isExecutable(`${dir}/${binary}`)) return null;
  }
  return `${binary} not found on PATH`;
}

function isExecutable(p: string): boolean {
  try {
    const st = Deno.statSync(p);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Options of {@link e2eTest}. */
export interface E2ETestOptions {
  /** Binaries that must be present (names on PATH or paths). */
  peers: string[];
  /** Extra condition: a non-null string is a reason the test cannot run here. */
  missing?: () => string | null;
}

/**
 * Registers an e2e test. When a peer is missing the test is ignored with a printed reason, unless
 * REQUIRE_E2E=1, in which case it fails with "required peer X missing (REQUIRE_E2E=1)".
 * Resource/op sanitizers are off: these tests spawn processes and servers whose handles and
 * timers outlive single awaits (each test still stops everything it starts in `finally`).
 */
export function e2eTest(
  name: string,
  opts: E2ETestOptions,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  const reasons: string[] = [];
  for (const p of opts.peers) {
    const r = peerMissing(p);
    if (r !== null) reasons.push(r);
  }
  const extra = opts.missing?.();
  if (extra) reasons.push(extra);
  const missing = reasons.join("; ");
  if (missing !== "" && !requireE2E()) {
    console.warn(`ignoring e2e test "${name}": ${missing}`);
  }
  Deno.test({
    name,
    ignore: missing !== "" && !requireE2E(),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      if (missing !== "") {
        throw new Error(`required peer missing (REQUIRE_E2E=1): ${missing}`);
      }
      await fn(t);
    },
  });
}
