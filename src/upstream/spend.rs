//! Spend: what each provider's calls cost, per UTC day and calendar month, against its
//! budgets. The ledger counts in nano-units of the currency (integers: no rounding drift
//! over millions of calls). At 80 % of a budget it warns once per period (a log line; the
//! `switchyard_budget_used_ratio` gauge shows it all along); at 100 % the budget is reached
//! until the period ends: optional fields are shed, and with `on_budget_reached = "stop"`
//! the [`SpendGate`] layer refuses every call.
//!
//! With Redis configured, every replica's charges add up in shared counters per period
//! (`spend_sync.rs`): the ledger keeps what it has not yet added there, and takes the totals
//! back, so budgets hold across replicas and restarts.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};
use serde::Serialize;

use crate::config::{BudgetAction, SpendConfig};

const NANOS: f64 = 1e9;
/// Share of a budget at which a warning is raised.
const WARN_AT: f64 = 0.8;

/// A budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Month => "monthly",
        }
    }
}

/// A reached budget: which, of how much, and how long until its period ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Reached {
    pub period: Period,
    pub budget: f64,
    pub currency: String,
    pub resets_in: Duration,
}

impl Reached {
    /// "the reviews daily budget of 25.00 USD is reached"
    pub fn describe(&self, provider: &str) -> String {
        format!(
            "the {provider} {} budget of {:.2} {} is reached",
            self.period.noun(),
            self.budget,
            self.currency
        )
    }
}

/// One provider's spend as the `providers` query and `/status` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendSnapshot {
    pub currency: String,
    pub today: f64,
    pub this_month: f64,
    pub daily_budget: Option<f64>,
    pub monthly_budget: Option<f64>,
}

/// One provider's prices, budgets and ledger.
pub struct Spend {
    provider: &'static str,
    currency: &'static str,
    per_call: u64,
    per_unit: u64,
    daily: Option<u64>,
    monthly: Option<u64>,
    action: BudgetAction,
    ledger: Mutex<Ledger>,
}

#[derive(Debug)]
struct Ledger {
    day: NaiveDate,
    today: u64,
    month: (i32, u32),
    this_month: u64,
    /// Everything since start, for the counter.
    total: u64,
    warned: [bool; 2],
    /// While shared: charges not yet added to the shared counters, by period id.
    unflushed: BTreeMap<String, u64>,
    shared: bool,
}

