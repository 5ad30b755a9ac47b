//! The Redis second tier, end to end with a real redis-server: replicas (gateways with their
//! own sandboxes) share entries with the same freshness windows, invalidations reach every
//! replica and Redis, and a Redis that dies or hangs fails no request.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::redis::RedisServer;
use support::{TestGateway, operation, poll_until};
use switchyard::config::Config;

const ALL: [&str; 5] = ["catalog", "frankfurter", "erapi", "inventory", "reviews"];

fn total_calls(gw: &TestGateway) -> u64 {
    ALL.iter().map(|p| gw.sandbox(p).total()).sum()
}

fn with_redis(redis: &RedisServer, mut config: Config) -> Config {
    config.cache.redis_url = Some(redis.url());
    config
}

async fn replica(redis: &RedisServer) -> TestGateway {
    TestGateway::start_with(with_redis(redis, Config::default())).await
}

/// The Redis tier's entry in `/readyz`.
async fn tier(gw: &TestGateway) -> Value {
    let ready = gw.readyz().await;
    assert_eq!(ready.status, 200, "Redis never makes the gateway unready");
    ready.body["cache"]["redis"].clone()
}

/// Polls `/readyz` until `done` holds for the Redis tier's entry.
async fn until(gw: &TestGateway, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    poll_until(what, Duration::from_secs(10), || async {
        let status = tier(gw).await;
        done(&status).then_some(status)
    })
    .await
}

async fn written(gw: &TestGateway) -> Value {
    until(gw, "writes reach Redis", |s| {
        s["pendingWrites"] == 0 && s["written"].as_u64() > Some(0)
    })
    .await
}

/// The storefront page, all 20 products and no error.
async fn storefront_in_full(gw: &TestGateway) {
    let answer = gw.query(&operation("storefront"), json!({})).await;
    no_errors(&answer);
    let edges = answer.body["data"]["products"]["edges"].as_array();
    assert_eq!(edges.map(Vec::len), Some(20), "{}", answer.body);
}

fn no_errors(answer: &support::Answer) {
    assert_eq!(answer.status, 200);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
}

#[tokio::test]
async fn what_one_replica_fetched_is_a_hit_on_another() {
    let redis = RedisServer::start().await;
    let a = replica(&redis).await;
    let b = replica(&redis).await;

    let cold = a.query(&operation("storefront"), json!({})).await;
    no_errors(&cold);
    written(&a).await;
    for namespace in [
        "catalog:pages",
        "inventory:stock",
        "reviews:reviews",
        "fx:rates",
    ] {
        let keys = redis.keys(&format!("switchyard:v1:{namespace}:*")).await;
        assert!(!keys.is_empty(), "nothing of {namespace} in Redis");
    }
    let stock = redis.keys("switchyard:v1:inventory:stock:*").await;
    let entry: Value =
        serde_json::from_str(&redis.get(&stock[0]).await.expect("stored")).expect("JSON");
    assert!(
        entry["storedMs"].is_u64() && entry["freshMs"].is_u64(),
        "{entry}"
    );
    assert!(entry["value"]["available"].is_u64(), "{entry}");

    let warm = b.query(&operation("storefront"), json!({})).await;
    assert_eq!(warm.body, cold.body);
    assert_eq!(
        total_calls(&b),
        0,
        "B called its providers: {:?}",
        ALL.map(|p| b.calls(p))
    );
    let status = tier(&b).await;
    assert!(status["hits"].as_u64() > Some(20), "{status}");
}

#[tokio::test]
async fn a_shared_entry_keeps_its_age_and_stands_in_when_the_provider_fails() {
    let redis = RedisServer::start().await;
    // Catalog entries past their freshness at once, usable for stale-if-error for an hour.
    let config = || {
        let mut config = with_redis(&redis, Config::default());
        let cache = &mut config.providers.catalog.cache;
        cache.ttl_s = 0;
        cache.swr_s = 0;
        cache.max_stale_s = 3600;
        config
    };
    let a = TestGateway::start_with(config()).await;
    let b = TestGateway::start_with(config()).await;
    let query = r#"{ product(id: "3") { title } }"#;
    let fresh = a.query(query, json!({})).await;
    no_errors(&fresh);
    written(&a).await;

    b.outage("catalog");
    let stale = b.query(query, json!({})).await;
    assert_eq!(stale.body["data"], fresh.body["data"]);
    assert!(stale.body.get("errors").is_none(), "{}", stale.body);
    assert!(
        b.sandbox("catalog").total() >= 1,
        "the entry was expired, so B tried its provider first"
    );
    let listed = &stale.body["extensions"]["stale"][0];
    assert_eq!(listed["provider"], "catalog", "{}", stale.body);
    assert_eq!(listed["reason"], "UPSTREAM_UNAVAILABLE");
}

