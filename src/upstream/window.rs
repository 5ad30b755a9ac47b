//! One provider's recent statistics, for people: attempts, errors, latency and cache lookups
//! over the last 15 minutes, in 30 slots of 30 s each.
//!
//! 1. A slot counts what happened in its 30 s: attempts, those whose outcome was not ok,
//!    cache hits and misses, and a latency histogram (HdrHistogram, 2 significant digits,
//!    1 µs to 60 s; longer attempts count as 60 s).
//! 2. The slots form a ring: the slot of a new period replaces the one from 15 minutes
//!    before, so memory is bounded (at most 30 histograms of about 10 KiB per provider, each
//!    allocated at the first attempt it counts and reused after).
//! 3. Recording takes one short lock and allocates nothing but that first histogram.
//! 4. A snapshot over a span sums the slots that span touches (whole slots: the current one
//!    and as many before it as the span needs) and merges their histograms for p50 and p99;
//!    its series has one point per slot, empty slots included, oldest first.
//!
//! Time is tokio's clock, so tests drive it with paused time.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// The length of one slot.
pub const SLOT: Duration = Duration::from_secs(30);
/// How many slots are kept.
pub const SLOTS: usize = 30;
/// The longest span a snapshot covers: 15 minutes.
pub const SPAN: Duration = Duration::from_secs(SLOT.as_secs() * SLOTS as u64);

/// Latencies are recorded in microseconds within these bounds.
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 60_000_000;
const SIGNIFICANT_DIGITS: u8 = 2;

/// One provider's rolling statistics (rules in the module comment).
pub struct Window {
    origin: Instant,
    ring: Mutex<Vec<Slot>>,
}

#[derive(Default)]
struct Slot {
    /// Which period this slot holds: periods are counted in slots since `origin`.
    number: u64,
    requests: u64,
    errors: u64,
    hits: u64,
    misses: u64,
    latency: Option<Histogram<u32>>,
}

impl Slot {
    /// Empties the slot for period `number`, keeping its histogram's memory.
    fn reuse(&mut self, number: u64) {
        self.number = number;
        self.requests = 0;
        self.errors = 0;
        self.hits = 0;
        self.misses = 0;
        if let Some(histogram) = &mut self.latency {
            histogram.reset();
        }
    }
}

/// What a [`Window`] saw over a span.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSnapshot {
    /// The span covered, whole slots.
    pub over: Duration,
    /// Attempts sent to the provider.
    pub requests: u64,
    /// Attempts whose outcome was not ok.
    pub errors: u64,
    /// `errors / requests`; `None` without requests.
    pub error_rate: Option<f64>,
    /// Latency percentiles in milliseconds; `None` without requests.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// `hits / (hits + misses)`; `None` without lookups.
    pub cache_hit_ratio: Option<f64>,
    /// One point per slot, oldest first.
    pub series: Vec<SlotPoint>,
}

/// One slot of a [`WindowSnapshot`]'s series.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotPoint {
    /// When the slot began.
    pub start: chrono::DateTime<chrono::Utc>,
    /// How long before the snapshot the slot began.
    pub ago: Duration,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Default for Window {
    fn default() -> Self {
        Self::new()
    }
}

impl Window {
    pub fn new() -> Self {
        Window {
            origin: Instant::now(),
            ring: Mutex::new((0..SLOTS).map(|_| Slot::default()).collect()),
        }
    }

    /// One attempt sent to the provider, which took `took`; `ok` unless its outcome was an
    /// error.
    pub fn record_attempt(&self, ok: bool, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mut ring = self.lock();
        let slot = self.current(&mut ring);
        slot.requests += 1;
        if !ok {
            slot.errors += 1;
        }
        slot.latency
            .get_or_insert_with(new_histogram)
            .saturating_record(micros);
    }

    /// Cache lookups for the provider's entities: `hits` answered from the cache, `misses`
    /// that had to ask the provider.
    pub fn record_cache(&self, hits: u64, misses: u64) {
        if hits == 0 && misses == 0 {
            return;
        }
        let mut ring = self.lock();
        let slot = self.current(&mut ring);
        slot.hits = slot.hits.saturating_add(hits);
        slot.misses = slot.misses.saturating_add(misses);
    }