/// A day's id in the shared counters: `2026-11-29`.
fn day_id(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A month's id in the shared counters: `2026-11`.
fn month_id((year, month): (i32, u32)) -> String {
    format!("{year:04}-{month:02}")
}

impl Ledger {
    /// Starts new periods when `now` is past the current ones.
    fn roll(&mut self, now: DateTime<Utc>) {
        let day = now.date_naive();
        if day != self.day {
            self.day = day;
            self.today = 0;
            self.warned[0] = false;
        }
        let month = (day.year(), day.month());
        if month != self.month {
            self.month = month;
            self.this_month = 0;
            self.warned[1] = false;
        }
    }
}

fn nanos(amount: f64) -> u64 {
    // Config validation keeps prices and budgets within 0..=1e9, so this fits.
    (amount * NANOS).round() as u64
}

fn money(nanos: u64) -> f64 {
    nanos as f64 / NANOS
}

impl Spend {
    pub fn new(provider: &'static str, config: &SpendConfig) -> Self {
        Self::starting(provider, config, Utc::now())
    }

    fn starting(provider: &'static str, config: &SpendConfig, now: DateTime<Utc>) -> Self {
        let day = now.date_naive();
        Spend {
            provider,
            // Once per provider at startup: a currency code lives as long as the process.
            currency: Box::leak(config.currency.clone().into_boxed_str()),
            per_call: nanos(config.price_per_call),
            per_unit: nanos(config.price_per_unit),
            daily: config.daily_budget.map(nanos),
            monthly: config.monthly_budget.map(nanos),
            action: config.on_budget_reached,
            ledger: Mutex::new(Ledger {
                day,
                today: 0,
                month: (day.year(), day.month()),
                this_month: 0,
                total: 0,
                warned: [false; 2],
                unflushed: BTreeMap::new(),
                shared: false,
            }),
        }
    }

    pub fn currency(&self) -> &'static str {
        self.currency
    }

    /// Whether any call costs anything.
    pub fn is_priced(&self) -> bool {
        self.per_call > 0 || self.per_unit > 0
    }

    /// Bills one answered call for `units` items; returns what it cost, in currency units.
    pub fn charge(&self, units: u32) -> f64 {
        self.charge_at(units, Utc::now())
    }

    fn charge_at(&self, units: u32, now: DateTime<Utc>) -> f64 {
        if !self.is_priced() {
            return 0.0;
        }
        let cost = self
            .per_call
            .saturating_add(self.per_unit.saturating_mul(u64::from(units)));
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.roll(now);
        let micros_before = ledger.total / 1000;
        ledger.today = ledger.today.saturating_add(cost);
        ledger.this_month = ledger.this_month.saturating_add(cost);
        ledger.total = ledger.total.saturating_add(cost);
        crate::metrics::spent(
            self.provider,
            self.currency,
            ledger.total / 1000 - micros_before,
        );
        if ledger.shared {
            let (day, month) = (day_id(ledger.day), month_id(ledger.month));
            *ledger.unflushed.entry(day).or_default() += cost;
            *ledger.unflushed.entry(month).or_default() += cost;
        }
        self.warn_once(&mut ledger);
        money(cost)
    }

    /// The warning at 80 % of a budget, once per period.
    fn warn_once(&self, ledger: &mut Ledger) {
        for (i, period, spent, budget) in [
            (0, Period::Day, ledger.today, self.daily),
            (1, Period::Month, ledger.this_month, self.monthly),
        ] {
            let Some(budget) = budget else { continue };
            let used = spent as f64 / budget as f64;
            if used >= WARN_AT && !ledger.warned[i] {
                ledger.warned[i] = true;
                tracing::warn!(
                    provider = self.provider,
                    period = period.as_str(),
                    spent = money(spent),
                    budget = money(budget),
                    currency = %self.currency,
                    "{} budget {:.0} % used",
                    period.noun(),
                    used * 100.0
                );
            }
        }
    }

    /// Takes the charges not yet shared, by period id, the current day's and month's always
    /// among them (at 0 when nothing is owed: adding 0 reads the total). From now on the
    /// ledger keeps what it owes the shared counters.
    pub fn unshared(&self, now: DateTime<Utc>) -> Vec<(String, u64)> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.roll(now);
        ledger.shared = true;
        let mut owed = std::mem::take(&mut ledger.unflushed);
        owed.entry(day_id(ledger.day)).or_default();
        owed.entry(month_id(ledger.month)).or_default();
        owed.into_iter().collect()
    }

    /// Takes the shared counters' totals after `sent` was added (`None`: it could not be,
    /// and is owed again).
    pub fn settle(&self, sent: &[(String, u64)], totals: Option<&[u64]>, now: DateTime<Utc>) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.roll(now);
        let Some(totals) = totals else {
            for (id, owed) in sent.iter().filter(|(_, owed)| *owed > 0) {
                *ledger.unflushed.entry(id.clone()).or_default() += owed;
            }
            return;
        };
        let (day, month) = (day_id(ledger.day), month_id(ledger.month));
        for ((id, _), total) in sent.iter().zip(totals) {
            // Charged since `sent` was taken: not in the total yet.
            let since = ledger.unflushed.get(id).copied().unwrap_or(0);
            if *id == day {
                ledger.today = total.saturating_add(since);
            } else if *id == month {
                ledger.this_month = total.saturating_add(since);
            }
        }
        self.warn_once(&mut ledger);
    }

    /// The budget that is reached now, if one is (the daily one first).
    pub fn reached(&self) -> Option<Reached> {
        self.reached_at(Utc::now())
    }

    fn reached_at(&self, now: DateTime<Utc>) -> Option<Reached> {
        if self.daily.is_none() && self.monthly.is_none() {
            return None;
        }
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.roll(now);
        let (today, this_month) = (ledger.today, ledger.this_month);
        drop(ledger);
        let reached = |period, spent: u64, budget: Option<u64>| {
            let budget = budget.filter(|b| spent >= *b)?;
            Some(Reached {
                period,
                budget: money(budget),
                currency: self.currency.to_owned(),
                resets_in: until_next(period, now),
            })
        };
        reached(Period::Day, today, self.daily)
            .or_else(|| reached(Period::Month, this_month, self.monthly))
    }

    /// Whether a reached budget stops every call (`on_budget_reached = "stop"`).
    pub fn stops_calls(&self) -> bool {
        self.action == BudgetAction::Stop
    }

    pub fn snapshot(&self) -> SpendSnapshot {
        self.snapshot_at(Utc::now())
    }

    fn snapshot_at(&self, now: DateTime<Utc>) -> SpendSnapshot {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.roll(now);
        SpendSnapshot {
            currency: self.currency.to_owned(),
            today: money(ledger.today),
            this_month: money(ledger.this_month),
            daily_budget: self.daily.map(money),
            monthly_budget: self.monthly.map(money),
        }
    }
}

