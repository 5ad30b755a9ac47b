//! The adapter on real DummyJSON bodies, the adapter against the sandbox over HTTP, and the
//! sandbox's wire behaviour against the recorded fixtures.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, StatusCode};
use rust_decimal::Decimal;

use super::{DummyJson, QUOTA_LIMIT, RATE_LIMITED_MESSAGE, sandbox};
use crate::capability::Catalog;
use crate::domain::{Availability, Category, Currency, ProductId, ProductQuery, Sku};
use crate::error::ProviderError;
use crate::sandbox::{FaultPlan, SandboxHandle, serve};
use crate::transport::UpstreamResponse;
use crate::transport::http_testing::HttpTransport;
use crate::transport::testing::{FnTransport, json};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../fixtures/dummyjson/", $name))
    };
}

const SELECT: &str = "select=id,title,description,category,brand,sku,price,rating,images,thumbnail,availabilityStatus";

fn page(offset: usize, limit: usize) -> ProductQuery {
    ProductQuery {
        offset,
        limit,
        ..ProductQuery::default()
    }
}

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

fn now_epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// The adapter on canned bodies

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

// ---------------------------------------------------------------------------------------------
// The adapter against the sandbox, over HTTP

async fn start() -> (String, SandboxHandle) {
    let sb = sandbox();
    let (addr, _task) = serve(sb.router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (format!("http://{addr}"), sb.handle)
}

async fn adapter_on_sandbox() -> (DummyJson, SandboxHandle) {
    let (base, handle) = start().await;
    (DummyJson::new(Arc::new(HttpTransport::new(base))), handle)
}

#[tokio::test]
async fn sandbox_lists_the_whole_catalogue() {
    let (catalog, _) = adapter_on_sandbox().await;
    let page = catalog.products(&page(0, 500)).await.unwrap();

    assert_eq!(page.total, 194);
    let ids: Vec<u64> = page.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, (1..=194).collect::<Vec<_>>());
    assert_eq!(
        page.products.iter().filter(|p| p.brand.is_none()).count(),
        92
    );
    let count = |a| page.products.iter().filter(|p| p.availability == a).count();
    assert_eq!(count(Availability::InStock), 176);
    assert_eq!(count(Availability::LowStock), 14);
    assert_eq!(count(Availability::OutOfStock), 4);
    assert!(
        page.products
            .iter()
            .all(|p| p.price_currency == Currency::USD)
    );
}

#[tokio::test]
async fn sandbox_serves_page_two() {
    let (catalog, _) = adapter_on_sandbox().await;
    let page = catalog.products(&page(10, 10)).await.unwrap();
    assert_eq!(page.total, 194);
    assert_eq!(page.offset, 10);
    let ids: Vec<u64> = page.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, (11..=20).collect::<Vec<_>>());
    assert_eq!(page.products[0].title, "Annibale Colombo Bed");
    assert_eq!(
        page.products[0].price,
        "1899.99".parse::<Decimal>().unwrap()
    );
}

#[tokio::test]
async fn sandbox_searches_and_filters_by_category() {
    let (catalog, _) = adapter_on_sandbox().await;

    let search = ProductQuery {
        search: Some("phone".into()),
        ..page(0, 50)
    };
    let found = catalog.products(&search).await.unwrap();
    assert_eq!(found.total, 23);
    assert_eq!(found.products.len(), 23);
    assert_eq!(found.products[0].id, ProductId(101));

    let category = ProductQuery {
        category: Some("SmartPhones".into()),
        ..page(0, 5)
    };
    let phones = catalog.products(&category).await.unwrap();
    assert_eq!(phones.total, 16);
    assert_eq!(phones.products.len(), 5);
    assert_eq!(phones.products[0].id, ProductId(121));
    assert_eq!(phones.products[0].title, "iPhone 5s");

    let both = ProductQuery {
        search: Some("iphone".into()),
        category: Some("smartphones".into()),
        ..page(0, 10)
    };
    let iphones = catalog.products(&both).await.unwrap();
    assert_eq!(iphones.total, 4);
    let ids: Vec<u64> = iphones.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [121, 122, 123, 124]);

    let unknown = ProductQuery {
        category: Some("spaceships".into()),
        ..page(0, 5)
    };
    let none = catalog.products(&unknown).await.unwrap();
    assert_eq!(none.total, 0);
    assert!(none.products.is_empty());
}

