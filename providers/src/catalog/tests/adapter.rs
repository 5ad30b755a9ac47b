//! The adapter on canned DummyJSON bodies, most of them recorded.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use rust_decimal::Decimal;

use super::{now_epoch_secs, page};
use crate::capability::Catalog;
use crate::catalog::{DummyJson, RATE_LIMITED_MESSAGE};
use crate::domain::{Availability, Category, Currency, ProductId, ProductQuery, Sku};
use crate::error::ProviderError;
use crate::transport::UpstreamResponse;
use crate::transport::testing::{FnTransport, json};

const SELECT: &str = "select=id,title,description,category,brand,sku,price,rating,images,thumbnail,availabilityStatus";

/// An adapter whose every request is answered with `response`.
fn answering(response: UpstreamResponse) -> (DummyJson, FnTransport) {
    let transport = FnTransport::new(move |_| Ok(response.clone()));
    (DummyJson::new(Arc::new(transport.clone())), transport)
}

fn with_header(
    mut response: UpstreamResponse,
    name: &'static str,
    value: &str,
) -> UpstreamResponse {
    response
        .headers
        .insert(name, HeaderValue::from_str(value).unwrap());
    response
}

#[tokio::test]
async fn a_list_page_reads_the_envelope_and_asks_only_for_the_domain_fields() {
    let (catalog, transport) = answering(json(200, fixture!("products-limit-2.json")));

    let page = catalog.products(&page(0, 2)).await.unwrap();

    assert_eq!(page.total, 194);
    assert_eq!(page.offset, 0);
    let ids: Vec<u64> = page.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [1, 2]);
    let first = &page.products[0];
    assert_eq!(first.title, "Essence Mascara Lash Princess");
    assert_eq!(first.category, "beauty");
    assert_eq!(first.brand.as_deref(), Some("Essence"));
    assert_eq!(first.sku, Sku("BEA-ESS-ESS-001".into()));
    assert_eq!(first.price, Decimal::new(999, 2));
    assert_eq!(first.price_currency, Currency::USD);
    assert_eq!(first.rating, 2.56);
    assert_eq!(first.availability, Availability::InStock);
    assert_eq!(first.images.len(), 1);
    assert!(first.thumbnail.ends_with("thumbnail.webp"));

    let sent = transport.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].endpoint, "GET /products");
    assert_eq!(
        sent[0].path_and_query,
        format!("/products?limit=2&skip=0&{SELECT}")
    );
    assert!(sent[0].idempotent);
}

#[tokio::test]
async fn the_envelope_limit_is_not_trusted() {
    // DummyJSON's `limit` is the count returned; a page that came back longer than asked is
    // cut to the size asked for.
    let (catalog, _) = answering(json(200, fixture!("products-limit-5.json")));
    let page = catalog.products(&page(0, 3)).await.unwrap();
    assert_eq!(page.products.len(), 3);
    assert_eq!(page.total, 194);
}

#[tokio::test]
async fn a_missing_brand_is_none() {
    let (catalog, _) = answering(json(200, fixture!("products-default.json")));
    let page = catalog.products(&page(0, 30)).await.unwrap();
    let groceries = page
        .products
        .iter()
        .find(|p| p.id == ProductId(16))
        .unwrap();
    assert_eq!(groceries.category, "groceries");
    assert_eq!(groceries.brand, None);
    assert_eq!(groceries.price, Decimal::new(199, 2));
}

#[tokio::test]
async fn integer_numbers_decode_like_fractions() {
    let body = fixture!("product-1.json")
        .replace("\"price\":9.99", "\"price\":10")
        .replace("\"discountPercentage\":10.48", "\"discountPercentage\":10")
        .replace("\"rating\":2.56", "\"rating\":4");
    assert!(body.contains("\"discountPercentage\":10,"));
    let (catalog, _) = answering(json(200, body));

    let product = catalog.product(ProductId(1)).await.unwrap().unwrap();
    assert_eq!(product.price, Decimal::from(10));
    assert_eq!(product.rating, 4.0);
}