impl SpendSnapshot {
    /// Each budget's share used (1.0: reached), for the metrics.
    pub fn used(&self) -> Vec<(Period, f64)> {
        [
            (Period::Day, self.today, self.daily_budget),
            (Period::Month, self.this_month, self.monthly_budget),
        ]
        .into_iter()
        .filter_map(|(period, spent, budget)| Some((period, spent / budget?)))
        .collect()
    }
}

/// Time from `now` to the start of the next UTC day or month.
fn until_next(period: Period, now: DateTime<Utc>) -> Duration {
    let today = now.date_naive();
    let next = match period {
        Period::Day => today.succ_opt(),
        Period::Month => {
            let (y, m) = if today.month() == 12 {
                (today.year() + 1, 1)
            } else {
                (today.year(), today.month() + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1)
        }
    };
    next.and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|start| start.and_utc() - now)
        .and_then(|left| left.to_std().ok())
        .unwrap_or(Duration::from_secs(1))
}

/// Refuses every call while the provider's budget is reached and config says `stop`
/// (`RATE_LIMITED`, retry after the period ends). Outside the retry layer: nothing to retry.
pub struct SpendGate<T> {
    inner: T,
    spend: std::sync::Arc<Spend>,
}

impl<T> SpendGate<T> {
    pub fn new(inner: T, spend: std::sync::Arc<Spend>) -> Self {
        SpendGate { inner, spend }
    }
}

