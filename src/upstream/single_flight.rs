//! Single-flight: concurrent loads of the same key, from any request, share one fetch.
//!
//! Written here rather than taken from a crate because it must coalesce per key inside
//! batches (a batch of 20 SKUs of which 5 are already being fetched asks only for the other
//! 15), which the single-key crates (and moka's `get_with`) do not do. Each fetch runs on its
//! own task, so a cancelled request never strands the others waiting on it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;

use super::deadline::Deadline;
use futures_util::future::{BoxFuture, Shared};

/// One key's fetch, to be awaited by anyone who wants its value (`None`: not returned).
pub type Pending<V> = Shared<BoxFuture<'static, Option<V>>>;

pub struct SingleFlight<K, V> {
    in_flight: Arc<Mutex<HashMap<K, Pending<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            in_flight: Arc::default(),
        }
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Values for `keys`: keys already being fetched wait for that fetch; the rest are fetched
    /// together by one call of `fetch`. A key that `fetch` does not return is absent.
    pub async fn load_many<F, Fut>(&self, keys: &[K], fetch: F) -> HashMap<K, V>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = HashMap<K, V>> + Send + 'static,
    {
        let mut out = HashMap::with_capacity(keys.len());
        for (key, pending) in self.join(keys, fetch) {
            if let Some(value) = pending.await {
                out.insert(key, value);
            }
        }
        out
    }

    /// The fetches for `keys`, joined or started now (without waiting for them): for callers
    /// that keep them, as a request does so that asking again never starts a second fetch.
    pub fn join<F, Fut>(&self, keys: &[K], fetch: F) -> Vec<(K, Pending<V>)>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = HashMap<K, V>> + Send + 'static,
    {
        let mut waits: Vec<(K, Pending<V>)> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        {
            let map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            for key in keys {
                match map.get(key) {
                    Some(pending) => waits.push((key.clone(), pending.clone())),
                    None if !missing.contains(key) => missing.push(key.clone()),
                    None => {}
                }
            }
        }
        if !missing.is_empty() {
            let in_flight = self.in_flight.clone();
            let fetched_keys = missing.clone();
            let fetch = fetch(missing.clone());
            // The fetch keeps the deadline of the request that started it, and its span.
            let task = Deadline::carry(async move {
                let values = fetch.await;
                let mut map = in_flight.lock().unwrap_or_else(|e| e.into_inner());
                for key in &fetched_keys {
                    map.remove(key);
                }
                values
            });
            let task = tokio::spawn(tracing::Instrument::in_current_span(task));
            // A panicked fetch yields no values: its keys are then absent, not an error here.
            let group = async move { task.await.unwrap_or_default() }
                .boxed()
                .shared();
            let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            for key in missing {
                let k = key.clone();
                let pending = group
                    .clone()
                    .map(move |values| values.get(&k).cloned())
                    .boxed()
                    .shared();
                // The task may already have finished and cleaned up: don't leave a stale entry.
                if group.peek().is_none() {
                    map.insert(key.clone(), pending.clone());
                }
                waits.push((key, pending));
            }
        }
        waits
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn overlapping_loads_fetch_each_key_once() {
        let flight = Arc::new(SingleFlight::<u32, u32>::default());
        let fetched = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let gate = gate.shared();
        let fetch = {
            let fetched = fetched.clone();
            move |keys: Vec<u32>| {
                let fetched = fetched.clone();
                let gate = gate.clone();
                async move {
                    fetched.lock().unwrap().push(keys.clone());
                    let _ = gate.await;
                    keys.into_iter().map(|k| (k, k * 10)).collect()
                }
            }
        };
        let first = {
            let flight = flight.clone();
            let fetch = fetch.clone();
            tokio::spawn(async move { flight.load_many(&[1, 2, 3], fetch).await })
        };
        // Wait until the first fetch is registered.
        while fetched.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let second = {
            let flight = flight.clone();
            tokio::spawn(async move { flight.load_many(&[2, 3, 4, 4], fetch).await })
        };
        while fetched.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        let _ = release.send(());
        let first = first.await.unwrap();
        let second = second.await.unwrap();
        assert_eq!(first[&1], 10);
        assert_eq!(second[&4], 40);
        assert_eq!(second[&2], 20);
        assert_eq!(*fetched.lock().unwrap(), vec![vec![1, 2, 3], vec![4]]);
        assert!(flight.in_flight.lock().unwrap().is_empty(), "cleaned up");
    }

    #[tokio::test]
    async fn a_finished_fetch_is_not_reused() {
        let flight = SingleFlight::<u32, u32>::default();
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let calls = calls.clone();
            let got = flight
                .load_many(&[7], move |keys| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    keys.into_iter().map(|k| (k, k)).collect()
                })
                .await;
            assert_eq!(got[&7], 7);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
