//! [`Catalog`] over DummyJSON's products API.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http::StatusCode;

use super::wire;
use crate::capability::Catalog;
use crate::domain::{
    Availability, Category, Currency, Product, ProductId, ProductPage, ProductQuery, Sku,
};
use crate::error::ProviderError;
use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

/// Only the fields [`Product`] is built from: DummyJSON otherwise sends reviews, dimensions
/// and metadata with every product (about 2 kB each).
const SELECT: &str =
    "id,title,description,category,brand,sku,price,rating,images,thumbnail,availabilityStatus";

const LIST: &str = "GET /products";
const SEARCH: &str = "GET /products/search";
const BY_CATEGORY: &str = "GET /products/category/{slug}";
const BY_ID: &str = "GET /products/{id}";
const CATEGORIES: &str = "GET /products/categories";

/// Error messages are passed on to callers; an HTML error page must not be.
const MAX_MESSAGE_CHARS: usize = 200;

/// The DummyJSON catalog. Prices are in USD (DummyJSON has no currency field).
pub struct DummyJson {
    transport: Arc<dyn Transport>,
}

impl DummyJson {
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        DummyJson { transport }
    }

    async fn get(
        &self,
        endpoint: &'static str,
        path_and_query: String,
    ) -> Result<UpstreamResponse, ProviderError> {
        self.transport
            .send(UpstreamRequest::get(endpoint, path_and_query))
            .await
    }

    async fn list(
        &self,
        endpoint: &'static str,
        path_and_query: String,
    ) -> Result<wire::ProductList, ProviderError> {
        let response = self.get(endpoint, path_and_query).await?;
        if !response.status.is_success() {
            // A list path that 404s is not a missing entity: DummyJSON answers unknown
            // categories with an empty 200, so a 404 here means a wrong base URL or route.
            if response.status == StatusCode::NOT_FOUND {
                return Err(ProviderError::BadResponse(format!(
                    "{endpoint} answered 404: {}",
                    error_message(&response)
                )));
            }
            return Err(failure(&response));
        }
        serde_json::from_slice(&response.body).map_err(|e| ProviderError::decode(endpoint, e))
    }
}

