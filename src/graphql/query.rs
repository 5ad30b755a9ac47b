//! The root query.

use async_graphql::{Context, ID, Object, SimpleObject};
use providers::domain::{self, ProductId, ProductQuery};

use super::Providers;
use super::connection::{PageInfo, offset_after, offset_cursor};
use super::errors::{ProviderFailure, bad_user_input};
use super::loaders::Loaders;
use super::money::{Currency, ExchangeRates};
use super::product::{Category, Product};
use super::provider_status::{self, ProviderStatus};
use super::shedding::shed_if_optional;

/// Products on a page unless `first` says otherwise.
pub const DEFAULT_PAGE: i32 = 20;
/// The most products one page may hold; larger `first` values are capped to it.
pub const MAX_PAGE: i32 = 100;

/// The largest `first` the gateway's limits allow (`limits.max_list_size`).
pub struct ListSizeCap(pub u32);

pub struct Query;

#[derive(SimpleObject)]
pub struct ProductEdge {
    pub node: Product,
    pub cursor: String,
}

#[derive(SimpleObject)]
pub struct ProductConnection {
    pub edges: Vec<ProductEdge>,
    pub page_info: PageInfo,
    /// Matches over all pages.
    pub total_count: i32,
}

#[Object]
impl Query {
    /// A page of products, optionally narrowed to a category (its slug) and a search text
    /// (matched case-insensitively against title and description). `first` is capped at 100.
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        category: Option<String>,
        search: Option<String>,
    ) -> async_graphql::Result<ProductConnection> {
        // An explicit null asks for the default page, as an omitted argument does.
        let first = first.unwrap_or(DEFAULT_PAGE);
        if first < 0 {
            return Err(bad_user_input("`first` must not be negative"));
        }
        // `limits.max_list_size` may lower the cap; the cost of the request counted it so.
        let cap = ctx.data_opt::<ListSizeCap>().map_or(MAX_PAGE, |c| {
            i32::try_from(c.0).unwrap_or(MAX_PAGE).min(MAX_PAGE)
        });
        let limit = first.min(cap) as usize;
        let offset = offset_after(after.as_deref())?;
        let query = ProductQuery {
            offset,
            limit,
            category: category.filter(|c| !c.trim().is_empty()),
            search: search.filter(|s| !s.trim().is_empty()),
        };
        let loaders = ctx.data::<Loaders>()?;
        let Ok(page) = loaders.pages.load_one(query.clone()).await;
        let Some(page) = page else {
            return Err(bad_user_input("the catalog has no such list"));
        };
        let page = page?;
        loaders.stale.used(ctx, "pages", &query);
        let count = page.products.len();
        let edges: Vec<ProductEdge> = page
            .products
            .into_iter()
            .enumerate()
            .map(|(i, p)| ProductEdge {
                node: Product(p),
                cursor: offset_cursor(offset + i),
            })
            .collect();
        Ok(ProductConnection {
            page_info: PageInfo {
                has_next_page: offset + count < page.total,
                has_previous_page: offset > 0,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: i32::try_from(page.total).unwrap_or(i32::MAX),
        })
    }

    /// One product by id; null when the catalog has no such product.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Product>> {
        let Ok(id) = id.parse::<ProductId>() else {
            return Ok(None);
        };
        let loaders = ctx.data::<Loaders>()?;
        let Ok(product) = loaders.products.load_one(id).await;
        match product {
            Some(result) => {
                let product = result?;
                loaders.stale.used(ctx, "products", &id);
                Ok(Some(Product(product)))
            }
            None => Ok(None),
        }
    }

    /// Every product category.
    async fn categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Category>> {
        let providers = ctx.data::<Providers>()?;
        let categories = providers
            .catalog
            .categories()
            .await
            .map_err(|e| ProviderFailure::new("catalog", e))?;
        Ok(categories
            .into_iter()
            .map(|c| Category {
                slug: c.slug,
                name: c.name,
            })
            .collect())
    }

    /// Each provider's health: breaker, quota, last error and, over the last `minutes` (1 to
    /// 15), its traffic and spend. Calls no provider.
    async fn providers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5)] minutes: i32,
    ) -> async_graphql::Result<Vec<ProviderStatus>> {
        provider_status::providers(ctx, minutes).await
    }

    /// The latest reference rates from `base`, optionally only to `symbols`.
    async fn exchange_rates(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Currency::USD")] base: Currency,
        symbols: Option<Vec<Currency>>,
    ) -> async_graphql::Result<Option<ExchangeRates>> {
        shed_if_optional(ctx, "Query.exchangeRates", "frankfurter")?;
        let loaders = ctx.data::<Loaders>()?;
        let base: domain::Currency = base.into();
        let Ok(rates) = loaders.rates.load_one(base).await;
        let Some(rates) = rates else {
            return Ok(None);
        };
        loaders.stale.used(ctx, "rates", &base);
        Ok(Some(ExchangeRates {
            rates: rates?,
            symbols: symbols.map(|s| s.into_iter().map(Into::into).collect()),
        }))
    }
}
