//! `GET /metrics`: what an operator's Prometheus scrapes.

mod support;

use serde_json::json;
use support::TestGateway;

async fn scrape(gw: &TestGateway) -> String {
    let response = gw
        .client
        .get(format!("{}/metrics", gw.base_url))
        .send()
        .await
        .expect("gateway answers /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn what_operators_scrape() {
    upstream_attempts_are_counted_by_provider_endpoint_and_outcome().await;
    cache_lookups_and_each_providers_breaker_and_quota_are_exposed().await;
    retries_breaker_transitions_and_quota_waits_are_counted().await;
    operations_and_spend_are_counted().await;
}

/// Asserts how much each series grew between two scrapes (an absent series is 0).
fn assert_grew(before: &str, after: &str, growth: &[(&str, f64)]) {
    for (series, want) in growth {
        let grew = sample(after, series).unwrap_or(0.0) - sample(before, series).unwrap_or(0.0);
        assert_eq!(grew, *want, "{series} grew by {grew}:\n{after}");
    }
}

/// Retries and breaker transitions of a provider that is down, waits for and refusals by a
/// provider's quota, bytes received, and the per-provider series that exist from the start.
async fn retries_breaker_transitions_and_quota_waits_are_counted() {
    let mut config = support::uncached();
    config.providers.catalog.quota = Some(switchyard::config::QuotaConfig {
        limit: 1,
        window_s: 1,
        shed_optional_below: 0.0,
    });
    let gw = TestGateway::start_with(config).await;
    let before = scrape(&gw).await;
    for series in [
        "switchyard_bulkhead_in_flight{provider=\"reviews\"} 0",
        "switchyard_bulkhead_queued{provider=\"reviews\"} 0",
        "switchyard_fields_shed_total{provider=\"reviews\",reason=\"budget\"}",
        "switchyard_circuit_transitions_total{provider=\"erapi\",to=\"open\"}",
        "switchyard_quota_limit{provider=\"catalog\"} 1",
    ] {
        assert!(before.contains(series), "{series} missing: {before}");
    }

    let title = |id: u32| format!("{{ product(id: \"{id}\") {{ title }} }}");
    let ok = gw.query(&title(1), json!({})).await;
    assert!(
        ok.body["data"]["product"]["title"].is_string(),
        "{}",
        ok.body
    );
    // The quota's one call is spent: a request that cannot wait for the window is refused
    // without a call, one that can waits.
    let refused = gw.query_within(&title(2), json!({}), 200).await;
    assert_eq!(
        support::code(&refused.body),
        "RATE_LIMITED",
        "{}",
        refused.body
    );
    let waited = gw.query(&title(3), json!({})).await;
    assert!(
        waited.body["data"]["product"]["title"].is_string(),
        "{}",
        waited.body
    );
    let after = scrape(&gw).await;
    assert_grew(
        &before,
        &after,
        &[
            (
                "switchyard_quota_rejections_total{provider=\"catalog\"}",
                1.0,
            ),
            ("switchyard_quota_waits_total{provider=\"catalog\"}", 1.0),
            (
                "switchyard_quota_wait_seconds_count{provider=\"catalog\"}",
                1.0,
            ),
        ],
    );
    let bytes = "switchyard_upstream_response_bytes_total{provider=\"catalog\"}";
    assert!(sample(&after, bytes).is_some_and(|n| n > 1000.0), "{after}");

    // The reviews vendor down: every call is retried once, and the breaker opens after ten.
    gw.outage("reviews");
    for id in 1..=5 {
        let query = format!("{{ product(id: \"{id}\") {{ reviewSummary {{ count }} }} }}");
        let answer = gw.query(&query, json!({})).await;
        assert!(answer.body["errors"].is_array(), "{}", answer.body);
    }
    let down = scrape(&gw).await;
    assert_grew(
        &after,
        &down,
        &[
            (
                "switchyard_upstream_retries_total{provider=\"reviews\"}",
                5.0,
            ),
            (
                "switchyard_circuit_transitions_total{provider=\"reviews\",to=\"open\"}",
                1.0,
            ),
        ],
    );
    assert_eq!(
        sample(&down, "switchyard_circuit_state{provider=\"reviews\"}"),
        Some(2.0)
    );
}

/// Each GraphQL operation by name (refusals before execution as `rejected`), and money.
async fn operations_and_spend_are_counted() {
    let gw = TestGateway::start_with(support::uncached()).await;
    let before = scrape(&gw).await;
    let named = "query ProductReviews { product(id: \"4\") { reviewSummary { count } } }";
    let named = gw.query(named, json!({})).await;
    assert!(named.body.get("errors").is_none(), "{}", named.body);
    let broken = gw.query("{ product(id: ", json!({})).await;
    assert_eq!(support::code(&broken.body), "GRAPHQL_PARSE_FAILED");
    gw.outage("catalog");
    let failing = "query Failing { product(id: \"5\") { title } }";
    let failed = gw.query(failing, json!({})).await;
    assert!(failed.body["errors"].is_array(), "{}", failed.body);

    let after = scrape(&gw).await;
    assert_grew(
        &before,
        &after,
        &[
            (
                "switchyard_graphql_requests_total{operation=\"ProductReviews\"}",
                1.0,
            ),
            (
                "switchyard_graphql_request_duration_seconds_count{operation=\"ProductReviews\"}",
                1.0,
            ),
            (
                "switchyard_graphql_errors_total{operation=\"Failing\",code=\"UPSTREAM_UNAVAILABLE\"}",
                1.0,
            ),
            (
                "switchyard_graphql_errors_total{operation=\"rejected\",code=\"GRAPHQL_PARSE_FAILED\"}",
                1.0,
            ),
            // One reviews call at 0.002 USD: 2,000 millionths.
            (
                "switchyard_spend_micros_total{provider=\"reviews\",currency=\"USD\"}",
                2000.0,
            ),
        ],
    );
    let today = "switchyard_spend_today{provider=\"reviews\",currency=\"USD\"}";
    assert!(
        sample(&after, today).is_some_and(|usd| usd >= 0.002),
        "{after}"
    );
    assert!(after.contains("switchyard_budget_used_ratio{provider=\"reviews\",period=\"month\"}"));
}

/// Attempts, by provider, endpoint and outcome, with their time.
async fn upstream_attempts_are_counted_by_provider_endpoint_and_outcome() {
    let gw = TestGateway::start_with(support::uncached()).await;
    let before = scrape(&gw).await;
    assert_eq!(
        sample(&before, "switchyard_build_info{version=\"0.1.0\"}"),
        Some(1.0)
    );
    assert!(sample(&before, "switchyard_uptime_seconds").is_some());

    let ok = gw
        .query("{ product(id: \"1\") { title } }", json!({}))
        .await;
    assert_eq!(
        ok.body["data"]["product"]["title"],
        "Essence Mascara Lash Princess"
    );
    let series = "switchyard_upstream_requests_total{provider=\"catalog\",endpoint=\"GET /products/{id}\",outcome=\"ok\"}";
    let after = scrape(&gw).await;
    assert_eq!(sample(&after, series), Some(1.0), "{after}");
    let count = "switchyard_upstream_request_duration_seconds_count{provider=\"catalog\",endpoint=\"GET /products/{id}\"}";
    assert_eq!(sample(&after, count), Some(1.0));
    assert!(after.contains("# TYPE switchyard_upstream_request_duration_seconds histogram"));

    // A provider down: its attempts are counted with the error's code.
    gw.outage("catalog");
    let failed = gw
        .query("{ product(id: \"2\") { title } }", json!({}))
        .await;
    assert!(failed.body["errors"].is_array(), "{}", failed.body);
    let failures = scrape(&gw).await;
    let unavailable = "switchyard_upstream_requests_total{provider=\"catalog\",endpoint=\"GET /products/{id}\",outcome=\"UPSTREAM_UNAVAILABLE\"}";
    assert!(
        sample(&failures, unavailable).is_some_and(|n| n >= 1.0),
        "{failures}"
    );
}

/// Cache lookups, and each provider's breaker and quota. (One test per binary: the recorder is
/// the process's, so tests running side by side would count into each other's series.)
async fn cache_lookups_and_each_providers_breaker_and_quota_are_exposed() {
    let mut config = switchyard::config::Config::default();
    config.cache.response_max_bytes = 0; // every request reaches the entity cache
    let gw = TestGateway::start_with(config).await;
    let before = scrape(&gw).await;
    for _ in 0..2 {
        let answer = gw
            .query("{ product(id: \"3\") { title } }", json!({}))
            .await;
        assert!(
            answer.body["data"]["product"]["title"].is_string(),
            "{}",
            answer.body
        );
    }
    let text = scrape(&gw).await;
    let lookups = |result: &str| {
        let series = |text: &str| {
            sample(
                text,
                &format!(
                    "switchyard_cache_lookups_total{{provider=\"catalog\",entity=\"products\",result=\"{result}\"}}"
                ),
            )
            .unwrap_or(0.0)
        };
        series(&text) - series(&before)
    };
    assert_eq!(lookups("miss"), 1.0, "{text}");
    assert_eq!(lookups("hit"), 1.0, "{text}");
    assert_eq!(
        sample(&text, "switchyard_circuit_state{provider=\"catalog\"}"),
        Some(0.0)
    );
    // The catalog's quota is 100 per 10 s; one call was made.
    assert_eq!(
        sample(&text, "switchyard_quota_remaining{provider=\"catalog\"}"),
        Some(99.0),
        "{text}"
    );
}
