//! One attempt over HTTP: connect timeout, attempt timeout (request to last body byte), and a
//! cap on the body's size that stops reading as soon as it is passed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};

use super::deadline::Deadline;
use super::freshness;
use super::health::{Attempt, ProviderHealth};
use crate::config::ProviderConfig;

pub struct HttpClient {
    provider: &'static str,
    health: Arc<ProviderHealth>,
    base_url: String,
    client: reqwest::Client,
    timeout: Duration,
    max_body_bytes: usize,
}

impl HttpClient {
    /// A client for `health`'s provider at `base_url`; every attempt is recorded in `health`.
    pub fn new(
        health: Arc<ProviderHealth>,
        base_url: &str,
        config: &ProviderConfig,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout())
            .pool_max_idle_per_host(config.max_in_flight)
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpClient {
            provider: health.name,
            health,
            base_url: base_url.trim_end_matches('/').to_owned(),
            client,
            timeout: config.timeout(),
            max_body_bytes: config.max_body_bytes,
        })
    }

    async fn attempt(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let url = format!("{}{}", self.base_url, request.path_and_query);
        let mut builder = self.client.request(request.method, url);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        // The trace goes on to the provider: W3C `traceparent` naming this attempt's span.
        builder = builder.headers(crate::telemetry::trace_headers());
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(|e| self.unavailable(&e))?;
        let status = response.status();
        crate::telemetry::spans::record_status(status);
        let headers = std::mem::take(response.headers_mut());
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body_bytes as u64)
        {
            return Err(self.too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unavailable(&e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(self.too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            freshness::report(&headers);
        }
        Ok(UpstreamResponse {
            status,
            headers,
            body: Bytes::from(body),
        })
    }

    /// Describes a transport failure without the URL: it may carry query secrets.
    fn unavailable(&self, error: &reqwest::Error) -> ProviderError {
        let what = if error.is_connect() {
            "could not connect"
        } else if error.is_body() || error.is_decode() {
            "connection broke while reading the body"
        } else {
            "request failed"
        };
        ProviderError::Unavailable {
            status: None,
            message: format!("{}: {what}", self.provider),
            retry_after: None,
        }
    }

    fn too_large(&self) -> ProviderError {
        ProviderError::BadResponse(format!(
            "{}: body larger than {} bytes",
            self.provider, self.max_body_bytes
        ))
    }
}

#[async_trait]
impl Transport for HttpClient {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let (endpoint, units) = (request.endpoint, request.units);
        // An attempt gets its own budget, cut to what is left of the request's deadline.
        let budget = match Deadline::remaining() {
            Some(left) if left.is_zero() => return Err(ProviderError::Timeout),
            Some(left) => left.min(self.timeout),
            None => self.timeout,
        };
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(budget, self.attempt(request)).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(provider = self.provider, endpoint, "attempt timed out");
                Err(ProviderError::Timeout)
            }
        };
        let took = started.elapsed();
        let (outcome, billable, bytes) = match &result {
            Ok(response) => {
                let status = response.status;
                let outcome = if status.is_success() || status.as_u16() == 304 {
                    "ok"
                } else {
                    ProviderError::from_status(status, String::new(), None).code()
                };
                let billable = !status.is_server_error() && status.as_u16() != 429;
                (outcome, billable, response.body.len() as u64)
            }
            Err(error) => (error.code(), false, 0),
        };
        self.health.attempted(&Attempt {
            endpoint,
            outcome,
            took,
            bytes,
            billable,
            units,
        });
        result
    }
}
