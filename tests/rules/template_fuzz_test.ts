// Hostile alert templates (tests/helpers/fuzz.ts): mutated label and annotation templates must
// expand or fail with a TemplateError (the rule's evaluation then logs it, as Prometheus does) —
// never a JavaScript error, never a hang — whatever the alert's value (NaN, ±Inf, huge).

import { assert } from "../helpers/assert.ts";
import { fuzz, isCrash, mutateText, pick } from "../helpers/fuzz.ts";
import {
  expandAlertTemplate,
  type QuerySample,
  type TemplateEnv,
  TemplateError,
} from "../../rules/template.ts";

const CORPUS = [
  "{{ $labels.instance }} is down",
  "{{ $value | humanize }}",
  '{{ printf "%.2f" $value }}',
  '{{ range query "up" }}{{ .Labels.job }} {{ .Value }}{{ end }}',
  "{{ if gt $value 1.0 }}high{{ else }}low{{ end }}",
  "{{ with $labels.job }}{{ . | toUpper }}{{ end }}",
  "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
  "{{- $labels.a -}}",
  "{{ humanizeDuration $value }} {{ humanize1024 $value }} {{ humanizePercentage $value }}",
  "{{ humanizeTimestamp $value }} {{ toTime $value }}",
  '{{ reReplaceAll "(a+)" "$1x" $labels.job }} {{ match "a.*" $labels.job }}',
  '{{ label "job" (first (query "up")) }} {{ sortByLabel "job" (query "up") }}',
  "{{ $externalURL }}{{ pathPrefix }}{{ externalURL }}",
  '{{ title "a b" }} {{ stripPort "a:1" }} {{ stripDomain "a.b:1" }} {{ args 1 2 }}',
  '{{ index $labels "job" }} {{ len $labels }} {{ and 1 0 }} {{ or 0 1 }} {{ not true }}',
  '{{ eq 1 1 }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ le 1.5 2 }}',
  '{{ tableLink "x" }} {{ graphLink "x" }} {{ parseDuration "1h" }}',
  '{{ safeHtml "<b>" }} {{ html "<b>" }} {{ js "\'" }} {{ urlquery "a b" }} {{ print 1 "a" }}',
  '{{ printf "%s %v %q %x %e %g %5.1f %-3s %%" 1 2 3 4 5 6 7 8 }} {{ $value | printf "%d" }}',
];

const TOKENS = [
  "{{",
  "}}",
  "{{-",
  "-}}",
  "|",
  "(",
  ")",
  "$",
  ".",
  "end",
  "else",
  "range",
  "if",
  "with",
  "define",
  "template",
  "block",
  '"',
  "`",
  ":=",
  "=",
  "nil",
  "1e309",
  "-1",
  "0x",
  "'a'",
  "\\",
  "printf",
  "%",
  "%*d",
  "%[2]d",
  "%!",
  "index",
  "slice",
  "call",
  "len",
  "humanize",
  "query",
  "$labels",
  "$value",
];

Deno.test("fuzz: mutated alert templates expand or fail with a TemplateError", async () => {
  const env: TemplateEnv = {
    query: (q: string) =>
      Promise.resolve<QuerySample[]>([
        { Labels: { __name__: "up", job: q.slice(0, 10), instance: "b:1" }, Value: 1 },
        { Labels: { job: "c" }, Value: NaN },
      ]),
    externalURL: "http://thanos.example/prefix",
  };
  let expanded = 0;
  await fuzz(
    "template",
    10,
    60_000,
    (r) => ({
      text: mutateText(r, pick(r, CORPUS), TOKENS, CORPUS),
      value: pick(r, [1.5, NaN, -Infinity, Infinity, 1e300, 0, -0.25]),
    }),
    async ({ text, value }) => {
      try {
        await expandAlertTemplate("t", text, {
          Labels: { job: "api", instance: "h:1" },
          ExternalLabels: { region: "eu" },
          ExternalURL: "http://thanos.example/prefix",
          Value: value,
        }, env);
        expanded++;
      } catch (e) {
        assert(e instanceof TemplateError && !isCrash(e), `${e}`);
      }
    },
  );
  assert(expanded > 3_000, `only ${expanded} templates expanded`);
});
