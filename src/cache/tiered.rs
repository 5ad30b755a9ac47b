//! One entity's cache in two tiers: this replica's memory ([`EntityCache`]) and, when
//! configured, Redis shared by every replica ([`RedisTier`]).
//!
//! Reads go to memory; what memory cannot answer (a miss, or an entry only good for
//! stale-if-error) is looked for in Redis in one `MGET`, and what Redis has is adopted into
//! memory with its age, so both tiers judge freshness, stale-while-revalidate and stale-if-error
//! the same way. Inserts go to both (Redis through a queue that never holds the caller).
//! Ages across replicas come from the wall clock in the stored entry (`storedMs`); a clock
//! that runs ahead on the writer only makes an entry look younger, never negative.

use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::entity::{EntityCache, Lookup, Stored};
use super::redis::{PREFIX, RedisTier, Scope, Write};

/// A key's text in Redis, unique within its entity.
pub trait SharedKey {
    fn shared_key(&self) -> String;
}

/// An entry as stored in Redis: when it was stored (wall clock, ms since the Unix epoch),
/// how long it is fresh from then, and the value (`null`: the provider answered NOT_FOUND).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SharedEntry<V> {
    stored_ms: u64,
    fresh_ms: u64,
    value: Option<V>,
}

/// A decoded entry: its value, its age now, and how long it was fresh for.
#[derive(Debug, PartialEq)]
struct Shared<V> {
    value: Option<V>,
    age: Duration,
    fresh_for: Duration,
}

fn encode<V: Serialize>(value: Option<&V>, stored_ms: u64, fresh_for: Duration) -> Vec<u8> {
    let entry = SharedEntry {
        stored_ms,
        fresh_ms: millis(fresh_for),
        value,
    };
    // Serializing our own domain types into a Vec cannot fail (no maps with non-string keys).
    serde_json::to_vec(&entry).unwrap_or_default()
}

