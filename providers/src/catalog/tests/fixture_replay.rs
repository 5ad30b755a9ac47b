//! The sandbox against what the real server sent: every recorded body, byte for byte, and the
//! headers of the live capture (the ETag included).

use super::{client, now_epoch_secs, start};

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
