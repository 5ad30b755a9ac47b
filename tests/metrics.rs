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
