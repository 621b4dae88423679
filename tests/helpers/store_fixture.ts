// Test peer: a StoreAPI server over the TSDB blocks of one directory, with external labels, run as
// its own process so e2e tests can kill and restart it. Usage:
//   deno run -A tests/query/store_fixture.ts <blocks dir> <host:port> [name=value ...]
// Prints "READY" on stdout once serving.

import { openBlocks } from "../../tsdb/block.ts";
import { BlocksQuerier } from "../../tsdb/querier.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import type {
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  StoreInfo,
} from "../../storeapi/codec.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import { withExternalLabels } from "../../storeapi/external_labels.ts";

/** A StoreBackend over local blocks (what `thanos store` does over a bucket). */
export class BlocksBackend implements StoreBackend {
  private readonly q: BlocksQuerier;
  constructor(private readonly blocks: Awaited<ReturnType<typeof openBlocks>>) {
    this.q = new BlocksQuerier(blocks);
  }
  info(): Promise<StoreInfo> {
    const mint = Math.min(...this.blocks.map((b) => b.meta.minTime));
    const maxt = Math.max(...this.blocks.map((b) => b.meta.maxTime));
    return Promise.resolve({
      componentType: "store",
      labelSets: [],
      minTime: mint,
      maxTime: maxt,
      storeApi: true,
      supportsWithoutReplicaLabels: true,
    });
  }
  async *series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    yield* this.q.select(
      req.matchers,
      { start: req.minTime, end: req.maxTime, skipChunks: req.skipChunks },
      signal,
    );
  }
  async labelNames(req: LabelNamesRequest) {
    return { names: await this.q.labelNames(req.matchers, req.start, req.end), warnings: [] };
  }
  async labelValues(req: LabelValuesRequest) {
    return {
      values: await this.q.labelValues(req.label, req.matchers, req.start, req.end),
      warnings: [],
    };
  }
}

if (import.meta.main) {
  const [dir, addr, ...ext] = Deno.args;
  const [host, port] = addr.split(":");
  const blocks = await openBlocks(dir);
  const labels = labelsFromObject(Object.fromEntries(ext.map((e) => e.split("=", 2))));
  const server = new StoreServer(
    withExternalLabels(new BlocksBackend(blocks), labels, { requireMatchers: false }),
    { serving: true },
  );
  await server.listen(host, Number(port));
  console.log("READY");
  const stop = () => server.close(0).then(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
