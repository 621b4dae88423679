// The query UI in headless Chromium (playwright-core) against real `thanos store` gateways and a
// real `thanos query` over an HA-pair data set: typing with completion, table, graph, the dedup
// switch, the stores page. Screenshots of each step go to tests/artifacts/ui/.

// deno-lint-ignore no-import-prefix -- dependencies are pinned inline until the lead merges them into deno.json
import { type Browser, chromium, type Page } from "npm:playwright-core@1.65.1";
import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  type Child,
  startQuerier,
  startStoreGateway,
  startUiFront,
  writeRegionPair,
} from "./ui_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("../artifacts/ui/", import.meta.url).pathname;
const HOUR = 3600_000;

/** Chromium flags for CI: no sandbox (root in containers), no network side traffic. */
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

/** Counts non-white pixels of the graph's canvas (0 when nothing was drawn). */
function inkedPixels(page: Page): Promise<number> {
  // a string: the function runs in the page, whose DOM types this Deno file does not have
  return page.evaluate<number>(`(() => {
    const c = document.querySelector(".graph canvas");
    const ctx = c && c.getContext("2d");
    if (!ctx) return 0;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) n++;
    }
    return n;
  })()`);
}

e2eTest(
  "query UI: typed query with completion, table, graph, dedup switch and stores page in Chromium",
  { peers: [CHROMIUM] },
  async (t) => {
    const dirs = new TempDirs();
    const children: Child[] = [];
    let browser: Browser | undefined;
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const end = Math.floor(Date.now() / 60_000) * 60_000;
      const east = await dirs.make("thanos-ui-east-");
      const west = await dirs.make("thanos-ui-west-");
      await writeRegionPair(east, "east", { endMs: end, hours: 3, series: 60, seed: 11 });
      await writeRegionPair(west, "west", { endMs: end, hours: 3, series: 60, seed: 12 });
      const stores = await Promise.all([
        startStoreGateway(east, await dirs.make()),
        startStoreGateway(west, await dirs.make()),
      ]);
      children.push(...stores.map((s) => s.child));
      const q = await startQuerier(stores.map((s) => s.grpc), ["--query.replica-label=replica"]);
      children.push(q.child);

      // the browser talks to the querier itself: `thanos query` must serve the UI (no stand-in
      // server here, so a querier without the UI routes fails this test)
      const base = q.url;
      const probe = await fetch(`${q.url}/graph`);
      const probeText = await probe.text();
      assertEquals(probe.status, 200, `the querier serves /graph: ${probeText.slice(0, 200)}`);
      assert(probeText.includes('name="thanos-prefix"'), probeText.slice(0, 300));

      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const consoleErrors: string[] = [];
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });

      const t0 = performance.now();
      await page.goto(`${base}/`);
      await page.locator(".cm-content").waitFor({ timeout: 15_000 });
      const pageReadyMs = performance.now() - t0;

      await t.step("typing shows metric-name completion", async () => {
        await page.locator(".cm-content").click();
        await page.keyboard.type("node_temp", { delay: 40 });
        const option = page.locator(".cm-tooltip-autocomplete li", {
          hasText: "node_temperature_celsius",
        });
        await option.first().waitFor({ timeout: 10_000 });
        await shot(page, "01-completion");
        await page.keyboard.press("Enter"); // accept the completion
        assertEquals(
          await page.locator(".cm-content").innerText(),
          "node_temperature_celsius",
        );
      });

      let firstResultMs = 0;
      let sharedLinkMs = 0;
      await t.step("Enter runs the query and the table shows its rows", async () => {
        const t1 = performance.now();
        await page.keyboard.press("Enter");
        await page.locator("table.data td.series").first().waitFor({ timeout: 15_000 });
        firstResultMs = performance.now() - t1;
        const rows = await page.locator("table.data td.series").count();
        assert(rows > 0, "table has rows");
        const first = await page.locator("table.data td.series").first().innerText();
        assert(first.startsWith("node_temperature_celsius{"), first);
        assert(!first.includes("replica="), `deduplicated series keep no replica label: ${first}`);
        await shot(page, "02-table");
      });

      await t.step("the Graph tab draws the range query", async () => {
        await page.getByRole("tab", { name: "Graph" }).click();
        await page.locator(".graph canvas").waitFor({ timeout: 15_000 });
        let ink = 0;
        for (let i = 0; i < 50 && ink < 500; i++) {
          ink = await inkedPixels(page);
          if (ink < 500) await page.waitForTimeout(100);
        }
        assert(ink >= 500, `graph canvas has drawn lines (${ink} inked pixels)`);
        assert(
          (await page.locator(".u-legend .u-series").count()) > 1,
          "legend lists the series",
        );
        await shot(page, "03-graph");
      });

      await t.step("turning dedup off doubles the series (both replicas)", async () => {
        await page.getByRole("tab", { name: "Table" }).click();
        await page.locator("table.data td.series").first().waitFor({ timeout: 15_000 });
        const panel = page.locator(".panel").first();
        const withDedup = Number(await panel.getAttribute("data-result-series"));
        assert(withDedup > 0, "series with dedup");
        await page.getByLabel("Use deduplication").uncheck();
        let without = withDedup;
        for (let i = 0; i < 100 && without === withDedup; i++) {
          await page.waitForTimeout(100);
          without = Number(await panel.getAttribute("data-result-series"));
        }
        assertEquals(without, withDedup * 2);
        const text = await page.locator("table.data td.series").first().innerText();
        assert(text.includes("replica="), `without dedup the replica label shows: ${text}`);
        assert(page.url().includes("g0.deduplicate=0"), `state in the URL: ${page.url()}`);
        await shot(page, "04-no-dedup");
        assertEquals(consoleErrors, [], "no errors in the browser console");
      });

      await t.step("a parse error is shown inline and on execution", async () => {
        await page.locator(".cm-content").click();
        await page.keyboard.press("End");
        await page.keyboard.type(" +", { delay: 20 });
        await page.locator(".lint", { hasText: "Parse error" }).waitFor({ timeout: 10_000 });
        await page.keyboard.press("Escape");
        await page.getByRole("button", { name: "Execute" }).click();
        await page.locator(".alert.error").waitFor({ timeout: 10_000 });
        await shot(page, "05-parse-error");
        // the API's 400 for the bad expression is the one expected console error
        assertEquals(consoleErrors.length, 1, consoleErrors.join("\n"));
        assert(consoleErrors[0].includes("400"), consoleErrors[0]);
        consoleErrors.length = 0;
      });

      await t.step("a shared URL restores the panel and runs it", async () => {
        const url = `${base}/graph?g0.expr=${encodeURIComponent("sum by (region) (up)")}` +
          `&g0.tab=1&g0.moment_input=${encodeURIComponent(new Date(end - HOUR).toISOString())}`;
        const t2 = performance.now();
        await page.goto(url);
        await page.locator("table.data td.series").first().waitFor({ timeout: 15_000 });
        sharedLinkMs = performance.now() - t2;
        assertEquals(await page.locator("table.data td.series").count(), 2);
      });

      await t.step("the stores page shows each store healthy with its label sets", async () => {
        await page.getByRole("link", { name: "Stores" }).click();
        await page.locator("table.stores tbody tr").first().waitFor({ timeout: 15_000 });
        assertEquals(await page.locator("table.stores tbody tr.up").count(), 2);
        assertEquals(await page.locator("table.stores tbody tr.down").count(), 0);
        const chips = await page.locator("table.stores .chip").allInnerTexts();
        for (const want of ['region="east"', 'region="west"', 'replica="A"', 'replica="B"']) {
          assert(chips.includes(want), `label chip ${want} in ${chips.join(" ")}`);
        }
        await shot(page, "06-stores");
      });

      await t.step("status and flags pages render the querier's answers", async () => {
        await page.getByRole("link", { name: "Status" }).click();
        await page.locator("table.kv").first().waitFor({ timeout: 10_000 });
        await shot(page, "07-status");
        await page.getByRole("link", { name: "Flags" }).click();
        await page.locator("table.kv th", { hasText: "--query.replica-label" }).waitFor({
          timeout: 10_000,
        });
      });

      await t.step("the query page is usable on a narrow screen", async () => {
        const narrow = await browser!.newContext({ viewport: { width: 390, height: 844 } });
        const p2 = await narrow.newPage();
        await p2.goto(`${base}/graph?g0.expr=up&g0.tab=1`);
        await p2.locator("table.data td.series").first().waitFor({ timeout: 15_000 });
        const overflow = await p2.evaluate<number>(
          "document.documentElement.scrollWidth - document.documentElement.clientWidth",
        );
        assert(overflow <= 1, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
        await shot(p2, "08-narrow");
        await narrow.close();
      });

      // page weight as transferred on a cold load (gzip) and times to a result, for the report
      const cold = await browser.newContext();
      const p3 = await cold.newPage();
      await p3.goto(`${base}/graph`);
      await p3.locator(".cm-content").waitFor({ timeout: 15_000 });
      const weight = await p3.evaluate<number>(
        `performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
          .filter((e) => !e.name.includes("/api/"))
          .reduce((n, e) => n + (e.transferSize || 0), 0)`,
      );
      await cold.close();
      console.log(
        `UI figures: page ready ${pageReadyMs.toFixed(0)} ms after navigation; first result ` +
          `${firstResultMs.toFixed(0)} ms after Enter; shared link to table rows ` +
          `${sharedLinkMs.toFixed(0)} ms; page weight transferred ${weight} bytes`,
      );
      assertEquals(consoleErrors, [], "no errors in the browser console");
    } finally {
      await browser?.close();
      for (const c of children.reverse()) await c.stop();
      await dirs.cleanup();
    }
  },
);

