//! Spend shared by every replica: with Redis configured, each priced provider's charges are
//! added to counters per UTC day and month (`switchyard:v1:spend:<provider>:<period>`) once a
//! second, and the totals read back, so a budget counts every replica's calls and survives
//! restarts. Redis down: charges stay owed and are added once it is back; meanwhile each
//! replica goes on from the totals it last saw plus its own charges.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Utc;

use super::Upstreams;
use crate::cache::redis::{PREFIX, RedisTier};

/// How often charges are shared and totals read.
const EVERY: Duration = Duration::from_secs(1);
/// How long a period's counter is kept after its last change: past any month.
const KEEP: Duration = Duration::from_secs(40 * 86_400);

/// One exchange: every priced provider's owed charges added, and totals taken back.
pub async fn share_once(upstreams: &Upstreams, redis: &RedisTier) {
    let now = Utc::now();
    let mut adds = Vec::new();
    let mut parts = Vec::new();
    for provider in upstreams.providers.iter().filter(|p| p.spend.is_priced()) {
        let sent = provider.spend.unshared(now);
        adds.extend(
            sent.iter()
                .map(|(period, owed)| (format!("{PREFIX}spend:{}:{period}", provider.name), *owed)),
        );
        parts.push((provider, sent));
    }
    if parts.is_empty() {
        return;
    }
    let totals = redis.add_counters(&adds, KEEP).await;
    let now = Utc::now();
    let mut at = 0;
    for (provider, sent) in parts {
        let these = totals.as_deref().and_then(|t| t.get(at..at + sent.len()));
        provider.spend.settle(&sent, these, now);
        at += sent.len();
    }
}

/// Shares spend every second for as long as the gateway lives.
pub fn share(upstreams: Weak<Upstreams>, redis: Arc<RedisTier>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(upstreams) = upstreams.upgrade() else {
                return;
            };
            share_once(&upstreams, &redis).await;
        }
    });
}
