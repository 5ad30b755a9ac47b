//! One entity cache: values of one entity kind from one provider, keyed by id.
//!
//! Time windows of an entry stored at `t0` with freshness `f` (the policy's `ttl`, or the
//! upstream's own freshness when that is longer):
//!
//! ```text
//! t0 ........ t0+f ............ t0+f+swr ............ t0+f+max(swr, max_stale)
//!    Fresh         Stale (serve,          Expired (stale-if-error    Miss (evicted)
//!                  one refresher)         only)
//! ```
//!
//! `max_stale` is the total staleness allowed past freshness (so it normally is `>= swr`).
//! A NOT_FOUND answer is remembered for `negative_ttl` (zero: not remembered).
//!
//! Freshness is judged with `tokio::time::Instant` kept in the entry, so tests (ours and the
//! callers') can drive it with paused tokio time. moka's own clock only bounds eviction: an
//! entry is dropped by moka no earlier than its last useful moment, and an entry that our
//! clock says is past every window is reported as `Miss` whether or not moka evicted it yet.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moka::Expiry;
use tokio::time::Instant;

/// The caching policy of one entity cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CachePolicy {
    /// `false`: every lookup is a `Miss` and inserts are dropped.
    pub enabled: bool,
    /// How long a value is fresh, unless the upstream says longer.
    pub ttl: Duration,
    /// Stale-while-revalidate: past freshness, serve the value and refresh it in the background.
    pub swr: Duration,
    /// Stale-if-error: past freshness, the value may still stand in for a failed fetch.
    pub max_stale: Duration,
    /// How long a NOT_FOUND is remembered.
    pub negative_ttl: Duration,
}

/// The answer of [`EntityCache::lookup`].
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<V> {
    Fresh(V),
    /// Past its TTL but within the stale-while-revalidate window: serve it now; `refresh` is true
    /// for exactly one caller per key until `refreshed(key)` or a new insert (that caller starts
    /// the background refresh).
    Stale {
        value: V,
        age: Duration,
        refresh: bool,
    },
    /// Past the SWR window but within max_stale: usable only if a fresh fetch fails (stale-if-error).
    Expired {
        value: V,
        age: Duration,
    },
    /// A recent NOT_FOUND (negative entry, negative_ttl).
    NotFound,
    Miss,
}

/// How an insert was stored: fresh for this long, usable (stale) until `keep_for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub fresh_for: Duration,
    pub keep_for: Duration,
}

/// What moka stores: the value (or a NOT_FOUND) with the instants that classify it.
struct Entry<V> {
    /// `None`: a negative entry.
    value: Option<V>,
    stored_at: Instant,
    /// Fresh for this long after `stored_at` (for a negative entry: remembered this long).
    fresh_for: Duration,
    /// Eviction bound handed to moka, from the insert: after this long nothing in the entry
    /// is usable (less the age it already had then, for an entry adopted from the shared tier).
    evict_after: Duration,
    /// Set by the one lookup that was told to refresh; cleared by `refreshed`.
    refreshing: AtomicBool,
}

/// Fixed per-entry cost added to `weigh(k, v)`: without it the byte bound would only count the
/// payload, and many small values (or negative entries, which have no value at all) would
/// occupy far more memory than `max_bytes` says. It approximates moka's bookkeeping per entry
/// (its node, the access/write deque links, the timer-wheel slot, the hash-table slot, the
/// frequency sketch share) plus our `Arc<Entry>` header and what the allocator keeps around
/// them; `size_of` of the key and the entry are added on top. Measured with `bench/cache.py`:
/// 100,000 small entries through an 8 MiB cache grew the process by about 1.1 KiB per entry
/// retained beyond its payload.
pub const ENTRY_OVERHEAD: u32 = 1024;

/// Per-entry expiry for moka: every entry carries its own eviction bound, because the
/// upstream's freshness varies per entry.
struct EntryExpiry;

impl<K, V> Expiry<K, Arc<Entry<V>>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &K,
        entry: &Arc<Entry<V>>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(entry.evict_after)
    }

    /// An insert over an existing key is a new entry: its own bound, not the old one's rest.
    fn expire_after_update(
        &self,
        _key: &K,
        entry: &Arc<Entry<V>>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.evict_after)
    }
}

/// A byte-bounded cache of one provider's entities of one kind, keyed by id.
pub struct EntityCache<K, V> {
    name: &'static str,
    policy: CachePolicy,
    inner: moka::sync::Cache<K, Arc<Entry<V>>>,
}

impl<K, V> fmt::Debug for EntityCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityCache")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("entry_count", &self.inner.entry_count())
            .field("weighted_size", &self.inner.weighted_size())
            .finish()
    }
}

