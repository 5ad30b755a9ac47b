//! The public GraphQL schema: a storefront over the providers. Root fields call the
//! capability traits; nested fields that another provider feeds go through per-request
//! DataLoaders ([`loaders`]) so that one request asks each provider once per batch, and are
//! nullable so that a failing provider nulls only its own fields ([`errors`]).

mod connection;
pub mod errors;
pub mod limits;
pub mod loaders;
mod money;
mod product;
pub mod provider_status;
mod query;
mod reviews;
mod shedding;
pub mod stale;
mod stock;
pub mod tick;
mod tracing;

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use providers::{Catalog, ExchangeRates, Inventory, Reviews};

use crate::upstream::Upstreams;

pub use money::Currency;
pub use query::Query;

pub type StorefrontSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The providers behind the schema, by capability.
#[derive(Clone)]
pub struct Providers {
    pub catalog: Arc<dyn Catalog>,
    pub inventory: Arc<dyn Inventory>,
    pub reviews: Arc<dyn Reviews>,
    pub fx: Arc<dyn ExchangeRates>,
    /// How many single-entity calls a loader runs at once for providers without a batch
    /// endpoint (catalog by id, reviews per product).
    pub catalog_fan_out: usize,
    pub reviews_fan_out: usize,
    /// Fetches in flight, shared by all requests.
    pub in_flight: Arc<loaders::InFlight>,
    /// The shared entity caches.
    pub caches: Arc<loaders::Caches>,
    /// Each provider's breaker, quota and last error.
    pub upstreams: Arc<Upstreams>,
    /// Fields shed first when their provider's quota runs low (`Type.field`).
    pub optional_fields: Arc<HashSet<String>>,
}

/// The schema over `providers`. The production profile hides the schema: no introspection,
/// no "Did you mean" suggestions in validation errors.
pub fn build_schema(providers: Providers, options: &SchemaOptions) -> StorefrontSchema {
    let mut builder = Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(providers)
        .data(query::ListSizeCap(options.max_list_size));
    if options.operation_spans {
        builder = builder.extension(tracing::OperationSpans);
    }
    if !options.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// How the schema is served.
#[derive(Debug, Clone, Copy)]
pub struct SchemaOptions {
    /// Introspection and field suggestions (off in the production profile).
    pub introspection: bool,
    /// The largest `first` a list takes (`limits.max_list_size`).
    pub max_list_size: u32,
    /// Operation and resolver spans. Any extension sends every field through async-graphql's
    /// extension path (about a fifth of a warm storefront query's time), so the gateway keeps
    /// a second schema with them for the requests whose trace is sampled.
    pub operation_spans: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            introspection: true,
            max_list_size: query::MAX_PAGE as u32,
            operation_spans: false,
        }
    }
}

/// The schema's SDL, as committed in `schema/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}
