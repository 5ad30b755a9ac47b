//! Each client's rate limits (governor's GCRA): the requests and the query cost it may spend
//! per minute, with bursts up to the whole minute's amount.
//!
//! * An API key has its own direct limiters, with its own amounts when its config sets them.
//! * JWT subjects and anonymous addresses share keyed limiters (one state per client id),
//!   which a background task trims every minute (`retain_recent`, `shrink_to_fit`): a keyed
//!   limiter otherwise keeps every client it has seen.
//! * 0 means unlimited: no limiter, and no header for that item.
//! * A cost of 0 is always admitted; a cost above the whole minute's amount can never pass and
//!   is refused without a retry time.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{InsufficientCapacity, NotUntil, Quota, RateLimiter};

use super::budget::{Budget, BudgetItem, Limited};
use super::client::Client;
use crate::config::{ApiKeyConfig, RateLimitsConfig};

/// The window every limit is expressed in.
const WINDOW: Duration = Duration::from_secs(60);
/// How often idle clients are dropped from the keyed limiters.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;
type Keyed<C> = RateLimiter<String, DashMapStateStore<String>, C, StateInformationMiddleware>;

/// One limited item and its amount per minute.
struct Limit<L> {
    per_minute: u32,
    limiter: L,
}

/// A client's two items; `None` is unlimited.
struct Limits<L> {
    requests: Option<Limit<L>>,
    cost: Option<Limit<L>>,
}

#[derive(Clone, Copy)]
enum Item {
    Requests,
    Cost,
}

impl Item {
    fn name(self) -> &'static str {
        match self {
            Item::Requests => "requests",
            Item::Cost => "cost",
        }
    }
}

impl<L> Limits<L> {
    fn new(requests: u32, cost: u32, make: impl Fn(Quota) -> L) -> Self {
        let limit = |per_minute: u32| {
            NonZeroU32::new(per_minute).map(|n| Limit {
                per_minute,
                limiter: make(Quota::per_minute(n)),
            })
        };
        Limits {
            requests: limit(requests),
            cost: limit(cost),
        }
    }

    fn get(&self, item: Item) -> Option<&Limit<L>> {
        match item {
            Item::Requests => self.requests.as_ref(),
            Item::Cost => self.cost.as_ref(),
        }
    }
}

/// Every client's request and cost budgets.
pub struct ClientLimits<C: Clock = DefaultClock> {
    clock: C,
    /// JWT subjects and anonymous addresses, by client id.
    shared: Limits<Keyed<C>>,
    /// API keys, by client id (`key:<name>`).
    per_key: HashMap<String, Limits<Direct<C>>>,
}

impl ClientLimits {
    /// Limits from `[rate_limits]`, and each API key's own; when called inside a tokio
    /// runtime, also starts the task that trims idle clients (it ends with the limits).
    pub fn new(limits: &RateLimitsConfig, api_keys: &[ApiKeyConfig]) -> Arc<ClientLimits> {
        let this = Arc::new(Self::with_clock(limits, api_keys, DefaultClock::default()));
        if tokio::runtime::Handle::try_current().is_ok() {
            spawn_housekeeping(Arc::downgrade(&this));
        }
        this
    }
}

impl<C: Clock + Clone> ClientLimits<C> {
    /// The same limits, timed by `clock` (tests use governor's `FakeRelativeClock`).
    pub fn with_clock(
        limits: &RateLimitsConfig,
        api_keys: &[ApiKeyConfig],
        clock: C,
    ) -> ClientLimits<C> {
        let shared = Limits::new(limits.requests_per_minute, limits.cost_per_minute, |q| {
            RateLimiter::dashmap_with_clock(q, clock.clone())
                .with_middleware::<StateInformationMiddleware>()
        });
        let per_key = api_keys
            .iter()
            .map(|key| {
                let limits = Limits::new(
                    key.requests_per_minute
                        .unwrap_or(limits.requests_per_minute),
                    key.cost_per_minute.unwrap_or(limits.cost_per_minute),
                    |q| {
                        RateLimiter::direct_with_clock(q, clock.clone())
                            .with_middleware::<StateInformationMiddleware>()
                    },
                );
                (Client::api_key(&key.name, []).id, limits)
            })
            .collect();
        ClientLimits {
            clock,
            shared,
            per_key,
        }
    }

    /// Admits one request of `client`.
    pub fn admit_request(&self, client: &Client) -> Result<Budget, Limited> {
        self.admit(client, Item::Requests, 1)
    }

    /// Admits an operation of `client` that costs `cost` (its computed query cost).
    pub fn admit_cost(&self, client: &Client, cost: u32) -> Result<Budget, Limited> {
        self.admit(client, Item::Cost, cost)
    }

