//! Per-request DataLoaders: every key that one execution tick asks for becomes one batch
//! (see [`ExecutionTick`]). Providers with a batch endpoint get it split to their batch size;
//! providers without one get the keys fanned out with bounded concurrency. Below the loaders,
//! [`InFlight`] makes loads of the same key share one fetch, within and across requests.
//! Each key's value is its own `Result`, so one failed call fails only the fields that
//! needed it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::{StreamExt, stream};
use providers::domain::{
    Currency, Product, ProductId, Rates, ReviewPage, ReviewPageRequest, Sku, Stock,
};

use super::Providers;
use super::errors::ProviderFailure;
use super::tick::ExecutionTick;
use crate::upstream::deadline::Deadline;
use crate::upstream::single_flight::SingleFlight;

pub type Loaded<T> = Result<T, ProviderFailure>;

/// Fetches in flight, by entity: shared by all requests.
#[derive(Default)]
pub struct InFlight {
    products: SingleFlight<ProductId, Loaded<Option<Product>>>,
    stock: SingleFlight<Sku, Loaded<Stock>>,
    reviews: SingleFlight<ReviewPageRequest, Loaded<ReviewPage>>,
    rates: SingleFlight<Currency, Loaded<Rates>>,
}

/// The loaders of one request; cached for the request, so a key is fetched at most once.
pub struct Loaders {
    pub products: DataLoader<ProductLoader, HashMapCache>,
    pub stock: DataLoader<StockLoader, HashMapCache>,
    pub reviews: DataLoader<ReviewsLoader, HashMapCache>,
    pub rates: DataLoader<RatesLoader, HashMapCache>,
}

impl Loaders {
    /// Loaders whose batches close on `tick`.
    pub fn new(providers: &Providers, tick: &ExecutionTick) -> Self {
        Loaders {
            products: on_tick(ProductLoader(providers.clone()), tick),
            stock: on_tick(StockLoader(providers.clone()), tick),
            reviews: on_tick(ReviewsLoader(providers.clone()), tick),
            rates: on_tick(RatesLoader(providers.clone()), tick),
        }
    }
}

fn on_tick<L: Send + Sync + 'static>(
    loader: L,
    tick: &ExecutionTick,
) -> DataLoader<L, HashMapCache> {
    let tick = tick.clone();
    DataLoader::with_cache(
        loader,
        move |batch| {
            let tick = tick.clone();
            tokio::spawn(Deadline::carry(async move {
                tick.idle().await;
                batch.await
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

/// Catalog products by id: DummyJSON has no batch-by-ids endpoint, so one call per id.
pub struct ProductLoader(Providers);

impl Loader<ProductId> for ProductLoader {
    type Value = Loaded<Option<Product>>;
    type Error = Infallible;

    async fn load(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Self::Value>, Infallible> {
        let catalog = self.0.catalog.clone();
        let concurrency = self.0.catalog_fan_out;
        Ok(self
            .0
            .in_flight
            .products
            .load_many(ids, move |ids| async move {
                fan_out(ids, concurrency, |id| {
                    let catalog = catalog.clone();
                    async move {
                        catalog
                            .product(id)
                            .await
                            .map_err(|e| ProviderFailure::new("catalog", e))
                    }
                })
                .await
            })
            .await)
    }
}

/// Stock by SKU, in batches of the inventory's maximum size. Unknown SKUs are absent.
pub struct StockLoader(Providers);

impl Loader<Sku> for StockLoader {
    type Value = Loaded<Stock>;
    type Error = Infallible;

    async fn load(&self, skus: &[Sku]) -> Result<HashMap<Sku, Self::Value>, Infallible> {
        let inventory = self.0.inventory.clone();
        Ok(self
            .0
            .in_flight
            .stock
            .load_many(skus, move |skus| async move {
                let chunks: Vec<Vec<Sku>> = skus
                    .chunks(inventory.max_batch().max(1))
                    .map(<[Sku]>::to_vec)
                    .collect();
                let results = fan_out(chunks, 4, |chunk| {
                    let inventory = inventory.clone();
                    async move { inventory.stock(&chunk).await }
                })
                .await;
                let mut out = HashMap::with_capacity(skus.len());
                for (chunk, result) in results {
                    match result {
                        Ok(found) => out.extend(found.into_iter().map(|(sku, s)| (sku, Ok(s)))),
                        Err(e) => {
                            let failure = ProviderFailure::new("inventory", e);
                            out.extend(chunk.into_iter().map(|sku| (sku, Err(failure.clone()))));
                        }
                    }
                }
                out
            })
            .await)
    }
}

/// Review pages: the vendor has no batch endpoint, so one call per product and page.
pub struct ReviewsLoader(Providers);

impl Loader<ReviewPageRequest> for ReviewsLoader {
    type Value = Loaded<ReviewPage>;
    type Error = Infallible;

    async fn load(
        &self,
        requests: &[ReviewPageRequest],
    ) -> Result<HashMap<ReviewPageRequest, Self::Value>, Infallible> {
        let reviews = self.0.reviews.clone();
        let concurrency = self.0.reviews_fan_out;
        Ok(self
            .0
            .in_flight
            .reviews
            .load_many(requests, move |requests| async move {
                fan_out(requests, concurrency, |request| {
                    let reviews = reviews.clone();
                    async move {
                        reviews
                            .reviews(&request)
                            .await
                            .map_err(|e| ProviderFailure::new("reviews", e))
                    }
                })
                .await
            })
            .await)
    }
}

/// Exchange rates by base currency: one call per base.
pub struct RatesLoader(Providers);

impl Loader<Currency> for RatesLoader {
    type Value = Loaded<Rates>;
    type Error = Infallible;

    async fn load(&self, bases: &[Currency]) -> Result<HashMap<Currency, Self::Value>, Infallible> {
        let fx = self.0.fx.clone();
        Ok(self
            .0
            .in_flight
            .rates
            .load_many(bases, move |bases| async move {
                fan_out(bases, 4, |base| {
                    let fx = fx.clone();
                    async move {
                        // Both FX providers failing surfaces the primary's error (fx::Failover).
                        fx.latest(base)
                            .await
                            .map_err(|e| ProviderFailure::new("frankfurter", e))
                    }
                })
                .await
            })
            .await)
    }
}
