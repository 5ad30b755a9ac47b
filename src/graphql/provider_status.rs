//! The `providers` query: each provider's health as people read it. Its breaker, quota and
//! last error always; its recent traffic (from its [`Window`](crate::upstream::window::Window))
//! and its spend only where [`Exposure::Full`] allows, since the production profile shows no
//! more than `/readyz` does. `/status` renders the same [`ProviderStatus`] values.
//!
//! No provider is called: everything is read from memory.

use std::time::Duration;

use async_graphql::{Context, Enum, SimpleObject};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use super::Providers;
use super::errors::bad_user_input;
use crate::upstream::breaker;
use crate::upstream::health::{Exposure, ProviderHealth, Upstreams};
use crate::upstream::spend::SpendSnapshot;
use crate::upstream::window::{SPAN, SlotPoint, WindowSnapshot};

/// The span of the statistics unless `minutes` says otherwise.
pub const DEFAULT_MINUTES: i32 = 5;
/// Money is shown to the ledger's precision (nano-units) at most.
const MONEY_DECIMALS: u32 = 9;

/// A provider's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// A few probe calls go through; the rest fail fast.
    HalfOpen,
    /// No call is made: `CIRCUIT_OPEN` at once.
    Open,
}

impl From<breaker::BreakerState> for BreakerState {
    fn from(state: breaker::BreakerState) -> Self {
        match state {
            breaker::BreakerState::Closed => BreakerState::Closed,
            breaker::BreakerState::HalfOpen => BreakerState::HalfOpen,
            breaker::BreakerState::Open => BreakerState::Open,
        }
    }
}

/// One provider's health.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderStatus {
    /// As in the config and in errors' `extensions.provider`.
    pub name: String,
    /// Whether the gateway is not ready while this provider's breaker is open.
    pub critical: bool,
    pub breaker: BreakerState,
    /// Milliseconds until an open breaker lets a probe through.
    pub breaker_retry_after_ms: Option<i32>,
    /// Null when the provider has no known quota.
    pub quota: Option<ProviderQuota>,
    /// The last failure of a call (after retries); null when none since start.
    pub last_error: Option<ProviderFailure>,
    /// Attempts, errors, latency and cache lookups recently; null where the gateway shows
    /// only what `/readyz` does (production profile).
    pub traffic: Option<ProviderTraffic>,
    /// Null where the gateway shows only what `/readyz` does (production profile).
    pub spend: Option<ProviderSpend>,
}

/// A provider's quota.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderQuota {
    /// Calls the gateway may still make now (0 while the provider asked it to wait).
    pub remaining: i32,
    /// The configured quota (calls per window); null when not configured or not shown.
    pub limit: Option<i32>,
}

/// A provider's last failure.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderFailure {
    /// The error code (`UPSTREAM_UNAVAILABLE`, ...).
    pub code: String,
    pub message: String,
    /// RFC 3339.
    pub at: String,
}

/// A provider's traffic over the last `minutes`.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderTraffic {
    /// The span covered.
    pub minutes: f64,
    /// Attempts sent to the provider (each retry counts).
    pub requests: i32,
    /// Attempts whose outcome was an error.
    pub errors: i32,
    /// `errors / requests`, 0 to 1; null without requests.
    pub error_rate: Option<f64>,
    /// Median attempt time, ms; null without requests.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile attempt time, ms; null without requests.
    pub latency_p99_ms: Option<f64>,
    /// Entity-cache lookups answered without a call (fresh, stale or known missing).
    pub cache_hits: i32,
    /// Entity-cache lookups that needed a call.
    pub cache_misses: i32,
    /// `cacheHits / (cacheHits + cacheMisses)`; null without lookups.
    pub cache_hit_ratio: Option<f64>,
    /// One point per 30 s, oldest first, covering the span.
    pub series: Vec<TrafficPoint>,
}

/// 30 s of a provider's traffic.
#[derive(Debug, Clone, SimpleObject)]
pub struct TrafficPoint {
    /// When the 30 s began, RFC 3339.
    pub start: String,
    pub requests: i32,
    pub errors: i32,
    pub error_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

/// What a provider's calls cost, as exact decimal strings in `currency`.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderSpend {
    /// ISO 4217.
    pub currency: String,
    /// This UTC day.
    pub today: String,
    /// This UTC calendar month.
    pub this_month: String,
    pub daily_budget: Option<String>,
    pub monthly_budget: Option<String>,
}

/// The `providers` field of `Query` (see [`super::query::Query`]).
pub async fn providers(
    ctx: &Context<'_>,
    minutes: i32,
) -> async_graphql::Result<Vec<ProviderStatus>> {
    let most = SPAN.as_secs() / 60;
    let span = u64::try_from(minutes)
        .ok()
        .filter(|m| (1..=most).contains(m))
        .ok_or_else(|| bad_user_input(format!("`minutes` must be 1 to {most}")))?;
    let upstreams = &ctx.data::<Providers>()?.upstreams;
    Ok(statuses(
        upstreams,
        Duration::from_secs(span * 60),
        upstreams.exposure,
    ))
}

/// Every provider's status over the last `over`, showing what `exposure` allows.
pub fn statuses(upstreams: &Upstreams, over: Duration, exposure: Exposure) -> Vec<ProviderStatus> {
    upstreams
        .providers
        .iter()
        .map(|health| status(health, over, exposure))
        .collect()
}

