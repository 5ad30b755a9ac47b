//! The shared entity cache, end to end: warm queries cost no upstream call, concurrent cold
//! queries share fetches, expired entries stand in for failed fetches (and say so), stale
//! ones are refreshed in the background, and NOT_FOUND is remembered briefly.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use providers::sandbox::FaultPlan;
use serde_json::{Value, json};
use support::{TestGateway, operation, poll_until};
use switchyard::config::Config;

const ALL: [&str; 5] = ["catalog", "frankfurter", "erapi", "inventory", "reviews"];

fn total_calls(gw: &TestGateway) -> u64 {
    ALL.iter().map(|p| gw.sandbox(p).total()).sum()
}

#[tokio::test]
async fn a_warm_storefront_query_makes_no_upstream_call() {
    let gw = TestGateway::start().await;
    let cold = gw.query(&operation("storefront"), json!({})).await;
    assert!(cold.body.get("errors").is_none(), "{}", cold.body);
    assert!(total_calls(&gw) > 20);
    gw.reset_counters();
    let warm = gw.query(&operation("storefront"), json!({})).await;
    assert_eq!(warm.body, cold.body);
    assert_eq!(total_calls(&gw), 0, "{:?}", ALL.map(|p| gw.calls(p)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_identical_cold_queries_fetch_each_key_once() {
    let gw = Arc::new(TestGateway::start().await);
    let query = r#"{ product(id: "5") { title stock { available } reviewSummary { count } price(currency: EUR) { amount } } }"#;
    let answers = futures_util::future::join_all((0..100).map(|_| {
        let gw = gw.clone();
        async move { gw.query(query, json!({})).await }
    }))
    .await;
    for answer in &answers {
        assert!(answer.body.get("errors").is_none(), "{}", answer.body);
        assert_eq!(answer.body, answers[0].body);
    }
    assert_eq!(gw.calls_to("catalog", "GET /products/{id}"), 1);
    assert_eq!(gw.calls_to("inventory", "GET /v2/stock"), 1);
    assert_eq!(gw.sandbox("reviews").total(), 1);
    assert_eq!(gw.calls_to("frankfurter", "GET /v1/latest"), 1);
}

/// Catalog entries past their freshness at once (ttl 0; DummyJSON sends no freshness of its
/// own that would win) but kept for an hour.
fn catalog_expires_at_once(swr_s: u64) -> Config {
    let mut config = Config::default();
    let cache = &mut config.providers.catalog.cache;
    cache.ttl_s = 0;
    cache.swr_s = swr_s;
    cache.max_stale_s = 3600;
    config
}

#[tokio::test]
async fn an_expired_entry_stands_in_for_a_failed_fetch_and_is_listed_as_stale() {
    let gw = TestGateway::start_with(catalog_expires_at_once(0)).await;
    let query = r#"{ product(id: "1") { title brand } }"#;
    let fresh = gw.query(query, json!({})).await;
    assert!(fresh.body.get("extensions").is_none(), "{}", fresh.body);
    gw.outage("catalog");
    let calls_before = gw.sandbox("catalog").total();
    let stale = gw.query(query, json!({})).await;
    assert!(stale.body.get("errors").is_none(), "{}", stale.body);
    assert_eq!(stale.body["data"], fresh.body["data"]);
    assert!(
        gw.sandbox("catalog").total() > calls_before,
        "a fresh fetch was tried"
    );
    let listed = stale.body["extensions"]["stale"]
        .as_array()
        .expect("extensions.stale");
    assert_eq!(listed.len(), 1, "{}", stale.body);
    assert_eq!(listed[0]["path"], json!(["product"]));
    assert_eq!(listed[0]["provider"], "catalog");
    assert_eq!(listed[0]["reason"], "UPSTREAM_UNAVAILABLE");
    assert!(listed[0]["ageMs"].is_u64());
    let stale_get = get(&gw, query, None).await;
    assert_eq!(
        header(&stale_get, "cache-control"),
        "no-store",
        "stale data is not stored"
    );

    // Without anything cached, the failure shows as usual.
    let uncached = gw
        .query(r#"{ product(id: "2") { title } }"#, json!({}))
        .await;
    assert_eq!(uncached.body["data"]["product"], Value::Null);
    assert_eq!(
        uncached.body["errors"][0]["extensions"]["code"],
        "UPSTREAM_UNAVAILABLE"
    );
}

#[tokio::test]
async fn a_stale_entry_is_served_at_once_and_refreshed_once_in_the_background() {
    let gw = TestGateway::start_with(catalog_expires_at_once(3600)).await;
    let query = r#"{ product(id: "1") { title } }"#;
    let first = gw.query(query, json!({})).await;
    assert_eq!(gw.sandbox("catalog").total(), 1);
    // The catalog is now slow: a stale answer must not wait for it.
    gw.set_faults(
        "catalog",
        FaultPlan {
            latency_ms: 3000,
            ..FaultPlan::default()
        },
    );
    let started = Instant::now();
    let second = gw.query(query, json!({})).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "waited for the refresh"
    );
    assert_eq!(
        second.body, first.body,
        "served from the cache, not listed as stale"
    );
    // One background refresh, however many queries see the stale entry meanwhile.
    for _ in 0..5 {
        gw.query(query, json!({})).await;
    }
    poll_until(
        "a refresh reaches the catalog",
        Duration::from_secs(10),
        || async { (gw.sandbox("catalog").total() >= 2).then_some(()) },
    )
    .await;
    assert_eq!(gw.sandbox("catalog").total(), 2);
}

#[tokio::test]
async fn not_found_is_remembered_briefly() {
    let gw = TestGateway::start().await;
    for _ in 0..3 {
        let answer = gw
            .query(r#"{ product(id: "9999") { title } }"#, json!({}))
            .await;
        assert_eq!(
            answer.body["data"]["product"],
            Value::Null,
            "{}",
            answer.body
        );
        assert!(answer.body.get("errors").is_none());
    }
    assert_eq!(gw.calls_to("catalog", "GET /products/{id}"), 1);
}

async fn get(gw: &TestGateway, query: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = gw
        .client
        .get(format!("{}/graphql", gw.base_url))
        .query(&[("query", query)]);
    if let Some(tag) = etag {
        request = request.header("if-none-match", tag);
    }
    request.send().await.expect("gateway answers")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn max_age(cache_control: &str) -> u64 {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cache_control:?}"))
}

#[tokio::test]
async fn responses_carry_the_least_freshness_of_their_fields_and_an_etag() {
    // One API key, `k1`, stored as its SHA-256.
    let mut config = switchyard::config::Config::default();
    config.auth.api_keys.push(switchyard::config::ApiKeyConfig {
        name: "web".into(),
        sha256: "6ab9f1eb8f7d3388f4f9d586f66e99fd54080df2c446f0e58668b09c08a16dd0".into(),
        scopes: Vec::new(),
        requests_per_minute: None,
        cost_per_minute: None,
    });
    let gw = TestGateway::start_with(config).await;
    // Rates only: Frankfurter says max-age=86400, which wins over the configured hour.
    let rates = get(&gw, "{ exchangeRates(base: USD) { date } }", None).await;
    assert_eq!(rates.status(), 200);
    let cc = header(&rates, "cache-control");
    assert!(cc.starts_with("public"), "{cc}");
    assert!(max_age(&cc) > 3600, "{cc}");

    // Stock is fresh for 5 s: the page is, at most, too.
    let page = "{ products(first: 3) { edges { node { title stock { available } } } } }";
    let first = get(&gw, page, None).await;
    let cc = header(&first, "cache-control");
    assert!(max_age(&cc) <= 5, "{cc}");
    let tag = header(&first, "etag");
    assert!(tag.starts_with('"'), "{tag:?}");
    let body = first.text().await.unwrap();

    // A revalidation with the tag: 304, no body, no upstream call.
    gw.reset_counters();
    let again = get(&gw, page, Some(&tag)).await;
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), tag);
    assert!(again.text().await.unwrap().is_empty());
    assert_eq!(total_calls(&gw), 0);
    let other = get(&gw, page, Some("\"something-else\"")).await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.text().await.unwrap(), body);

    // A request that carries credentials gets an answer shared caches must not keep.
    for (name, value) in [
        ("authorization", "ApiKey k1"),
        ("cookie", "session=abc"),
        ("x-api-key", "k1"),
    ] {
        let personal = gw
            .client
            .get(format!("{}/graphql", gw.base_url))
            .query(&[("query", "{ exchangeRates(base: USD) { date } }")])
            .header(name, value)
            .send()
            .await
            .expect("gateway answers");
        let cc = header(&personal, "cache-control");
        assert!(cc.starts_with("private, max-age="), "{name}: {cc}");
    }
}

#[tokio::test]
async fn responses_with_errors_are_not_stored() {
    let gw = TestGateway::start().await;
    gw.outage("reviews");
    let failed = get(
        &gw,
        r#"{ product(id: "3") { title reviewSummary { count } } }"#,
        None,
    )
    .await;
    assert_eq!(header(&failed, "cache-control"), "no-store");
    assert!(header(&failed, "etag").is_empty());
}

#[tokio::test]
async fn persisted_queries_travel_as_cacheable_gets() {
    use sha2::{Digest, Sha256};
    let gw = TestGateway::start().await;
    let query = r#"{ product(id: "4") { title } }"#;
    let hash: String = Sha256::digest(query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    let hash_only = || {
        gw.client
            .get(format!("{}/graphql", gw.base_url))
            .query(&[("extensions", extensions.as_str())])
            .send()
    };

    // Unknown hash: the client is told to send the query.
    let unknown: Value = hash_only().await.unwrap().json().await.unwrap();
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert!(unknown.get("data").is_none());

    // Query and hash together: stored and run.
    let registered = gw
        .post_json(
            json!({ "query": query, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }),
            None,
        )
        .await;
    assert_eq!(registered.body["data"]["product"]["title"], "Red Lipstick");

    // Now the hash alone is enough, as a GET a CDN can keep.
    let by_hash = hash_only().await.unwrap();
    assert_eq!(by_hash.status(), 200);
    assert!(header(&by_hash, "cache-control").starts_with("public, max-age="));
    let body: Value = by_hash.json().await.unwrap();
    assert_eq!(body["data"]["product"]["title"], "Red Lipstick");

    // A hash that is not the query's is refused.
    let mismatch = gw
        .post_json(
            json!({ "query": "{ categories { slug } }", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }),
            None,
        )
        .await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(
        mismatch.body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_HASH_MISMATCH"
    );
}

#[tokio::test]
async fn an_operator_evicts_entries_with_the_admin_token() {
    const TOKEN_VAR: &str = "SWITCHYARD_CACHE_TEST_ADMIN_TOKEN";
    // SAFETY: set before the gateway starts, to a value no one else reads; std serialises its
    // own environment reads, and nothing in these tests reads the environment through libc.
    unsafe { std::env::set_var(TOKEN_VAR, "s3cret-admin") };
    let mut config = Config::default();
    config.cache.admin_token_env = TOKEN_VAR.into();
    let gw = TestGateway::start_with(config).await;
    let query = r#"{ product(id: "6") { title } }"#;
    let product_calls = || gw.calls_to("catalog", "GET /products/{id}");
    gw.query(query, json!({})).await;
    gw.query(query, json!({})).await;
    assert_eq!(product_calls(), 1, "the second answer came from the cache");

    let invalidate = |token: Option<&str>, body: Value| {
        let mut request = gw
            .client
            .post(format!("{}/admin/cache/invalidate", gw.base_url))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let body = json!({ "provider": "catalog", "entity": "products", "key": "6" });
    assert_eq!(invalidate(None, body.clone()).await.unwrap().status(), 401);
    assert_eq!(
        invalidate(Some("guess"), body.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    let bad = invalidate(
        Some("s3cret-admin"),
        json!({ "provider": "catalog", "entity": "nope" }),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    let ok = invalidate(Some("s3cret-admin"), body).await.unwrap();
    assert_eq!(ok.status(), 200);

    gw.query(query, json!({})).await;
    assert_eq!(product_calls(), 2, "evicted: fetched again");

    // Without the token configured, nobody gets in.
    let mut closed = Config::default();
    closed.cache.admin_token_env = "SWITCHYARD_CACHE_TEST_TOKEN_NEVER_SET".into();
    let gw2 = TestGateway::start_with(closed).await;
    let refused = gw2.invalidate("", json!({ "provider": "catalog" })).await;
    assert_eq!(refused.status(), 403);
}

/// Serves ExchangeRate-API's `GET /v6/latest/USD` saying the next rates come in two hours.
async fn erapi_publishing_in_two_hours() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v6/latest/USD",
        axum::routing::get(|| async {
            let now = chrono::Utc::now().timestamp();
            axum::Json(json!({
                "result": "success",
                "time_last_update_unix": now - 3600,
                "time_next_update_unix": now + 7200,
                "base_code": "USD",
                "rates": { "USD": 1, "EUR": 0.907539 }
            }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn rates_stay_fresh_until_the_provider_publishes_the_next_ones() {
    let mut config = Config::default();
    config.providers.erapi.base_url = erapi_publishing_in_two_hours().await;
    let gw = TestGateway::start_with(config).await;
    // Frankfurter is down: the rates come from ExchangeRate-API, which sends no Cache-Control
    // but says when it publishes next; that beats the configured hour.
    gw.outage("frankfurter");
    let rates = get(&gw, "{ exchangeRates(base: USD) { date } }", None).await;
    assert_eq!(rates.status(), 200);
    let cc = header(&rates, "cache-control");
    let age = max_age(&cc);
    assert!((7000..=7200).contains(&age), "{cc}");
}

#[tokio::test]
async fn a_batch_with_partial_hits_fetches_only_the_missing_keys() {
    let gw = TestGateway::start().await;
    let page = "query($n: Int) { products(first: $n) { edges { node { stock { available } } } } }";
    let warm = gw.query(page, json!({ "n": 15 })).await;
    assert!(warm.body.get("errors").is_none(), "{}", warm.body);
    assert_eq!(gw.sandbox("inventory").keys()["GET /v2/stock"], 15);
    gw.reset_counters();

    let answer = gw.query(page, json!({ "n": 20 })).await;
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    let edges = answer.body["data"]["products"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 20);
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["stock"]["available"].is_u64())
    );
    // 15 stock entries cached: one inventory call, for the other 5 SKUs.
    assert_eq!(gw.calls_to("inventory", "GET /v2/stock"), 1);
    assert_eq!(gw.sandbox("inventory").keys()["GET /v2/stock"], 5);
}

#[tokio::test]
async fn repeated_queries_are_answered_from_the_response_cache_until_invalidated() {
    const TOKEN_VAR: &str = "SWITCHYARD_RESPONSE_CACHE_TEST_ADMIN_TOKEN";
    // SAFETY: as in an_operator_evicts_entries_with_the_admin_token.
    unsafe { std::env::set_var(TOKEN_VAR, "responses-admin") };
    let mut config = Config::default();
    config.cache.admin_token_env = TOKEN_VAR.into();
    let gw = TestGateway::start_with(config).await;
    let query = "{ exchangeRates(base: USD) { date rates { currency rate } } }";

    let first = get(&gw, query, None).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "age"), "", "executed, not from the cache");
    let cc = header(&first, "cache-control");
    let tag = header(&first, "etag");
    let body = first.text().await.unwrap();

    let again = get(&gw, query, None).await;
    assert_eq!(again.status(), 200);
    assert!(
        header(&again, "age").parse::<u64>().is_ok(),
        "a hit carries Age"
    );
    assert_eq!(header(&again, "cache-control"), cc);
    assert_eq!(header(&again, "etag"), tag);
    assert_eq!(again.text().await.unwrap(), body);
    let revalidated = get(&gw, query, Some(&tag)).await;
    assert_eq!(revalidated.status(), 304);

    // Another query, or the same one with credentials, is not that entry.
    let other = get(&gw, "{ exchangeRates(base: EUR) { date } }", None).await;
    assert_eq!(header(&other, "age"), "");
    let personal = gw
        .client
        .get(format!("{}/graphql", gw.base_url))
        .query(&[("query", query)])
        .header("authorization", "Bearer someone")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&personal, "age"), "");

    // An invalidation drops every kept response.
    let evicted = gw
        .invalidate("responses-admin", json!({ "provider": "inventory" }))
        .await;
    assert_eq!(evicted.status(), 200);
    let after = get(&gw, query, None).await;
    assert_eq!(header(&after, "age"), "", "executed again");
}
