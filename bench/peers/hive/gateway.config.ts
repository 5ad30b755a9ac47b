// Hive Gateway config for Switchyard's benchmark. start.sh copies it into bench/.peers/hive/ so
// that `@graphql-hive/gateway` resolves from the node_modules installed there.
//
// CACHE=on  -> response caching (whole GraphQL results) + HTTP caching of upstream responses.
// CACHE=off -> neither. Inbound in-flight deduplication, upstream retry and timeout are on
//              either way; the batched stock lookup is in the supergraph (mesh.config.ts).
//
// Storage: no `cache` is set, so the CLI uses its default (LocalForage, which has no driver on
// Node and falls back to @graphql-mesh/cache-inmemory-lru: an in-process LRU of 1000 entries,
// shared by the two caching plugins). That bound keeps memory flat under 100k distinct queries.
import { defineConfig, useHttpCache } from '@graphql-hive/gateway';

const cacheOn = (process.env.CACHE ?? 'off').toLowerCase() === 'on';

export const gatewayConfig = defineConfig({
  // One process: the caller reads this PID's RSS/CPU, and the 2 cores are shared with the
  // sandbox and the load generator. (The CLI default is --fork 1 too.)
  fork: 1,
  host: '127.0.0.1',
  // GraphiQL/landing page are of no use to a benchmark.
  graphiql: false,
  landingPage: false,
  // Logs at `info` print one line per request under load; keep warnings and errors only.
  logging: 'warn',

  // "if multiple identical requests are received by the gateway while the first one is still
  // being processed, only the first request will be executed and the rest will wait for its
  // result" (gateway-runtime docs). Off by default; the REST transport has no outbound
  // in-flight dedupe of its own (that one exists only for GraphQL-over-HTTP subgraphs).
  inboundInflightRequestDeduplication: true,

  // "If the upstream is using the fetch, the request will be retried only if the status code is
  // 429, 5XX, or if the Retry-After header is present in the response. If the Retry-After header
  // is present, the delay between retries will respect it" (docs: Upstream reliability).
  // Two attempts in all, 100 ms first delay: the same budget as Switchyard's defaults
  // (max_attempts = 2, base_ms = 100) so that the comparison is about the gateways, not the knobs.
  upstreamRetry: { maxRetries: 1, retryDelay: 100 },
  // Per upstream attempt, as Switchyard's timeout_ms = 2000.
  upstreamTimeout: 2000,
  // By default the gateway merges all calls to one subgraph within a request into ONE
  // execution (@graphql-tools/batch-execute); for a REST source that saves no HTTP call, but the
  // retry and timeout plugins then wrap the merged execution: measured, one failed review call
  // out of 20 re-ran all 20 or none, depending on which response came last. Off, each REST call
  // is its own execution and is retried alone. The inventory batch is a different mechanism
  // (batch delegation of @resolveTo keysArg) and stays one call per query.
  __experimental__batchExecution: false,

  ...(cacheOn
    ? {
        // Whole-result cache shared by all clients (public data: no session). The plugin lowers
        // each entry's TTL to the smallest upstream Cache-Control max-age seen while building it,
        // so a storefront page lives 5 s (inventory says max-age=5) and a search page 300 s.
        responseCaching: {
          session: () => null,
          ttl: 300_000,
        },
        // "Most of JavaScript runtimes except browsers don't respect HTTP caching headers by
        // default. But you can enable HTTP caching in your Hive Gateway by using the HTTP caching
        // plugin" (docs: HTTP caching): rates (max-age=86400), reviews (300) and stock (5) are
        // then served from the cache when a response-cache miss rebuilds a page.
        plugins: (ctx) => [useHttpCache({ ...ctx })],
      }
    : {}),
});
