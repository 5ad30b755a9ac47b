//! The sandbox's wire behaviour beyond the recordings: conditional GET, paging, `select`,
//! sorting, validation, routing, and injected faults in DummyJSON's format.

use http::StatusCode;

use super::{client, start};
use crate::sandbox::FaultPlan;

async fn get_text(client: &reqwest::Client, base: &str, path: &str) -> (u16, String) {
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn message(text: &str) -> String {
    serde_json::json!({ "message": text }).to_string()
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