#[async_trait]
impl Catalog for DummyJson {
    async fn products(&self, query: &ProductQuery) -> Result<ProductPage, ProviderError> {
        let search = query
            .search
            .as_deref()
            .filter(|s| !s.trim_matches(wire::is_js_whitespace).is_empty());
        // An empty slug would address `/products/category/`, a redirect; blank means "any".
        let category = query.category.as_deref().filter(|c| !c.trim().is_empty());

        // DummyJSON reads `limit=0` as "everything"; ask for one and drop it instead, so a
        // zero-sized page still reports the total.
        let upstream_limit = query.limit.max(1);
        let paging = format!("limit={upstream_limit}&skip={}", query.offset);

        let (list, already_paged) = match (search, category) {
            (None, None) => (
                self.list(LIST, format!("/products?{paging}&select={SELECT}"))
                    .await?,
                true,
            ),
            (Some(q), None) => (
                self.list(
                    SEARCH,
                    format!(
                        "/products/search?q={}&{paging}&select={SELECT}",
                        query_value(q)
                    ),
                )
                .await?,
                true,
            ),
            (None, Some(slug)) => (
                self.list(
                    BY_CATEGORY,
                    format!(
                        "/products/category/{}?{paging}&select={SELECT}",
                        path_segment(slug)
                    ),
                )
                .await?,
                true,
            ),
            // DummyJSON cannot search within a category. A category is small (3 to 30 of
            // the 194 products), so fetch all of it in one call and apply the server's own
            // search rule and paging here; `total` then counts the matches, as it would.
            (Some(q), Some(slug)) => {
                let mut all = self
                    .list(
                        BY_CATEGORY,
                        format!(
                            "/products/category/{}?limit=0&select={SELECT}",
                            path_segment(slug)
                        ),
                    )
                    .await?;
                let needle = wire::normalize_search(q);
                all.products
                    .retain(|p| wire::search_matches(&needle, &p.title, &p.description));
                all.total = all.products.len() as u64;
                (all, false)
            }
        };

        let products = list.products.into_iter();
        let products: Vec<wire::Product> = if already_paged {
            products.take(query.limit).collect()
        } else {
            products.skip(query.offset).take(query.limit).collect()
        };
        Ok(ProductPage {
            products: products
                .into_iter()
                .map(into_domain)
                .collect::<Result<_, _>>()?,
            total: usize::try_from(list.total).unwrap_or(usize::MAX),
            offset: query.offset,
        })
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, ProviderError> {
        let response = self
            .get(BY_ID, format!("/products/{}?select={SELECT}", id.0))
            .await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status.is_success() {
            return Err(failure(&response));
        }
        let product: wire::Product =
            serde_json::from_slice(&response.body).map_err(|e| ProviderError::decode(BY_ID, e))?;
        if product.id != id.0 {
            return Err(ProviderError::BadResponse(format!(
                "{BY_ID}: asked for product {id}, got {}",
                product.id
            )));
        }
        into_domain(product).map(Some)
    }

    async fn categories(&self) -> Result<Vec<Category>, ProviderError> {
        let response = self.get(CATEGORIES, "/products/categories".into()).await?;
        if !response.status.is_success() {
            return Err(failure(&response));
        }
        let categories: Vec<wire::Category> = serde_json::from_slice(&response.body)
            .map_err(|e| ProviderError::decode(CATEGORIES, e))?;
        Ok(categories
            .into_iter()
            .map(|c| match c {
                wire::Category::Entry { slug, name } => Category { slug, name },
                wire::Category::Slug(slug) => Category {
                    name: wire::category_name(&slug),
                    slug,
                },
            })
            .collect())
    }
}

fn into_domain(p: wire::Product) -> Result<Product, ProviderError> {
    let availability = match p.availability_status.as_str() {
        wire::IN_STOCK => Availability::InStock,
        wire::LOW_STOCK => Availability::LowStock,
        wire::OUT_OF_STOCK => Availability::OutOfStock,
        other => {
            return Err(ProviderError::BadResponse(format!(
                "product {}: unknown availabilityStatus `{other}`",
                p.id
            )));
        }
    };
    Ok(Product {
        id: ProductId(p.id),
        title: p.title,
        description: p.description,
        category: p.category,
        brand: p.brand,
        sku: Sku(p.sku),
        price: p.price,
        price_currency: Currency::USD,
        rating: p.rating,
        images: p.images,
        thumbnail: p.thumbnail,
        availability,
    })
}

/// Maps a non-2xx answer that the call did not handle itself.
fn failure(response: &UpstreamResponse) -> ProviderError {
    let retry_after = response
        .retry_after()
        .or_else(|| rate_limit_reset(response));
    ProviderError::from_status(response.status, error_message(response), retry_after)
}

/// DummyJSON's `x-ratelimit-reset` (epoch seconds), as a wait: the header that is verified on
/// the real API, where `Retry-After` on its 429 is not.
fn rate_limit_reset(response: &UpstreamResponse) -> Option<Duration> {
    if response.status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let reset = response
        .headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(Duration::from_secs(reset).saturating_sub(now))
}

/// The `message` of a DummyJSON error body, or the status text when the body is not one
/// (an HTML 404 page, a proxy's error).
fn error_message(response: &UpstreamResponse) -> String {
    match serde_json::from_slice::<wire::ErrorBody>(&response.body) {
        Ok(body) => body.message.chars().take(MAX_MESSAGE_CHARS).collect(),
        Err(_) => format!(
            "HTTP {} {}",
            response.status.as_u16(),
            response.status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
    }
}

/// A query value, `application/x-www-form-urlencoded` (Express's `qs` reads `+` as a space).
fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A path segment: everything but RFC 3986 unreserved characters percent-encoded, so a slug
/// can never add a path segment or a query.
fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
