//! The loaders, one per entity: what each fetches from its provider, and how.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use providers::domain::{
    Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage, ReviewPageRequest,
    Sku, Stock,
};

use super::through_cache::{RequestMemo, through_cache};
use super::{Loaded, fan_out};
use crate::graphql::Providers;
use crate::graphql::errors::ProviderFailure;
use crate::graphql::stale::StaleReport;
use crate::upstream::freshness;

/// Pages of the catalog's product list, by what they ask for.
pub struct PageLoader {
    pub(super) providers: Providers,
    pub(super) memo: RequestMemo<ProductQuery, Loaded<ProductPage>>,
    pub(super) stale: Arc<StaleReport>,
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
            &p.upstreams,
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
    pub(super) providers: Providers,
    pub(super) memo: RequestMemo<ProductId, Loaded<Product>>,
    pub(super) stale: Arc<StaleReport>,
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
            &p.upstreams,
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
    pub(super) providers: Providers,
    pub(super) memo: RequestMemo<Sku, Loaded<Stock>>,
    pub(super) stale: Arc<StaleReport>,
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
            &p.upstreams,
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
    pub(super) providers: Providers,
    pub(super) memo: RequestMemo<ReviewPageRequest, Loaded<ReviewPage>>,
    pub(super) stale: Arc<StaleReport>,
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
            &p.upstreams,
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
    pub(super) providers: Providers,
    pub(super) memo: RequestMemo<Currency, Loaded<Rates>>,
    pub(super) stale: Arc<StaleReport>,
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
                        let rates = fx
                            .latest(base)
                            .await
                            .map_err(|e| ProviderFailure::new("frankfurter", e))?;
                        // Rates stay current until the provider publishes the next ones.
                        if let Some(next) = rates.next_update {
                            let left = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                            freshness::note(left);
                        }
                        Ok(rates)
                    }
                })
                .await
            }
        };
        let p = &self.providers;
        Ok(through_cache(
            "rates",
            "frankfurter",
            &p.upstreams,
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
