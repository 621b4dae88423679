// The system's trusted CA bundle for Node TLS agents inside the sandbox. Deno's node:https asks
// for a `sys` permission ("ca") that cannot be granted by name when an agent has no `ca`, so a
// provider on HTTPS without http_config.tls_config.ca_file reads the system bundle itself, like
// Go's crypto/x509 does on Linux (https://go.dev/src/crypto/x509/root_linux.go); the role is
// granted read access to these files.

/** Where Linux distributions keep the CA bundle (Go's list, in its order). */
export const SYSTEM_CA_FILES = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian/Ubuntu/Gentoo etc.
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora/RHEL 6
  "/etc/ssl/ca-bundle.pem", // OpenSUSE
  "/etc/pki/tls/cacert.pem", // OpenELEC
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
  "/etc/ssl/cert.pem", // Alpine Linux
];

/** The first readable system CA bundle (PEM text), or undefined when there is none. */
export async function systemCaBundle(): Promise<string | undefined> {
  for (const f of SYSTEM_CA_FILES) {
    try {
      return await Deno.readTextFile(f);
    } catch {
      // absent or not granted: try the next one
    }
  }
  return undefined;
}
