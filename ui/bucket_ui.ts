// The bucket web UI of `thanos compact`, `thanos store` and `thanos tools bucket web` (Thanos's
// block viewer, https://thanos.io/tip/components/tools.md/#bucket-web): the blocks API of a
// `GlobalBlocksView` (block/blocks_view.ts) and the embedded UI with its pages — `/blocks`
// (the bucket's blocks) and `/loaded` (the role's own: the compactor's last sync, the store
// gateway's loaded blocks), as Thanos's React app offers them per component.

import type { Route } from "../server/http.ts";
import type { GlobalBlocksView } from "../block/blocks_view.ts";
import { uiRoutes } from "./routes.ts";

const BUCKET_UI_TITLES = { compact: "Compact", store: "Store", bucket: "Bucket" };

/** Options of {@link bucketUiRoutes}. */
export interface BucketUiOptions {
  /** `--web.route-prefix` as `/prefix` or "" (the HTTP server mounts the routes under it). */
  routePrefix: string;
  externalPrefix?: string;
  prefixHeader?: string;
  /** `compact`, `store` or `bucket` (`tools bucket web`): page title, pages and nav. */
  component: "compact" | "store" | "bucket";
}

/**
 * Routes outside the route prefix: `/` redirects to `<prefix>/` (as Thanos's `tools bucket
 * web`); none without a prefix.
 */
export function bucketUiRootRedirect(routePrefix: string): Route[] {
  if (routePrefix === "") return [];
  const to = `${routePrefix}/`;
  return [{
    method: ["GET", "HEAD"],
    path: "/",
    name: "/",
    handler: () => new Response(null, { status: 302, headers: { location: to } }),
  }];
}

/** The API and UI routes of the bucket UI, relative to the route prefix. */
export function bucketUiRoutes(view: GlobalBlocksView, opts: BucketUiOptions): Route[] {
  return [
    ...view.routes(),
    ...uiRoutes({
      routePrefix: opts.routePrefix,
      externalPrefix: opts.externalPrefix,
      prefixHeader: opts.prefixHeader,
      component: opts.component,
      title: `Thanos | ${BUCKET_UI_TITLES[opts.component]}`,
    }),
  ];
}