#[tokio::test]
async fn a_product_by_id_asks_with_select() {
    let (catalog, transport) = answering(json(200, fixture!("product-1.json")));
    let product = catalog.product(ProductId(1)).await.unwrap().unwrap();
    assert_eq!(product.id, ProductId(1));
    let sent = transport.requests();
    assert_eq!(sent[0].endpoint, "GET /products/{id}");
    assert_eq!(sent[0].path_and_query, format!("/products/1?{SELECT}"));
}

#[tokio::test]
async fn a_missing_product_is_none() {
    let (catalog, _) = answering(json(404, fixture!("error-404-product-0.json")));
    assert_eq!(catalog.product(ProductId(0)).await, Ok(None));
}

#[tokio::test]
async fn a_product_with_another_id_is_a_bad_response() {
    let (catalog, _) = answering(json(200, fixture!("product-1.json")));
    let err = catalog.product(ProductId(2)).await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}

#[tokio::test]
async fn a_400_is_bad_input_with_dummyjsons_message() {
    let (catalog, _) = answering(json(400, fixture!("error-400-invalid-limit.json")));
    let err = catalog.products(&page(0, 5)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::BadInput("Invalid 'limit' - must be a number".into())
    );
}

#[tokio::test]
async fn a_429_is_rate_limited_with_retry_after() {
    let response = with_header(
        json(429, fixture!("error-429-rate-limited.json")),
        "retry-after",
        "7",
    );
    let (catalog, _) = answering(response);
    let err = catalog.products(&page(0, 5)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: RATE_LIMITED_MESSAGE.into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    assert!(err.retryable());
}

#[tokio::test]
async fn a_429_without_retry_after_waits_for_the_rate_limit_reset() {
    let reset = now_epoch_secs() + 6;
    let response = with_header(
        json(429, fixture!("error-429-rate-limited.json")),
        "x-ratelimit-reset",
        &reset.to_string(),
    );
    let (catalog, _) = answering(response);
    let err = catalog.product(ProductId(1)).await.unwrap_err();
    let wait = err.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(4) && wait <= Duration::from_secs(6),
        "{wait:?}"
    );
}

#[tokio::test]
async fn a_5xx_is_unavailable() {
    let (catalog, _) = answering(json(500, r#"{"message":"Something went wrong."}"#));
    let err = catalog.categories().await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(500),
            message: "Something went wrong.".into(),
            retry_after: None,
        }
    );

    let response = with_header(json(503, "<html>down</html>"), "retry-after", "30");
    let (catalog, _) = answering(response);
    let err = catalog.product(ProductId(1)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(503),
            message: "HTTP 503 Service Unavailable".into(),
            retry_after: Some(Duration::from_secs(30)),
        }
    );
}

#[tokio::test]
async fn undecodable_bodies_are_bad_responses() {
    let bodies = [
        "<html><body>502 Bad Gateway</body></html>".to_owned(),
        fixture!("products-limit-2.json")[..500].to_owned(),
        r#"{"products":[{"id":1}],"total":1}"#.to_owned(),
        fixture!("products-limit-2.json").replace("9.99", "\"cheap\""),
    ];
    for body in bodies {
        let (catalog, _) = answering(json(200, body.clone()));
        let err = catalog.products(&page(0, 2)).await.unwrap_err();
        assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE", "{body}");
    }
    let (catalog, _) = answering(json(200, "not json"));
    assert_eq!(
        catalog.product(ProductId(1)).await.unwrap_err().code(),
        "UPSTREAM_BAD_RESPONSE"
    );
}

#[tokio::test]
async fn an_unknown_availability_is_a_bad_response() {
    let body = fixture!("product-1.json").replace("\"In Stock\"", "\"Pre-order\"");
    let (catalog, _) = answering(json(200, body));
    let err = catalog.product(ProductId(1)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::BadResponse("product 1: unknown availabilityStatus `Pre-order`".into())
    );
}

#[tokio::test]
async fn a_404_on_a_list_is_not_a_missing_entity() {
    let (catalog, _) = answering(json(404, "<!DOCTYPE html><title>Page not found</title>"));
    let err = catalog.products(&page(0, 5)).await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}

