//! The adapter on the service's documented bodies, the adapter against its sandbox over HTTP,
//! and the sandbox's wire behaviour.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{HeaderValue, Method, header};
use serde_json::{Value, json};

use super::*;
use crate::capability::Inventory;
use crate::domain::{Sku, Stock};
use crate::error::ProviderError;
use crate::sandbox::{FaultPlan, Sandbox, SandboxHandle, serve};
use crate::transport::http_testing::HttpTransport;
use crate::transport::testing::{FnTransport, json};
use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

const TOKEN_200: &str = include_str!("../../fixtures/inventory/token-200.json");
const TOKEN_401_INVALID_CLIENT: &str =
    include_str!("../../fixtures/inventory/token-401-invalid-client.json");
const STOCK_200: &str = include_str!("../../fixtures/inventory/stock-200.json");
const STOCK_400_TOO_MANY_SKUS: &str =
    include_str!("../../fixtures/inventory/stock-400-too-many-skus.json");
const STOCK_401_INVALID_TOKEN: &str =
    include_str!("../../fixtures/inventory/stock-401-invalid-token.json");
const STOCK_429_RATE_LIMITED: &str =
    include_str!("../../fixtures/inventory/stock-429-rate-limited.json");
const STOCK_503_UNAVAILABLE: &str =
    include_str!("../../fixtures/inventory/stock-503-unavailable.json");
const RESERVATION_201: &str = include_str!("../../fixtures/inventory/reservation-201.json");
const RESERVATION_400_KEY_REQUIRED: &str =
    include_str!("../../fixtures/inventory/reservation-400-key-required.json");
const RESERVATION_409_INSUFFICIENT_STOCK: &str =
    include_str!("../../fixtures/inventory/reservation-409-insufficient-stock.json");
const RESERVATION_409_KEY_IN_USE: &str =
    include_str!("../../fixtures/inventory/reservation-409-key-in-use.json");
const RESERVATION_422_KEY_REUSED: &str =
    include_str!("../../fixtures/inventory/reservation-422-key-reused.json");
const CATALOGUE: &str = include_str!("../../data/dummyjson-products.json");

/// The token in `token-200.json`.
const FIXTURE_TOKEN: &str = "inv_3f9a1c";
const SECRET: &str = "s3cret-never-printed";

const TOKEN: &str = "POST /oauth/token";
const STOCK: &str = "GET /v2/stock";
const RESERVATIONS: &str = "POST /v2/reservations";

fn credentials() -> Credentials {
    Credentials {
        client_id: "storefront".into(),
        client_secret: SECRET.into(),
    }
}

fn sandbox_credentials() -> Credentials {
    Credentials {
        client_id: SANDBOX_CLIENT_ID.into(),
        client_secret: SANDBOX_CLIENT_SECRET.into(),
    }
}

fn skus(names: &[&str]) -> Vec<Sku> {
    names.iter().map(|s| Sku((*s).to_owned())).collect()
}

fn token_answer(token: &str, expires_in: u64) -> UpstreamResponse {
    json(
        200,
        format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{expires_in}}}"#),
    )
}

