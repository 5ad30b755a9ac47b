//! How a loader reads through the cache: fresh and stale entries, misses fetched once per key
//! (this request's memo, then the shared single-flight), stale-if-error fallbacks.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use providers::ProviderError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Loaded;
use crate::cache::entity::Lookup;
use crate::cache::tiered::{SharedKey, TieredCache};
use crate::graphql::stale::{StaleReport, Staleness};
use crate::upstream::freshness;
use crate::upstream::health::{CacheCounts, Upstreams};
use crate::upstream::single_flight::{Pending, SingleFlight};

/// The fetches one request has joined, by key: asking again (another field, a later batch)
/// awaits the same fetch, even after it has finished and left [`InFlight`], where a new ask
/// would start a second one before the DataLoader's own cache is filled.
pub(super) struct RequestMemo<K, V>(Mutex<HashMap<K, Pending<V>>>);

impl<K, V> Default for RequestMemo<K, V> {
    fn default() -> Self {
        RequestMemo(Mutex::default())
    }
}

impl<K, V> RequestMemo<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(super) async fn load<F, Fut>(
        &self,
        flight: &SingleFlight<K, V>,
        keys: &[K],
        fetch: F,
    ) -> HashMap<K, V>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = HashMap<K, V>> + Send + 'static,
    {
        let pending: Vec<(K, Pending<V>)> = {
            let mut memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let missing: Vec<K> = keys
                .iter()
                .filter(|k| !memo.contains_key(k))
                .cloned()
                .collect();
            if !missing.is_empty() {
                memo.extend(flight.join(&missing, fetch));
            }
            keys.iter()
                .filter_map(|k| memo.get(k).map(|p| (k.clone(), p.clone())))
                .collect()
        };
        let mut out = HashMap::with_capacity(pending.len());
        for (key, pending) in pending {
            if let Some(value) = pending.await {
                out.insert(key, value);
            }
        }
        out
    }
}

/// Errors after which an expired entry is served instead (stale-if-error): the provider
/// could not answer, not "the entity does not exist" nor "your arguments are wrong".
fn stale_if_error(error: &ProviderError) -> bool {
    !matches!(
        error,
        ProviderError::NotFound(_) | ProviderError::BadInput(_)
    )
}

/// Stores what a fetch returned: values, and a negative entry for keys the provider does not
/// have (absent from the answer, or NOT_FOUND).
fn store<K, T>(
    cache: &TieredCache<K, T>,
    keys: &[K],
    results: &HashMap<K, Loaded<T>>,
    freshness: Option<Duration>,
) where
    K: Eq + Hash + Clone + Send + Sync + SharedKey + 'static,
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    for key in keys {
        match results.get(key) {
            Some(Ok(value)) => cache.insert(key.clone(), value.clone(), freshness),
            Some(Err(f)) if matches!(f.error, ProviderError::NotFound(_)) => {
                cache.insert_not_found(key.clone())
            }
            Some(Err(_)) => {}
            None => cache.insert_not_found(key.clone()),
        }
    }
}

/// What the cache answered for a request's keys.
struct Answers<K, T> {
    out: HashMap<K, Loaded<T>>,
    /// To fetch.
    misses: Vec<K>,
    /// Entries that may stand in if the fetch fails (stale-if-error), by key.
    expired: HashMap<K, (T, Duration)>,
    /// Stale entries served now, whose background refresh this request starts.
    refresh: Vec<K>,
    /// Lookups answered fresh, stale (served while refreshed), and "the provider has none".
    fresh: u64,
    stale: u64,
    negative: u64,
}

impl<K: Eq + Hash + Clone, T> Answers<K, T> {
    fn classify<V>(&mut self, cache: &TieredCache<K, T>, keys: V)
    where
        V: IntoIterator<Item = K>,
        K: Send + Sync + SharedKey + 'static,
        T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    {
        for key in keys {
            match cache.lookup(&key) {
                Lookup::Fresh(value) => {
                    self.fresh += 1;
                    self.out.insert(key, Ok(value));
                }
                Lookup::Stale {
                    value,
                    refresh: mine,
                    ..
                } => {
                    self.stale += 1;
                    self.out.insert(key.clone(), Ok(value));
                    if mine {
                        self.refresh.push(key);
                    }
                }
                Lookup::Expired { value, age } => {
                    self.expired.insert(key.clone(), (value, age));
                    self.misses.push(key);
                }
                Lookup::NotFound => self.negative += 1,
                Lookup::Miss => self.misses.push(key),
            }
        }
    }
}