#[tokio::test]
async fn sandbox_serves_categories_and_products_by_id() {
    let (catalog, handle) = adapter_on_sandbox().await;

    let categories = catalog.categories().await.unwrap();
    assert_eq!(categories.len(), 24);
    assert_eq!(
        categories[0],
        Category {
            slug: "beauty".into(),
            name: "Beauty".into()
        }
    );

    let product = catalog.product(ProductId(1)).await.unwrap().unwrap();
    assert_eq!(product.title, "Essence Mascara Lash Princess");
    assert_eq!(product.sku, Sku("BEA-ESS-ESS-001".into()));
    assert_eq!(product.availability, Availability::InStock);
    let sold_out = catalog.product(ProductId(117)).await.unwrap().unwrap();
    assert_eq!(sold_out.availability, Availability::OutOfStock);
    assert_eq!(catalog.product(ProductId(0)).await, Ok(None));
    assert_eq!(catalog.product(ProductId(9999)).await, Ok(None));

    let counters = handle.counters();
    assert_eq!(counters.get("GET /products/categories"), Some(&1));
    assert_eq!(counters.get("GET /products/{id}"), Some(&4));
}

#[tokio::test]
async fn sandbox_quota_reaches_the_adapter_as_rate_limited() {
    let (catalog, handle) = adapter_on_sandbox().await;
    for _ in 0..QUOTA_LIMIT {
        catalog.product(ProductId(1)).await.unwrap();
    }
    let err = catalog.product(ProductId(1)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: RATE_LIMITED_MESSAGE.into(),
            retry_after: Some(Duration::from_secs(10)),
        }
    );
    handle.reset();
    assert!(catalog.product(ProductId(1)).await.unwrap().is_some());
}

#[tokio::test]
async fn sandbox_faults_reach_the_adapter_in_dummyjsons_format() {
    let (catalog, handle) = adapter_on_sandbox().await;

    handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let err = catalog.product(ProductId(1)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(503),
            message: "Service Unavailable".into(),
            retry_after: None,
        }
    );

    handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(3),
        ..FaultPlan::default()
    });
    let err = catalog.products(&page(0, 5)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: RATE_LIMITED_MESSAGE.into(),
            retry_after: Some(Duration::from_secs(3)),
        }
    );

    handle.set_faults(FaultPlan {
        malformed_body: true,
        ..FaultPlan::default()
    });
    let err = catalog.categories().await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}

// ---------------------------------------------------------------------------------------------
// The sandbox's wire behaviour

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every recorded DummyJSON response, and the request that produces it.
const REPLAYS: &[(&str, u16, &str)] = &[
    ("/products", 200, fixture!("products-default.json")),
    ("/products/1", 200, fixture!("product-1.json")),
    ("/products?limit=2", 200, fixture!("products-limit-2.json")),
    ("/products?limit=5", 200, fixture!("products-limit-5.json")),
    (
        "/products?limit=10&skip=10&select=title,price",
        200,
        fixture!("products-limit-10-skip-10-select-title-price.json"),
    ),
    (
        "/products?limit=0&select=title",
        200,
        fixture!("products-limit-0-select-title.json"),
    ),
    (
        "/products?sortBy=title&order=asc",
        200,
        fixture!("products-sortBy-title-order-asc.json"),
    ),
    (
        "/products/search?q=phone",
        200,
        fixture!("products-search-phone.json"),
    ),
    (
        "/products/category/smartphones",
        200,
        fixture!("products-category-smartphones.json"),
    ),
    (
        "/products/category/unknown",
        200,
        fixture!("products-category-unknown.json"),
    ),
    (
        "/products/categories",
        200,
        fixture!("products-categories.json"),
    ),
    (
        "/products/category-list",
        200,
        fixture!("products-category-list.json"),
    ),
    ("/products/0", 404, fixture!("error-404-product-0.json")),
    (
        "/products?limit=abc",
        400,
        fixture!("error-400-invalid-limit.json"),
    ),
    (
        "/products?skip=abc",
        400,
        fixture!("error-400-invalid-skip.json"),
    ),
    (
        "/products?sortBy=title&order=sideways",
        400,
        fixture!("error-400-invalid-order.json"),
    ),
];

