//! What the gateway knows of each provider's health, for `/readyz`, shedding, metrics and the
//! status page: its breaker, its quota, its spend, and its last error. [`ProviderHealth::attempted`]
//! and [`Upstreams::looked_up`] are where every attempt and every cache lookup is recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};
use serde::Serialize;

use super::breaker::{BreakerState, CircuitBreaker};
use super::quota::QuotaTracker;
use super::spend::Spend;
use super::usage::Usage;
use super::window::Window;

pub struct ProviderHealth {
    pub name: &'static str,
    pub critical: bool,
    pub breaker: Arc<CircuitBreaker>,
    pub quota: Arc<QuotaTracker>,
    pub spend: Arc<Spend>,
    /// The last 15 minutes of attempts and cache lookups, for the status page.
    pub window: Window,
    last_error: Mutex<Option<LastError>>,
}

/// One attempt sent to a provider, as [`ProviderHealth::attempted`] records it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub endpoint: &'static str,
    /// `ok`, or the error code the attempt ended with.
    pub outcome: &'static str,
    pub took: Duration,
    /// Body bytes received.
    pub bytes: u64,
    /// Whether the provider answered in a way it bills (any status but 429 and 5xx).
    pub billable: bool,
    /// Billable items the call asked for.
    pub units: u32,
}

impl Attempt {
    /// Whether the provider failed it: an answer about the entity (404) or the arguments
    /// (400, 422) is the provider working.
    pub fn failed(&self) -> bool {
        !matches!(self.outcome, "ok" | "NOT_FOUND" | "BAD_USER_INPUT")
    }
}

/// One loader batch's entity-cache lookups, by result.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheCounts {
    /// Fresh entries.
    pub hit: u64,
    /// Stale entries served at once (while one background refresh runs).
    pub stale: u64,
    /// "The provider has none", remembered.
    pub negative: u64,
    /// Not answerable from the cache: fetched.
    pub miss: u64,
    /// Background refreshes this batch started.
    pub refresh: u64,
}

impl CacheCounts {
    /// Lookups that cost no call.
    pub fn answered(&self) -> u64 {
        self.hit + self.stale + self.negative
    }
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
        spend: Arc<Spend>,
    ) -> Self {
        ProviderHealth {
            name,
            critical,
            breaker,
            quota,
            spend,
            window: Window::new(),
            last_error: Mutex::new(None),
        }
    }

    /// Records one attempt: metrics, spend, and the current request's usage.
    pub fn attempted(&self, attempt: &Attempt) {
        crate::metrics::upstream_attempt(self.name, attempt);
        self.window.record_attempt(!attempt.failed(), attempt.took);
        let spent = if attempt.billable {
            self.spend.charge(attempt.units)
        } else {
            0.0
        };
        Usage::call(self.name, spent, self.spend.currency());
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
    /// How much of it the `providers` query and `/status` show.
    pub exposure: Exposure,
}

/// How much of the providers' health the `providers` query and `/status` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exposure {
    /// Everything: traffic, latency, errors, cache and spend (the development profile).
    #[default]
    Full,
    /// Only what `/readyz` shows anyway: breaker, quota remaining, last error (the production
    /// profile; `/status` shows the rest to a request with the admin token).
    Readiness,
}

impl Exposure {
    pub fn of(profile: crate::config::Profile) -> Self {
        match profile {
            crate::config::Profile::Development => Exposure::Full,
            crate::config::Profile::Production => Exposure::Readiness,
        }
    }
}

impl Upstreams {
    pub fn get(&self, name: &str) -> Option<&Arc<ProviderHealth>> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Records one loader batch's lookups of `provider`'s `entity`: metrics and the current
    /// request's usage.
    pub fn looked_up(&self, provider: &'static str, entity: &'static str, counts: CacheCounts) {
        crate::metrics::cache_lookups(provider, entity, &counts);
        Usage::cache_hits(provider, counts.answered());
        if let Some(health) = self.get(provider) {
            health.window.record_cache(counts.answered(), counts.miss);
        }
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