fn status(health: &ProviderHealth, over: Duration, exposure: Exposure) -> ProviderStatus {
    let full = exposure == Exposure::Full;
    let report = health.report();
    ProviderStatus {
        name: health.name.to_owned(),
        critical: health.critical,
        breaker: health.breaker.state().into(),
        breaker_retry_after_ms: health.breaker.retry_after().map(millis),
        quota: report.quota_remaining.map(|remaining| ProviderQuota {
            remaining: int(u64::from(remaining)),
            limit: health
                .quota
                .limit()
                .filter(|_| full)
                .map(|l| int(u64::from(l))),
        }),
        last_error: report.last_error.map(|e| ProviderFailure {
            code: e.code.to_owned(),
            message: e.message,
            at: e.at,
        }),
        traffic: full.then(|| traffic(&health.window.snapshot(over))),
        spend: full.then(|| spend(&health.spend.snapshot())),
    }
}

fn traffic(snapshot: &WindowSnapshot) -> ProviderTraffic {
    ProviderTraffic {
        minutes: snapshot.over.as_secs_f64() / 60.0,
        requests: int(snapshot.requests),
        errors: int(snapshot.errors),
        error_rate: snapshot.error_rate,
        latency_p50_ms: snapshot.p50_ms,
        latency_p99_ms: snapshot.p99_ms,
        cache_hits: int(snapshot.cache_hits),
        cache_misses: int(snapshot.cache_misses),
        cache_hit_ratio: snapshot.cache_hit_ratio,
        series: snapshot.series.iter().map(point).collect(),
    }
}

fn point(point: &SlotPoint) -> TrafficPoint {
    TrafficPoint {
        start: point
            .start
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        requests: int(point.requests),
        errors: int(point.errors),
        error_rate: point.error_rate,
        latency_p50_ms: point.p50_ms,
        latency_p99_ms: point.p99_ms,
    }
}

fn spend(snapshot: &SpendSnapshot) -> ProviderSpend {
    ProviderSpend {
        currency: snapshot.currency.clone(),
        today: amount(snapshot.today),
        this_month: amount(snapshot.this_month),
        daily_budget: snapshot.daily_budget.map(amount),
        monthly_budget: snapshot.monthly_budget.map(amount),
    }
}

/// `value` as an exact decimal string: the ledger counts in nano-units, so rounding to nine
/// decimals gives back what it counted.
pub fn amount(value: f64) -> String {
    Decimal::from_f64(value)
        .map(|d| d.round_dp(MONEY_DECIMALS).normalize().to_string())
        .unwrap_or_else(|| "0".to_owned())
}

/// A count as GraphQL's 32-bit `Int`, saturating.
fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn millis(d: Duration) -> i32 {
    int(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::{BreakerConfig, QuotaConfig, SpendConfig};
    use crate::upstream::breaker::CircuitBreaker;
    use crate::upstream::quota::QuotaTracker;
    use crate::upstream::spend::Spend;

    fn upstreams(exposure: Exposure) -> Upstreams {
        let quota = QuotaConfig {
            limit: 100,
            window_s: 10,
            shed_optional_below: 0.2,
        };
        let health = ProviderHealth::new(
            "reviews",
            false,
            Arc::new(CircuitBreaker::new("reviews", &BreakerConfig::default())),
            Arc::new(QuotaTracker::new("reviews", Some(&quota))),
            Arc::new(Spend::new(
                "reviews",
                &SpendConfig::per_call(0.002, 25.0, 500.0),
            )),
        );
        health.window.record_attempt(true, Duration::from_millis(3));
        health.window.record_cache(1, 1);
        Upstreams {
            providers: vec![Arc::new(health)],
            exposure,
        }
    }

    #[tokio::test]
    async fn full_exposure_shows_traffic_spend_and_the_quota_limit() {
        let all = statuses(&upstreams(Exposure::Full), SPAN, Exposure::Full);
        let reviews = &all[0];
        assert_eq!(reviews.breaker, BreakerState::Closed);
        let traffic = reviews.traffic.as_ref().expect("traffic");
        assert_eq!((traffic.requests, traffic.cache_hit_ratio), (1, Some(0.5)));
        assert_eq!(traffic.series.len(), 30);
        assert_eq!(reviews.quota.as_ref().and_then(|q| q.limit), Some(100));
        let spend = reviews.spend.as_ref().expect("spend");
        assert_eq!(
            (spend.today.as_str(), spend.daily_budget.as_deref()),
            ("0", Some("25"))
        );
    }

    #[tokio::test]
    async fn readiness_exposure_shows_what_readyz_does() {
        let shown = statuses(&upstreams(Exposure::Readiness), SPAN, Exposure::Readiness);
        let reviews = &shown[0];
        assert!(reviews.traffic.is_none() && reviews.spend.is_none());
        let quota = reviews
            .quota
            .as_ref()
            .expect("quota remaining, as /readyz shows");
        assert_eq!((quota.remaining, quota.limit), (100, None));
    }

    #[test]
    fn amounts_are_exact_decimal_strings() {
        assert_eq!(amount(0.0), "0");
        assert_eq!(amount(0.002 * 3.0), "0.006");
        assert_eq!(amount(25.0), "25");
        assert_eq!(amount(1e9 / 1e9 * 0.000000001), "0.000000001");
        assert_eq!(amount(f64::NAN), "0");
    }

    #[test]
    fn counts_saturate_at_graphql_int() {
        assert_eq!(int(7), 7);
        assert_eq!(int(u64::MAX), i32::MAX);
    }
}
