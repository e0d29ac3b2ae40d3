// The HTTP side of the metrics (consul.api.http): a middleware that times every request the route
// table answers, labelled by the route's pattern (so "/v1/kv/*", never each key: the label set stays
// as small as the table). Requests no route matched (404s, the UI's files) are not timed.

import type { Context, MiddlewareHandler } from 'hono';

export interface HttpTimingSink {
  http(method: string, route: string, status: number, ms: number): void;
}

export interface RouteTiming {
  middleware: MiddlewareHandler;
  /** Called by a route's handler: the pattern this request matched. */
  matched(c: Context, pattern: string): void;
}

export function routeTiming(sink: HttpTimingSink): RouteTiming {
  const routes = new WeakMap<Context, string>();
  return {
    middleware: async (c, next) => {
      const t0 = performance.now();
      await next();
      const route = routes.get(c);
      if (route !== undefined) sink.http(c.req.method, route, c.res.status, performance.now() - t0);
    },
    matched: (c, pattern) => void routes.set(c, pattern),
  };
}
