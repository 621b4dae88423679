// The bucket UI's Blocks page in headless Chromium (playwright-core) against a real
// `thanos tools bucket web` on a bucket of real blocks: the groups (external labels +
// resolution) and their timeline bars, details on click (ULID, range, stats, level, sources,
// marks), and marking a block from the page; the store gateway's Loaded Blocks page. Screenshots
// go to tests/artifacts/ui/.

// deno-lint-ignore no-import-prefix -- dependencies are pinned inline until the lead merges them into deno.json
import { type Browser, chromium } from "npm:playwright-core@1.65.1";
import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { refreshedBlocks, startWeb, writeWebBucket } from "../helpers/bucket_web.ts";
import { readMarker } from "../../block/markers.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { freePort } from "../helpers/ports.ts";

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

e2eTest(
  "bucket UI: groups with timelines, block details on click, marking from the page",
  { peers: [CHROMIUM] },
  async () => {
    await using dirs = new TempDirs();
    const b = await writeWebBucket(await dirs.make(), await dirs.make());
    const { p, url } = await startWeb([
      "tools",
      "bucket",
      "web",
      `--objstore.config=${b.config}`,
      "--label=region",
    ], "bucket-web-ui");
    let browser: Browser | undefined;
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await refreshedBlocks(url);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${url}/`);
      await page.waitForSelector(".block-group");
      assert(page.url().endsWith("/blocks"), page.url());

      // three groups: east raw, east 5m, west raw; titled by the --label value
      const groups = await page.$$eval(
        ".block-group",
        (els) =>
          els.map((
            e,
          ) => [e.querySelector("h2")!.textContent, e.querySelectorAll(".block-span").length]),
      );
      assertEquals(groups.length, 3, JSON.stringify(groups));
      const byTitle = groups.map(([t, n]) => `${String(t).split(" ")[0]}:${n}`).sort();
      assertEquals(byTitle, [`east:${b.east.length}`, "east:1", `west:${b.west.length}`].sort());
      assert(groups.some(([t]) => String(t).includes("resolution 5m")), JSON.stringify(groups));
      // the bars follow time: within a group, left offsets increase with minTime
      const lefts = await page.$$eval(
        `.block-group:has([data-ulid="${b.west[0].ulid}"]) .block-span`,
        (els) =>
          els.map((
            e,
          ) => [e.getAttribute("data-ulid"), e.getBoundingClientRect().left]),
      );
      const order = [...lefts].sort((x, y) => Number(x[1]) - Number(y[1])).map((x) => x[0]);
      assertEquals(order, b.west.map((m) => m.ulid));
      // the deletion-marked block is drawn as such
      assert(
        await page.$(`.block-span.marked-deletion[data-ulid="${b.deleted}"]`) !== null,
        "deleted block not marked",
      );
      await page.screenshot({ path: `${ARTIFACTS}blocks-groups.png`, fullPage: true });

      // details of a block on click
      await page.click(`.block-span[data-ulid="${b.deleted}"]`);
      await page.waitForSelector(`.block-details[data-ulid="${b.deleted}"]`);
      const field = (name: string) =>
        page.$eval(`.block-details tr[data-field="${name}"] td`, (e) => e.textContent ?? "");
      const m = b.east[1];
      assertEquals(await field("ULID"), m.ulid);
      assert((await field("Start time")).includes(`(${m.minTime})`));
      assert((await field("End time")).includes(`(${m.maxTime})`));
      assertEquals(await field("Series"), m.stats.numSeries!.toLocaleString("en-US"));
      assertEquals(await field("Samples"), m.stats.numSamples!.toLocaleString("en-US"));
      assertEquals(await field("Chunks"), m.stats.numChunks!.toLocaleString("en-US"));
      assertEquals(await field("Level"), "1");
      assertEquals(await field("Resolution"), "raw");
      assertEquals(await field("Sources"), m.compaction.sources!.join(""));
      assert((await field("Deletion mark")).includes("test: replaced"));
      assertEquals(await field("No-compact mark"), "none");
      assert(page.url().includes(`ulid=${m.ulid}`), page.url());
      await page.screenshot({ path: `${ARTIFACTS}blocks-details.png`, fullPage: true });

      // the 5m block's details
      await page.click(`.block-span[data-ulid="${b.downsampled.ulid}"]`);
      await page.waitForSelector(`.block-details[data-ulid="${b.downsampled.ulid}"]`);
      assertEquals(await field("Resolution"), "5m");

      // mark a block no-compact from the page: the marker is in the bucket and shown
      const target = b.west[1].ulid;
      await page.click(`.block-span[data-ulid="${target}"]`);
      await page.waitForSelector(`.block-details[data-ulid="${target}"]`);
      await page.fill(".mark-detail", "from the browser");
      await page.click('button[data-action="NO_COMPACTION"]');
      await page.waitForFunction(
        `document.querySelector('.block-details tr[data-field="No-compact mark"] td')?.textContent.includes("from the browser")`,
        undefined,
        { timeout: 10_000 },
      );
      const nc = await readMarker(new FilesystemBucket(b.dir), target, "no-compact-mark.json");
      assertEquals(nc?.details, "from the browser");
      assert(await page.$(`.block-span.marked-no-compact[data-ulid="${target}"]`) !== null);

      // the filter narrows the groups to matching ULIDs
      await page.fill("input.filter", b.downsampled.ulid);
      assertEquals(await page.$$eval(".block-span", (els) => els.length), 1);
      assertEquals(errors, []);
    } finally {
      await browser?.close();
      await p.stop();
    }
  },
);

e2eTest(
  "store UI: / leads to Loaded Blocks, the store's loaded blocks drawn by group",
  { peers: [CHROMIUM] },
  async () => {
    await using dirs = new TempDirs();
    const b = await writeWebBucket(await dirs.make(), await dirs.make());
    const { p, url } = await startWeb([
      "store",
      `--objstore.config=${b.config}`,
      `--data-dir=${await dirs.make()}`,
      `--grpc-address=127.0.0.1:${freePort()}`,
      "--bucket-web-label=region",
    ], "store-web-ui");
    let browser: Browser | undefined;
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const loaded = await refreshedBlocks(url, "loaded");
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${url}/`);
      await page.waitForSelector(".block-group");
      assert(page.url().endsWith("/loaded"), page.url());
      assertEquals(await page.textContent("h1"), "Loaded Blocks");
      assertEquals(
        await page.$$eval("#nav .links a", (els) => els.map((e) => e.textContent)),
        ["Loaded Blocks"],
      );
      // every loaded block is drawn once, in the group titled by its region
      const drawn = await page.$$eval(
        ".block-span",
        (els) => els.map((e) => e.getAttribute("data-ulid")),
      );
      assertEquals(drawn.sort(), loaded.blocks.map((m) => m.ulid).sort());
      const west = await page.$$eval(
        `.block-group:has([data-ulid="${b.west[0].ulid}"]) .block-span`,
        (els) => els.length,
      );
      assertEquals(west, b.west.length);
      await page.screenshot({ path: `${ARTIFACTS}store-loaded.png`, fullPage: true });
      assertEquals(errors, []);
    } finally {
      await browser?.close();
      await p.stop();
    }
  },
);