    fn admit(&self, client: &Client, item: Item, amount: u32) -> Result<Budget, Limited> {
        let Some(n) = NonZeroU32::new(amount) else {
            return Ok(Budget::default());
        };
        let (per_minute, outcome) = match self.per_key.get(&client.id) {
            Some(limits) => match limits.get(item) {
                Some(limit) => (limit.per_minute, limit.limiter.check_n(n)),
                None => return Ok(Budget::default()),
            },
            None => match self.shared.get(item) {
                Some(limit) => (limit.per_minute, limit.limiter.check_key_n(&client.id, n)),
                None => return Ok(Budget::default()),
            },
        };
        self.decide(item, per_minute, amount, outcome)
            .map(Budget::of)
    }

    fn decide(
        &self,
        item: Item,
        per_minute: u32,
        amount: u32,
        outcome: Result<Result<StateSnapshot, NotUntil<C::Instant>>, InsufficientCapacity>,
    ) -> Result<BudgetItem, Limited> {
        let budget = |remaining| BudgetItem {
            name: item.name(),
            quota: per_minute,
            window_s: WINDOW.as_secs() as u32,
            remaining,
        };
        // One unit comes back every `per_unit`: the window over the amount, as governor has it.
        let per_unit = WINDOW.as_nanos() / u128::from(per_minute);
        match outcome {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity().min(per_minute);
                let until_full = per_unit * u128::from(per_minute - remaining);
                Ok(budget(Some((remaining, seconds_up(until_full)))))
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.clock.now());
                // GCRA refuses `amount` units until `wait` from now; the bucket is full
                // `(per_minute - amount)` units after that.
                let until_full =
                    wait.as_nanos() + per_unit * u128::from(per_minute.saturating_sub(amount));
                let missing = until_full.div_ceil(per_unit.max(1));
                let remaining =
                    u32::try_from(u128::from(per_minute).saturating_sub(missing)).unwrap_or(0);
                let message = match item {
                    Item::Requests => format!(
                        "too many requests: this client may send {per_minute} per minute; \
                         retry in {} s",
                        seconds_up(wait.as_nanos())
                    ),
                    Item::Cost => format!(
                        "query cost over budget: this client may spend {per_minute} per minute \
                         and this operation costs {amount}; retry in {} s",
                        seconds_up(wait.as_nanos())
                    ),
                };
                Err(Limited::new(
                    budget(Some((remaining, seconds_up(until_full)))),
                    Some(wait),
                    message,
                ))
            }
            Err(InsufficientCapacity(_)) => Err(Limited::new(
                budget(None),
                None,
                format!(
                    "this operation costs {amount}, more than the {per_minute} this client may \
                     spend per minute, so it can never run: select fewer items or fields"
                ),
            )),
        }
    }

    /// Drops from the keyed limiters the clients whose budgets have been full again for one
    /// unit's time (such a state is the same as a new client's).
    pub fn housekeep(&self) {
        for limit in [&self.shared.requests, &self.shared.cost]
            .into_iter()
            .flatten()
        {
            limit.limiter.retain_recent();
            limit.limiter.shrink_to_fit();
        }
    }

    /// How many clients the keyed limiters hold state for.
    pub fn tracked_clients(&self) -> usize {
        [&self.shared.requests, &self.shared.cost]
            .into_iter()
            .flatten()
            .map(|limit| limit.limiter.len())
            .max()
            .unwrap_or(0)
    }
}

/// Nanoseconds as whole seconds, rounded up.
fn seconds_up(nanos: u128) -> u64 {
    u64::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
}

