//! What the gateway knows of each provider's health, for `/readyz`, shedding and (later)
//! metrics: its breaker, its quota, and its last error.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};
use serde::Serialize;

use super::breaker::{BreakerState, CircuitBreaker};
use super::quota::QuotaTracker;

pub struct ProviderHealth {
    pub name: &'static str,
    pub critical: bool,
    pub breaker: Arc<CircuitBreaker>,
    pub quota: Arc<QuotaTracker>,
    last_error: Mutex<Option<LastError>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub code: &'static str,
    pub message: String,
    /// When it happened, RFC 3339.
    pub at: String,
}

/// One provider's state as `/readyz` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub provider: &'static str,
    pub critical: bool,
    pub breaker: &'static str,
    pub quota_remaining: Option<u32>,
    pub last_error: Option<LastError>,
}

impl ProviderHealth {
    pub fn new(
        name: &'static str,
        critical: bool,
        breaker: Arc<CircuitBreaker>,
        quota: Arc<QuotaTracker>,
    ) -> Self {
        ProviderHealth {
            name,
            critical,
            breaker,
            quota,
            last_error: Mutex::new(None),
        }
    }

    pub fn record_error(&self, error: &ProviderError) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(LastError {
            code: error.code(),
            message: error.to_string(),
            at: chrono::Utc::now().to_rfc3339(),
        });
    }

    pub fn report(&self) -> HealthReport {
        HealthReport {
            provider: self.name,
            critical: self.critical,
            breaker: self.breaker.state().as_str(),
            quota_remaining: self.quota.remaining(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Not ready: a critical provider whose breaker is open.
    pub fn blocks_readiness(&self) -> bool {
        self.critical && self.breaker.state() == BreakerState::Open
    }
}

/// Every provider's health, by name.
#[derive(Default)]
pub struct Upstreams {
    pub providers: Vec<Arc<ProviderHealth>>,
}

impl Upstreams {
    pub fn get(&self, name: &str) -> Option<&Arc<ProviderHealth>> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// The outermost layer: notes the last failure of each call (after retries) for `/readyz`.
pub struct RecordErrors<T> {
    inner: T,
    health: Arc<ProviderHealth>,
}

impl<T> RecordErrors<T> {
    pub fn new(inner: T, health: Arc<ProviderHealth>) -> Self {
        RecordErrors { inner, health }
    }
}

#[async_trait]
impl<T: Transport> Transport for RecordErrors<T> {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let result = self.inner.send(request).await;
        match &result {
            // Failing fast says nothing new: keep the failure that opened the breaker.
            Err(ProviderError::CircuitOpen { .. }) => {}
            Err(error) => self.health.record_error(error),
            // 404 is an answer about an entity, not about the provider.
            Ok(response)
                if response.status.is_server_error()
                    || matches!(response.status.as_u16(), 401 | 403 | 429) =>
            {
                self.health.record_error(&ProviderError::from_status(
                    response.status,
                    format!("status {}", response.status.as_u16()),
                    response.retry_after(),
                ));
            }
            Ok(_) => {}
        }
        result
    }
}