    /// What was seen over the last `over` (rounded up to whole slots, at least one, at most
    /// [`SPAN`]).
    pub fn snapshot(&self, over: Duration) -> WindowSnapshot {
        let now = Instant::now();
        let wall_now = chrono::Utc::now();
        let elapsed = now.saturating_duration_since(self.origin);
        let current = slot_number(elapsed);
        let into_current = Duration::from_nanos((elapsed.as_nanos() % SLOT.as_nanos()) as u64);
        let count = over
            .as_nanos()
            .div_ceil(SLOT.as_nanos())
            .clamp(1, SLOTS as u128) as usize;

        let mut merged = new_histogram();
        let mut snapshot = WindowSnapshot {
            over: SLOT * count as u32,
            requests: 0,
            errors: 0,
            error_rate: None,
            p50_ms: None,
            p99_ms: None,
            cache_hits: 0,
            cache_misses: 0,
            cache_hit_ratio: None,
            series: Vec::with_capacity(count),
        };
        let ring = self.lock();
        for back in (0..count).rev() {
            let ago = SLOT * back as u32 + into_current;
            let start = wall_now - chrono::TimeDelta::from_std(ago).unwrap_or_default();
            let slot = current
                .checked_sub(back as u64)
                .map(|number| &ring[index(number)])
                .filter(|slot| slot.number + back as u64 == current);
            let Some(slot) = slot else {
                snapshot.series.push(SlotPoint {
                    start,
                    ago,
                    requests: 0,
                    errors: 0,
                    error_rate: None,
                    p50_ms: None,
                    p99_ms: None,
                });
                continue;
            };
            snapshot.requests = snapshot.requests.saturating_add(slot.requests);
            snapshot.errors = snapshot.errors.saturating_add(slot.errors);
            snapshot.cache_hits = snapshot.cache_hits.saturating_add(slot.hits);
            snapshot.cache_misses = snapshot.cache_misses.saturating_add(slot.misses);
            let latency = slot.latency.as_ref().filter(|h| !h.is_empty());
            if let Some(histogram) = latency {
                // Same bounds and precision: adding cannot fail (it would only on a
                // histogram of other bounds), and counts saturate.
                let _ = merged.add(histogram);
            }
            snapshot.series.push(SlotPoint {
                start,
                ago,
                requests: slot.requests,
                errors: slot.errors,
                error_rate: ratio(slot.errors, slot.requests),
                p50_ms: latency.map(|h| quantile_ms(h, 0.5)),
                p99_ms: latency.map(|h| quantile_ms(h, 0.99)),
            });
        }
        drop(ring);
        snapshot.error_rate = ratio(snapshot.errors, snapshot.requests);
        snapshot.cache_hit_ratio = ratio(
            snapshot.cache_hits,
            snapshot.cache_hits.saturating_add(snapshot.cache_misses),
        );
        if !merged.is_empty() {
            snapshot.p50_ms = Some(quantile_ms(&merged, 0.5));
            snapshot.p99_ms = Some(quantile_ms(&merged, 0.99));
        }
        snapshot
    }

    /// The slot of the period now, emptied first if it still held an older period.
    fn current<'a>(&self, ring: &'a mut [Slot]) -> &'a mut Slot {
        let number = slot_number(Instant::now().saturating_duration_since(self.origin));
        let slot = &mut ring[index(number)];
        if slot.number != number {
            slot.reuse(number);
        }
        slot
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        // Nothing under this lock can panic halfway through a change, so a poisoned lock
        // still holds consistent slots.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn slot_number(elapsed: Duration) -> u64 {
    (elapsed.as_nanos() / SLOT.as_nanos()) as u64
}

fn index(number: u64) -> usize {
    (number % SLOTS as u64) as usize
}

