// `thanos receive` flags read into its config: the relabel rules (file or inline, mutually
// exclusive, `$(VAR)` expanded, invalid rules refused at start-up), the remote-write server TLS
// pair, the split-tenant label, the future window, the artificial delay and the OTLP options.

import { assert, assertEquals, assertThrows } from "../../helpers/assert.ts";
import { Flags, parseFlags, UsageError } from "../../../components/flags.ts";
import { RECEIVE_COMMAND, type ReceiveFlag } from "../../../components/receive/flags.ts";
import { receiveConfig } from "../../../components/receive/config.ts";

function cfg(argv: string[], files: Record<string, string> = {}) {
  const raw = parseFlags(RECEIVE_COMMAND, ['--label=replica="r0"', ...argv]);
  raw.files = files;
  return receiveConfig(new Flags<ReceiveFlag>(RECEIVE_COMMAND, raw));
}

Deno.test("receive relabel config: file or inline, env expanded, validated", () => {
  const rule = "- source_labels: [a]\n  regex: x\n  action: drop\n";
  assertEquals(cfg([]).relabelConfigs, []);
  assertEquals(cfg([`--receive.relabel-config=${rule}`]).relabelConfigs.length, 1);
  const fromFile = cfg(["--receive.relabel-config-file=/r.yml"], { "/r.yml": rule });
  assertEquals(fromFile.relabelConfigs[0].action, "drop");
  assertThrows(
    () =>
      cfg(["--receive.relabel-config-file=/r.yml", `--receive.relabel-config=${rule}`], {
        "/r.yml": rule,
      }),
    UsageError,
    "mutually exclusive",
  );
  assertThrows(
    () => cfg(["--receive.relabel-config=- action: nope\n"]),
    UsageError,
    "relabel",
  );
  Deno.env.set("RECV_TEST_TEAM", "team-x");
  try {
    const c = cfg([
      "--receive.relabel-config=- target_label: team\n  replacement: $(RECV_TEST_TEAM)\n",
    ]);
    assertEquals(c.relabelConfigs[0].replacement, "team-x");
  } finally {
    Deno.env.delete("RECV_TEST_TEAM");
  }
  assertThrows(
    () => cfg(["--receive.relabel-config=- target_label: t\n  replacement: $(RECV_UNSET_X)\n"]),
    UsageError,
    "RECV_UNSET_X",
  );
});

Deno.test("receive remote-write TLS, split tenant, future window, artificial delay", () => {
  const plain = cfg([]);
  assertEquals(plain.remoteWriteTls, undefined);
  assertEquals(plain.splitTenantLabelName, "");
  assertEquals(plain.tooFarInFutureMs, 0);
  assertEquals(plain.maxArtificialDelayMs, 0);
  const c = cfg([
    "--remote-write.server-tls-cert=/c.pem",
    "--remote-write.server-tls-key=/k.pem",
    "--remote-write.server-tls-min-version=1.2",
    "--receive.split-tenant-label-name=team",
    "--tsdb.too-far-in-future.time-window=5m",
    "--receive.artificial-max-delay=3s",
    "--tsdb.max-retention-bytes=512MB",
    "--shipper.skip-corrupted-blocks",
    "--shipper.allow-out-of-order-uploads",
  ]);
  assertEquals([c.shipperSkipCorruptedBlocks, c.shipperAllowOutOfOrderUploads], [true, true]);
  assertEquals([plain.shipperSkipCorruptedBlocks, plain.shipperAllowOutOfOrderUploads], [
    false,
    false,
  ]);
  assertEquals(c.maxRetentionBytes, 512 * 1024 * 1024);
  assertEquals(plain.maxRetentionBytes, 0);
  assertEquals(c.remoteWriteTls, { certFile: "/c.pem", keyFile: "/k.pem", minVersion: "1.2" });
  assertEquals(c.splitTenantLabelName, "team");
  assertEquals(c.tooFarInFutureMs, 300_000);
  assertEquals(c.maxArtificialDelayMs, 3000);
  const mtls = cfg([
    "--remote-write.server-tls-cert=/c.pem",
    "--remote-write.server-tls-key=/k.pem",
    "--remote-write.server-tls-client-ca=/ca.pem",
    "--receive.tenant-certificate-field=organization",
  ]);
  assertEquals(mtls.remoteWriteTls?.clientCaFile, "/ca.pem");
  assertEquals(mtls.tenantCertificateField, "organization");
  assertThrows(
    () => cfg(["--remote-write.server-tls-client-ca=/ca.pem"]),
    UsageError,
    "server key and certificate must also be provided",
  );
  assertThrows(
    () => cfg(["--receive.tenant-certificate-field=commonName"]),
    UsageError,
    "needs --remote-write.server-tls-client-ca",
  );
  for (const one of ["--remote-write.server-tls-cert=/c.pem", "--remote-write.server-tls-key=/k"]) {
    const e = assertThrows(() => cfg([one]), UsageError);
    assert(e.message.includes("both server key and certificate"), e.message);
  }
});

Deno.test("receive OTLP flags: target_info on by default, promoted attributes repeatable", () => {
  assertEquals(cfg([]).otlp, { enableTargetInfo: true, promoteResourceAttributes: [] });
  assertEquals(
    cfg([
      "--no-receive.otlp-enable-target-info",
      "--receive.otlp-promote-resource-attributes=deployment.environment",
      "--receive.otlp-promote-resource-attributes=k8s.namespace.name",
    ]).otlp,
    {
      enableTargetInfo: false,
      promoteResourceAttributes: ["deployment.environment", "k8s.namespace.name"],
    },
  );
});
