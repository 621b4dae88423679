// Gaps found by the mutation check (scripts/mutations.ts): byte-size flags use powers of 1024 for
// every unit spelling, as Thanos's units.Base2Bytes; net grants derived from discovery addresses.

import { assertEquals } from "../helpers/assert.ts";
import { parseBytesFlag } from "../../components/flags.ts";
import { netTarget } from "../../components/permissions.ts";

Deno.test("byte sizes: every unit is a power of 1024, case-insensitive", () => {
  assertEquals(parseBytesFlag("512"), 512);
  assertEquals(parseBytesFlag("512B"), 512);
  assertEquals(parseBytesFlag("1KB"), 1024);
  assertEquals(parseBytesFlag("1kib"), 1024);
  assertEquals(parseBytesFlag("2MB"), 2 * 1024 ** 2);
  assertEquals(parseBytesFlag("2MiB"), 2 * 1024 ** 2);
  assertEquals(parseBytesFlag("3GB"), 3 * 1024 ** 3);
  assertEquals(parseBytesFlag("1TiB"), 1024 ** 4);
  assertEquals(parseBytesFlag("1.5KB"), 1536);
});

Deno.test("net grants: dns+ keeps the port, SRV lookups grant the whole host", () => {
  assertEquals(netTarget("dns+store.example.com:10901"), "store.example.com:10901");
  assertEquals(netTarget("dnsdualstack+store.example.com:10901"), "store.example.com:10901");
  assertEquals(netTarget("dnssrv+_grpc._tcp.example.com:10901"), "_grpc._tcp.example.com");
  assertEquals(netTarget("dnssrvnoa+_grpc._tcp.example.com:10901"), "_grpc._tcp.example.com");
  assertEquals(netTarget("http://prom:9090/"), "prom:9090");
  assertEquals(netTarget("https://bucket.example.com"), "bucket.example.com:443");
});
