//! Products (catalog) and the fields other providers feed: price (FX), stock (inventory),
//! reviews (reviews vendor). Those fields are nullable: their provider failing nulls them
//! alone, with an error on their path.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use providers::domain::{self, ReviewPageRequest};

use super::errors::bad_user_input;
use super::loaders::Loaders;
use super::money::{Currency, Money};
use super::reviews::{ReviewConnection, ReviewSummary};
use super::shedding::shed_if_optional;
use super::stock::Stock;

/// Reviews shown with a product unless asked otherwise; `reviewSummary` asks for the same
/// page so that both fields cost one vendor call.
pub const DEFAULT_REVIEWS: i32 = 3;
/// The vendor's page size limit.
const MAX_REVIEWS: i32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "providers::domain::Availability")]
#[allow(clippy::enum_variant_names)] // IN_STOCK, LOW_STOCK, OUT_OF_STOCK: the catalog's own terms
pub enum Availability {
    InStock,
    LowStock,
    OutOfStock,
}

#[derive(SimpleObject)]
pub struct Category {
    /// URL-safe identifier, e.g. `home-decoration`; pass it to `products(category:)`.
    pub slug: String,
    pub name: String,
}

pub struct Product(pub domain::Product);

#[Object]
impl Product {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The category's slug.
    async fn category(&self) -> &str {
        &self.0.category
    }

    /// Absent for many products (the catalog does not know every brand).
    async fn brand(&self) -> Option<&str> {
        self.0.brand.as_deref()
    }

    /// Stock-keeping unit: the inventory's key for this product.
    async fn sku(&self) -> &str {
        &self.0.sku.0
    }

    /// Average customer rating in the catalog, 0 to 5.
    async fn rating(&self) -> f64 {
        self.0.rating
    }

    async fn images(&self) -> &[String] {
        &self.0.images
    }

    async fn thumbnail(&self) -> &str {
        &self.0.thumbnail
    }

    async fn availability(&self) -> Availability {
        self.0.availability.into()
    }

    /// The list price converted into `currency` at the latest reference rate (exact decimal
    /// arithmetic, rounded to the currency's minor unit). Null when no rate can be had.
    async fn price(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(Currency::USD)")] currency: Option<Currency>,
    ) -> async_graphql::Result<Option<Money>> {
        let list = domain::Money {
            amount: self.0.price,
            currency: self.0.price_currency,
        };
        // An explicit null asks for the default, as an omitted argument does.
        let to: domain::Currency = currency.unwrap_or(Currency::USD).into();
        if to == list.currency {
            return Ok(Some(Money(list)));
        }
        shed_if_optional(ctx, "Product.price", "frankfurter")?;
        let loaders = ctx.data::<Loaders>()?;
        let Ok(rates) = loaders.rates.load_one(list.currency).await;
        let Some(rates) = rates else {
            return Ok(None);
        };
        let rates = rates?;
        loaders.stale.used(ctx, "rates", &list.currency);
        match rates.rate(to) {
            Some(rate) => Ok(Some(Money(list.convert(to, rate)))),
            None => Err(bad_user_input(format!(
                "no {} rate from {} is published",
                to, list.currency
            ))),
        }
    }

    /// Stock in the warehouse; null when the inventory does not know this SKU.
    async fn stock(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Stock>> {
        shed_if_optional(ctx, "Product.stock", "inventory")?;
        let loaders = ctx.data::<Loaders>()?;
        let Ok(stock) = loaders.stock.load_one(self.0.sku.clone()).await;
        let stock = stock.transpose()?;
        if stock.is_some() {
            loaders.stale.used(ctx, "stock", &self.0.sku);
        }
        Ok(stock.map(Stock))
    }

    /// A page of reviews, newest first (`first` at most 20).
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<ReviewConnection>> {
        let first = first.unwrap_or(DEFAULT_REVIEWS);
        if !(1..=MAX_REVIEWS).contains(&first) {
            return Err(bad_user_input(format!(
                "`first` must be between 1 and {MAX_REVIEWS}"
            )));
        }
        shed_if_optional(ctx, "Product.reviews", "reviews")?;
        let after_cursor = after.is_some();
        let page = self.review_page(ctx, first, after).await?;
        Ok(page.map(|page| ReviewConnection { page, after_cursor }))
    }

    /// Count and average of all the product's reviews.
    async fn review_summary(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<ReviewSummary>> {
        shed_if_optional(ctx, "Product.reviewSummary", "reviews")?;
        let page = self.review_page(ctx, DEFAULT_REVIEWS, None).await?;
        Ok(page.map(|p| ReviewSummary::from(&p.summary)))
    }
}

impl Product {
    async fn review_page(
        &self,
        ctx: &Context<'_>,
        first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Option<domain::ReviewPage>> {
        let loaders = ctx.data::<Loaders>()?;
        let request = ReviewPageRequest {
            product: self.0.id,
            limit: first.unsigned_abs(),
            cursor: after,
        };
        let Ok(page) = loaders.reviews.load_one(request.clone()).await;
        let page = page.transpose()?;
        if page.is_some() {
            loaders.stale.used(ctx, "reviews", &request);
        }
        Ok(page)
    }
}
