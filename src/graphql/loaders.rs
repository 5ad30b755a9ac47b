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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures_util::{StreamExt, stream};
use providers::ProviderError;
use providers::domain::{
    Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage, ReviewPageRequest,
    Sku, Stock,
};

use super::Providers;
use super::errors::ProviderFailure;
use super::stale::{StaleReport, Staleness};
use super::tick::ExecutionTick;
use crate::cache::entity::{CachePolicy, EntityCache, Lookup};
use crate::upstream::deadline::Deadline;
use crate::upstream::freshness;
use crate::upstream::single_flight::{Pending, SingleFlight};

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

/// The shared entity caches, one per entity (products, stock, review pages, rates).
pub struct Caches {
    pub pages: Arc<EntityCache<ProductQuery, ProductPage>>,
    pub products: Arc<EntityCache<ProductId, Product>>,
    pub stock: Arc<EntityCache<Sku, Stock>>,
    pub reviews: Arc<EntityCache<ReviewPageRequest, ReviewPage>>,
    pub rates: Arc<EntityCache<Currency, Rates>>,
}

impl Caches {
    /// One cache per entity, each bounded by `max_bytes`, with its provider's policy.
    pub fn new(max_bytes: u64, policy: impl Fn(&str) -> CachePolicy) -> Self {
        Caches {
            pages: Arc::new(EntityCache::new(
                "pages",
                policy("catalog"),
                max_bytes,
                weights::page,
            )),
            products: Arc::new(EntityCache::new(
                "products",
                policy("catalog"),
                max_bytes,
                weights::product,
            )),
            stock: Arc::new(EntityCache::new(
                "stock",
                policy("inventory"),
                max_bytes,
                weights::stock,
            )),
            reviews: Arc::new(EntityCache::new(
                "reviews",
                policy("reviews"),
                max_bytes,
                weights::review_page,
            )),
            rates: Arc::new(EntityCache::new(
                "rates",
                policy("frankfurter"),
                max_bytes,
                weights::rates,
            )),
        }
    }
}

/// Approximate heap and inline bytes of cached values, for the caches' memory bound.
mod weights {
    use std::mem::size_of;

    use providers::domain::{
        Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage,
        ReviewPageRequest, Sku, Stock,
    };
    use rust_decimal::Decimal;

    fn bytes(n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub fn product(_: &ProductId, p: &Product) -> u32 {
        let strings = p.title.len()
            + p.description.len()
            + p.category.len()
            + p.brand.as_ref().map_or(0, String::len)
            + p.sku.0.len()
            + p.thumbnail.len()
            + p.images
                .iter()
                .map(|i| i.len() + size_of::<String>())
                .sum::<usize>();
        bytes(size_of::<Product>() + strings)
    }

    pub fn page(query: &ProductQuery, page: &ProductPage) -> u32 {
        let products: u32 = page
            .products
            .iter()
            .map(|p| product(&p.id, p))
            .fold(0, u32::saturating_add);
        let query = query.category.as_ref().map_or(0, String::len)
            + query.search.as_ref().map_or(0, String::len);
        products.saturating_add(bytes(size_of::<ProductPage>() + query))
    }

    pub fn stock(sku: &Sku, s: &Stock) -> u32 {
        bytes(size_of::<Stock>() + sku.0.len() + s.sku.0.len() + s.warehouse.len())
    }

    pub fn review_page(_: &ReviewPageRequest, page: &ReviewPage) -> u32 {
        let reviews: usize = page
            .reviews
            .iter()
            .map(|r| {
                size_of::<providers::domain::Review>()
                    + r.id.len()
                    + r.title.as_ref().map_or(0, String::len)
                    + r.body.len()
                    + r.author.len()
            })
            .sum();
        bytes(size_of::<ReviewPage>() + reviews + page.next_cursor.as_ref().map_or(0, String::len))
    }

    pub fn rates(_: &Currency, r: &Rates) -> u32 {
        bytes(size_of::<Rates>() + r.rates.len() * size_of::<(Currency, Decimal)>())
    }
}

/// Errors after which an expired entry is served instead (stale-if-error): the provider
/// could not answer, not "the entity does not exist" nor "your arguments are wrong".
fn stale_if_error(error: &ProviderError) -> bool {
    !matches!(
        error,
        ProviderError::NotFound(_) | ProviderError::BadInput(_)
    )
}

/// Stores what a fetch returned: values, and a negative entry for keys the provider does not
/// have (absent from the answer, or NOT_FOUND).
fn store<K, T>(
    cache: &EntityCache<K, T>,
    keys: &[K],
    results: &HashMap<K, Loaded<T>>,
    freshness: Option<Duration>,
) where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    for key in keys {
        match results.get(key) {
            Some(Ok(value)) => cache.insert(key.clone(), value.clone(), freshness),
            Some(Err(f)) if matches!(f.error, ProviderError::NotFound(_)) => {
                cache.insert_not_found(key.clone())
            }
            Some(Err(_)) => {}
            None => cache.insert_not_found(key.clone()),
        }
    }
}