#[tokio::test]
async fn search_and_category_values_are_percent_encoded() {
    let (catalog, transport) = answering(json(200, fixture!("products-category-unknown.json")));

    let search = ProductQuery {
        offset: 20,
        limit: 10,
        search: Some("blue & red+green?".into()),
        category: None,
    };
    catalog.products(&search).await.unwrap();
    let category = ProductQuery {
        offset: 0,
        limit: 5,
        search: None,
        category: Some("home decoration/../x?y".into()),
    };
    catalog.products(&category).await.unwrap();

    let sent = transport.requests();
    assert_eq!(sent[0].endpoint, "GET /products/search");
    assert_eq!(
        sent[0].path_and_query,
        format!("/products/search?q=blue+%26+red%2Bgreen%3F&limit=10&skip=20&{SELECT}")
    );
    assert_eq!(sent[1].endpoint, "GET /products/category/{slug}");
    assert_eq!(
        sent[1].path_and_query,
        format!("/products/category/home%20decoration%2F..%2Fx%3Fy?limit=5&skip=0&{SELECT}")
    );
}

#[tokio::test]
async fn a_blank_search_lists_everything() {
    let (catalog, transport) = answering(json(200, fixture!("products-limit-2.json")));
    let query = ProductQuery {
        search: Some("  ".into()),
        ..page(0, 2)
    };
    catalog.products(&query).await.unwrap();
    assert_eq!(transport.requests()[0].endpoint, "GET /products");
}

#[tokio::test]
async fn an_empty_page_still_reports_the_total() {
    // `limit=0` would mean "all 194" to DummyJSON.
    let (catalog, transport) = answering(json(200, fixture!("products-limit-2.json")));
    let page = catalog.products(&page(0, 0)).await.unwrap();
    assert!(page.products.is_empty());
    assert_eq!(page.total, 194);
    assert!(
        transport.requests()[0]
            .path_and_query
            .starts_with("/products?limit=1&skip=0&")
    );
}

#[tokio::test]
async fn search_within_a_category_filters_and_pages_the_whole_category_locally() {
    let (catalog, transport) = answering(json(200, fixture!("products-category-smartphones.json")));
    let query = ProductQuery {
        offset: 1,
        limit: 2,
        search: Some("  IPHONE ".into()),
        category: Some("smartphones".into()),
    };

    let page = catalog.products(&query).await.unwrap();

    let ids: Vec<u64> = page.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [122, 123]);
    assert_eq!(page.total, 4);
    assert_eq!(page.offset, 1);
    let sent = transport.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].endpoint, "GET /products/category/{slug}");
    assert_eq!(
        sent[0].path_and_query,
        format!("/products/category/smartphones?limit=0&{SELECT}")
    );
}

#[tokio::test]
async fn categories_decode_both_the_current_and_the_legacy_shape() {
    let (catalog, transport) = answering(json(200, fixture!("products-categories.json")));
    let categories = catalog.categories().await.unwrap();
    assert_eq!(categories.len(), 24);
    assert_eq!(
        categories[4],
        Category {
            slug: "home-decoration".into(),
            name: "Home Decoration".into()
        }
    );
    assert_eq!(transport.requests()[0].endpoint, "GET /products/categories");
    assert_eq!(
        transport.requests()[0].path_and_query,
        "/products/categories"
    );

    let (catalog, _) = answering(json(200, fixture!("products-category-list.json")));
    let categories = catalog.categories().await.unwrap();
    assert_eq!(
        categories[5],
        Category {
            slug: "kitchen-accessories".into(),
            name: "Kitchen Accessories".into()
        }
    );
}

#[tokio::test]
async fn transport_failures_pass_through() {
    let transport = FnTransport::new(|_| Err(ProviderError::Timeout));
    let catalog = DummyJson::new(Arc::new(transport));
    assert_eq!(
        catalog.product(ProductId(1)).await,
        Err(ProviderError::Timeout)
    );
}