#[async_trait]
impl<T: Transport> Transport for SpendGate<T> {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        if self.spend.stops_calls()
            && let Some(reached) = self.spend.reached()
        {
            return Err(ProviderError::RateLimited {
                message: format!("{}: calls stopped", reached.describe(self.spend.provider)),
                retry_after: Some(reached.resets_in),
            });
        }
        self.inner.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().unwrap()
    }

    fn meter(daily: Option<f64>, monthly: Option<f64>, now: DateTime<Utc>) -> Spend {
        let config = SpendConfig {
            price_per_call: 0.002,
            price_per_unit: 0.0001,
            daily_budget: daily,
            monthly_budget: monthly,
            ..SpendConfig::default()
        };
        Spend::starting("reviews", &config, now)
    }

    #[test]
    fn a_call_costs_its_price_plus_its_units() {
        let now = at(2026, 11, 29, 10);
        let spend = meter(None, None, now);
        assert_eq!(spend.charge_at(1, now), 0.0021);
        assert_eq!(spend.charge_at(50, now), 0.007);
        let s = spend.snapshot_at(now);
        assert!((s.today - 0.0091).abs() < 1e-12, "{s:?}");
        assert_eq!(s.today, s.this_month);
    }

    /// Log lines written while `f` runs, as text.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Lines(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn at_80_percent_of_a_budget_a_warning_is_logged_once_per_period() {
        let now = at(2026, 11, 29, 10);
        let spend = meter(Some(0.01), Some(1.0), now);
        let below = logged(|| {
            for _ in 0..3 {
                spend.charge_at(0, now);
            }
        });
        assert_eq!(below, "", "0.006 of 0.01");
        let warned = logged(|| {
            spend.charge_at(0, now);
            spend.charge_at(0, now);
        });
        assert_eq!(warned.lines().count(), 1, "{warned}");
        assert!(warned.contains("WARN"), "{warned}");
        assert!(warned.contains("daily budget 80 % used"), "{warned}");
        assert!(warned.contains("provider=\"reviews\""), "{warned}");
        let tomorrow = at(2026, 11, 30, 10);
        let again = logged(|| {
            for _ in 0..4 {
                spend.charge_at(0, tomorrow);
            }
        });
        assert!(
            again.contains("daily budget 80 % used"),
            "a new day: {again}"
        );
    }

    #[test]
    fn a_million_calls_add_up_exactly() {
        let now = at(2026, 11, 29, 10);
        let spend = meter(None, None, now);
        for _ in 0..1_000_000 {
            spend.charge_at(0, now);
        }
        assert_eq!(spend.snapshot_at(now).today, 2000.0);
    }

    #[test]
    fn the_daily_budget_is_reached_then_resets_at_utc_midnight() {
        let now = at(2026, 11, 29, 22);
        let spend = meter(Some(0.01), None, now);
        for _ in 0..4 {
            spend.charge_at(0, now);
        }
        assert_eq!(spend.reached_at(now), None, "0.008 of 0.01");
        spend.charge_at(0, now);
        let reached = spend.reached_at(now).expect("0.01 of 0.01");
        assert_eq!(reached.period, Period::Day);
        assert_eq!(reached.resets_in, Duration::from_secs(2 * 3600));
        assert_eq!(
            reached.describe("reviews"),
            "the reviews daily budget of 0.01 USD is reached"
        );
        let tomorrow = at(2026, 11, 30, 0);
        assert_eq!(spend.reached_at(tomorrow), None);
        assert_eq!(spend.snapshot_at(tomorrow).today, 0.0);
        assert!((spend.snapshot_at(tomorrow).this_month - 0.01).abs() < 1e-12);
    }

    #[test]
    fn the_monthly_budget_holds_across_days_and_resets_with_the_month() {
        let spend = meter(Some(1.0), Some(0.004), at(2026, 12, 30, 12));
        spend.charge_at(0, at(2026, 12, 30, 12));
        spend.charge_at(0, at(2026, 12, 31, 12));
        let reached = spend
            .reached_at(at(2026, 12, 31, 23))
            .expect("month reached");
        assert_eq!(reached.period, Period::Month);
        assert_eq!(reached.resets_in, Duration::from_secs(3600));
        assert_eq!(spend.reached_at(at(2027, 1, 1, 0)), None);
    }

    #[test]
    fn shared_totals_replace_the_local_view_and_unsent_charges_are_owed_again() {
        let now = at(2026, 11, 30, 23);
        let spend = meter(Some(1.0), None, now);
        spend.charge_at(0, now);
        // Not shared yet: nothing is owed.
        let sent = spend.unshared(now);
        assert_eq!(
            sent,
            vec![("2026-11".to_owned(), 0), ("2026-11-30".to_owned(), 0)]
        );
        spend.charge_at(0, now);
        let sent = spend.unshared(now);
        assert_eq!(
            sent,
            vec![
                ("2026-11".to_owned(), 2_000_000),
                ("2026-11-30".to_owned(), 2_000_000)
            ]
        );
        // Redis down: owed again, with what was charged meanwhile.
        spend.charge_at(0, now);
        spend.settle(&sent, None, now);
        let sent = spend.unshared(now);
        assert_eq!(sent[1], ("2026-11-30".to_owned(), 4_000_000));
        // Another replica spent 0.5 today: the totals say so.
        spend.charge_at(0, now);
        spend.settle(&sent, Some(&[504_000_000, 504_000_000]), now);
        let s = spend.snapshot_at(now);
        assert!((s.today - 0.506).abs() < 1e-12, "{s:?}");
        assert!((s.this_month - 0.506).abs() < 1e-12, "{s:?}");
        // A charge just before midnight is still owed to its own day after it.
        let tomorrow = at(2026, 12, 1, 0);
        let sent = spend.unshared(tomorrow);
        assert!(
            sent.contains(&("2026-11-30".to_owned(), 2_000_000)),
            "{sent:?}"
        );
        assert!(sent.contains(&("2026-12-01".to_owned(), 0)), "{sent:?}");
        assert!(sent.contains(&("2026-12".to_owned(), 0)), "{sent:?}");
    }

    #[test]
    fn free_providers_cost_nothing_and_have_no_budget() {
        let now = at(2026, 11, 29, 10);
        let spend = Spend::starting("catalog", &SpendConfig::default(), now);
        assert!(!spend.is_priced());
        assert_eq!(spend.charge_at(10, now), 0.0);
        assert_eq!(spend.reached_at(now), None);
        assert!(spend.snapshot_at(now).used().is_empty());
    }
}
