// The Alerts, Rules and Targets pages in headless Chromium (playwright-core) against the rules lab
// (tests/helpers/rules_lab.ts): a real Prometheus 2.42 HA pair with sidecars, our ruler and our
// querier. The querier's pages show each rule, alert and target once (replica dedup); the
// ruler's own page shows its rules and alerts. Screenshots go to tests/artifacts/ui/.

// deno-lint-ignore no-import-prefix -- dependencies are pinned inline until the lead merges them into deno.json
import { type Browser, chromium, type Page } from "npm:playwright-core@1.65.1";
import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { api, eventually } from "../helpers/sidecar_lab.ts";
import { type RulesLab, startRulesLab } from "../helpers/rules_lab.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("../artifacts/ui/", import.meta.url).pathname;
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

async function texts(page: Page, selector: string): Promise<string[]> {
  return (await page.locator(selector).allInnerTexts()).map((s) => s.trim());
}

e2eTest(
  "UI: Alerts, Rules and Targets pages of the querier and the ruler's page in Chromium",
  { peers: [CHROMIUM, PROMETHEUS] },
  async (t) => {
    const dirs = new TempDirs();
    let lab: RulesLab | undefined;
    let browser: Browser | undefined;
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      lab = await startRulesLab(dirs);
      const q = lab.querier;
      type G = { groups: { rules: { state?: string; type: string }[] }[] };
      await eventually("the alerts fire and the targets are scraped", async () => {
        const r = await api<G>(q.http, "rules", { type: "alert" });
        const firing = r.groups.flatMap((g) => g.rules).filter((x) => x.state === "firing");
        const tg = await api<{ activeTargets: { health: string }[] }>(q.http, "targets");
        return firing.length === 2 && tg.activeTargets.length === 2 &&
          tg.activeTargets.every((x) => x.health === "up");
      }, 60_000);

      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } }))
        .newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));

      await t.step(
        "querier Alerts page: each alerting rule once, firing alerts listed",
        async () => {
          await page.goto(`${q.http}/alerts`);
          await page.locator("section.alert-rule").first().waitFor({ timeout: 15_000 });
          await shot(page, "rules-01-alerts");
          assertEquals(
            (await texts(page, "section.alert-rule .rule-name")).sort(),
            ["AlwaysFiring", "NeverFiring", "RulerFiring"],
          );
          assertEquals(await page.locator("section.alert-rule.firing").count(), 2);
          // one alert row per firing rule: the HA pair's AlwaysFiring appears once
          const rows = await texts(page, "section.alert-rule tr.alert-row");
          assertEquals(rows.length, 2, rows.join("\n"));
          const always = rows.filter((r) => r.includes('alertname="AlwaysFiring"'));
          assertEquals(always.length, 1, rows.join("\n"));
          // as in Thanos, dedup removes replica labels from rules; the kept alert is one replica's
          assert(/replica="[ab]"/.test(always[0]), always[0]);
          const ruleLabels = await texts(
            page,
            'section.alert-rule[data-name="AlwaysFiring"] > .labelset',
          );
          assertEquals(ruleLabels.length, 1);
          assert(!ruleLabels[0].includes("replica"), ruleLabels[0]);
          assert(rows.some((r) => r.includes("always firing")), "annotation shown");
          const nav = await texts(page, "#nav .links a");
          assert(["Alerts", "Rules", "Targets"].every((x) => nav.includes(x)), nav.join(","));
        },
      );

      await t.step(
        "querier Rules page: groups with each rule once, health and evaluation",
        async () => {
          await page.goto(`${q.http}/rules`);
          await page.locator("section.rule-group").first().waitFor({ timeout: 15_000 });
          await shot(page, "rules-02-rules");
          const ha = page.locator('section.rule-group[data-group="ha"] tr.rule-row');
          assertEquals(await ha.count(), 3);
          const names = await page.locator('section.rule-group[data-group="ha"] tr.rule-row')
            .evaluateAll((els) => els.map((e) => e.getAttribute("data-name")));
          assertEquals(names, ["AlwaysFiring", "NeverFiring", "job:up:sum"]);
          assertEquals(
            await page.locator('section.rule-group[data-group="ruler"] tr.rule-row').count(),
            2,
          );
          const health = await texts(page, "tr.rule-row .health");
          assert(health.length === 5 && health.every((x) => x === "OK"), health.join(","));
          const evals = await texts(page, "tr.rule-row td.time");
          assert(evals.every((x) => x !== "never"), evals.join(","));
        },
      );

      await t.step(
        "querier Targets page: the pair's targets once each under their pool",
        async () => {
          await page.goto(`${q.http}/targets`);
          await page.locator("section.scrape-pool").first().waitFor({ timeout: 15_000 });
          await shot(page, "rules-03-targets");
          assertEquals(await texts(page, "section.scrape-pool h2"), ["prometheus (2/2 up)"]);
          const urls = (await texts(page, "tr.target-row td.endpoint")).sort();
          assertEquals(urls, lab!.proms.map((p) => `${p.url}/metrics`).sort());
          assertEquals(await texts(page, "tr.target-row .health"), ["UP", "UP"]);
        },
      );

      await t.step("the ruler's own page: its alerts and rules over its API", async () => {
        await page.goto(`${lab!.ruler.http}/`);
        await page.locator("section.alert-rule").first().waitFor({ timeout: 15_000 });
        await shot(page, "rules-04-ruler-alerts");
        assertEquals(await texts(page, "section.alert-rule .rule-name"), ["RulerFiring"]);
        assertEquals(await page.locator("tr.alert-row").count(), 1);
        assertEquals(await texts(page, "#nav .links a"), ["Alerts", "Rules"]);
        await page.locator("#nav .links a", { hasText: "Rules" }).click();
        await page.locator("section.rule-group").first().waitFor({ timeout: 15_000 });
        await shot(page, "rules-05-ruler-rules");
        assertEquals(await texts(page, "section.rule-group tr.rule-row .health"), ["OK", "OK"]);
      });
      assertEquals(errors, [], "no page errors");
    } finally {
      await browser?.close();
      await lab?.stop();
      await dirs.cleanup();
    }
  },
);
