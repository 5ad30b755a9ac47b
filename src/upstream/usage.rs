//! What one request made the providers do: attempts sent to each provider, cache lookups that
//! saved a call, and the money its calls cost. It travels with the request like the deadline
//! (a task-local, carried into the tasks loaders spawn by [`Deadline::carry`]), so that the
//! layers record into it without any adapter passing it on. Work no request waits for
//! (background refreshes) is nobody's.
//!
//! [`Deadline::carry`]: super::deadline::Deadline::carry

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;

tokio::task_local! {
    static USAGE: Arc<Usage>;
}

/// One request's usage, by provider.
#[derive(Debug, Default)]
pub struct Usage(Mutex<BTreeMap<&'static str, ProviderUsage>>);

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderUsage {
    /// Attempts sent (retries and token calls included).
    pub calls: u64,
    /// Cache lookups answered without a call (fresh, stale or "has none").
    pub cache_hits: u64,
    /// What the calls cost, in `currency`.
    pub spent: f64,
    pub currency: Option<&'static str>,
}

impl Usage {
    /// Runs `future` recording into `usage`.
    pub async fn scope<F: Future>(usage: Arc<Usage>, future: F) -> F::Output {
        USAGE.scope(usage, future).await
    }

    /// The current task's usage, if it serves a request.
    pub fn current() -> Option<Arc<Usage>> {
        USAGE.try_with(Arc::clone).ok()
    }

    /// Notes one attempt sent to `provider`, which cost `spent` `currency`.
    pub fn call(provider: &'static str, spent: f64, currency: &'static str) {
        let _ = USAGE.try_with(|usage| {
            let mut map = usage.0.lock().unwrap_or_else(|e| e.into_inner());
            let entry = map.entry(provider).or_default();
            entry.calls += 1;
            if spent > 0.0 {
                entry.spent += spent;
                entry.currency = Some(currency);
            }
        });
    }

    /// Notes `n` lookups of `provider`'s entities the cache answered.
    pub fn cache_hits(provider: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        let _ = USAGE.try_with(|usage| {
            let mut map = usage.0.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(provider).or_default().cache_hits += n;
        });
    }

    /// Usage by provider, so far.
    pub fn by_provider(&self) -> BTreeMap<&'static str, ProviderUsage> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_only_inside_a_request() {
        Usage::call("reviews", 0.002, "USD");
        let usage = Arc::new(Usage::default());
        Usage::scope(usage.clone(), async {
            Usage::call("reviews", 0.002, "USD");
            Usage::call("reviews", 0.002, "USD");
            Usage::cache_hits("catalog", 3);
            Usage::call("catalog", 0.0, "USD");
        })
        .await;
        let by = usage.by_provider();
        assert_eq!(by["reviews"].calls, 2);
        assert!((by["reviews"].spent - 0.004).abs() < 1e-12);
        assert_eq!(by["reviews"].currency, Some("USD"));
        assert_eq!(by["catalog"].cache_hits, 3);
        assert_eq!(by["catalog"].calls, 1);
        assert_eq!(by["catalog"].currency, None);
    }
}