#[tokio::test]
async fn sandbox_replays_every_recorded_response_byte_for_byte() {
    let (base, _) = start().await;
    let client = client();
    for (path, status, expected) in REPLAYS {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json; charset=utf-8",
            "{path}"
        );
        let body = response.text().await.unwrap();
        assert!(body == *expected, "{path}: body differs from the fixture");
    }
}

#[tokio::test]
async fn sandbox_headers_match_the_live_capture() {
    let (base, _) = start().await;
    let client = client();
    let captured = fixture!("captured-2025-11-06-products-limit-5.headers.txt");
    let captured_etag = captured
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap();

    let before = now_epoch_secs();
    let response = client
        .get(format!("{base}/products?limit=5"))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["etag"], captured_etag);
    assert_eq!(headers["x-ratelimit-limit"], "100");
    assert_eq!(headers["x-ratelimit-remaining"], "99");
    let reset: u64 = headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Epoch seconds, rounded up: at most the window plus one second ahead.
    assert!(reset > before && reset <= now_epoch_secs() + 11, "{reset}");
    for line in captured.lines() {
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        if [
            "content-type",
            "x-dns-prefetch-control",
            "x-frame-options",
            "strict-transport-security",
            "x-download-options",
            "x-content-type-options",
            "x-xss-protection",
            "access-control-allow-origin",
            "x-powered-by",
        ]
        .contains(&name)
        {
            assert_eq!(headers[name], value, "{name}");
        }
    }

    let second = client
        .get(format!("{base}/products/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.headers()["x-ratelimit-remaining"], "98");
}

#[tokio::test]
async fn sandbox_answers_if_none_match_with_304() {
    let (base, _) = start().await;
    let client = client();
    let url = format!("{base}/products?limit=5");
    let etag = client.get(&url).send().await.unwrap().headers()["etag"].clone();

    let cached = client
        .get(&url)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], etag);
    assert!(cached.bytes().await.unwrap().is_empty());

    let other = client
        .get(&url)
        .header("if-none-match", "W/\"1-abc\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    let forced = client
        .get(&url)
        .header("if-none-match", etag)
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), StatusCode::OK);
}

