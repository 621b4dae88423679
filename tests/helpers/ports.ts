// Free TCP ports on 127.0.0.1 for servers started by tests.

/**
 * Returns a port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close).
 * Another process may grab it before the caller binds; callers that can, should retry.
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return (l.addr as Deno.NetAddr).port;
  } finally {
    l.close();
  }
}
