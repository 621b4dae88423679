// A Series call without chunks (the querier's `/api/v1/series`) gives the serving thread's event
// loop turns while it encodes tens of thousands of series (issue 20): a backend's cached series
// come without I/O, so nothing else would, and the store gateway's other calls and probes waited.
// Checked by counting the turns in which sockets are read (the server's pacer gives I/O turns,
// runutil/loop_turn.ts) while the server walks one large batch; no time is asserted.

import { assert, assertEquals } from "../helpers/assert.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { SeriesWithChunks } from "../../tsdb/series.ts";
import type {
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  StoreInfo,
} from "../../storeapi/codec.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { countSocketReads } from "../helpers/socket_reads.ts";
import { closeIoTurns, useIoTurnPort } from "../../runutil/loop_turn.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const SERIES = 60_000;

/** Hands all its series over in one batch and counts the socket-reading turns while the server walks it. */
class OneBatchBackend implements StoreBackend {
  turns = -1;
  constructor(private readonly all: SeriesWithChunks[]) {}
  info(): Promise<StoreInfo> {
    return Promise.resolve({ componentType: "store", labelSets: [], minTime: 0, maxTime: 1e9 });
  }
  async *series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    for await (const b of this.seriesBatches(req, signal)) yield* b;
  }
  async *seriesBatches(_req: SeriesRequest, _signal: AbortSignal): AsyncIterable<SeriesItem[]> {
    const counter = await countSocketReads();
    try {
      // resumed once the server has walked (encoded) the whole batch
      yield this.all;
      this.turns = await counter.stop();
    } finally {
      await counter.stop();
    }
    await Promise.resolve();
  }
  labelNames(_r: LabelNamesRequest) {
    return Promise.resolve({ names: [], warnings: [] });
  }
  labelValues(_r: LabelValuesRequest) {
    return Promise.resolve({ values: [], warnings: [] });
  }
}

Deno.test(
  "a Series call without chunks gives the event loop turns while it encodes (issue 20)",
  opts,
  async () => {
    const all: SeriesWithChunks[] = Array.from({ length: SERIES }, (_, i) => ({
      labels: ["__name__", "m", "i", String(i).padStart(6, "0")],
      chunks: [],
    }));
    const backend = new OneBatchBackend(all);
    // one flush for the whole answer: its writes give no turn while the batch is walked
    const server = new StoreServer(backend, { serving: true, flushBytes: 64 << 20 });
    useIoTurnPort(0);
    const { port } = await server.listen("127.0.0.1", 0);
    const client = new StoreClient(`127.0.0.1:${port}`, { timeoutMs: 30_000 });
    try {
      let n = 0;
      let last = "";
      for await (
        const s of client.series({
          minTime: 0,
          maxTime: 1e9,
          matchers: [new Matcher(MatchType.Equal, "__name__", "m")],
          skipChunks: true,
        })
      ) {
        if ("warning" in s) throw new Error(s.warning);
        n++;
        last = s.labels[3];
      }
      assertEquals([n, last], [SERIES, String(SERIES - 1).padStart(6, "0")]);
      assert(backend.turns >= 2, `${backend.turns} socket reads while the series were encoded`);
    } finally {
      closeIoTurns();
      client.close();
      await server.close();
    }
  },
);