fn new_histogram() -> Histogram<u32> {
    // Constant bounds that `new_with_bounds` accepts (low >= 1, high >= 2 * low, sigfig <= 5):
    // no input reaches this, and the unit tests construct it.
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

fn quantile_ms(histogram: &Histogram<u32>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn counts_attempts_errors_and_latency_percentiles() {
        let window = Window::new();
        for i in 1..=100 {
            window.record_attempt(i % 10 != 0, ms(i));
        }
        let s = window.snapshot(Duration::from_secs(60));
        assert_eq!((s.requests, s.errors), (100, 10));
        assert_eq!(s.error_rate, Some(0.1));
        let p50 = s.p50_ms.unwrap();
        let p99 = s.p99_ms.unwrap();
        assert!((49.0..=51.0).contains(&p50), "p50 {p50}");
        assert!((98.0..=100.0).contains(&p99), "p99 {p99}");
        assert_eq!(s.cache_hit_ratio, None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_window_has_no_rates() {
        let s = Window::new().snapshot(SPAN);
        assert_eq!((s.requests, s.errors), (0, 0));
        assert_eq!((s.error_rate, s.p50_ms, s.p99_ms), (None, None, None));
        assert_eq!(s.series.len(), SLOTS);
        assert!(
            s.series
                .iter()
                .all(|p| p.requests == 0 && p.p50_ms.is_none())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cache_hit_ratio_sums_lookups() {
        let window = Window::new();
        window.record_cache(3, 1);
        window.record_cache(0, 0);
        window.record_cache(1, 3);
        let s = window.snapshot(SLOT);
        assert_eq!((s.cache_hits, s.cache_misses), (4, 4));
        assert_eq!(s.cache_hit_ratio, Some(0.5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_series_has_one_point_per_slot_oldest_first() {
        let window = Window::new();
        window.record_attempt(true, ms(10));
        tokio::time::advance(SLOT).await;
        window.record_attempt(false, ms(200));
        window.record_attempt(true, ms(200));
        tokio::time::advance(ms(5_000)).await;

        let s = window.snapshot(ms(61_000));
        assert_eq!(s.over, SLOT * 3);
        let requests: Vec<u64> = s.series.iter().map(|p| p.requests).collect();
        assert_eq!(requests, [0, 1, 2]);
        let newest = &s.series[2];
        assert_eq!(newest.error_rate, Some(0.5));
        assert_eq!(newest.ago, ms(5_000));
        assert_eq!(s.series[1].ago, SLOT + ms(5_000));
        assert!((199.0..=201.0).contains(&newest.p50_ms.unwrap()));
        assert!(s.series[1].p50_ms.unwrap() < 11.0);
        assert!(s.series[0].start < s.series[1].start);
        assert_eq!((s.requests, s.errors), (3, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_span_counts_whole_slots_only() {
        let window = Window::new();
        window.record_attempt(true, ms(1));
        tokio::time::advance(SLOT * 2).await;
        window.record_attempt(true, ms(1));
        assert_eq!(window.snapshot(SLOT).requests, 1);
        assert_eq!(window.snapshot(SLOT * 3).requests, 2);
        // Zero and oversized spans are clamped to one slot and to the whole window.
        assert_eq!(window.snapshot(Duration::ZERO).series.len(), 1);
        assert_eq!(window.snapshot(SPAN * 10).over, SPAN);
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_older_than_the_span_is_forgotten_and_its_slot_reused() {
        let window = Window::new();
        for _ in 0..5 {
            window.record_attempt(false, ms(900));
        }
        tokio::time::advance(SPAN - ms(1)).await;
        assert_eq!(window.snapshot(SPAN).errors, 5);
        tokio::time::advance(ms(1)).await;
        // Exactly one span later: the first slot's period is gone.
        assert_eq!(window.snapshot(SPAN).requests, 0);
        // Its slot in the ring now holds the new period, fresh.
        window.record_attempt(true, ms(3));
        let s = window.snapshot(SPAN);
        assert_eq!((s.requests, s.errors), (1, 0));
        assert!(s.p99_ms.unwrap() < 4.0);
    }

    #[tokio::test(start_paused = true)]
    async fn long_idle_periods_and_extreme_latencies_are_safe() {
        let window = Window::new();
        window.record_attempt(true, Duration::from_secs(3600));
        window.record_attempt(true, Duration::ZERO);
        let s = window.snapshot(SLOT);
        // Clamped to the histogram's top (60 s, within its 1 % precision).
        let p99 = s.p99_ms.unwrap();
        assert!((59_400.0..=60_600.0).contains(&p99), "p99 {p99}");
        tokio::time::advance(Duration::from_secs(7 * 24 * 3600)).await;
        assert_eq!(window.snapshot(SPAN).requests, 0);
        window.record_cache(u64::MAX, 1);
        window.record_cache(1, 0);
        assert_eq!(window.snapshot(SLOT).cache_hits, u64::MAX);
    }
}
