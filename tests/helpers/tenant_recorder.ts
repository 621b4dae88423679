// A StoreAPI backend for tenancy tests: answers nothing, records the tenant each call carried.

import type { SeriesItem, StoreBackend, StoreCallContext } from "../../storeapi/server.ts";
import type {
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  StoreInfo,
} from "../../storeapi/codec.ts";

/** A StoreAPI backend with no data that records each call's tenant (Series, label names, label values). */
export class TenantRecorder implements StoreBackend {
  readonly tenants: (string | undefined)[] = [];
  info(): Promise<StoreInfo> {
    return Promise.resolve({ componentType: "store", labelSets: [], minTime: 0, maxTime: 10 });
  }
  // deno-lint-ignore require-yield
  async *series(
    _r: SeriesRequest,
    _s: AbortSignal,
    call?: StoreCallContext,
  ): AsyncIterable<SeriesItem> {
    this.tenants.push(call?.tenant);
  }
  labelNames(_r: LabelNamesRequest, _s: AbortSignal, call?: StoreCallContext) {
    this.tenants.push(call?.tenant);
    return Promise.resolve({ names: [], warnings: [] });
  }
  labelValues(_r: LabelValuesRequest, _s: AbortSignal, call?: StoreCallContext) {
    this.tenants.push(call?.tenant);
    return Promise.resolve({ values: [], warnings: [] });
  }
}
