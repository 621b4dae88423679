// Relabel rules with RE2 regexes: hostile patterns answer correctly (linear-time engine), Go's
// Regexp.Expand in replacement and target_label, and Go's error text for invalid RE2.

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import { RelabelConfigError, Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";

const run = (yaml: string, ls: Record<string, string>) => {
  const out = new Relabeler(parseRelabelConfigs(yaml)).process(labelsFromObject(ls));
  return out === null ? null : labelsToObject(out);
};

Deno.test("hostile regexes in keep, drop, replace and labeldrop answer correctly", () => {
  const a40 = "a".repeat(40);
  const keep = "- action: keep\n  source_labels: [l]\n  regex: '(a+)+$'\n";
  assertEquals(run(keep, { l: a40 }), { l: a40 });
  assertEquals(run(keep, { l: a40 + "!" }), null);
  const drop = "- action: drop\n  source_labels: [l]\n  regex: '(a|aa)+'\n";
  assertEquals(run(drop, { l: a40 }), null);
  assertEquals(run(drop, { l: a40 + "!" }), { l: a40 + "!" });
  const replace = "- source_labels: [l]\n  regex: '((a|aa)+)(!)'\n  target_label: t\n" +
    "  replacement: '${3}$2'\n";
  assertEquals(run(replace, { l: a40 + "!" }), { l: a40 + "!", t: "!a" });
  assertEquals(run(replace, { l: a40 }), { l: a40 });
  const labeldrop = "- action: labeldrop\n  regex: '(x+x+)+y'\n";
  assertEquals(run(labeldrop, { xxxy: "1", ["x".repeat(40)]: "2" }), { ["x".repeat(40)]: "2" });
});

Deno.test("replacement and target_label expand $1, ${1} and $name as Go does", () => {
  const cfg = "- source_labels: [addr]\n  regex: '(?P<host>[^:]+):(\\d+)'\n" +
    "  target_label: '${host}_port'\n  replacement: '$2/${1}x/$1x'\n";
  assertEquals(run(cfg, { addr: "db:5432" }), {
    addr: "db:5432",
    db_port: "5432/dbx/",
  });
});

Deno.test("invalid RE2 in a rule fails with Go's message", () => {
  assertThrows(
    () => parseRelabelConfigs("- action: keep\n  source_labels: [l]\n  regex: '(?=a)'\n"),
    RelabelConfigError,
    "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
  );
});
