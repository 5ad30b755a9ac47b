//! Shared by the end-to-end tests: a real gateway on an ephemeral port with every provider on
//! its sandbox (also on ephemeral ports), and a small GraphQL client.
#![allow(dead_code)]

pub mod browser;
pub mod jwt;
pub mod redis;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use providers::sandbox::{FaultPlan, SandboxHandle};
use serde_json::{Value, json};
use switchyard::app::{self, RunningGateway};
use switchyard::config::Config;

pub struct TestGateway {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub gateway: RunningGateway,
    pub client: reqwest::Client,
}

/// Asks `probe` every 20 ms until it answers `Some`, and fails the test with `what` when that
/// takes longer than `within`: how the tests wait for something another task or process does.
pub async fn poll_until<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticks.tick().await;
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
    }
}

/// A GraphQL answer: HTTP status and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(mut config: Config) -> TestGateway {
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let gateway = app::spawn(&config).await.expect("gateway starts");
        TestGateway {
            base_url: format!("http://{}", gateway.addr),
            gateway,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    pub fn sandbox(&self, provider: &str) -> &SandboxHandle {
        &self
            .gateway
            .sandboxes
            .get(provider)
            .unwrap_or_else(|| panic!("no sandbox for {provider}"))
            .handle
    }

    /// Requests served per endpoint by a provider's sandbox.
    pub fn calls(&self, provider: &str) -> BTreeMap<String, u64> {
        self.sandbox(provider).counters()
    }

    /// Calls to one endpoint of a provider (`"GET /v2/stock"`).
    pub fn calls_to(&self, provider: &str, endpoint: &str) -> u64 {
        self.calls(provider).get(endpoint).copied().unwrap_or(0)
    }

    pub fn reset_counters(&self) {
        for s in &self.gateway.sandboxes.running {
            s.handle.reset();
        }
    }

    pub fn set_faults(&self, provider: &str, plan: FaultPlan) {
        self.sandbox(provider).set_faults(plan);
    }

    /// Takes a provider's sandbox down: every call fails (503) until the faults change.
    pub fn outage(&self, provider: &str) {
        self.set_faults(
            provider,
            FaultPlan {
                outage: true,
                ..FaultPlan::default()
            },
        );
    }

    /// `POST /admin/cache/invalidate` with a bearer token.
    pub async fn invalidate(&self, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/admin/cache/invalidate", self.base_url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the admin API answers")
    }

    /// POSTs a query as JSON and returns the status and body.
    pub async fn query(&self, query: &str, variables: Value) -> Answer {
        self.post_json(json!({ "query": query, "variables": variables }), None)
            .await
    }

    pub async fn post_json(&self, body: Value, accept: Option<&str>) -> Answer {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base_url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        answer(request.send().await.expect("gateway answers")).await
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text));
    Answer {
        status,
        content_type,
        body,
    }
}

/// The first error's `extensions.code` ("" when there is none).
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// The text of an operation in `schema/operations/`.
pub fn operation(name: &str) -> String {
    let path = format!(
        "{}/schema/operations/{name}.graphql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Additions for the resilience tests.
impl TestGateway {
    /// POSTs a query with the `x-switchyard-deadline-ms` header, asking for a shorter deadline.
    pub async fn query_within(&self, query: &str, variables: Value, deadline_ms: u64) -> Answer {
        let request = self
            .client
            .post(format!("{}/graphql", self.base_url))
            .header("content-type", "application/json")
            .header("x-switchyard-deadline-ms", deadline_ms.to_string())
            .body(json!({ "query": query, "variables": variables }).to_string());
        answer(request.send().await.expect("gateway answers")).await
    }

    /// `GET /metrics`: the exposition text.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("gateway answers /metrics");
        assert_eq!(response.status(), 200);
        response.text().await.expect("the exposition")
    }

    /// `GET /readyz`: its status and body.
    pub async fn readyz(&self) -> Answer {
        let response = self
            .client
            .get(format!("{}/readyz", self.base_url))
            .send()
            .await
            .expect("gateway answers /readyz");
        answer(response).await
    }

    /// One provider's entry in a `/readyz` body.
    pub async fn readiness_of(&self, provider: &str) -> (u16, Value) {
        let ready = self.readyz().await;
        let entry = ready.body["providers"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["provider"] == provider))
            .unwrap_or_else(|| panic!("/readyz lists no {provider}: {}", ready.body))
            .clone();
        (ready.status, entry)
    }
}

/// The default config with every provider's cache off: for tests of what happens on the way
/// to a provider, which a cached answer would hide.
pub fn uncached() -> Config {
    let mut config = Config::default();
    for provider in [
        &mut config.providers.catalog,
        &mut config.providers.frankfurter,
        &mut config.providers.erapi,
        &mut config.providers.inventory,
        &mut config.providers.reviews,
    ] {
        provider.cache.enabled = false;
    }
    config
}