fn with_retry_after(mut response: UpstreamResponse, secs: u64) -> UpstreamResponse {
    response
        .headers
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

fn bearer_of(request: &UpstreamRequest) -> String {
    request
        .headers
        .iter()
        .find(|(name, _)| name == header::AUTHORIZATION)
        .and_then(|(_, value)| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The SKUs of a `GET /v2/stock` request, decoded.
fn skus_asked(request: &UpstreamRequest) -> Vec<String> {
    let query = request
        .path_and_query
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "skus")
        .map(|(_, value)| value.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A stock body with one item per SKU asked for, as the service would answer.
fn stock_body_for(request: &UpstreamRequest) -> String {
    let items: Vec<Value> = skus_asked(request)
        .into_iter()
        .map(|sku| {
            json!({"sku": sku, "available": 7, "reserved": 1, "warehouse": "AMS-2",
                   "updatedAt": "2026-11-28T09:12:44Z"})
        })
        .collect();
    json!({ "items": items, "missing": [] }).to_string()
}

fn sent_to(transport: &FnTransport, endpoint: &str) -> Vec<UpstreamRequest> {
    transport
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == endpoint)
        .collect()
}

/// Token endpoint: the fixture's token; stock endpoint: `stock`.
fn fixture_service(
    stock: impl Fn(&UpstreamRequest) -> UpstreamResponse + Send + Sync + 'static,
) -> FnTransport {
    FnTransport::new(move |request| {
        Ok(if request.endpoint == TOKEN {
            json(200, TOKEN_200)
        } else {
            stock(request)
        })
    })
}

fn warehouse(transport: &FnTransport) -> Warehouse {
    Warehouse::new(Arc::new(transport.clone()), credentials())
}

fn assert_no_secrets(err: &ProviderError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    assert!(!shown.contains(FIXTURE_TOKEN), "token leaked: {shown}");
    assert!(!shown.contains("tok-"), "token leaked: {shown}");
}

fn fixture_stock() -> Stock {
    Stock {
        sku: Sku("BEA-ESS-ESS-001".into()),
        available: 99,
        reserved: 2,
        warehouse: "FRA-1".into(),
        updated_at: "2026-11-28T09:12:44Z".parse::<DateTime<Utc>>().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// The adapter on canned bodies.

#[tokio::test]
async fn stock_maps_items_and_leaves_missing_skus_out() {
    let transport = fixture_service(|_| json(200, STOCK_200));
    let stock = warehouse(&transport)
        .stock(&skus(&["BEA-ESS-ESS-001", "NOPE-000"]))
        .await
        .unwrap();
    assert_eq!(stock.len(), 1);
    assert_eq!(stock[&Sku("BEA-ESS-ESS-001".into())], fixture_stock());
    assert!(!stock.contains_key(&Sku("NOPE-000".into())));
}

#[tokio::test]
async fn requests_follow_the_documented_format() {
    let transport = fixture_service(|_| json(200, STOCK_200));
    let inventory = warehouse(&transport);
    assert_eq!(inventory.max_batch(), 50);
    inventory
        .stock(&skus(&["BEA-ESS-ESS-001", "NOPE 000/å"]))
        .await
        .unwrap();

    let token = &sent_to(&transport, TOKEN)[0];
    assert_eq!(token.method, Method::POST);
    assert_eq!(token.path_and_query, "/oauth/token");
    assert!(token.idempotent, "asking for a token again is harmless");
    let content_type = token
        .headers
        .iter()
        .find(|(name, _)| name == header::CONTENT_TYPE)
        .map(|(_, value)| value.to_str().unwrap());
    assert_eq!(content_type, Some("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = form_urlencoded::parse(token.body.as_deref().unwrap())
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "storefront");
    assert_eq!(form["client_secret"], SECRET);

    let stock = &sent_to(&transport, STOCK)[0];
    assert_eq!(stock.method, Method::GET);
    assert!(stock.idempotent);
    assert_eq!(
        stock.path_and_query,
        "/v2/stock?skus=BEA-ESS-ESS-001,NOPE+000%2F%C3%A5"
    );
    assert_eq!(skus_asked(stock), ["BEA-ESS-ESS-001", "NOPE 000/å"]);
    let (_, authorization) = stock
        .headers
        .iter()
        .find(|(name, _)| name == header::AUTHORIZATION)
        .unwrap();
    assert_eq!(authorization, "Bearer inv_3f9a1c");
    assert!(authorization.is_sensitive());
}

#[tokio::test]
async fn the_token_is_reused_across_calls() {
    let transport = fixture_service(|_| json(200, STOCK_200));
    let inventory = warehouse(&transport);
    for _ in 0..3 {
        inventory.stock(&skus(&["BEA-ESS-ESS-001"])).await.unwrap();
    }
    assert_eq!(sent_to(&transport, TOKEN).len(), 1);
    assert_eq!(sent_to(&transport, STOCK).len(), 3);
}

/// Issues `tok-1`, `tok-2`, ... in turn; the stock endpoint answers with `stock(bearer)`.
fn rotating_tokens(
    stock: impl Fn(&str, &UpstreamRequest) -> UpstreamResponse + Send + Sync + 'static,
) -> FnTransport {
    let issued = AtomicUsize::new(0);
    FnTransport::new(move |request| {
        Ok(if request.endpoint == TOKEN {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            token_answer(&format!("tok-{n}"), 3600)
        } else {
            stock(&bearer_of(request), request)
        })
    })
}

#[tokio::test]
async fn invalid_token_is_refreshed_once_and_the_call_retried() {
    let transport = rotating_tokens(|bearer, request| {
        if bearer == "Bearer tok-1" {
            json(401, STOCK_401_INVALID_TOKEN)
        } else {
            json(200, stock_body_for(request))
        }
    });
    let inventory = warehouse(&transport);
    let stock = inventory.stock(&skus(&["A-1", "B-2"])).await.unwrap();
    assert_eq!(stock.len(), 2);
    let stock_calls = sent_to(&transport, STOCK);
    assert_eq!(sent_to(&transport, TOKEN).len(), 2);
    assert_eq!(stock_calls.len(), 2);
    assert_eq!(bearer_of(&stock_calls[1]), "Bearer tok-2");
    assert_eq!(stock_calls[0].path_and_query, stock_calls[1].path_and_query);

    // The replacement is cached like any token.
    inventory.stock(&skus(&["A-1"])).await.unwrap();
    assert_eq!(sent_to(&transport, TOKEN).len(), 2);
}

#[tokio::test]
async fn a_second_invalid_token_is_an_auth_error() {
    let transport = rotating_tokens(|_, _| json(401, STOCK_401_INVALID_TOKEN));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("invalid_token"), "{err}");
    assert_no_secrets(&err);
    assert_eq!(sent_to(&transport, TOKEN).len(), 2);
    assert_eq!(sent_to(&transport, STOCK).len(), 2);
}

#[tokio::test]
async fn refused_client_credentials_are_an_auth_error() {
    let transport = FnTransport::new(|request| {
        Ok(if request.endpoint == TOKEN {
            json(401, TOKEN_401_INVALID_CLIENT)
        } else {
            json(200, STOCK_200)
        })
    });
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(!err.retryable());
    assert_no_secrets(&err);
    assert!(sent_to(&transport, STOCK).is_empty());
}

#[tokio::test]
async fn rate_limited_and_unavailable_carry_retry_after() {
    let transport = fixture_service(|_| with_retry_after(json(429, STOCK_429_RATE_LIMITED), 1));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: "rate_limited".into(),
            retry_after: Some(Duration::from_secs(1)),
        }
    );

    let transport = fixture_service(|_| with_retry_after(json(503, STOCK_503_UNAVAILABLE), 5));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(503),
            message: "unavailable".into(),
            retry_after: Some(Duration::from_secs(5)),
        }
    );

    // The token endpoint sits behind the same gateway.
    let transport = FnTransport::new(|_| Ok(with_retry_after(json(503, STOCK_503_UNAVAILABLE), 7)));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_UNAVAILABLE");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn too_many_skus_is_bad_input() {
    let transport = fixture_service(|_| json(400, STOCK_400_TOO_MANY_SKUS));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::BadInput("too_many_skus (max 50)".into())
    );
}

