//! Every outbound call goes through here. [`transport_for`] assembles one provider's
//! [`Transport`] from its config; the order of the layers is visible in that one function,
//! and each layer is a small file that states its rules in its first comment.

pub mod breaker;
mod bulkhead;
mod client;
pub mod deadline;
pub mod freshness;
pub mod health;
pub mod quota;
mod retry;
pub mod single_flight;
pub mod spend;
pub mod spend_sync;
pub mod usage;
pub mod window;

use std::sync::Arc;

use providers::Transport;

use crate::config::ProviderConfig;

pub use client::HttpClient;
pub use health::{ProviderHealth, Upstreams};

/// The transport the adapters of provider `name` send through, pointed at `base_url`, and the
/// handle on its health.
///
/// Order, outermost first, and why:
/// 1. record errors: the last failure of a whole call, for `/readyz`;
/// 2. spend gate: no call at all while a reached budget says `stop` (nothing to retry);
/// 3. retry: only idempotent calls, with backoff inside the deadline and a retry budget; it
///    sits outside the breaker and the quota so that every attempt is counted by both;
/// 4. breaker: fails fast (`CIRCUIT_OPEN`, no call) while the provider is failing;
/// 5. quota: admits an attempt only within the provider's real quota (or fails fast with
///    `RATE_LIMITED` when it could not be admitted before the deadline), and learns from the
///    provider's rate-limit headers;
/// 6. bulkhead: at most `max_in_flight` attempts in flight, so one slow provider cannot take
///    the process's connections and tasks; below the quota so that waiting for quota holds
///    no slot;
/// 7. retry-after gate: an attempt admitted before the provider said `Retry-After` and still
///    queued in the bulkhead waits that out too;
/// 8. client: one attempt over HTTP with connect and attempt timeouts (the attempt's timeout
///    is cut to the deadline's time left) and a body size cap.
pub fn transport_for(
    name: &'static str,
    base_url: &str,
    config: &ProviderConfig,
) -> anyhow::Result<(Arc<dyn Transport>, Arc<ProviderHealth>)> {
    let breaker = Arc::new(breaker::CircuitBreaker::new(name, &config.breaker));
    let tracker = Arc::new(quota::QuotaTracker::new(name, config.quota.as_ref()));
    let spend = Arc::new(spend::Spend::new(name, &config.spend));
    let health = Arc::new(ProviderHealth::new(
        name,
        config.critical,
        breaker.clone(),
        tracker.clone(),
        spend.clone(),
    ));
    let client = HttpClient::new(health.clone(), base_url, config)?;
    let stack = health::RecordErrors::new(
        spend::SpendGate::new(
            retry::Retry::new(
                breaker::Breaker::new(
                    quota::Quota::new(
                        bulkhead::Bulkhead::new(
                            quota::RetryAfterGate::new(client, tracker.clone()),
                            name,
                            config.max_in_flight,
                        ),
                        tracker,
                    ),
                    breaker,
                ),
                name,
                &config.retry,
            ),
            spend,
        ),
        health.clone(),
    );
    Ok((Arc::new(stack), health))
}