/// Loads `keys` of one entity: fresh cache entries answer at once; stale ones too, with one
/// background refresh per key (stale-while-revalidate); the rest are fetched (through this
/// request's memo and the shared single-flight) and stored; when that fetch fails, an expired
/// entry still within its max-stale age answers instead and is reported as stale. Keys the
/// provider does not have are absent.
#[allow(clippy::too_many_arguments)]
async fn through_cache<K, T, F, Fut>(
    entity: &'static str,
    provider: &'static str,
    cache: &Arc<EntityCache<K, T>>,
    memo: &RequestMemo<K, Loaded<T>>,
    flight: &Arc<SingleFlight<K, Loaded<T>>>,
    stale: &StaleReport,
    keys: &[K],
    fetch: F,
) -> HashMap<K, Loaded<T>>
where
    K: Eq + Hash + Clone + Send + Sync + std::fmt::Debug + 'static,
    T: Clone + Send + Sync + 'static,
    F: Fn(Vec<K>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = HashMap<K, Loaded<T>>> + Send + 'static,
{
    let mut out = HashMap::with_capacity(keys.len());
    let mut misses = Vec::new();
    let mut expired = HashMap::new();
    let mut refresh = Vec::new();
    for key in keys {
        match cache.lookup(key) {
            Lookup::Fresh(value) => {
                out.insert(key.clone(), Ok(value));
            }
            Lookup::Stale {
                value,
                refresh: mine,
                ..
            } => {
                out.insert(key.clone(), Ok(value));
                if mine {
                    refresh.push(key.clone());
                }
            }
            Lookup::Expired { value, age } => {
                misses.push(key.clone());
                expired.insert(key.clone(), (value, age));
            }
            Lookup::NotFound => {}
            Lookup::Miss => misses.push(key.clone()),
        }
    }
    let fetch_and_store = {
        let cache = cache.clone();
        move |keys: Vec<K>| {
            let (cache, fetch) = (cache.clone(), fetch.clone());
            async move {
                // Looked up again: a fetch that finished between this request's lookup and its
                // joining the single-flight has stored what it got.
                let mut results = HashMap::with_capacity(keys.len());
                let mut missing = Vec::new();
                for key in keys {
                    match cache.lookup(&key) {
                        Lookup::Fresh(value) => {
                            results.insert(key, Ok(value));
                        }
                        Lookup::NotFound => {}
                        _ => missing.push(key),
                    }
                }
                if !missing.is_empty() {
                    // What the upstream says of its answers' freshness wins when it says more.
                    let (fetched, freshness) = freshness::capture(fetch(missing.clone())).await;
                    store(&cache, &missing, &fetched, freshness);
                    results.extend(fetched);
                }
                results
            }
        }
    };
    if !refresh.is_empty() {
        // Not tied to this request: no deadline but the attempts' own timeouts.
        let (cache, flight, fetch) = (cache.clone(), flight.clone(), fetch_and_store.clone());
        tokio::spawn(async move {
            flight.load_many(&refresh, fetch).await;
            for key in &refresh {
                cache.refreshed(key);
            }
        });
    }
    if !misses.is_empty() {
        let fetched = memo.load(flight, &misses, fetch_and_store).await;
        serve_fetched(entity, provider, stale, misses, fetched, expired, &mut out);
    }
    // The response may be cached as long as the least fresh value it holds.
    for key in keys {
        stale.fresh_for(cache.freshness_left(key).unwrap_or_default());
    }
    out
}

/// Fetched values as they are, or an expired entry instead of a failure (stale-if-error).
fn serve_fetched<K, T>(
    entity: &'static str,
    provider: &'static str,
    stale: &StaleReport,
    misses: Vec<K>,
    fetched: HashMap<K, Loaded<T>>,
    mut expired: HashMap<K, (T, Duration)>,
    out: &mut HashMap<K, Loaded<T>>,
) where
    K: Eq + Hash + Clone + std::fmt::Debug,
    T: Clone,
{
    for key in misses {
        match fetched.get(&key) {
            Some(Ok(value)) => {
                out.insert(key, Ok(value.clone()));
            }
            Some(Err(failure)) => match expired.remove(&key) {
                Some((value, age)) if stale_if_error(&failure.error) => {
                    stale.served(
                        entity,
                        &key,
                        Staleness {
                            provider,
                            age,
                            reason: failure.error.code(),
                        },
                    );
                    out.insert(key, Ok(value));
                }
                _ => {
                    out.insert(key, Err(failure.clone()));
                }
            },
            None => {}
        }
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

/// Pages of the catalog's product list, by what they ask for.
pub struct PageLoader {
    providers: Providers,
    memo: RequestMemo<ProductQuery, Loaded<ProductPage>>,
    stale: Arc<StaleReport>,
}

impl Loader<ProductQuery> for PageLoader {
    type Value = Loaded<ProductPage>;
    type Error = Infallible;

    async fn load(
        &self,
        queries: &[ProductQuery],
    ) -> Result<HashMap<ProductQuery, Self::Value>, Infallible> {
        let catalog = self.providers.catalog.clone();
        let concurrency = self.providers.catalog_fan_out;
        let fetch = move |queries: Vec<ProductQuery>| {
            let catalog = catalog.clone();
            async move {
                fan_out(queries, concurrency, |query| {
                    let catalog = catalog.clone();
                    async move {
                        catalog
                            .products(&query)
                            .await
                            .map_err(|e| ProviderFailure::new("catalog", e))
                    }
                })
                .await
            }
        };
        let p = &self.providers;
        Ok(through_cache(
            "pages",
            "catalog",
            &p.caches.pages,
            &self.memo,
            &p.in_flight.pages,
            &self.stale,
            queries,
            fetch,
        )
        .await)
    }
}

/// Catalog products by id: DummyJSON has no batch-by-ids endpoint, so one call per id.
/// Products the catalog does not have are absent.
pub struct ProductLoader {
    providers: Providers,
    memo: RequestMemo<ProductId, Loaded<Product>>,
    stale: Arc<StaleReport>,
}

impl Loader<ProductId> for ProductLoader {
    type Value = Loaded<Product>;
    type Error = Infallible;

    async fn load(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Self::Value>, Infallible> {
        let catalog = self.providers.catalog.clone();
        let concurrency = self.providers.catalog_fan_out;
        let fetch = move |ids: Vec<ProductId>| {
            let catalog = catalog.clone();
            async move {
                let found = fan_out(ids, concurrency, |id| {
                    let catalog = catalog.clone();
                    async move { catalog.product(id).await }
                })
                .await;
                found
                    .into_iter()
                    .filter_map(|(id, result)| match result {
                        Ok(Some(product)) => Some((id, Ok(product))),
                        Ok(None) => None,
                        Err(e) => Some((id, Err(ProviderFailure::new("catalog", e)))),
                    })
                    .collect()
            }
        };
        let p = &self.providers;
        Ok(through_cache(
            "products",
            "catalog",
            &p.caches.products,
            &self.memo,
            &p.in_flight.products,
            &self.stale,
            ids,
            fetch,
        )
        .await)
    }
}

/// Stock by SKU, in batches of the inventory's maximum size. Unknown SKUs are absent.
pub struct StockLoader {
    providers: Providers,
    memo: RequestMemo<Sku, Loaded<Stock>>,
    stale: Arc<StaleReport>,
}

impl Loader<Sku> for StockLoader {
    type Value = Loaded<Stock>;
    type Error = Infallible;

    async fn load(&self, skus: &[Sku]) -> Result<HashMap<Sku, Self::Value>, Infallible> {
        let inventory = self.providers.inventory.clone();
        let fetch = move |skus: Vec<Sku>| {
            let inventory = inventory.clone();
            async move {
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
            }
        };
        let p = &self.providers;
        Ok(through_cache(
            "stock",
            "inventory",
            &p.caches.stock,
            &self.memo,
            &p.in_flight.stock,
            &self.stale,
            skus,
            fetch,
        )
        .await)
    }
}

/// Review pages: the vendor has no batch endpoint, so one call per product and page.
pub struct ReviewsLoader {
    providers: Providers,
    memo: RequestMemo<ReviewPageRequest, Loaded<ReviewPage>>,
    stale: Arc<StaleReport>,
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
        let fetch = move |requests: Vec<ReviewPageRequest>| {
            let reviews = reviews.clone();
            async move {
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
            }
        };
        let p = &self.providers;
        Ok(through_cache(
            "reviews",
            "reviews",
            &p.caches.reviews,
            &self.memo,
            &p.in_flight.reviews,
            &self.stale,
            requests,
            fetch,
        )
        .await)
    }
}

/// Exchange rates by base currency: one call per base.
pub struct RatesLoader {
    providers: Providers,
    memo: RequestMemo<Currency, Loaded<Rates>>,
    stale: Arc<StaleReport>,
}

impl Loader<Currency> for RatesLoader {
    type Value = Loaded<Rates>;
    type Error = Infallible;

    async fn load(&self, bases: &[Currency]) -> Result<HashMap<Currency, Self::Value>, Infallible> {
        let fx = self.providers.fx.clone();
        let fetch = move |bases: Vec<Currency>| {
            let fx = fx.clone();
            async move {
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
            }
        };
        let p = &self.providers;
        Ok(through_cache(
            "rates",
            "frankfurter",
            &p.caches.rates,
            &self.memo,
            &p.in_flight.rates,
            &self.stale,
            bases,
            fetch,
        )
        .await)
    }
}
