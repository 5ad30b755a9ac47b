//! Per-request DataLoaders: every key that one execution tick asks for becomes one batch
//! (see [`ExecutionTick`]). Providers with a batch endpoint get it split to their batch size;
//! providers without one get the keys fanned out with bounded concurrency. Below the loaders,
//! the shared entity caches answer what they can (`through_cache.rs`, `caches.rs`) and
//! [`InFlight`] makes loads of the same key share one fetch, within and across requests.
//! Each key's value is its own `Result`, so one failed call fails only the fields that
//! needed it. `entities.rs` holds one loader per entity.

mod caches;
mod entities;
mod through_cache;

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache};
use futures_util::{StreamExt, stream};
use providers::domain::{
    Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage, ReviewPageRequest,
    Sku, Stock,
};

pub use caches::{Caches, reviews_prefix};
pub use entities::{PageLoader, ProductLoader, RatesLoader, ReviewsLoader, StockLoader};

use super::Providers;
use super::errors::ProviderFailure;
use super::stale::StaleReport;
use super::tick::ExecutionTick;
use crate::upstream::deadline::Deadline;
use crate::upstream::single_flight::SingleFlight;
use through_cache::RequestMemo;

pub type Loaded<T> = Result<T, ProviderFailure>;

/// Fetches in flight, by entity: shared by all requests.
#[derive(Default)]
pub struct InFlight {
    pages: Arc<SingleFlight<ProductQuery, Loaded<ProductPage>>>,
    products: Arc<SingleFlight<ProductId, Loaded<Product>>>,
    stock: Arc<SingleFlight<Sku, Loaded<Stock>>>,
    reviews: Arc<SingleFlight<ReviewPageRequest, Loaded<ReviewPage>>>,
    rates: Arc<SingleFlight<Currency, Loaded<Rates>>>,
}

/// The loaders of one request; cached for the request, so a key is fetched at most once.
pub struct Loaders {
    pub pages: DataLoader<PageLoader, HashMapCache>,
    pub products: DataLoader<ProductLoader, HashMapCache>,
    pub stock: DataLoader<StockLoader, HashMapCache>,
    pub reviews: DataLoader<ReviewsLoader, HashMapCache>,
    pub rates: DataLoader<RatesLoader, HashMapCache>,
    /// What this request was served from expired cache entries.
    pub stale: Arc<StaleReport>,
}

impl Loaders {
    /// Loaders whose batches close on `tick`.
    pub fn new(providers: &Providers, tick: &ExecutionTick) -> Self {
        let stale = Arc::new(StaleReport::default());
        let p = || providers.clone();
        Loaders {
            pages: on_tick(
                PageLoader {
                    providers: p(),
                    memo: RequestMemo::default(),
                    stale: stale.clone(),
                },
                tick,
            ),
            products: on_tick(
                ProductLoader {
                    providers: p(),
                    memo: RequestMemo::default(),
                    stale: stale.clone(),
                },
                tick,
            ),
            stock: on_tick(
                StockLoader {
                    providers: p(),
                    memo: RequestMemo::default(),
                    stale: stale.clone(),
                },
                tick,
            ),
            reviews: on_tick(
                ReviewsLoader {
                    providers: p(),
                    memo: RequestMemo::default(),
                    stale: stale.clone(),
                },
                tick,
            ),
            rates: on_tick(
                RatesLoader {
                    providers: p(),
                    memo: RequestMemo::default(),
                    stale: stale.clone(),
                },
                tick,
            ),
            stale,
        }
    }
}

/// A DataLoader whose batches close on `tick` (public for `benches/hot_paths.rs` only).
#[doc(hidden)]
pub fn on_tick<L: Send + Sync + 'static>(
    loader: L,
    tick: &ExecutionTick,
) -> DataLoader<L, HashMapCache> {
    let tick = tick.clone();
    DataLoader::with_cache(
        loader,
        move |batch| {
            let tick = tick.clone();
            // The span that asked for the batch's first key: the batch's span is its child.
            let parent = tracing::Span::current();
            tokio::spawn(Deadline::carry(async move {
                tick.idle().await;
                let span = crate::telemetry::spans::batch::<L>(&parent);
                tracing::Instrument::instrument(batch, span).await
            }))
        },
        HashMapCache::default(),
    )
    .delay(Duration::ZERO)
}

/// Calls `fetch` for each key, at most `concurrency` at once: for providers without a batch
/// endpoint.
async fn fan_out<K, V, F, Fut>(keys: Vec<K>, concurrency: usize, fetch: F) -> HashMap<K, V>
where
    K: Eq + Hash + Clone,
    F: Fn(K) -> Fut,
    Fut: Future<Output = V>,
{
    stream::iter(keys)
        .map(|key| {
            let value = fetch(key.clone());
            async move { (key, value.await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}