impl<K, V> EntityCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `max_bytes` bounds the sum of the entries' weights, each `weigh(key, value)` plus a
    /// fixed per-entry overhead.
    pub fn new(
        name: &'static str,
        policy: CachePolicy,
        max_bytes: u64,
        weigh: fn(&K, &V) -> u32,
    ) -> Self {
        let fixed = ENTRY_OVERHEAD
            .saturating_add(size_of::<K>() as u32)
            .saturating_add(size_of::<Entry<V>>() as u32);
        let inner = moka::sync::Cache::builder()
            .name(name)
            .max_capacity(max_bytes)
            .weigher(move |key: &K, entry: &Arc<Entry<V>>| {
                let payload = entry.value.as_ref().map_or(0, |value| weigh(key, value));
                payload.saturating_add(fixed)
            })
            .expire_after(EntryExpiry)
            .build();
        Self {
            name,
            policy,
            inner,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    /// How much longer `key`'s entry (value or NOT_FOUND) stays fresh; `None` when it is
    /// not fresh or not cached.
    pub fn freshness_left(&self, key: &K) -> Option<Duration> {
        if !self.policy.enabled {
            return None;
        }
        let entry = self.inner.get(key)?;
        let age = Instant::now().saturating_duration_since(entry.stored_at);
        entry
            .fresh_for
            .checked_sub(age)
            .filter(|left| !left.is_zero())
    }

    pub fn lookup(&self, key: &K) -> Lookup<V> {
        if !self.policy.enabled {
            return Lookup::Miss;
        }
        let Some(entry) = self.inner.get(key) else {
            return Lookup::Miss;
        };
        let age = Instant::now().saturating_duration_since(entry.stored_at);
        let Some(value) = &entry.value else {
            return if age < entry.fresh_for {
                Lookup::NotFound
            } else {
                Lookup::Miss
            };
        };
        if age < entry.fresh_for {
            return Lookup::Fresh(value.clone());
        }
        let staleness = age - entry.fresh_for;
        if staleness < self.policy.swr {
            let refresh = entry
                .refreshing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            Lookup::Stale {
                value: value.clone(),
                age,
                refresh,
            }
        } else if staleness < self.policy.max_stale {
            Lookup::Expired {
                value: value.clone(),
                age,
            }
        } else {
            Lookup::Miss
        }
    }

    /// `freshness`: how long the upstream said the value stays fresh (Cache-Control max-age,
    /// Expires, provider metadata); it wins over the policy's ttl when longer. Returns how
    /// the entry was stored, `None` when it was not (caching off, or nothing to keep).
    pub fn insert(&self, key: K, value: V, freshness: Option<Duration>) -> Option<Stored> {
        if !self.policy.enabled {
            return None;
        }
        let fresh_for = freshness.map_or(self.policy.ttl, |f| f.max(self.policy.ttl));
        let stored = Stored {
            fresh_for,
            keep_for: self.keep_for(fresh_for),
        };
        if stored.keep_for.is_zero() {
            return None;
        }
        self.store(key, Some(value), Duration::ZERO, stored);
        Some(stored)
    }

    /// Remember that the upstream answered NOT_FOUND for `key`, for `negative_ttl`.
    pub fn insert_not_found(&self, key: K) -> Option<Stored> {
        let ttl = self.policy.negative_ttl;
        if !self.policy.enabled || ttl.is_zero() {
            return None;
        }
        let stored = Stored {
            fresh_for: ttl,
            keep_for: ttl,
        };
        self.store(key, None, Duration::ZERO, stored);
        Some(stored)
    }

    /// Takes an entry another replica stored `age` ago, fresh for `fresh_for` from then
    /// (`value` `None`: a NOT_FOUND), unless it is past every window or what this cache holds
    /// for `key` is as recent. Returns whether it was taken.
    pub fn adopt(&self, key: K, value: Option<V>, age: Duration, fresh_for: Duration) -> bool {
        if !self.policy.enabled {
            return false;
        }
        let keep_for = if value.is_some() {
            self.keep_for(fresh_for)
        } else {
            fresh_for
        };
        if age >= keep_for {
            return false;
        }
        if let Some(held) = self.inner.get(&key)
            && Instant::now().saturating_duration_since(held.stored_at) <= age
        {
            return false;
        }
        self.store(
            key,
            value,
            age,
            Stored {
                fresh_for,
                keep_for,
            },
        );
        true
    }

    fn keep_for(&self, fresh_for: Duration) -> Duration {
        fresh_for.saturating_add(self.policy.swr.max(self.policy.max_stale))
    }

    fn store(&self, key: K, value: Option<V>, age: Duration, stored: Stored) {
        let now = Instant::now();
        // An instant before the clock's origin cannot be made: count the age from now instead.
        let (stored_at, fresh_for) = match now.checked_sub(age) {
            Some(at) => (at, stored.fresh_for),
            None => (now, stored.fresh_for.saturating_sub(age)),
        };
        let entry = Entry {
            value,
            stored_at,
            fresh_for,
            evict_after: stored.keep_for.saturating_sub(age),
            refreshing: AtomicBool::new(false),
        };
        self.inner.insert(key, Arc::new(entry));
    }

    /// The background refresh of `key` ended (success or not): another may start later.
    pub fn refreshed(&self, key: &K) {
        if let Some(entry) = self.inner.get(key) {
            entry.refreshing.store(false, Ordering::Release);
        }
    }

    pub fn invalidate(&self, key: &K) {
        self.inner.invalidate(key);
    }

    /// Drops every entry whose key matches (e.g. all review pages of one product).
    pub fn invalidate_where(&self, matches: impl Fn(&K) -> bool) {
        for (key, _) in self.inner.iter() {
            if matches(&key) {
                self.inner.invalidate(key.as_ref());
            }
        }
    }

    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    /// Bytes held, as weighed (approximate until moka's pending tasks have run).
    pub fn weighted_size(&self) -> u64 {
        self.inner.weighted_size()
    }

    /// Entries held (approximate until moka's pending tasks have run).
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    /// Apply moka's pending evictions and bookkeeping now (metrics, tests).
    pub fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use tokio::time::advance;

    const S: Duration = Duration::from_secs(1);

    fn policy() -> CachePolicy {
        CachePolicy {
            enabled: true,
            ttl: 10 * S,
            swr: 20 * S,
            max_stale: 60 * S,
            negative_ttl: 5 * S,
        }
    }

    #[allow(
        clippy::ptr_arg,
        reason = "the weigher's type is fn(&K, &V) with V = String"
    )]
    fn weigh(key: &u64, value: &String) -> u32 {
        (size_of_val(key) + value.len()) as u32
    }

    fn cache(policy: CachePolicy) -> EntityCache<u64, String> {
        EntityCache::new("test", policy, 1 << 20, weigh)
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_within_ttl() {
        let c = cache(policy());
        assert_eq!(c.lookup(&1), Lookup::Miss);
        c.insert(1, "a".into(), None);
        assert_eq!(c.lookup(&1), Lookup::Fresh("a".into()));
        advance(10 * S - Duration::from_millis(1)).await;
        assert_eq!(c.lookup(&1), Lookup::Fresh("a".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn stale_within_swr_has_exactly_one_refresher() {
        let c = cache(policy());
        c.insert(1, "a".into(), None);
        advance(12 * S).await;

        let threads = 16;
        let barrier = Barrier::new(threads);
        let handle = tokio::runtime::Handle::current();
        let refreshers: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        // The paused tokio clock is visible through the runtime's context.
                        let _guard = handle.enter();
                        barrier.wait();
                        match c.lookup(&1) {
                            Lookup::Stale {
                                value,
                                age,
                                refresh,
                            } => {
                                assert_eq!(value, "a");
                                assert_eq!(age, 12 * S);
                                usize::from(refresh)
                            }
                            other => panic!("expected Stale, got {other:?}"),
                        }
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(refreshers, 1);
        assert!(matches!(c.lookup(&1), Lookup::Stale { refresh: false, .. }));

        // The refresh ended (say, it failed): the next caller may start another.
        c.refreshed(&1);
        assert!(matches!(c.lookup(&1), Lookup::Stale { refresh: true, .. }));
        assert!(matches!(c.lookup(&1), Lookup::Stale { refresh: false, .. }));

        // A new insert is fresh, and once stale again it gets its own refresher.
        c.insert(1, "b".into(), None);
        assert_eq!(c.lookup(&1), Lookup::Fresh("b".into()));
        advance(11 * S).await;
        assert!(matches!(c.lookup(&1), Lookup::Stale { refresh: true, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_after_swr_then_miss_after_max_stale() {
        let c = cache(policy());
        c.insert(1, "a".into(), None);
        advance(30 * S).await; // ttl 10 + swr 20: just past the SWR window
        assert_eq!(
            c.lookup(&1),
            Lookup::Expired {
                value: "a".into(),
                age: 30 * S
            }
        );
        advance(39 * S).await; // 59 s of staleness of 60 allowed
        assert!(matches!(c.lookup(&1), Lookup::Expired { .. }));
        // Past max_stale by our clock; moka's real clock has barely moved, so it still holds it.
        advance(S).await;
        assert_eq!(c.entry_count_after_pending(), 1);
        assert_eq!(c.lookup(&1), Lookup::Miss);
    }

    #[tokio::test(start_paused = true)]
    async fn upstream_freshness_wins_only_when_longer() {
        let c = cache(policy());
        c.insert(1, "long".into(), Some(100 * S));
        c.insert(2, "short".into(), Some(2 * S));
        advance(5 * S).await;
        assert_eq!(c.lookup(&2), Lookup::Fresh("short".into()));
        advance(90 * S).await;
        assert_eq!(c.lookup(&1), Lookup::Fresh("long".into()));
        assert!(matches!(c.lookup(&2), Lookup::Miss));
        advance(10 * S).await;
        assert!(matches!(c.lookup(&1), Lookup::Stale { refresh: true, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn negative_entries_expire_after_negative_ttl() {
        let c = cache(policy());
        c.insert_not_found(7);
        assert_eq!(c.lookup(&7), Lookup::NotFound);
        advance(5 * S - Duration::from_millis(1)).await;
        assert_eq!(c.lookup(&7), Lookup::NotFound);
        advance(Duration::from_millis(1)).await;
        assert_eq!(c.lookup(&7), Lookup::Miss);

        // A value replaces a negative entry, and the other way round.
        c.insert_not_found(8);
        c.insert(8, "found".into(), None);
        assert_eq!(c.lookup(&8), Lookup::Fresh("found".into()));
        c.insert_not_found(8);
        assert_eq!(c.lookup(&8), Lookup::NotFound);
    }

    #[tokio::test(start_paused = true)]
    async fn adopted_entries_keep_their_age() {
        let c = cache(policy());
        // Stored 12 s ago elsewhere, fresh for 10 s: stale now, its age counted from then.
        assert!(c.adopt(1, Some("a".into()), 12 * S, 10 * S));
        assert!(matches!(
            c.lookup(&1),
            Lookup::Stale { age, refresh: true, .. } if age == 12 * S
        ));
        // An older copy does not replace it; a younger one does.
        assert!(!c.adopt(1, Some("old".into()), 20 * S, 10 * S));
        assert!(c.adopt(1, Some("b".into()), 3 * S, 10 * S));
        assert_eq!(c.lookup(&1), Lookup::Fresh("b".into()));
        advance(7 * S).await;
        assert!(matches!(c.lookup(&1), Lookup::Stale { .. }));
        // Past every window (fresh 10 + max(swr 20, max_stale 60)): not taken.
        assert!(!c.adopt(2, Some("gone".into()), 70 * S, 10 * S));
        assert_eq!(c.lookup(&2), Lookup::Miss);
        // A shared NOT_FOUND lasts what is left of its negative TTL.
        assert!(c.adopt(3, None, 4 * S, 5 * S));
        assert_eq!(c.lookup(&3), Lookup::NotFound);
        advance(S).await;
        assert_eq!(c.lookup(&3), Lookup::Miss);
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_is_always_a_miss() {
        let c = cache(CachePolicy {
            enabled: false,
            ..policy()
        });
        c.insert(1, "a".into(), Some(100 * S));
        c.insert_not_found(2);
        assert_eq!(c.lookup(&1), Lookup::Miss);
        assert_eq!(c.lookup(&2), Lookup::Miss);
        assert_eq!(c.entry_count_after_pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_drops_entries() {
        let c = cache(policy());
        c.insert(1, "a".into(), None);
        c.insert(2, "b".into(), None);
        c.invalidate(&1);
        assert_eq!(c.lookup(&1), Lookup::Miss);
        assert_eq!(c.lookup(&2), Lookup::Fresh("b".into()));
        c.invalidate_all();
        assert_eq!(c.lookup(&2), Lookup::Miss);
    }

    #[tokio::test(start_paused = true)]
    async fn byte_bound_holds() {
        let max_bytes = 1 << 20;
        let c = EntityCache::new("bytes", policy(), max_bytes, weigh);
        for id in 0..10_000u64 {
            c.insert(id, "x".repeat(1024), None);
        }
        c.run_pending_tasks();
        let size = c.weighted_size();
        assert!(size <= max_bytes, "weighted_size {size} > {max_bytes}");
        // Most of the 1 MiB is used, and each entry counts at least its payload.
        let count = c.entry_count();
        assert!(
            count > 0 && count * 1024 <= max_bytes,
            "entry_count {count}"
        );
        assert!(size > max_bytes / 2, "weighted_size {size}");
    }

    impl EntityCache<u64, String> {
        fn entry_count_after_pending(&self) -> u64 {
            self.run_pending_tasks();
            self.entry_count()
        }
    }
}
