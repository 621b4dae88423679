// The rule-file validator (rules/rulefmt.ts): what it accepts, and for bad files the same error
// lines as `promtool check rules` of Prometheus 2.42 (file, line:column of the node, group,
// rule index and name, message).

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { parseRuleFile, RuleFileError } from "../../rules/rulefmt.ts";

const GOOD = `groups:
- name: rec
  interval: 30s
  limit: 10
  partial_response_strategy: warn
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels:
      team: infra
- name: alerts
  rules:
  - alert: InstanceDown
    expr: up == 0
    for: 5m
    keep_firing_for: 1m
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.instance }} down for {{ $value | humanizeDuration }}"
`;

Deno.test("rulefmt: a valid file with Thanos's partial_response_strategy", () => {
  const gs = parseRuleFile("ok.yml", GOOD);
  assertEquals(gs.map((g) => [g.name, g.intervalMs, g.limit, g.partialResponseStrategy]), [
    ["rec", 30_000, 10, "WARN"],
    ["alerts", 0, 0, "ABORT"],
  ]);
  const a = gs[1].rules[0];
  assertEquals([a.alert, a.forMs, a.keepFiringForMs, a.labels, a.line], [
    "InstanceDown",
    300_000,
    60_000,
    { severity: "page" },
    13,
  ]);
  assertEquals(parseRuleFile("empty.yml", ""), []);
});

Deno.test("rulefmt: a group's query_offset (Thanos v0.42; unset is null, so the flag applies)", () => {
  const gs = parseRuleFile(
    "o.yml",
    "groups:\n- name: a\n  query_offset: 1m30s\n  rules: []\n" +
      "- name: b\n  query_offset: 0s\n  rules: []\n- name: c\n  rules: []\n",
  );
  assertEquals(gs.map((g) => g.queryOffsetMs), [90_000, 0, null]);
  const e = assertThrows(
    () => parseRuleFile("bad.yml", "groups:\n- name: a\n  query_offset: soon\n  rules: []\n"),
    RuleFileError,
  );
  assert(e.message.includes("line 3:") && e.message.includes("soon"), e.message);
});

/** Bad files and the exact lines promtool 2.42 prints for them. */
const BAD: Record<string, [string, string[]]> = {
  "unknown.yml": [
    "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    bogus: 1\n",
    ["unknown.yml: yaml: unmarshal errors:\n  line 6: field bogus not found in type rulefmt.RuleNode"],
  ],
  "many.yml": [
    `groups:
- name: g
  rules:
  - alert: A
    expr: up ==
  - record: "bad name"
    expr: up
  - record: ok
    expr: up
    labels:
      "bad-label": x
    annotations:
      summary: hi
  - alert: T
    expr: up
    annotations:
      summary: "{{ $labels.x "
  - expr: up
- name: g
  rules: []
`,
    [
      'many.yml: 5:11: group "g", rule 1, "A": could not parse expression: 1:6: parse error: unexpected end of input',
      'many.yml: 6:13: group "g", rule 2, "bad name": invalid recording rule name: bad name',
      'many.yml: 8:13: group "g", rule 3, "ok": invalid field \'annotations\' in recording rule',
      'many.yml: group "g", rule 3, "ok": invalid label name: bad-label',
      'many.yml: group "g", rule 4, "T": annotation "summary": template: __alert_T:1: unclosed action',
      "many.yml: 0:0: group \"g\", rule 5, \"\": one of 'record' or 'alert' must be set",
      'many.yml: 19:3: groupname: "g" is repeated in the same file',
    ],
  ],
  "record.yml": [
    "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 1m\n    keep_firing_for: 1m\n",
    [
      'record.yml: 4:13: group "g", rule 1, "r": invalid field \'for\' in recording rule',
      'record.yml: 4:13: group "g", rule 1, "r": invalid field \'keep_firing_for\' in recording rule',
    ],
  ],
};

Deno.test("rulefmt: errors name file, line:column, group and rule", () => {
  for (const [file, [content, want]] of Object.entries(BAD)) {
    const e = assertThrows(() => parseRuleFile(file, content), RuleFileError) as RuleFileError;
    assertEquals(e.errors, want, file);
  }
  const e = assertThrows(
    () =>
      parseRuleFile(
        "prs.yml",
        "groups:\n- name: g\n  partial_response_strategy: maybe\n  rules: []\n",
      ),
    RuleFileError,
  ) as RuleFileError;
  assert(e.errors[0].includes('unknown partial_response_strategy "maybe"'), e.errors[0]);
});

e2eTest(
  "rulefmt: promtool check rules prints the same errors",
  { peers: ["promtool"] },
  async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    for (const [file, [content, want]] of Object.entries(BAD)) {
      await Deno.writeTextFile(`${dir}/${file}`, content);
      const out = await new Deno.Command("promtool", {
        args: ["check", "rules", file],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(!out.success, `promtool accepted ${file}`);
      const text = new TextDecoder().decode(out.stderr);
      for (const line of want) {
        assert(
          text.includes(line),
          `promtool for ${file}:\n${text}\nlacks: ${line}`,
        );
      }
    }
    // Prometheus does not know Thanos's partial_response_strategy
    await Deno.writeTextFile(`${dir}/ok.yml`, GOOD.replace(/ *partial_response_strategy.*\n/, ""));
    const ok = await new Deno.Command("promtool", {
      args: ["check", "rules", "ok.yml"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(ok.success, new TextDecoder().decode(ok.stderr));
  },
);

Deno.test("rule expressions with x-functions or experimental functions load only when enabled", () => {
  const file = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: xrate(x[5m])\n" +
    "  - record: s\n    expr: mad_over_time(x[5m])\n";
  const e = assertThrows(() => parseRuleFile("r.yml", file), RuleFileError);
  assert(e.message.includes('unknown function with name "xrate"'), e.message);
  assert(e.message.includes('function "mad_over_time" is not enabled'), e.message);
  const groups = parseRuleFile("r.yml", file, { xFunctions: true, experimentalFunctions: true });
  assertEquals(groups[0].rules.map((r) => r.expr), ["xrate(x[5m])", "mad_over_time(x[5m])"]);
});