fn spawn_housekeeping(limits: Weak<ClientLimits>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(HOUSEKEEPING_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(limits) = limits.upgrade() else {
                return;
            };
            limits.housekeep();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limits(
        requests: u32,
        cost: u32,
        keys: &[ApiKeyConfig],
    ) -> (ClientLimits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let config = RateLimitsConfig {
            requests_per_minute: requests,
            cost_per_minute: cost,
        };
        (
            ClientLimits::with_clock(&config, keys, clock.clone()),
            clock,
        )
    }

    fn key(name: &str, requests: Option<u32>, cost: Option<u32>) -> ApiKeyConfig {
        ApiKeyConfig {
            name: name.to_string(),
            sha256: "0".repeat(64),
            scopes: Vec::new(),
            requests_per_minute: requests,
            cost_per_minute: cost,
        }
    }

    fn anonymous(last: u8) -> Client {
        Client::anonymous(std::net::IpAddr::from([192, 0, 2, last]))
    }

    fn remaining(budget: &Budget) -> (u32, u64) {
        budget.items()[0].remaining.expect("known state")
    }

    #[test]
    fn a_burst_of_the_whole_minute_passes_then_one_more_waits_for_its_unit() {
        let (limits, clock) = limits(10, 0, &[]);
        let client = anonymous(1);
        let first = limits.admit_request(&client).unwrap();
        assert_eq!(remaining(&first), (9, 6));
        for _ in 0..9 {
            limits.admit_request(&client).unwrap();
        }
        let refused = limits.admit_request(&client).unwrap_err();
        assert_eq!(refused.retry_after(), Some(Duration::from_secs(6)));
        let mut headers = axum::http::HeaderMap::new();
        refused.write_headers(&mut headers);
        assert_eq!(headers["retry-after"], "6");
        assert_eq!(headers["ratelimit"], "\"requests\";r=0;t=60");
        assert_eq!(headers["ratelimit-policy"], "\"requests\";q=10;w=60");
        // Another client has its own budget.
        assert!(limits.admit_request(&anonymous(2)).is_ok());
        clock.advance(Duration::from_secs(6));
        let again = limits.admit_request(&client).unwrap();
        assert_eq!(remaining(&again), (0, 60));
        clock.advance(Duration::from_secs(60));
        assert_eq!(remaining(&limits.admit_request(&client).unwrap()), (9, 6));
    }

    #[test]
    fn cost_is_spent_by_the_amount_and_refused_with_what_is_left() {
        let (limits, clock) = limits(0, 100, &[]);
        let client = anonymous(1);
        assert_eq!(remaining(&limits.admit_cost(&client, 97).unwrap()), (3, 59));
        let refused = limits.admit_cost(&client, 5).unwrap_err();
        // 2 more units come back in 2 x 0.6 s.
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(1200)));
        assert!(
            refused.message().contains("costs 5"),
            "{}",
            refused.message()
        );
        let mut headers = axum::http::HeaderMap::new();
        refused.write_headers(&mut headers);
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(headers["ratelimit"], "\"cost\";r=3;t=59");
        assert_eq!(refused.graphql_error()["extensions"]["retryAfterMs"], 1200);
        clock.advance(Duration::from_millis(1200));
        assert_eq!(remaining(&limits.admit_cost(&client, 5).unwrap()), (0, 60));
    }

    #[test]
    fn a_cost_above_the_minute_never_passes_and_zero_always_does() {
        let (limits, _) = limits(10, 100, &[]);
        let client = anonymous(1);
        let refused = limits.admit_cost(&client, 101).unwrap_err();
        assert_eq!(refused.retry_after(), None);
        assert!(
            refused.message().contains("can never run"),
            "{}",
            refused.message()
        );
        assert_eq!(
            remaining(&limits.admit_cost(&client, 100).unwrap()),
            (0, 60)
        );
        assert!(limits.admit_cost(&client, 0).unwrap().items().is_empty());
        assert!(limits.admit_cost(&client, 0).is_ok());
    }

    #[test]
    fn zero_means_unlimited_without_headers() {
        let (limits, _) = limits(0, 0, &[key("free", None, None)]);
        for client in [anonymous(1), Client::api_key("free", [])] {
            for _ in 0..1000 {
                let budget = limits.admit_request(&client).unwrap();
                assert!(budget.items().is_empty());
            }
            assert!(
                limits
                    .admit_cost(&client, u32::MAX)
                    .unwrap()
                    .items()
                    .is_empty()
            );
        }
    }

    #[test]
    fn an_api_key_has_its_own_limits() {
        let (limits, _) = limits(
            2,
            100,
            &[
                key("big", Some(5), None),
                key("free", Some(0), Some(0)),
                key("plain", None, None),
            ],
        );
        let big = Client::api_key("big", []);
        for _ in 0..5 {
            limits.admit_request(&big).unwrap();
        }
        assert!(limits.admit_request(&big).is_err());
        assert_eq!(limits.admit_cost(&big, 100).unwrap().items()[0].quota, 100);
        let free = Client::api_key("free", []);
        for _ in 0..10 {
            assert!(limits.admit_request(&free).unwrap().items().is_empty());
        }
        let plain = Client::api_key("plain", []);
        limits.admit_request(&plain).unwrap();
        limits.admit_request(&plain).unwrap();
        assert!(limits.admit_request(&plain).is_err());
        // API keys are not in the keyed limiters.
        assert_eq!(limits.tracked_clients(), 0);
    }

    #[test]
    fn housekeeping_forgets_clients_whose_budget_is_full_again() {
        let (limits, clock) = limits(10, 0, &[]);
        for last in 1..=50 {
            limits.admit_request(&anonymous(last)).unwrap();
        }
        assert_eq!(limits.tracked_clients(), 50);
        limits.housekeep();
        assert_eq!(limits.tracked_clients(), 50);
        // Full again after 6 s; governor keeps a state one more unit (6 s) before it drops it.
        clock.advance(Duration::from_secs(12));
        limits.admit_request(&anonymous(1)).unwrap();
        limits.housekeep();
        assert_eq!(limits.tracked_clients(), 1);
    }
}