#[tokio::test]
async fn sandbox_answers_the_101st_request_in_a_window_with_429() {
    let (base, handle) = start().await;
    let client = client();
    for n in 1..=QUOTA_LIMIT {
        let response = client
            .get(format!("{base}/products/1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            (QUOTA_LIMIT - n).to_string().as_str()
        );
    }

    let limited = client
        .get(format!("{base}/products?limit=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = limited.headers().clone();
    assert_eq!(headers["retry-after"], "10");
    assert_eq!(headers["x-ratelimit-limit"], "100");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert!(headers.contains_key("x-ratelimit-reset"));
    assert_eq!(
        limited.text().await.unwrap(),
        fixture!("error-429-rate-limited.json")
    );

    // Unknown paths count too: the limiter runs before routing.
    let html = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(html.status(), StatusCode::TOO_MANY_REQUESTS);

    handle.reset();
    let again = client
        .get(format!("{base}/products/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn sandbox_quota_off_admits_everything_without_rate_limit_headers() {
    let (base, handle) = start().await;
    handle.set_faults(FaultPlan {
        quota_off: true,
        ..FaultPlan::default()
    });
    let client = client();
    for _ in 0..=QUOTA_LIMIT {
        let response = client
            .get(format!("{base}/products/category-list"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("x-ratelimit-remaining"));
    }
}

async fn get_text(client: &reqwest::Client, base: &str, path: &str) -> (u16, String) {
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn message(text: &str) -> String {
    serde_json::json!({ "message": text }).to_string()
}

#[tokio::test]
async fn sandbox_pages_like_dummyjson() {
    let (base, _) = start().await;
    let client = client();
    let envelope = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };

    let (_, tail) = get_text(&client, &base, "/products?skip=190&limit=30&select=id").await;
    assert!(
        tail.ends_with(r#""total":194,"skip":190,"limit":4}"#),
        "{tail}"
    );

    let (_, all) = get_text(&client, &base, "/products?limit=0&select=id").await;
    assert!(all.ends_with(r#""total":194,"skip":0,"limit":194}"#));

    // `parseInt("")` is NaN: no products for `limit=`, and `skip` echoes as null.
    let (_, empty) = get_text(&client, &base, "/products?limit=&skip=").await;
    assert_eq!(
        empty,
        r#"{"products":[],"total":194,"skip":null,"limit":0}"#
    );

    // A negative limit slices from the end, as `Array.prototype.slice` does.
    let (_, negative) = get_text(&client, &base, "/products?limit=-190&select=id").await;
    assert_eq!(envelope(&negative)["limit"], 4);

    let (_, first_word) = get_text(&client, &base, "/products?limit=2.9&skip=1e1&select=id").await;
    assert_eq!(
        first_word,
        r#"{"products":[{"id":2},{"id":3}],"total":194,"skip":1,"limit":2}"#
    );

    let (_, search) = get_text(
        &client,
        &base,
        "/products/search?q=+PHONE-case+&limit=1&select=id",
    )
    .await;
    let (_, spaced) = get_text(
        &client,
        &base,
        "/products/search?q=phone%20case&limit=1&select=id",
    )
    .await;
    assert_eq!(search, spaced);

    let (_, by_object) = get_text(
        &client,
        &base,
        "/products/search?q[valueSearch]=phone&limit=0&select=id",
    )
    .await;
    assert_eq!(envelope(&by_object)["total"], 23);
}

#[tokio::test]
async fn sandbox_selects_like_dummyjson() {
    let (base, _) = start().await;
    let client = client();

    let (_, one) = get_text(&client, &base, "/products/1?select=title,price").await;
    assert_eq!(
        one,
        r#"{"id":1,"title":"Essence Mascara Lash Princess","price":9.99}"#
    );
    let (_, repeated) = get_text(&client, &base, "/products/1?select=title&select=price").await;
    assert_eq!(repeated, one);
    let (_, unknown) = get_text(&client, &base, "/products/1?select=price,nope,title,id").await;
    assert_eq!(
        unknown,
        r#"{"id":1,"price":9.99,"title":"Essence Mascara Lash Princess"}"#
    );
    let (_, no_brand) = get_text(&client, &base, "/products/16?select=brand").await;
    assert_eq!(no_brand, r#"{"id":16}"#);
    let (_, empty) = get_text(&client, &base, "/products/1?select=").await;
    assert_eq!(empty, fixture!("product-1.json"));
}

#[tokio::test]
async fn sandbox_sorts_with_javascript_comparisons() {
    let (base, _) = start().await;
    let client = client();
    let ids = |text: &str| -> Vec<u64> {
        let page: serde_json::Value = serde_json::from_str(text).unwrap();
        page["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_u64().unwrap())
            .collect()
    };
    let prices = |text: &str| -> Vec<f64> {
        let page: serde_json::Value = serde_json::from_str(text).unwrap();
        page["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["price"].as_f64().unwrap())
            .collect()
    };

    let (_, desc) = get_text(
        &client,
        &base,
        "/products?limit=0&sortBy=price&order=DESC&select=price",
    )
    .await;
    let desc = prices(&desc);
    assert_eq!(desc.len(), 194);
    assert!(desc.windows(2).all(|w| w[0] >= w[1]));

    // Missing `order` with `sortBy` is ascending; `order` alone is not even validated.
    let (_, asc) = get_text(
        &client,
        &base,
        "/products?limit=0&sortBy=price&select=price",
    )
    .await;
    assert!(prices(&asc).windows(2).all(|w| w[0] <= w[1]));
    let (status, unsorted) =
        get_text(&client, &base, "/products?order=sideways&limit=3&select=id").await;
    assert_eq!((status, ids(&unsorted)), (200, vec![1, 2, 3]));

    // Recorded with Node 20 running DummyJSON's `sortArray` over this catalogue: 92 products
    // have no brand, which makes the comparator answer -1 both ways, so only V8's own
    // TimSort yields these orders.
    let (_, asc) = get_text(
        &client,
        &base,
        "/products?limit=12&sortBy=brand&order=asc&select=id",
    )
    .await;
    assert_eq!(
        ids(&asc),
        [78, 79, 186, 167, 171, 185, 168, 169, 170, 176, 194, 187]
    );
    let (_, desc) = get_text(
        &client,
        &base,
        "/products?limit=12&sortBy=brand&order=desc&select=id",
    )
    .await;
    assert_eq!(
        ids(&desc),
        [87, 175, 191, 192, 188, 190, 162, 163, 164, 165, 166, 177]
    );
    // Unknown keys read `undefined` everywhere: all equal, nothing moves.
    let (_, unknown) = get_text(
        &client,
        &base,
        "/products?limit=3&sortBy=nope&order=desc&select=id",
    )
    .await;
    assert_eq!(ids(&unknown), [1, 2, 3]);
}

#[tokio::test]
async fn sandbox_validates_like_clean_request() {
    let (base, _) = start().await;
    let client = client();
    let cases = [
        (
            "/products?delay=abc",
            400,
            message("Delay must be a number in milliseconds"),
        ),
        (
            "/products?delay=6000",
            400,
            message("Delay cannot be greater than 5 seconds"),
        ),
        (
            "/products?delay=-1",
            400,
            message("Delay cannot be less than 0"),
        ),
        (
            "/products/search?q[]=phone",
            400,
            message("Invalid 'q' - must be a string"),
        ),
        // Validation runs before routing, on every path, in `cleanRequest`'s order.
        (
            "/products/1?limit=x&skip=y",
            400,
            message("Invalid 'limit' - must be a number"),
        ),
        (
            "/products/categories?skip=[]",
            400,
            message("Invalid 'skip' - must be a number"),
        ),
        (
            "/elsewhere?limit=abc",
            400,
            message("Invalid 'limit' - must be a number"),
        ),
        (
            "/products?limit=1&limit=2",
            400,
            message("Invalid 'limit' - must be a number"),
        ),
        (
            "/products?sortBy=title&order[]=asc",
            500,
            message("order.toLowerCase is not a function"),
        ),
        // Ids are compared as strings, after `decodeURIComponent`.
        (
            "/products/category",
            404,
            message("Product with id 'category' not found"),
        ),
        (
            "/products/abc",
            404,
            message("Product with id 'abc' not found"),
        ),
        (
            "/products/01",
            404,
            message("Product with id '01' not found"),
        ),
        (
            "/products/9999",
            404,
            message("Product with id '9999' not found"),
        ),
        (
            "/products/%E0%A4",
            400,
            message("Failed to decode param '%E0%A4'"),
        ),
        ("/products/%31?select=id", 200, r#"{"id":1}"#.to_owned()),
        (
            "/products?delay=0&limit=1&select=id",
            200,
            r#"{"products":[{"id":1}],"total":194,"skip":0,"limit":1}"#.to_owned(),
        ),
    ];
    for (path, status, body) in cases {
        assert_eq!(
            get_text(&client, &base, path).await,
            (status, body),
            "{path}"
        );
    }
}

#[tokio::test]
async fn sandbox_routes_like_express() {
    let (base, handle) = start().await;
    let client = client();

    let (status, alias) = get_text(&client, &base, "/product/1").await;
    assert_eq!((status, alias.as_str()), (200, fixture!("product-1.json")));

    let redirect = client
        .get(format!("{base}/products/?limit=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(redirect.headers()["location"], "/products?limit=5");
    assert!(!redirect.headers().contains_key("etag"));
    let nested = client
        .get(format!("{base}/products//category/beauty/"))
        .send()
        .await
        .unwrap();
    assert_eq!(nested.headers()["location"], "/products/category/beauty");

    for path in ["/", "/users", "/products/1/reviews", "/PRODUCTS/1"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert!(response.text().await.unwrap().contains("Page not found"));
    }

    let counters = handle.counters();
    assert_eq!(counters.get("GET /product/{id}"), Some(&1));
}

#[tokio::test]
async fn sandbox_renders_injected_errors_as_dummyjson_does() {
    let (base, handle) = start().await;
    let client = client();
    handle.set_faults(FaultPlan {
        error_rate: 1.0,
        ..FaultPlan::default()
    });
    let (status, body) = get_text(&client, &base, "/products/1").await;
    assert_eq!((status, body), (500, message("Something went wrong.")));

    handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(4),
        ..FaultPlan::default()
    });
    let limited = client.get(format!("{base}/products")).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "4");
    assert_eq!(
        limited.text().await.unwrap(),
        fixture!("error-429-rate-limited.json")
    );
}
