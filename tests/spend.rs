//! Spend: what each query costs in provider money, reported to the client that asks, and
//! budgets that shed optional fields (or stop calls) once reached.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::redis::RedisServer;
use support::{TestGateway, code, poll_until, uncached};
use switchyard::config::{BudgetAction, Config, SpendConfig};

/// Reviews billed 0.002 USD per call (as in the default config), stock 0.001 per call plus
/// 0.0001 per SKU; caches on.
fn priced() -> Config {
    let mut config = Config::default();
    config.providers.inventory.spend = SpendConfig {
        price_per_call: 0.001,
        price_per_unit: 0.0001,
        ..SpendConfig::default()
    };
    config
}

async fn with_cost_report(gw: &TestGateway, query: &str) -> Value {
    let answer = gw
        .post_json(
            json!({ "query": query, "extensions": { "cost": true } }),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    answer.body["extensions"]["cost"].clone()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn a_client_sees_the_calls_cache_hits_and_money_its_query_cost() {
    let gw = TestGateway::start_with(priced()).await;
    let query = r#"{ product(id: "1") { title stock { available } reviews(first: 2) { edges { node { rating } } } } }"#;

    let first = with_cost_report(&gw, query).await;
    assert!(
        first["estimated"].as_u64().is_some_and(|n| n > 0),
        "{first}"
    );
    assert_eq!(first["limit"], 1000);
    let p = &first["providers"];
    assert_eq!(p["catalog"]["calls"], 1, "{first}");
    assert_eq!(p["reviews"]["calls"], 1, "{first}");
    assert!(close(&p["reviews"]["spent"], 0.002), "{first}");
    assert_eq!(p["reviews"]["currency"], "USD");
    // The warehouse: an OAuth token, then the stock of one SKU; each 0.001 + 0.0001.
    assert_eq!(p["inventory"]["calls"], 2, "{first}");
    assert!(close(&p["inventory"]["spent"], 0.0022), "{first}");
    // Free providers cost nothing and say no currency.
    assert!(p["catalog"].get("spent").is_none(), "{first}");
    assert!(close(&first["spent"]["USD"], 0.0042), "{first}");
    assert_eq!(first["calls"], 4);

    // Again: the product, its stock and its reviews come from the cache.
    let second = with_cost_report(&gw, query).await;
    let p = &second["providers"];
    assert_eq!(second["calls"], 0, "{second}");
    assert_eq!(p["catalog"]["cacheHits"], 1, "{second}");
    assert_eq!(p["inventory"]["cacheHits"], 1, "{second}");
    assert_eq!(p["reviews"]["cacheHits"], 1, "{second}");
    assert_eq!(second["spent"], json!({}), "{second}");
}

#[tokio::test]
async fn the_cost_header_asks_for_the_same_report_and_is_never_served_from_the_response_cache() {
    let gw = TestGateway::start_with(priced()).await;
    let ask = |cost: bool| {
        let mut request = gw
            .client
            .post(format!("{}/graphql", gw.base_url))
            .header("content-type", "application/json")
            .body(json!({ "query": r#"{ product(id: "3") { title } }"# }).to_string());
        if cost {
            request = request.header("x-switchyard-cost", "1");
        }
        request.send()
    };
    let plain = support::answer(ask(false).await.unwrap()).await;
    assert!(plain.body.get("extensions").is_none(), "{}", plain.body);
    // The same request again would be a response-cache hit; with the header it runs.
    let report = support::answer(ask(true).await.unwrap()).await;
    let cost = &report.body["extensions"]["cost"];
    assert_eq!(
        cost["providers"]["catalog"]["cacheHits"], 1,
        "{}",
        report.body
    );
    assert_eq!(cost["calls"], 0);
    // And a report is not kept for clients that did not ask for one.
    let plain = support::answer(ask(false).await.unwrap()).await;
    assert!(plain.body.get("extensions").is_none(), "{}", plain.body);
}

/// Reviews with a daily budget of five calls (0.01 USD at 0.002 per call), caches off.
fn reviews_budget(action: BudgetAction) -> Config {
    let mut config = uncached();
    config.providers.reviews.spend = SpendConfig {
        daily_budget: Some(0.01),
        on_budget_reached: action,
        ..SpendConfig::per_call(0.002, 1.0, 100.0)
    };
    config
}

#[tokio::test]
async fn at_its_budget_a_providers_optional_fields_are_shed_and_critical_ones_go_on() {
    let gw = TestGateway::start_with(reviews_budget(BudgetAction::Shed)).await;
    let reviews = |id: u32| format!(r#"{{ product(id: "{id}") {{ reviews {{ totalCount }} }} }}"#);
    for id in 1..=4 {
        let answer = gw.query(&reviews(id), json!({})).await;
        assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    }
    // 0.008 of 0.01: the warning's gauge says 80 %.
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("switchyard_budget_used_ratio{provider=\"reviews\",period=\"day\"} 0.8"),
        "{metrics}"
    );
    let fifth = gw.query(&reviews(5), json!({})).await;
    assert!(fifth.body.get("errors").is_none(), "{}", fifth.body);
    let calls = gw.calls_to("reviews", "GET /v1/products/{productId}/reviews");

    // Reached: `reviews` (optional) is shed without a call ...
    let shed = gw.query(&reviews(6), json!({})).await;
    assert_eq!(shed.status, 200);
    assert_eq!(code(&shed.body), "RATE_LIMITED", "{}", shed.body);
    let error = &shed.body["errors"][0];
    assert_eq!(error["extensions"]["reason"], "budget");
    assert_eq!(error["extensions"]["provider"], "reviews");
    assert!(
        error["extensions"]["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("the reviews daily budget of 0.01 USD is reached"),
        "{message}"
    );
    assert_eq!(shed.body["data"]["product"]["reviews"], Value::Null);
    assert_eq!(
        gw.calls_to("reviews", "GET /v1/products/{productId}/reviews"),
        calls
    );

    // ... while `reviewSummary` (critical) still calls the vendor, and the product is served.
    let critical = gw
        .query(
            r#"{ product(id: "7") { title reviewSummary { count } } }"#,
            json!({}),
        )
        .await;
    assert!(critical.body.get("errors").is_none(), "{}", critical.body);
    assert!(critical.body["data"]["product"]["reviewSummary"]["count"].is_number());
    assert_eq!(
        gw.calls_to("reviews", "GET /v1/products/{productId}/reviews"),
        calls + 1
    );
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("switchyard_budget_used_ratio{provider=\"reviews\",period=\"day\"} 1.2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_budget_that_says_stop_stops_every_call_to_its_provider() {
    let gw = TestGateway::start_with(reviews_budget(BudgetAction::Stop)).await;
    for id in 1..=5 {
        let answer = gw
            .query(
                &format!(r#"{{ product(id: "{id}") {{ reviewSummary {{ count }} }} }}"#),
                json!({}),
            )
            .await;
        assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    }
    let calls = gw.calls_to("reviews", "GET /v1/products/{productId}/reviews");
    let stopped = gw
        .query(
            r#"{ product(id: "6") { title reviewSummary { count } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&stopped.body), "RATE_LIMITED", "{}", stopped.body);
    let message = stopped.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("daily budget"), "{message}");
    assert!(message.contains("calls stopped"), "{message}");
    assert_eq!(
        stopped.body["data"]["product"]["title"], "Calvin Klein CK One",
        "{}",
        stopped.body
    );
    assert_eq!(
        gw.calls_to("reviews", "GET /v1/products/{productId}/reviews"),
        calls
    );
}

#[tokio::test]
async fn a_budget_that_cannot_be_is_refused_naming_its_key() {
    let toml = "[providers.reviews.spend]\ncurrency = \"USD\"\nprice_per_call = -1.0\nprice_per_unit = 0.0\non_budget_reached = \"shed\"\n";
    let dir = std::env::temp_dir().join(format!("switchyard-spend-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, toml).unwrap();
    let error = Config::load(Some(&path)).expect_err("a negative price");
    assert!(
        error
            .to_string()
            .contains("providers.reviews.spend.price_per_call"),
        "{error}"
    );
    std::fs::write(
        &path,
        toml.replace("-1.0", "0.1").replace("\"shed\"", "\"maybe\""),
    )
    .unwrap();
    let error = Config::load(Some(&path)).expect_err("an unknown action");
    assert!(error.to_string().contains("on_budget_reached"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The reviews vendor's spend today, as the gateway's `providers` query says.
async fn reviews_spend_today(gw: &TestGateway) -> f64 {
    let answer = gw
        .query("{ providers { name spend { today } } }", json!({}))
        .await;
    answer.body["data"]["providers"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == "reviews"))
        .and_then(|p| p["spend"]["today"].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no reviews spend: {}", answer.body))
}

#[tokio::test]
async fn with_redis_a_budget_counts_every_replicas_calls_and_survives_a_restart() {
    let redis = RedisServer::start().await;
    let config = || {
        let mut config = reviews_budget(BudgetAction::Shed);
        config.cache.redis_url = Some(redis.url());
        config
    };
    let reviews = |id: u32| format!(r#"{{ product(id: "{id}") {{ reviews {{ totalCount }} }} }}"#);
    let (a, b) = (
        TestGateway::start_with(config()).await,
        TestGateway::start_with(config()).await,
    );
    // Three calls through one replica, two through the other: 0.01 together.
    for (gw, id) in [(&a, 1), (&a, 2), (&a, 3), (&b, 4), (&b, 5)] {
        let answer = gw.query(&reviews(id), json!({})).await;
        assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    }
    for gw in [&a, &b] {
        poll_until(
            "both replicas see 0.01 spent",
            Duration::from_secs(10),
            || async { ((reviews_spend_today(gw).await - 0.01).abs() < 1e-9).then_some(()) },
        )
        .await;
        let shed = gw.query(&reviews(6), json!({})).await;
        assert_eq!(code(&shed.body), "RATE_LIMITED", "{}", shed.body);
        assert_eq!(shed.body["errors"][0]["extensions"]["reason"], "budget");
    }
    drop((a, b));

    // A replica started later knows today's spend before its first request.
    let c = TestGateway::start_with(config()).await;
    let shed = c.query(&reviews(7), json!({})).await;
    assert_eq!(code(&shed.body), "RATE_LIMITED", "{}", shed.body);
    assert_eq!(
        c.calls_to("reviews", "GET /v1/products/{productId}/reviews"),
        0
    );
    let keys = redis.keys("switchyard:v1:spend:reviews:*").await;
    assert_eq!(keys.len(), 2, "a day and a month: {keys:?}");
}
