// `deno task demo`: writes a realistic demo data set (counters with resets, gauges, classic
// histograms; 12h at 15s) as Prometheus TSDB blocks into .demo/data once, then prints the
// `thanos tools tsdb analyze` summary of each block. Re-running reuses the data.

import { generateDataset } from "./dataset.ts";
import { createBlocksFromSeries } from "../tsdb/block_writer.ts";
import { openBlocks } from "../tsdb/block.ts";
import { tsdbAnalyze } from "../components/tools/tsdb.ts";

const ROOT = new URL("../.demo/", import.meta.url).pathname;
const DATA = `${ROOT}data`;
const HOUR = 3600_000;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function ensureData(): Promise<void> {
  if (await exists(`${DATA}/.complete`)) {
    console.log(`demo: reusing the data set in ${DATA} (delete .demo/ to regenerate)`);
    return;
  }
  await Deno.remove(DATA, { recursive: true }).catch(() => {});
  const end = Math.floor(Date.now() / HOUR) * HOUR;
  const start = end - 12 * HOUR;
  console.log("demo: generating 400 series, 12h at 15s …");
  const ds = generateDataset({
    series: 400,
    start,
    end,
    stepMs: 15_000,
    seed: 42,
    gapProbability: 0.02,
  });
  const metas = await createBlocksFromSeries(DATA, ds.series);
  await Deno.writeTextFile(`${DATA}/.complete`, new Date().toISOString() + "\n");
  console.log(`demo: wrote ${metas.length} blocks into ${DATA}`);
}

if (import.meta.main) {
  await ensureData();
  const blocks = await openBlocks(DATA);
  const dirs = blocks.map((b) => b.name);
  for (const b of blocks) await b.close();
  for (const dir of dirs) {
    console.log("");
    await tsdbAnalyze(dir, (s) => void Deno.stdout.writeSync(new TextEncoder().encode(s)), {
      limit: 5,
    });
  }
  console.log(
    `\ndemo: try  deno run -A main.ts tools tsdb dump ${DATA} --match='{__name__=~".+_total"}' | head`,
  );
}
