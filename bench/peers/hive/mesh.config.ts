// GraphQL Mesh Compose config: one OpenAPI source per REST upstream, joined with @resolveTo.
// start.sh copies this file into bench/.peers/hive/ (so that its imports resolve against the
// node_modules installed there) and runs `mesh-compose` in that folder; the spec paths below are
// relative to that working directory.
//
// Nothing environment-specific is baked into the supergraph: base URLs and credentials are
// `{env.X}` templates that the REST transport interpolates on every upstream call.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

const spec = (file: string) => `../../peers/hive/openapi/${file}`;

// Non-2xx response schemas would otherwise turn every field into a union of the success and
// error bodies (an upstream 503 would be *data*); ignoring them makes a failed call a GraphQL
// error on that field, which is the partial-data behaviour the benchmark compares.
const common = { ignoreErrorResponses: true };

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadOpenAPISubgraph('Catalog', {
        ...common,
        source: spec('catalog.openapi.yaml'),
        endpoint: '{env.CATALOG_URL}',
      }),
    },
    {
      sourceHandler: loadOpenAPISubgraph('Fx', {
        ...common,
        source: spec('frankfurter.openapi.yaml'),
        endpoint: '{env.FX_URL}',
      }),
    },
    {
      sourceHandler: loadOpenAPISubgraph('Inventory', {
        ...common,
        source: spec('inventory.openapi.yaml'),
        endpoint: '{env.INVENTORY_URL}',
        // Mesh cannot run the OAuth2 client-credentials flow: the caller passes a token.
        operationHeaders: { Authorization: 'Bearer {env.INVENTORY_TOKEN}' },
      }),
    },
    {
      sourceHandler: loadOpenAPISubgraph('Reviews', {
        ...common,
        source: spec('reviews.openapi.yaml'),
        endpoint: '{env.REVIEWS_URL}',
        operationHeaders: { 'X-Api-Key': '{env.REVIEWS_API_KEY}' },
      }),
    },
  ],
  additionalTypeDefs: /* GraphQL */ `
    extend type Product {
      # Batched: all products' SKUs of one query level go to ONE /v2/stock?skus=a,b,c call.
      # valueKeyField matches each item to its key by its sku instead of by position, so the
      # items the upstream drops into "missing" cannot shift the others onto wrong products.
      inventory: StockItem
        @resolveTo(
          sourceName: "Inventory"
          sourceTypeName: "Query"
          sourceFieldName: "v2_stock"
          keyField: "sku"
          keysArg: "skus"
          result: "items"
          valueKeyField: "sku"
        )
      # No batch endpoint upstream: one call per product (1 + N).
      reviews(limit: Int = 3): v1_products_by_productId_reviews_200_response
        @resolveTo(
          sourceName: "Reviews"
          sourceTypeName: "Query"
          sourceFieldName: "v1_products_by_productId_reviews"
          requiredSelectionSet: "{ id }"
          sourceArgs: { productId: "{root.id}", limit: "{args.limit}" }
        )
    }
  `,
});