/// Loads `keys` of one entity: fresh cache entries answer at once; stale ones too, with one
/// background refresh per key (stale-while-revalidate); what memory cannot answer is looked
/// for in the shared tier; the rest are fetched (through this request's memo and the shared
/// single-flight) and stored; when that fetch fails, an expired entry still within its
/// max-stale age answers instead and is reported as stale. Keys the provider does not have
/// are absent.
#[allow(clippy::too_many_arguments)]
pub(super) async fn through_cache<K, T, F, Fut>(
    entity: &'static str,
    provider: &'static str,
    upstreams: &Upstreams,
    cache: &Arc<TieredCache<K, T>>,
    memo: &RequestMemo<K, Loaded<T>>,
    flight: &Arc<SingleFlight<K, Loaded<T>>>,
    stale: &StaleReport,
    keys: &[K],
    fetch: F,
) -> HashMap<K, Loaded<T>>
where
    K: Eq + Hash + Clone + Send + Sync + SharedKey + std::fmt::Debug + 'static,
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    F: Fn(Vec<K>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = HashMap<K, Loaded<T>>> + Send + 'static,
{
    let mut answers = Answers {
        out: HashMap::with_capacity(keys.len()),
        misses: Vec::new(),
        expired: HashMap::new(),
        refresh: Vec::new(),
        fresh: 0,
        stale: 0,
        negative: 0,
    };
    answers.classify(cache, keys.iter().cloned());
    if !answers.misses.is_empty() && cache.is_shared() {
        // Another replica may have stored them: ask Redis once, then look again.
        let unanswered = std::mem::take(&mut answers.misses);
        cache.fill(&unanswered).await;
        answers.classify(cache, unanswered);
    }
    let Answers {
        mut out,
        misses,
        expired,
        refresh,
        fresh,
        stale: served_stale,
        negative,
    } = answers;
    let counts = [
        fresh,
        served_stale,
        negative,
        misses.len() as u64,
        refresh.len() as u64,
    ];
    crate::telemetry::spans::record_cache(provider, entity, counts);
    upstreams.looked_up(
        provider,
        entity,
        CacheCounts {
            hit: fresh,
            stale: served_stale,
            negative,
            miss: misses.len() as u64,
            refresh: refresh.len() as u64,
        },
    );
    let fetch_and_store = {
        let cache = cache.clone();
        move |keys: Vec<K>| {
            let (cache, fetch) = (cache.clone(), fetch.clone());
            async move {
                // Looked up again: a fetch that finished between this request's lookup and its
                // joining the single-flight has stored what it got.
                let mut results = HashMap::with_capacity(keys.len());
                let mut missing = Vec::new();
                for key in keys {
                    match cache.lookup(&key) {
                        Lookup::Fresh(value) => {
                            results.insert(key, Ok(value));
                        }
                        Lookup::NotFound => {}
                        _ => missing.push(key),
                    }
                }
                if !missing.is_empty() {
                    // What the upstream says of its answers' freshness wins when it says more.
                    let (fetched, freshness) = freshness::capture(fetch(missing.clone())).await;
                    store(&cache, &missing, &fetched, freshness);
                    results.extend(fetched);
                }
                results
            }
        }
    };
    if !refresh.is_empty() {
        // Not tied to this request: no deadline but the attempts' own timeouts.
        let (cache, flight, fetch) = (cache.clone(), flight.clone(), fetch_and_store.clone());
        tokio::spawn(async move {
            flight.load_many(&refresh, fetch).await;
            for key in &refresh {
                cache.refreshed(key);
            }
        });
    }
    if !misses.is_empty() {
        let fetched = memo.load(flight, &misses, fetch_and_store).await;
        serve_fetched(entity, provider, stale, misses, fetched, expired, &mut out);
    }
    // The response may be cached as long as the least fresh value it holds.
    for key in keys {
        stale.fresh_for(cache.freshness_left(key).unwrap_or_default());
    }
    out
}

/// Fetched values as they are, or an expired entry instead of a failure (stale-if-error).
fn serve_fetched<K, T>(
    entity: &'static str,
    provider: &'static str,
    stale: &StaleReport,
    misses: Vec<K>,
    fetched: HashMap<K, Loaded<T>>,
    mut expired: HashMap<K, (T, Duration)>,
    out: &mut HashMap<K, Loaded<T>>,
) where
    K: Eq + Hash + Clone + std::fmt::Debug,
    T: Clone,
{
    for key in misses {
        match fetched.get(&key) {
            Some(Ok(value)) => {
                out.insert(key, Ok(value.clone()));
            }
            Some(Err(failure)) => match expired.remove(&key) {
                Some((value, age)) if stale_if_error(&failure.error) => {
                    stale.served(
                        entity,
                        &key,
                        Staleness {
                            provider,
                            age,
                            reason: failure.error.code(),
                        },
                    );
                    out.insert(key, Ok(value));
                }
                _ => {
                    out.insert(key, Err(failure.clone()));
                }
            },
            None => {}
        }
    }
}
