//! Whole GraphQL responses, kept for as long as their `Cache-Control: public, max-age` says,
//! so that a repeated query is answered without executing it: what a CDN in front of the
//! gateway would do, inside the gateway.
//!
//! Rules:
//! 1. Only what a shared cache could keep is kept: successful query responses without errors
//!    or stale data, with a max-age above zero (the least freshness of the entities they
//!    hold), to requests that carry no client identity.
//! 2. The key is a SHA-256 of everything that shapes the response: the media type, the
//!    operation name, the query text, the variables and the extensions.
//! 3. An entry expires with its max-age; a hit is sent as it was stored, with an `Age` header
//!    (RFC 9111 §5.1) saying how long ago that was. Invalidating any
//!    entity (admin API, or another replica's message) drops every response, since a response
//!    does not record the entities it was built from.
//! 4. Bounded by bytes (`cache.response_max_bytes`; 0 switches it off), like the entity caches.
//! 5. Concurrent identical requests that miss run once: the first leads ([`ResponseCache::turn`]),
//!    the others wait for it (within their deadline) and then look again; when the leader's
//!    response could not be kept, each runs its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Shared;
use moka::Expiry;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::entity::ENTRY_OVERHEAD;
use tokio::time::Instant;

pub type Key = [u8; 32];

/// A stored response: the body as sent, its validator, and when it stops being fresh.
#[derive(Debug)]
pub struct Cached {
    pub body: String,
    pub etag: String,
    pub max_age: Duration,
    /// The request's cost, charged to each client it is served to.
    pub cost: u64,
    stored_at: Instant,
}

struct ByMaxAge;

impl Expiry<Key, Arc<Cached>> for ByMaxAge {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Arc<Cached>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.max_age)
    }
}

type Running = Arc<Mutex<HashMap<Key, Shared<oneshot::Receiver<()>>>>>;

pub struct ResponseCache {
    inner: Option<moka::sync::Cache<Key, Arc<Cached>>>,
    /// Keys whose response is being made, and how to hear that it is done.
    running: Running,
}