e2eTest(
  "query UI under a route prefix shows warnings and unhealthy stores from canned API answers",
  { peers: [CHROMIUM] },
  async () => {
    const requested: string[] = [];
    const json = (data: unknown, extra: Record<string, unknown> = {}) =>
      new Response(JSON.stringify({ status: "success", data, ...extra }), {
        headers: { "content-type": "application/json" },
      });
    const canned: Record<string, () => Response> = {
      "/thanos/api/v1/status/flags": () =>
        json({ "query.replica-label": "replica", "query.partial-response": "true" }),
      "/thanos/api/v1/labels": () => json(["__name__", "job"]),
      "/thanos/api/v1/metadata": () => json({}),
      "/thanos/api/v1/label/__name__/values": () => json(["up"]),
      "/thanos/api/v1/query": () =>
        json(
          {
            resultType: "vector",
            result: [{ metric: { __name__: "up", job: "api" }, value: [1700000000, "1"] }],
          },
          { warnings: ["receive 10.0.0.9:10901 answered nothing within 30s"] },
        ),
      "/thanos/api/v1/stores": () =>
        json({
          sidecar: [{
            name: "127.0.0.1:10901",
            lastCheck: new Date().toISOString(),
            lastError: null,
            labelSets: [{ cluster: "eu1", replica: "A" }],
            minTime: 1700000000000,
            maxTime: 1700003600000,
          }],
          store: [{
            name: "127.0.0.1:10905",
            lastCheck: new Date(Date.now() - 65_000).toISOString(),
            lastError: "rpc error: code = Unavailable desc = connection refused",
            labelSets: [],
            minTime: -9223372036854775808,
            maxTime: 9223372036854775807,
          }],
        }),
    };
    const front = startUiFront("/thanos", (req) => {
      const path = new URL(req.url).pathname;
      return canned[path]?.() ?? new Response("not canned", { status: 404 });
    });
    let browser: Browser | undefined;
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
      page.on("request", (r) => requested.push(new URL(r.url()).pathname));
      await page.goto(`${front.url}/thanos/graph?g0.expr=up&g0.tab=1`);
      await page.locator("table.data td.series").first().waitFor({ timeout: 15_000 });
      await page.locator(".alert.warning", { hasText: "answered nothing" }).waitFor();
      assertEquals(
        await page.locator("input.replica-labels").getAttribute("placeholder"),
        "replica",
      );
      await shot(page, "10-prefix-warning");

      await page.getByRole("link", { name: "Stores" }).click();
      await page.locator("table.stores tbody tr").first().waitFor({ timeout: 15_000 });
      assertEquals(await page.locator("tr.up").count(), 1);
      assertEquals(await page.locator("tr.down").count(), 1);
      assert(
        (await page.locator("tr.down td.last-error").innerText()).includes("connection refused"),
      );
      assertEquals(await page.locator("tr.down td.time").nth(0).innerText(), "-Inf");
      assertEquals(new URL(page.url()).pathname, "/thanos/stores");
      await shot(page, "11-prefix-stores");
      const outside = requested.filter((p) => !p.startsWith("/thanos/"));
      assertEquals(outside, [], "every request stays under the prefix");
    } finally {
      await browser?.close();
      await front.close();
    }
  },
);
