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
use std::sync::Mutex;
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
use crate::upstream::single_flight::{Pending, SingleFlight};

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
            products: on_tick(
                ProductLoader {
                    providers: providers.clone(),
                    memo: RequestMemo::default(),
                },
                tick,
            ),
            stock: on_tick(
                StockLoader {
                    providers: providers.clone(),
                    memo: RequestMemo::default(),
                },
                tick,
            ),
            reviews: on_tick(
                ReviewsLoader {
                    providers: providers.clone(),
                    memo: RequestMemo::default(),
                },
                tick,
            ),
            rates: on_tick(
                RatesLoader {
                    providers: providers.clone(),
                    memo: RequestMemo::default(),
                },
                tick,
            ),
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

/// The fetches one request has joined, by key: asking again (another field, a later batch)
/// awaits the same fetch, even after it has finished and left [`InFlight`], where a new ask
/// would start a second one before the DataLoader's own cache is filled.
struct RequestMemo<K, V>(Mutex<HashMap<K, Pending<V>>>);

impl<K, V> Default for RequestMemo<K, V> {
    fn default() -> Self {
        RequestMemo(Mutex::default())
    }
}

impl<K, V> RequestMemo<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    async fn load<F, Fut>(&self, flight: &SingleFlight<K, V>, keys: &[K], fetch: F) -> HashMap<K, V>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = HashMap<K, V>> + Send + 'static,
    {
        let pending: Vec<(K, Pending<V>)> = {
            let mut memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let missing: Vec<K> = keys
                .iter()
                .filter(|k| !memo.contains_key(k))
                .cloned()
                .collect();
            if !missing.is_empty() {
                memo.extend(flight.join(&missing, fetch));
            }
            keys.iter()
                .filter_map(|k| memo.get(k).map(|p| (k.clone(), p.clone())))
                .collect()
        };
        let mut out = HashMap::with_capacity(pending.len());
        for (key, pending) in pending {
            if let Some(value) = pending.await {
                out.insert(key, value);
            }
        }
        out
    }
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
pub struct ProductLoader {
    providers: Providers,
    memo: RequestMemo<ProductId, Loaded<Option<Product>>>,
}

impl Loader<ProductId> for ProductLoader {
    type Value = Loaded<Option<Product>>;
    type Error = Infallible;

    async fn load(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Self::Value>, Infallible> {
        let catalog = self.providers.catalog.clone();
        let concurrency = self.providers.catalog_fan_out;
        Ok(self
            .memo
            .load(
                &self.providers.in_flight.products,
                ids,
                move |ids| async move {
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
                },
            )
            .await)
    }
}

/// Stock by SKU, in batches of the inventory's maximum size. Unknown SKUs are absent.
pub struct StockLoader {
    providers: Providers,
    memo: RequestMemo<Sku, Loaded<Stock>>,
}

impl Loader<Sku> for StockLoader {
    type Value = Loaded<Stock>;
    type Error = Infallible;

    async fn load(&self, skus: &[Sku]) -> Result<HashMap<Sku, Self::Value>, Infallible> {
        let inventory = self.providers.inventory.clone();
        Ok(self
            .memo
            .load(
                &self.providers.in_flight.stock,
                skus,
                move |skus| async move {
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
                                out.extend(
                                    chunk.into_iter().map(|sku| (sku, Err(failure.clone()))),
                                );
                            }
                        }
                    }
                    out
                },
            )
            .await)
    }
}

/// Review pages: the vendor has no batch endpoint, so one call per product and page.
pub struct ReviewsLoader {
    providers: Providers,
    memo: RequestMemo<ReviewPageRequest, Loaded<ReviewPage>>,
}

impl Loader<ReviewPageRequest> for ReviewsLoader {
    type Value = Loaded<ReviewPage>;
    type Error = Infallible;

    async fn load(
        &self,
        requests: &[ReviewPageRequest],
    ) -> Result<HashMap<ReviewPageRequest, Self::Value>, Infallible> {
        let reviews = self.providers.reviews.clone();
        let concurrency = self.providers.reviews_fan_out;
        Ok(self
            .memo
            .load(
                &self.providers.in_flight.reviews,
                requests,
                move |requests| async move {
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
                },
            )
            .await)
    }
}

/// Exchange rates by base currency: one call per base.
pub struct RatesLoader {
    providers: Providers,
    memo: RequestMemo<Currency, Loaded<Rates>>,
}

impl Loader<Currency> for RatesLoader {
    type Value = Loaded<Rates>;
    type Error = Infallible;

    async fn load(&self, bases: &[Currency]) -> Result<HashMap<Currency, Self::Value>, Infallible> {
        let fx = self.providers.fx.clone();
        Ok(self
            .memo
            .load(
                &self.providers.in_flight.rates,
                bases,
                move |bases| async move {
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
                },
            )
            .await)
    }
}