/// The request that makes a response others wait for; they are told when it is dropped.
pub struct Leader {
    running: Running,
    key: Key,
    _done: oneshot::Sender<()>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl ResponseCache {
    /// `max_bytes` 0: off (every lookup misses, nothing is kept).
    pub fn new(max_bytes: u64) -> Self {
        let inner = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .name("responses")
                .max_capacity(max_bytes)
                .weigher(|_key: &Key, value: &Arc<Cached>| {
                    // The body and the tag, plus what an entry costs beyond its payload (measured
                    // for the entity caches, whose entries moka keeps the same way).
                    u32::try_from(value.body.len() + value.etag.len() + size_of::<Cached>())
                        .unwrap_or(u32::MAX)
                        .saturating_add(ENTRY_OVERHEAD)
                })
                .expire_after(ByMaxAge)
                .build()
        });
        ResponseCache {
            inner,
            running: Arc::default(),
        }
    }

    /// `Some(Leader)` when no identical request is being answered (hold it until the response
    /// is stored); otherwise waits, at most `wait`, for the one that is, and returns `None`:
    /// look in the cache again.
    pub async fn turn(&self, key: Key, wait: Duration) -> Option<Leader> {
        self.inner.as_ref()?;
        let running = {
            let mut map = self.running.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&key) {
                Some(running) => running.clone(),
                None => {
                    let (done, heard) = oneshot::channel();
                    map.insert(key, heard.shared());
                    return Some(Leader {
                        running: self.running.clone(),
                        key,
                        _done: done,
                    });
                }
            }
        };
        // Done or dropped, it comes to the same: look again.
        let _ = tokio::time::timeout(wait, running).await;
        None
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The key of a request, from the parts that shape its response (each length-prefixed,
    /// so that no two different lists of parts share a key).
    pub fn key(parts: &[&[u8]]) -> Key {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        hash.finalize().into()
    }

    /// A fresh response and its age.
    pub fn get(&self, key: &Key) -> Option<(Arc<Cached>, Duration)> {
        let cached = self.inner.as_ref()?.get(key)?;
        let age = Instant::now().saturating_duration_since(cached.stored_at);
        (age < cached.max_age).then_some((cached, age))
    }

    pub fn insert(&self, key: Key, body: String, etag: String, max_age: Duration, cost: u64) {
        let Some(inner) = &self.inner else { return };
        if max_age.is_zero() {
            return;
        }
        let cached = Cached {
            body,
            etag,
            stored_at: Instant::now(),
            max_age,
            cost,
        };
        inner.insert(key, Arc::new(cached));
    }

    /// Drops every response (an entity they may hold was invalidated).
    pub fn clear(&self) {
        if let Some(inner) = &self.inner {
            inner.invalidate_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    #[tokio::test(start_paused = true)]
    async fn responses_live_as_long_as_their_max_age() {
        let cache = ResponseCache::new(1 << 20);
        let key = ResponseCache::key(&[b"application/json", b"{ a }", b"{}"]);
        assert!(cache.get(&key).is_none());
        cache.insert(
            key,
            "{\"data\":{}}".into(),
            "\"t\"".into(),
            Duration::from_secs(5),
            1,
        );
        let (hit, age) = cache.get(&key).expect("a hit");
        assert_eq!(hit.body, "{\"data\":{}}");
        assert_eq!(age, Duration::ZERO);
        advance(Duration::from_secs(3)).await;
        assert_eq!(
            cache.get(&key).map(|(_, age)| age),
            Some(Duration::from_secs(3))
        );
        advance(Duration::from_secs(2)).await;
        assert!(cache.get(&key).is_none(), "expired with its max-age");
    }

    #[tokio::test(start_paused = true)]
    async fn identical_misses_wait_for_the_first() {
        let cache = Arc::new(ResponseCache::new(1 << 20));
        let key = ResponseCache::key(&[b"q"]);
        let leader = cache
            .turn(key, Duration::from_secs(10))
            .await
            .expect("the first leads");
        let follower = {
            let cache = cache.clone();
            tokio::spawn(async move {
                let led = cache.turn(key, Duration::from_secs(10)).await.is_some();
                (led, cache.get(&key).map(|(hit, _)| hit.body.clone()))
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!follower.is_finished(), "it waits for the leader");
        cache.insert(
            key,
            "made once".into(),
            "\"t\"".into(),
            Duration::from_secs(5),
            1,
        );
        drop(leader);
        assert_eq!(
            follower.await.unwrap(),
            (false, Some("made once".to_owned()))
        );
        // With nobody running, the next miss leads again; a waiter gives up at its deadline.
        cache.clear();
        let _again = cache
            .turn(key, Duration::from_secs(1))
            .await
            .expect("leads");
        let started = Instant::now();
        assert!(cache.turn(key, Duration::from_secs(1)).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn keys_tell_the_parts_apart() {
        let a = ResponseCache::key(&[b"ab", b"c"]);
        let b = ResponseCache::key(&[b"a", b"bc"]);
        assert_ne!(a, b);
        assert_eq!(a, ResponseCache::key(&[b"ab", b"c"]));
    }

    #[tokio::test(start_paused = true)]
    async fn off_and_cleared_caches_keep_nothing() {
        let off = ResponseCache::new(0);
        let key = ResponseCache::key(&[b"q"]);
        off.insert(key, "x".into(), "\"t\"".into(), Duration::from_secs(5), 1);
        assert!(off.get(&key).is_none());
        let on = ResponseCache::new(1 << 20);
        on.insert(key, "x".into(), "\"t\"".into(), Duration::from_secs(5), 1);
        on.clear();
        assert!(on.get(&key).is_none());
        on.insert(key, "x".into(), "\"t\"".into(), Duration::ZERO, 1);
        assert!(on.get(&key).is_none(), "nothing fresh for no time");
    }
}