#[tokio::test]
async fn an_invalidation_reaches_redis_and_every_replica() {
    const TOKEN_VAR: &str = "SWITCHYARD_REDIS_TEST_ADMIN_TOKEN";
    // SAFETY: set before the gateways start, to a value no one else reads; std serialises
    // its own environment reads, and nothing in these tests reads it through libc.
    unsafe { std::env::set_var(TOKEN_VAR, "redis-admin") };
    let redis = RedisServer::start().await;
    let config = || {
        let mut config = with_redis(&redis, Config::default());
        config.cache.admin_token_env = TOKEN_VAR.into();
        config
    };
    let a = TestGateway::start_with(config()).await;
    let b = TestGateway::start_with(config()).await;
    until(&b, "B listens for invalidations", |s| {
        s["subscribed"] == true
    })
    .await;

    let query = r#"{ product(id: "6") { title } }"#;
    no_errors(&a.query(query, json!({})).await);
    written(&a).await;
    no_errors(&b.query(query, json!({})).await);
    assert_eq!(b.sandbox("catalog").total(), 0, "B read it from Redis");
    assert_eq!(
        redis.keys("switchyard:v1:catalog:products:6").await.len(),
        1
    );

    let evicted = a
        .invalidate(
            "redis-admin",
            json!({ "provider": "catalog", "entity": "products", "key": "6" }),
        )
        .await;
    assert_eq!(evicted.status(), 200);
    let body: Value = evicted.json().await.expect("JSON");
    assert_eq!(body["tiers"], json!(["memory", "redis"]));
    assert!(
        redis
            .keys("switchyard:v1:catalog:products:6")
            .await
            .is_empty()
    );

    // B evicts its memory copy when the message arrives; until then it may answer from it.
    poll_until("B drops its copy", Duration::from_secs(10), || async {
        no_errors(&b.query(query, json!({})).await);
        (b.calls_to("catalog", "GET /products/{id}") > 0).then_some(())
    })
    .await;
    assert_eq!(b.calls_to("catalog", "GET /products/{id}"), 1);
}

#[tokio::test]
async fn redis_stopped_mid_test_fails_no_request_and_is_used_again_when_back() {
    let mut redis = RedisServer::start().await;
    let gw = replica(&redis).await;
    no_errors(
        &gw.query(r#"{ product(id: "1") { title } }"#, json!({}))
            .await,
    );
    let before = written(&gw).await;

    redis.kill();
    // Cold keys (Redis reads fail) and warm ones (memory): all answered in full.
    storefront_in_full(&gw).await;
    no_errors(
        &gw.query(r#"{ product(id: "1") { title } }"#, json!({}))
            .await,
    );
    let down = tier(&gw).await;
    assert_eq!(down["state"], "down", "{down}");
    assert!(down["lastError"].is_string(), "{down}");

    redis.restart().await;
    // After the retry pause the tier is probed again and new entries reach the new server.
    let ids = std::sync::atomic::AtomicU64::new(100);
    poll_until("Redis is used again", Duration::from_secs(10), || async {
        let id = ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let query = format!(r#"{{ product(id: "{id}") {{ title }} }}"#);
        no_errors(&gw.query(&query, json!({})).await);
        let stored = redis.keys("switchyard:v1:catalog:products:*").await;
        (!stored.is_empty()).then_some(())
    })
    .await;
    let up = until(&gw, "the tier is up again", |s| s["state"] == "up").await;
    assert!(up["written"].as_u64() > before["written"].as_u64(), "{up}");
}

#[tokio::test]
async fn a_hung_redis_holds_no_request() {
    let redis = RedisServer::start().await;
    let mut config = with_redis(&redis, Config::default());
    // Far below the request's deadline: a wait for Redis would show as errors.
    config.server.deadline_ms = 3000;
    let gw = TestGateway::start_with(config).await;
    no_errors(
        &gw.query(r#"{ product(id: "1") { title } }"#, json!({}))
            .await,
    );
    written(&gw).await;

    redis.pause();
    storefront_in_full(&gw).await;
    let status = tier(&gw).await;
    assert_eq!(status["state"], "down", "{status}");
    assert!(status["timeouts"].as_u64() >= Some(1), "{status}");
    redis.resume();
}