#[tokio::test]
async fn undecodable_answers_are_bad_responses() {
    let transport = fixture_service(|_| json(200, "<html><body>502 Bad Gateway</body></html>"));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE", "{err:?}");

    let transport = fixture_service(|_| json(200, r#"{"items":[{"sku":"A-1","available":-3}]}"#));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE", "{err:?}");

    // A broken token answer is reported without quoting it (it may hold the token).
    for body in [
        r#"{"access_token":"tok-secret","token_type":"Bearer"}"#,
        r#"{"access_token":"tok-secret","token_type":"Bearer","expires_in":"tok-secret"}"#,
        r#"{"access_token":"tok-secret","token_type":"mac","expires_in":60}"#,
        "not json",
    ] {
        let transport = FnTransport::new(move |_| Ok(json(200, body)));
        let err = warehouse(&transport)
            .stock(&skus(&["A-1"]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE", "{err:?}");
        assert_no_secrets(&err);
    }

    // A 404 means a wrong base URL, not an unknown SKU.
    let transport = fixture_service(|_| json(404, r#"{"error":"not_found"}"#));
    let err = warehouse(&transport)
        .stock(&skus(&["A-1"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE", "{err:?}");
}

#[tokio::test]
async fn more_than_50_skus_are_split_into_calls_of_at_most_50() {
    let transport = fixture_service(|request| json(200, stock_body_for(request)));
    let asked: Vec<Sku> = (0..75).map(|i| Sku(format!("SKU-{i:03}"))).collect();
    let stock = warehouse(&transport).stock(&asked).await.unwrap();
    assert_eq!(stock.len(), 75);
    assert!(asked.iter().all(|sku| stock.contains_key(sku)));
    let calls: Vec<usize> = sent_to(&transport, STOCK)
        .iter()
        .map(|r| skus_asked(r).len())
        .collect();
    assert_eq!(calls, [50, 25]);
    assert_eq!(sent_to(&transport, TOKEN).len(), 1);
}

#[tokio::test]
async fn repeated_empty_and_comma_skus_are_not_sent() {
    let transport = fixture_service(|request| json(200, stock_body_for(request)));
    let inventory = warehouse(&transport);
    assert!(inventory.stock(&[]).await.unwrap().is_empty());
    assert!(
        inventory
            .stock(&skus(&["", "A,B"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(transport.requests().is_empty(), "nothing worth asking");

    let stock = inventory
        .stock(&skus(&["A-1", "A-1", "A,B", "B-2"]))
        .await
        .unwrap();
    assert_eq!(stock.len(), 2);
    assert_eq!(skus_asked(&sent_to(&transport, STOCK)[0]), ["A-1", "B-2"]);
}

#[test]
fn debug_output_hides_the_secret() {
    let shown = format!("{:?}", credentials());
    assert!(shown.contains("storefront"));
    assert!(!shown.contains(SECRET), "{shown}");
    let transport = FnTransport::new(|_| Ok(json(200, "{}")));
    let shown = format!("{:?}", warehouse(&transport));
    assert!(!shown.contains(SECRET), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn the_token_is_renewed_shortly_before_it_expires() {
    let transport = rotating_tokens(|_, request| json(200, stock_body_for(request)));
    let inventory = warehouse(&transport);
    let ask = skus(&["A-1"]);
    inventory.stock(&ask).await.unwrap();
    // 3600 s tokens are renewed a minute early.
    tokio::time::advance(Duration::from_secs(3539)).await;
    inventory.stock(&ask).await.unwrap();
    assert_eq!(sent_to(&transport, TOKEN).len(), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    inventory.stock(&ask).await.unwrap();
    assert_eq!(sent_to(&transport, TOKEN).len(), 2);
    let bearers: Vec<String> = sent_to(&transport, STOCK).iter().map(bearer_of).collect();
    assert_eq!(bearers, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);
}

/// Answers after `delay` of tokio time, so that concurrent callers overlap.
struct SlowTransport {
    delay: Duration,
    inner: FnTransport,
}

#[async_trait]
impl Transport for SlowTransport {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        tokio::time::sleep(self.delay).await;
        self.inner.send(request).await
    }
}

fn slow_warehouse(inner: &FnTransport) -> Warehouse {
    let slow = SlowTransport {
        delay: Duration::from_millis(50),
        inner: inner.clone(),
    };
    Warehouse::new(Arc::new(slow), credentials())
}

#[tokio::test(start_paused = true)]
async fn concurrent_calls_share_one_token_request() {
    let transport = rotating_tokens(|_, request| json(200, stock_body_for(request)));
    let inventory = slow_warehouse(&transport);
    let ask = skus(&["A-1"]);
    let results = futures_util::future::join_all((0..20).map(|_| inventory.stock(&ask))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(sent_to(&transport, TOKEN).len(), 1);
    assert_eq!(sent_to(&transport, STOCK).len(), 20);
}

#[tokio::test(start_paused = true)]
async fn concurrent_calls_share_one_failed_token_request() {
    let transport = FnTransport::new(|_| Ok(json(503, STOCK_503_UNAVAILABLE)));
    let inventory = slow_warehouse(&transport);
    let ask = skus(&["A-1"]);
    let results = futures_util::future::join_all((0..20).map(|_| inventory.stock(&ask))).await;
    assert!(results.iter().all(|r| {
        r.as_ref()
            .is_err_and(|e| e.code() == "UPSTREAM_UNAVAILABLE")
    }));
    assert_eq!(sent_to(&transport, TOKEN).len(), 1);
    // The failure is not cached: the next call asks again.
    let _ = inventory.stock(&ask).await;
    assert_eq!(sent_to(&transport, TOKEN).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_does_not_wedge_the_token_request() {
    let transport = rotating_tokens(|_, request| json(200, stock_body_for(request)));
    let inventory = slow_warehouse(&transport);
    let ask = skus(&["A-1"]);
    let gave_up = tokio::time::timeout(Duration::from_millis(10), inventory.stock(&ask)).await;
    assert!(gave_up.is_err(), "the token request takes 50 ms");
    let stock = inventory.stock(&ask).await.unwrap();
    assert_eq!(stock.len(), 1);
    assert_eq!(
        sent_to(&transport, TOKEN).len(),
        1,
        "the abandoned request was resumed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_rejections_costs_one_refresh() {
    let transport = rotating_tokens(|bearer, request| {
        if bearer == "Bearer tok-1" {
            json(401, STOCK_401_INVALID_TOKEN)
        } else {
            json(200, stock_body_for(request))
        }
    });
    let inventory = slow_warehouse(&transport);
    let ask = skus(&["A-1"]);
    let results = futures_util::future::join_all((0..10).map(|_| inventory.stock(&ask))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(sent_to(&transport, TOKEN).len(), 2);
    assert_eq!(sent_to(&transport, STOCK).len(), 20);
}

// ---------------------------------------------------------------------------------------------
// The adapter against the sandbox, over HTTP.

async fn start(sandbox: Sandbox) -> (String, SandboxHandle) {
    let (addr, _server) = serve(sandbox.router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (format!("http://{addr}"), sandbox.handle)
}

fn over_http(base: &str, credentials: Credentials) -> Warehouse {
    Warehouse::new(Arc::new(HttpTransport::new(base)), credentials)
}

fn calls(handle: &SandboxHandle, endpoint: &str) -> u64 {
    handle.counters().get(endpoint).copied().unwrap_or(0)
}

#[derive(serde::Deserialize)]
struct CatalogueProduct {
    sku: String,
    stock: u32,
}

fn catalogue() -> Vec<CatalogueProduct> {
    serde_json::from_str(CATALOGUE).unwrap()
}

#[tokio::test]
async fn adapter_reads_stock_from_the_sandbox() {
    let (base, handle) = start(sandbox()).await;
    let inventory = over_http(&base, sandbox_credentials());
    let stock = inventory
        .stock(&skus(&["BEA-ESS-ESS-001", "NOPE-000", "BEA-GLA-EYE-002"]))
        .await
        .unwrap();
    assert_eq!(stock.len(), 2);
    assert_eq!(stock[&Sku("BEA-ESS-ESS-001".into())], fixture_stock());
    assert_eq!(stock[&Sku("BEA-GLA-EYE-002".into())].available, 34);
    assert_eq!(calls(&handle, TOKEN), 1);
    assert_eq!(calls(&handle, STOCK), 1);
}

#[tokio::test]
async fn the_sandbox_stocks_every_catalogue_sku() {
    let (base, handle) = start(sandbox()).await;
    let inventory = over_http(&base, sandbox_credentials());
    let products = catalogue();
    assert_eq!(products.len(), 194);
    let asked: Vec<Sku> = products.iter().map(|p| Sku(p.sku.clone())).collect();
    let stock = inventory.stock(&asked).await.unwrap();
    assert_eq!(stock.len(), products.len());
    for product in &products {
        let item = &stock[&Sku(product.sku.clone())];
        assert_eq!(item.available, product.stock, "{}", product.sku);
        assert!(item.reserved < 7);
        assert!(["FRA-1", "AMS-2", "WAW-1", "MAD-3"].contains(&item.warehouse.as_str()));
    }
    // 194 SKUs: 50 + 50 + 50 + 44.
    assert_eq!(calls(&handle, STOCK), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_calls_fetch_one_token() {
    let (base, handle) = start(sandbox()).await;
    let inventory = Arc::new(over_http(&base, sandbox_credentials()));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let inventory = inventory.clone();
            tokio::spawn(async move { inventory.stock(&skus(&["BEA-ESS-ESS-001"])).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().len(), 1);
    }
    assert_eq!(calls(&handle, TOKEN), 1);
    assert_eq!(calls(&handle, STOCK), 20);
}

#[tokio::test(start_paused = true)]
async fn the_adapter_renews_a_sandbox_token_that_expired() {
    let (base, handle) = start(sandbox()).await;
    let inventory = over_http(&base, sandbox_credentials());
    let ask = skus(&["BEA-ESS-ESS-001"]);
    inventory.stock(&ask).await.unwrap();
    inventory.stock(&ask).await.unwrap();
    assert_eq!(calls(&handle, TOKEN), 1);
    tokio::time::advance(Duration::from_secs(3600)).await;
    inventory.stock(&ask).await.unwrap();
    assert_eq!(calls(&handle, TOKEN), 2);
    assert_eq!(
        calls(&handle, STOCK),
        3,
        "renewed before use, not after a 401"
    );
}

#[tokio::test]
async fn a_token_the_sandbox_refuses_costs_one_refresh_then_fails() {
    let (base, handle) = start(sandbox_with(SandboxOptions {
        token_lifetime: Duration::ZERO,
        ..SandboxOptions::default()
    }))
    .await;
    let err = over_http(&base, sandbox_credentials())
        .stock(&skus(&["BEA-ESS-ESS-001"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err:?}");
    assert_eq!(calls(&handle, TOKEN), 2);
    assert_eq!(calls(&handle, STOCK), 2);
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error_from_the_sandbox() {
    let (base, handle) = start(sandbox()).await;
    let err = over_http(&base, credentials())
        .stock(&skus(&["BEA-ESS-ESS-001"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err:?}");
    assert_no_secrets(&err);
    assert_eq!(calls(&handle, STOCK), 0);
}

#[tokio::test]
async fn injected_faults_reach_the_adapter_as_provider_errors() {
    let (base, handle) = start(sandbox()).await;
    let inventory = over_http(&base, sandbox_credentials());
    inventory.stock(&skus(&["BEA-ESS-ESS-001"])).await.unwrap();

    handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(2),
        ..FaultPlan::default()
    });
    let err = inventory
        .stock(&skus(&["BEA-ESS-ESS-001"]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: "rate_limited".into(),
            retry_after: Some(Duration::from_secs(2)),
        }
    );

    handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let err = inventory
        .stock(&skus(&["BEA-ESS-ESS-001"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Unavailable {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );

    handle.set_faults(FaultPlan {
        malformed_body: true,
        ..FaultPlan::default()
    });
    let err = inventory
        .stock(&skus(&["BEA-ESS-ESS-001"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}

// ---------------------------------------------------------------------------------------------
// The sandbox's wire behaviour.

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn fetch_token(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/oauth/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={SANDBOX_CLIENT_ID}&client_secret={SANDBOX_CLIENT_SECRET}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get_stock(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
) -> reqwest::Response {
    client
        .get(format!("{base}/v2/stock?{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn fixture(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

fn header_of<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `r` of an IETF `RateLimit: "default";r=17;t=1` field.
fn remaining(response: &reqwest::Response) -> u32 {
    let field = header_of(response, "ratelimit").unwrap();
    field
        .split(';')
        .find_map(|part| part.strip_prefix("r="))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no remaining count in {field}"))
}

#[tokio::test]
async fn the_token_endpoint_issues_bearer_tokens_to_the_sandbox_client_only() {
    let (base, handle) = start(sandbox()).await;
    let client = client();
    let post = |body: String| {
        client
            .post(format!("{base}/oauth/token"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    let ok = post(format!(
        "grant_type=client_credentials&client_id={SANDBOX_CLIENT_ID}&client_secret={SANDBOX_CLIENT_SECRET}"
    ))
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(header_of(&ok, "cache-control"), Some("no-store"));
    assert!(
        header_of(&ok, "ratelimit").is_none(),
        "not under the API quota"
    );
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().unwrap().starts_with("inv_"));

    let refused = post(format!(
        "grant_type=client_credentials&client_id={SANDBOX_CLIENT_ID}&client_secret=guess"
    ))
    .await
    .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        fixture(TOKEN_401_INVALID_CLIENT)
    );

    let wrong_grant = post(format!(
        "grant_type=password&client_id={SANDBOX_CLIENT_ID}&client_secret={SANDBOX_CLIENT_SECRET}"
    ))
    .await
    .unwrap();
    assert_eq!(wrong_grant.status(), 400);
    assert_eq!(
        wrong_grant.json::<Value>().await.unwrap(),
        json!({"error": "unsupported_grant_type"})
    );

    let garbage = post("client_id=only".into()).await.unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(
        garbage.json::<Value>().await.unwrap(),
        json!({"error": "invalid_request"})
    );
    assert_eq!(calls(&handle, TOKEN), 4);
}

#[tokio::test]
async fn stock_requires_a_token_the_sandbox_issued() {
    let (base, _handle) = start(sandbox()).await;
    let client = client();
    let anonymous = client
        .get(format!("{base}/v2/stock?skus=BEA-ESS-ESS-001"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        header_of(&anonymous, "www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    assert!(header_of(&anonymous, "ratelimit").is_some());
    assert_eq!(
        anonymous.json::<Value>().await.unwrap(),
        fixture(STOCK_401_INVALID_TOKEN)
    );

    let forged = get_stock(&client, &base, "inv_forged", "skus=BEA-ESS-ESS-001").await;
    assert_eq!(forged.status(), 401);
    assert_eq!(
        forged.json::<Value>().await.unwrap(),
        fixture(STOCK_401_INVALID_TOKEN)
    );
}

#[tokio::test(start_paused = true)]
async fn sandbox_tokens_expire_after_expires_in() {
    let (base, _handle) = start(sandbox_with(SandboxOptions {
        token_lifetime: Duration::from_secs(60),
        ..SandboxOptions::default()
    }))
    .await;
    let client = client();
    let token = fetch_token(&client, &base).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    let fresh = get_stock(&client, &base, &token, "skus=BEA-ESS-ESS-001").await;
    assert_eq!(fresh.status(), 200);
    tokio::time::advance(Duration::from_secs(1)).await;
    let expired = get_stock(&client, &base, &token, "skus=BEA-ESS-ESS-001").await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap(),
        fixture(STOCK_401_INVALID_TOKEN)
    );
}

#[tokio::test]
async fn stock_answers_in_the_documented_shape() {
    let (base, _handle) = start(sandbox()).await;
    let client = client();
    let token = fetch_token(&client, &base).await;

    let response = get_stock(&client, &base, &token, "skus=BEA-ESS-ESS-001,NOPE-000").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header_of(&response, "cache-control"), Some("max-age=5"));
    assert_eq!(
        header_of(&response, "ratelimit-policy"),
        Some("\"default\";q=20;w=1")
    );
    let field = header_of(&response, "ratelimit").unwrap();
    assert!(
        field.starts_with("\"default\";r=") && field.ends_with(";t=1"),
        "{field}"
    );
    assert_eq!(response.json::<Value>().await.unwrap(), fixture(STOCK_200));

    // Unknown SKUs under `missing` in request order; repeats answered once.
    let response = get_stock(
        &client,
        &base,
        &token,
        "skus=NOPE-2,BEA-GLA-EYE-002,NOPE-1,NOPE-2,BEA-ESS-ESS-001",
    )
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["missing"], json!(["NOPE-2", "NOPE-1"]));
    let items: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["BEA-GLA-EYE-002", "BEA-ESS-ESS-001"]);
}

#[tokio::test]
async fn stock_takes_one_to_fifty_skus() {
    let (base, _handle) = start(sandbox()).await;
    let client = client();
    let token = fetch_token(&client, &base).await;
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("SKU-{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };

    let fifty = get_stock(&client, &base, &token, &format!("skus={}", list(50))).await;
    assert_eq!(fifty.status(), 200);
    assert_eq!(
        fifty.json::<Value>().await.unwrap()["missing"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    for query in [format!("skus={}", list(51)), "skus=".into(), "".into()] {
        let refused = get_stock(&client, &base, &token, &query).await;
        assert_eq!(refused.status(), 400, "{query}");
        assert_eq!(
            refused.json::<Value>().await.unwrap(),
            fixture(STOCK_400_TOO_MANY_SKUS)
        );
    }
}

#[tokio::test]
async fn the_quota_is_20_requests_per_second_announced_on_every_answer() {
    let (base, handle) = start(sandbox()).await;
    let client = client();
    let token = fetch_token(&client, &base).await;
    // A fresh window each attempt; an attempt that took most of a second on a loaded machine
    // may have crossed into the next window and proves nothing, so it is run again.
    for _attempt in 0..5 {
        handle.reset();
        let started = std::time::Instant::now();
        let mut answers = Vec::new();
        for _ in 0..21 {
            answers.push(get_stock(&client, &base, &token, "skus=BEA-ESS-ESS-001").await);
        }
        if started.elapsed() > Duration::from_millis(800) {
            continue;
        }
        let (last, admitted) = answers.split_last().unwrap();
        let remainders: Vec<u32> = admitted.iter().map(remaining).collect();
        assert_eq!(remainders, (0..20).rev().collect::<Vec<u32>>());
        assert!(admitted.iter().all(|r| r.status() == 200));
        assert!(
            admitted
                .iter()
                .all(|r| header_of(r, "ratelimit-policy") == Some("\"default\";q=20;w=1"))
        );

        assert_eq!(last.status(), 429);
        assert_eq!(header_of(last, "retry-after"), Some("1"));
        assert_eq!(remaining(last), 0);
        assert_eq!(
            header_of(last, "ratelimit-policy"),
            Some("\"default\";q=20;w=1")
        );
        let last = answers.pop().unwrap();
        assert_eq!(
            last.json::<Value>().await.unwrap(),
            fixture(STOCK_429_RATE_LIMITED)
        );
        return;
    }
    panic!("every attempt took too long to fit 21 requests into one quota window");
}

#[tokio::test]
async fn quota_off_lifts_the_limit_and_its_headers() {
    let (base, handle) = start(sandbox()).await;
    handle.set_faults(FaultPlan {
        quota_off: true,
        ..FaultPlan::default()
    });
    let client = client();
    let token = fetch_token(&client, &base).await;
    for _ in 0..25 {
        let response = get_stock(&client, &base, &token, "skus=BEA-ESS-ESS-001").await;
        assert_eq!(response.status(), 200);
        assert!(header_of(&response, "ratelimit").is_none());
    }
}

#[tokio::test]
async fn injected_faults_answer_in_the_service_error_format() {
    let (base, handle) = start(sandbox()).await;
    let client = client();
    let token = fetch_token(&client, &base).await;

    handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let down = get_stock(&client, &base, &token, "skus=BEA-ESS-ESS-001").await;
    assert_eq!(down.status(), 503);
    assert_eq!(
        down.json::<Value>().await.unwrap(),
        fixture(STOCK_503_UNAVAILABLE)
    );

    handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(3),
        ..FaultPlan::default()
    });
    let limited = get_stock(&client, &base, &token, "skus=BEA-ESS-ESS-001").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header_of(&limited, "retry-after"), Some("3"));
    assert_eq!(
        header_of(&limited, "ratelimit"),
        Some("\"default\";r=0;t=3")
    );
    assert_eq!(
        limited.json::<Value>().await.unwrap(),
        fixture(STOCK_429_RATE_LIMITED)
    );

    handle.set_faults(FaultPlan::default());
    let unknown = client.get(format!("{base}/v3/stock")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({"error": "not_found"})
    );
}

async fn post_reservation(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{base}/v2/reservations"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

async fn stock_of(client: &reqwest::Client, base: &str, token: &str, sku: &str) -> Value {
    let response = get_stock(client, base, token, &format!("skus={sku}")).await;
    response.json::<Value>().await.unwrap()["items"][0].clone()
}

#[tokio::test]
async fn reservations_replay_by_idempotency_key() {
    let (base, handle) = start(sandbox()).await;
    let client = client();
    let token = fetch_token(&client, &base).await;
    let order = json!({"orderId": "ord_1", "items": [{"sku": "BEA-ESS-ESS-001", "quantity": 3}]});

    let first = post_reservation(&client, &base, &token, Some("key-1"), &order).await;
    assert_eq!(first.status(), 201);
    assert!(header_of(&first, "idempotent-replayed").is_none());
    assert!(header_of(&first, "ratelimit").is_some());
    let held: Value = first.json().await.unwrap();
    let documented = fixture(RESERVATION_201);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&held), keys(&documented));
    assert_eq!(held["orderId"], "ord_1");
    assert_eq!(held["status"], "held");
    assert!(held["reservationId"].as_str().unwrap().starts_with("res_"));
    assert!(
        held["expiresAt"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .is_ok()
    );

    // Held once: available down, reserved up.
    let item = stock_of(&client, &base, &token, "BEA-ESS-ESS-001").await;
    assert_eq!(
        (item["available"].clone(), item["reserved"].clone()),
        (json!(96), json!(5))
    );

    let again = post_reservation(&client, &base, &token, Some("key-1"), &order).await;
    assert_eq!(again.status(), 201);
    assert_eq!(header_of(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(again.json::<Value>().await.unwrap(), held);
    let item = stock_of(&client, &base, &token, "BEA-ESS-ESS-001").await;
    assert_eq!(item["available"], 96, "a replay holds nothing more");

    let other = json!({"orderId": "ord_1", "items": [{"sku": "BEA-ESS-ESS-001", "quantity": 4}]});
    let reused = post_reservation(&client, &base, &token, Some("key-1"), &other).await;
    assert_eq!(reused.status(), 422);
    assert_eq!(
        reused.json::<Value>().await.unwrap(),
        fixture(RESERVATION_422_KEY_REUSED)
    );

    let keyless = post_reservation(&client, &base, &token, None, &order).await;
    assert_eq!(keyless.status(), 400);
    assert_eq!(
        keyless.json::<Value>().await.unwrap(),
        fixture(RESERVATION_400_KEY_REQUIRED)
    );

    let anonymous = client
        .post(format!("{base}/v2/reservations"))
        .header("Idempotency-Key", "key-2")
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(calls(&handle, RESERVATIONS), 5);
}

#[tokio::test]
async fn a_reservation_beyond_the_stock_holds_nothing() {
    let (base, _handle) = start(sandbox()).await;
    let client = client();
    let token = fetch_token(&client, &base).await;
    // BEA-GLA-EYE-002 has 34 on the shelf.
    let order = json!({"orderId": "ord_2", "items": [
        {"sku": "BEA-ESS-ESS-001", "quantity": 1},
        {"sku": "BEA-GLA-EYE-002", "quantity": 30},
        {"sku": "BEA-GLA-EYE-002", "quantity": 5},
    ]});
    let refused = post_reservation(&client, &base, &token, Some("key-3"), &order).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "insufficient_stock", "sku": "BEA-GLA-EYE-002", "available": 34})
    );
    let documented = fixture(RESERVATION_409_INSUFFICIENT_STOCK);
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        documented.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    let item = stock_of(&client, &base, &token, "BEA-ESS-ESS-001").await;
    assert_eq!(item["available"], 99, "all lines or none");

    // The refusal is the key's stored answer.
    let again = post_reservation(&client, &base, &token, Some("key-3"), &order).await;
    assert_eq!(again.status(), 409);
    assert_eq!(header_of(&again, "idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_key_still_in_flight_is_a_conflict() {
    let (base, _handle) = start(sandbox_with(SandboxOptions {
        reservation_processing: Duration::from_millis(500),
        ..SandboxOptions::default()
    }))
    .await;
    let client = client();
    let token = fetch_token(&client, &base).await;
    let order = json!({"orderId": "ord_3", "items": [{"sku": "BEA-ESS-ESS-001", "quantity": 1}]});
    let (a, b) = tokio::join!(
        post_reservation(&client, &base, &token, Some("key-4"), &order),
        post_reservation(&client, &base, &token, Some("key-4"), &order),
    );
    let (held, conflict) = if a.status() == 201 { (a, b) } else { (b, a) };
    assert_eq!(held.status(), 201);
    assert_eq!(conflict.status(), 409);
    assert_eq!(
        conflict.json::<Value>().await.unwrap(),
        fixture(RESERVATION_409_KEY_IN_USE)
    );
    let item = stock_of(&client, &base, &token, "BEA-ESS-ESS-001").await;
    assert_eq!(item["available"], 98);
}
