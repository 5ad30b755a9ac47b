//! How an adapter reaches its upstream.
//!
//! Adapters build [`UpstreamRequest`]s in their provider's format and hand them to a
//! [`Transport`]; the gateway implements it with its policy stack (deadline, rate limit,
//! breaker, retries, metrics) on top of one HTTP client. Tests implement it over plain HTTP.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use crate::error::ProviderError;

/// One request to a provider, relative to the provider's base URL. Its `Debug` shows only
/// the method, the endpoint's name and the body's size: headers, query strings and bodies may
/// carry credentials (an OAuth token request's body holds the client secret).
#[derive(Clone)]
pub struct UpstreamRequest {
    pub method: Method,
    /// Path and query, appended to the provider's base URL (e.g. `/products?limit=5`).
    pub path_and_query: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Bytes>,
    /// The endpoint's name without ids or query values (`GET /products/{id}`): for metrics,
    /// spans and logs, which must never carry query secrets.
    pub endpoint: &'static str,
    /// Whether the request may be sent again (GET, or a POST carrying an Idempotency-Key).
    pub idempotent: bool,
    /// What the provider bills this call by, for providers that bill per item (the SKUs of
    /// one stock call): 1 unless the adapter says more.
    pub units: u32,
}

impl std::fmt::Debug for UpstreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRequest")
            .field("method", &self.method)
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.as_ref().map(Bytes::len))
            .field("idempotent", &self.idempotent)
            .field("units", &self.units)
            .finish()
    }
}

impl UpstreamRequest {
    pub fn get(endpoint: &'static str, path_and_query: impl Into<String>) -> Self {
        UpstreamRequest {
            method: Method::GET,
            path_and_query: path_and_query.into(),
            headers: Vec::new(),
            body: None,
            endpoint,
            idempotent: true,
            units: 1,
        }
    }

    pub fn post(endpoint: &'static str, path: impl Into<String>, body: Bytes) -> Self {
        UpstreamRequest {
            method: Method::POST,
            path_and_query: path.into(),
            headers: Vec::new(),
            body: Some(body),
            endpoint,
            idempotent: false,
            units: 1,
        }
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The billable items this call asks for (see [`UpstreamRequest::units`]).
    pub fn units(mut self, units: u32) -> Self {
        self.units = units;
        self
    }
}

/// The provider's answer: any status; the adapter decides what it means.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl UpstreamResponse {
    /// `Retry-After` in delay-seconds or HTTP-date form, if present and valid.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
        let value = value.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
        Some(delta.to_std().unwrap_or(Duration::ZERO))
    }
}

/// Sends requests to one provider. Implementations report failures to reach the provider or
/// to get a whole answer (connect error, timeout, body too large, quota, open circuit) as
/// [`ProviderError`]; any HTTP status that arrived is returned as a response.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError>;
}

/// Transports for adapter tests: canned answers, no network.
pub mod testing {
    use std::sync::{Arc, Mutex};

    use super::*;

    type Responder =
        dyn Fn(&UpstreamRequest) -> Result<UpstreamResponse, ProviderError> + Send + Sync;

    /// Answers each request with what a closure returns, and records the requests.
    #[derive(Clone)]
    pub struct FnTransport {
        respond: Arc<Responder>,
        pub sent: Arc<Mutex<Vec<UpstreamRequest>>>,
    }

    impl FnTransport {
        pub fn new(
            respond: impl Fn(&UpstreamRequest) -> Result<UpstreamResponse, ProviderError>
            + Send
            + Sync
            + 'static,
        ) -> Self {
            FnTransport {
                respond: Arc::new(respond),
                sent: Arc::default(),
            }
        }

        pub fn requests(&self) -> Vec<UpstreamRequest> {
            self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    #[async_trait]
    impl Transport for FnTransport {
        async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
            let answer = (self.respond)(&request);
            self.sent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(request);
            answer
        }
    }

    /// A JSON response with the given status and body.
    pub fn json(status: u16, body: impl Into<Bytes>) -> UpstreamResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        UpstreamResponse {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers,
            body: body.into(),
        }
    }
}

/// A plain HTTP transport for tests that run an adapter against its sandbox over loopback.
#[cfg(test)]
pub mod http_testing {
    use super::*;

    pub struct HttpTransport {
        base_url: String,
        client: reqwest::Client,
    }

    impl HttpTransport {
        /// `base_url` without a trailing slash, e.g. `http://127.0.0.1:40123`.
        pub fn new(base_url: impl Into<String>) -> Self {
            // reqwest is built without a default TLS crypto provider (see the workspace
            // Cargo.toml); plain-HTTP tests still need one installed to build a client.
            let _ = rustls::crypto::ring::default_provider().install_default();
            HttpTransport {
                base_url: base_url.into(),
                client: reqwest::Client::new(),
            }
        }
    }

    #[async_trait]
    impl Transport for HttpTransport {
        async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
            let url = format!("{}{}", self.base_url, request.path_and_query);
            let mut builder = self.client.request(request.method, url);
            for (name, value) in request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let response = builder
                .send()
                .await
                .map_err(|e| ProviderError::Unavailable {
                    status: None,
                    message: e.to_string(),
                    retry_after: None,
                })?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| ProviderError::BadResponse(e.to_string()))?;
            Ok(UpstreamResponse {
                status,
                headers,
                body,
            })
        }
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_never_shows_credentials() {
        let request = UpstreamRequest::post(
            "POST /oauth/token",
            "/oauth/token?client_secret=s3cr3t-q",
            Bytes::from_static(b"client_secret=s3cr3t-body"),
        )
        .header(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cr3t-token"),
        );
        let shown = format!("{request:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("POST /oauth/token"));
    }
}
