//! What the gateway asks of providers, independent of which vendor answers.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::domain::{
    Category, Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage,
    ReviewPageRequest, Sku, Stock,
};
use crate::error::ProviderError;

#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// One page of products, optionally narrowed by category or a search text.
    async fn products(&self, query: &ProductQuery) -> Result<ProductPage, ProviderError>;
    /// One product; `Ok(None)` when the catalog does not have it.
    async fn product(&self, id: ProductId) -> Result<Option<Product>, ProviderError>;
    async fn categories(&self) -> Result<Vec<Category>, ProviderError>;
}

#[async_trait]
pub trait Inventory: Send + Sync + 'static {
    /// The most SKUs one [`Inventory::stock`] call may carry.
    fn max_batch(&self) -> usize;
    /// Stock for at most [`Inventory::max_batch`] SKUs; SKUs the inventory does not know are
    /// absent from the map.
    async fn stock(&self, skus: &[Sku]) -> Result<HashMap<Sku, Stock>, ProviderError>;
}

#[async_trait]
pub trait Reviews: Send + Sync + 'static {
    /// One page of a product's reviews, with the summary of all of them.
    async fn reviews(&self, request: &ReviewPageRequest) -> Result<ReviewPage, ProviderError>;
}

#[async_trait]
pub trait ExchangeRates: Send + Sync + 'static {
    /// The latest rates from `base` to every currency the provider has.
    async fn latest(&self, base: Currency) -> Result<Rates, ProviderError>;
}