fn decode<V: DeserializeOwned>(bytes: &[u8], now_ms: u64) -> Result<Shared<V>, serde_json::Error> {
    let entry: SharedEntry<V> = serde_json::from_slice(bytes)?;
    Ok(Shared {
        value: entry.value,
        age: Duration::from_millis(now_ms.saturating_sub(entry.stored_ms)),
        fresh_for: Duration::from_millis(entry.fresh_ms),
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

pub struct TieredCache<K, V> {
    memory: EntityCache<K, V>,
    shared: Option<Arc<RedisTier>>,
    /// `provider:entity`, e.g. `catalog:products`: the keys' namespace in Redis.
    namespace: &'static str,
}

impl<K, V> TieredCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + SharedKey + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    pub fn new(
        memory: EntityCache<K, V>,
        shared: Option<Arc<RedisTier>>,
        namespace: &'static str,
    ) -> Self {
        TieredCache {
            memory,
            shared,
            namespace,
        }
    }

    pub fn memory(&self) -> &EntityCache<K, V> {
        &self.memory
    }

    pub fn namespace(&self) -> &'static str {
        self.namespace
    }

    pub fn is_shared(&self) -> bool {
        self.shared.is_some() && self.memory.policy().enabled
    }

    pub fn lookup(&self, key: &K) -> Lookup<V> {
        self.memory.lookup(key)
    }

    pub fn freshness_left(&self, key: &K) -> Option<Duration> {
        self.memory.freshness_left(key)
    }

    pub fn refreshed(&self, key: &K) {
        self.memory.refreshed(key)
    }

    /// Brings what Redis holds for `keys` into memory (one round trip; nothing when Redis is
    /// off, down or slow).
    pub async fn fill(&self, keys: &[K]) {
        let Some(redis) = self.shared.as_ref().filter(|_| self.is_shared()) else {
            return;
        };
        let names: Vec<String> = keys.iter().map(|k| self.redis_key(k)).collect();
        let found = redis.get_many(&names).await;
        let now = now_ms();
        for (key, bytes) in keys.iter().zip(found) {
            let Some(bytes) = bytes else { continue };
            match decode::<V>(&bytes, now) {
                Ok(entry) => {
                    self.memory
                        .adopt(key.clone(), entry.value, entry.age, entry.fresh_for);
                }
                Err(e) => tracing::debug!(
                    namespace = self.namespace,
                    error = %e,
                    "ignored an unreadable shared cache entry"
                ),
            }
        }
    }

    pub fn insert(&self, key: K, value: V, freshness: Option<Duration>) {
        let Some(redis) = &self.shared else {
            self.memory.insert(key, value, freshness);
            return;
        };
        let copy = value.clone();
        if let Some(stored) = self.memory.insert(key.clone(), value, freshness) {
            self.share(redis, &key, Some(&copy), stored);
        }
    }

    pub fn insert_not_found(&self, key: K) {
        let Some(redis) = &self.shared else {
            self.memory.insert_not_found(key);
            return;
        };
        if let Some(stored) = self.memory.insert_not_found(key.clone()) {
            self.share(redis, &key, None, stored);
        }
    }

    /// Queues what memory just stored for Redis, kept there as long as memory keeps it.
    fn share(&self, redis: &RedisTier, key: &K, value: Option<&V>, stored: Stored) {
        redis.put(Write {
            key: self.redis_key(key),
            value: encode(value, now_ms(), stored.fresh_for),
            ttl: stored.keep_for,
        });
    }

    /// Evicts `key` from memory and Redis, and from the other replicas' memory. Errs when
    /// Redis could not be told (memory is evicted either way).
    pub async fn invalidate(&self, key: &K) -> Result<(), String> {
        self.memory.invalidate(key);
        self.invalidate_shared(Scope::Key(key.shared_key())).await
    }

    /// Evicts every key whose text starts with `prefix` (e.g. one product's review pages).
    pub async fn invalidate_prefix(&self, prefix: &str) -> Result<(), String> {
        self.memory
            .invalidate_where(|k| k.shared_key().starts_with(prefix));
        self.invalidate_shared(Scope::Prefix(prefix.to_owned()))
            .await
    }

    pub async fn invalidate_all(&self) -> Result<(), String> {
        self.memory.invalidate_all();
        self.invalidate_shared(Scope::All).await
    }

    /// Another replica's invalidation: memory only (it has done Redis).
    pub fn apply(&self, scope: &Scope) {
        match scope {
            Scope::All => self.memory.invalidate_all(),
            Scope::Key(key) => self.memory.invalidate_where(|k| &k.shared_key() == key),
            Scope::Prefix(prefix) => self
                .memory
                .invalidate_where(|k| k.shared_key().starts_with(prefix.as_str())),
        }
    }

    async fn invalidate_shared(&self, scope: Scope) -> Result<(), String> {
        match &self.shared {
            Some(redis) => redis.invalidate(self.namespace, scope).await,
            None => Ok(()),
        }
    }

    fn redis_key(&self, key: &K) -> String {
        format!("{PREFIX}{}:{}", self.namespace, key.shared_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_their_age_across_replicas() {
        let bytes = encode(Some(&"a".to_owned()), 1_000_000, Duration::from_secs(10));
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"storedMs":1000000,"freshMs":10000,"value":"a"}"#
        );
        let read: Shared<String> = decode(&bytes, 1_012_500).unwrap();
        assert_eq!(
            read,
            Shared {
                value: Some("a".into()),
                age: Duration::from_millis(12_500),
                fresh_for: Duration::from_secs(10),
            }
        );
        // A writer whose clock ran ahead: the entry is young, not negative.
        let ahead: Shared<String> = decode(&bytes, 999_000).unwrap();
        assert_eq!(ahead.age, Duration::ZERO);
        // NOT_FOUND travels as a null value.
        let missing = encode::<String>(None, 5, Duration::from_secs(30));
        let read: Shared<String> = decode(&missing, 5).unwrap();
        assert_eq!(read.value, None);
        assert!(decode::<String>(b"{not json", 0).is_err());
    }
}
