//! The Redis second tier: entries shared by every replica, and invalidations broadcast to them.
//!
//! Rules:
//! 1. Redis is an optimisation, never a dependency: every read and write has a deadline
//!    (`cache.redis_timeout_ms`), and any error or timeout only means "not from Redis" —
//!    the request goes on with memory and providers.
//! 2. After a failure the tier is skipped for [`RETRY_AFTER`] (reads answer "nothing",
//!    writes are dropped), so a dead or hung Redis costs a request at most one timeout, not
//!    one per key; the first operation after that probes it again. The change of state is
//!    logged once each way (warn when it goes, info when it is back) and counted in
//!    [`RedisTier::status`], which `/readyz` shows without ever failing readiness for it.
//! 3. Writes never hold a request: they are queued (bounded; a full queue drops the write)
//!    and one writer sends what has piled up as one pipeline.
//! 4. An invalidation deletes the keys and publishes them on [`CHANNEL`]; every replica
//!    evicts them from its memory. A replica disconnected at that moment misses the message;
//!    its memory entry then lives out its TTL.
//!
//! The connection is redis-rs's `ConnectionManager` (multiplexed, reconnecting), created
//! lazily so that a gateway starts while Redis is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ProtocolVersion, PushKind, Value};
use serde_json::json;
use tokio::sync::mpsc;

/// Every Switchyard key starts with this; the version changes when the entry format does.
pub const PREFIX: &str = "switchyard:v1:";
/// The channel of invalidation messages between replicas.
pub const CHANNEL: &str = "switchyard:v1:invalidate";
/// How long the tier is skipped after a failure before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Writes waiting for the writer; beyond this they are dropped.
const WRITE_QUEUE: usize = 4096;
/// Most writes sent in one pipeline.
const WRITE_BATCH: usize = 256;

/// `Ok` when `url` is a Redis URL the gateway can use.
pub fn check_url(url: &str) -> Result<(), String> {
    Client::open(url)
        .map(drop)
        .map_err(|e| format!("not a Redis URL ({e}); expected redis://host:port/db"))
}

/// One entry to store: key, encoded entry, and how long Redis keeps it.
pub struct Write {
    pub key: String,
    pub value: Vec<u8>,
    pub ttl: Duration,
}

/// A message between replicas: drop these entries from memory.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Invalidation {
    /// The replica that sent it (it has evicted them already).
    pub origin: String,
    /// `provider:entity`, e.g. `catalog:products`.
    pub namespace: String,
    pub scope: Scope,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    All,
    Key(String),
    Prefix(String),
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    written: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    skipped: AtomicU64,
    dropped_writes: AtomicU64,
    /// Queued or being sent.
    pending_writes: AtomicU64,
}

/// Up, or down since a failure (and skipped until `RETRY_AFTER` has passed).
struct Health {
    down: AtomicBool,
    retry_at: std::sync::Mutex<Option<Instant>>,
    last_error: std::sync::Mutex<Option<String>>,
}

pub struct RedisTier {
    conn: ConnectionManager,
    timeout: Duration,
    replica: String,
    health: Health,
    counters: Counters,
    writes: mpsc::Sender<Write>,
    /// Whether this replica hears other replicas' invalidations now.
    subscribed: AtomicBool,
}

impl RedisTier {
    /// Connects lazily (Redis may be down now) and starts the writer and, when `invalidations`
    /// is given, the subscriber that forwards other replicas' invalidations to it.
    pub fn start(
        url: &str,
        timeout: Duration,
        invalidations: Option<mpsc::UnboundedSender<Invalidation>>,
    ) -> Result<Arc<RedisTier>, String> {
        let client = Client::open(url).map_err(|e| format!("cache.redis_url: {e}"))?;
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config(timeout))
            .map_err(|e| format!("cache.redis_url: {e}"))?;
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let tier = Arc::new(RedisTier {
            conn,
            timeout,
            replica: replica_id(),
            health: Health {
                down: AtomicBool::new(false),
                retry_at: std::sync::Mutex::new(None),
                last_error: std::sync::Mutex::new(None),
            },
            counters: Counters::default(),
            writes,
            subscribed: AtomicBool::new(false),
        });
        tokio::spawn(write_loop(Arc::downgrade(&tier), queue));
        if let Some(forward) = invalidations {
            tokio::spawn(subscribe_loop(
                url.to_owned(),
                timeout,
                Arc::downgrade(&tier),
                forward,
            ));
        }
        Ok(tier)
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The stored entries of `keys`, in order (`None`: not there); all `None` when Redis is
    /// down, slow or skipped.
    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        let nothing = || vec![None; keys.len()];
        if keys.is_empty() || !self.usable() {
            return nothing();
        }
        let mut conn = self.conn.clone();
        let mut mget = redis::cmd("MGET");
        mget.arg(keys);
        let values: Vec<Option<Vec<u8>>> = match self
            .within(mget.query_async::<Vec<Option<Vec<u8>>>>(&mut conn))
            .await
        {
            Some(values) if values.len() == keys.len() => values,
            _ => return nothing(),
        };
        let hits = values.iter().filter(|v| v.is_some()).count() as u64;
        self.counters.hits.fetch_add(hits, Ordering::Relaxed);
        self.counters
            .misses
            .fetch_add(keys.len() as u64 - hits, Ordering::Relaxed);
        values
    }

    /// Adds each `(key, delta)` to its integer counter (created when missing, kept for `ttl`)
    /// in one round trip: the new totals, in order; `None` when Redis is down, slow or skipped.
    pub async fn add_counters(&self, adds: &[(String, u64)], ttl: Duration) -> Option<Vec<u64>> {
        if adds.is_empty() || !self.usable() {
            return None;
        }
        let mut pipe = redis::pipe();
        for (key, delta) in adds {
            pipe.cmd("INCRBY").arg(key).arg(*delta);
            pipe.cmd("EXPIRE").arg(key).arg(ttl.as_secs()).ignore();
        }
        let mut conn = self.conn.clone();
        let totals: Vec<i64> = self.within(pipe.query_async(&mut conn)).await?;
        (totals.len() == adds.len()).then(|| totals.into_iter().map(|t| t.max(0) as u64).collect())
    }

    /// Queues `write`; dropped when Redis is skipped or the queue is full.
    pub fn put(&self, write: Write) {
        self.counters.pending_writes.fetch_add(1, Ordering::AcqRel);
        if !self.usable() || self.writes.try_send(write).is_err() {
            self.counters.pending_writes.fetch_sub(1, Ordering::AcqRel);
            self.counters.dropped_writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Deletes `scope` of `namespace` and tells the other replicas to evict it from memory.
    /// Errs when Redis could not be told (the entries may still be there).
    pub async fn invalidate(&self, namespace: &str, scope: Scope) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let base = format!("{PREFIX}{namespace}:");
        match &scope {
            Scope::Key(key) => {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(format!("{base}{key}"));
                self.checked(unlink.query_async::<()>(&mut conn)).await?;
            }
            Scope::All => {
                self.unlink_matching(&format!("{}*", glob_escape(&base)))
                    .await?
            }
            Scope::Prefix(prefix) => {
                let pattern = format!("{}{}*", glob_escape(&base), glob_escape(prefix));
                self.unlink_matching(&pattern).await?;
            }
        }
        let message = Invalidation {
            origin: self.replica.clone(),
            namespace: namespace.to_owned(),
            scope,
        };
        let payload = serde_json::to_string(&message).map_err(|e| e.to_string())?;
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(CHANNEL).arg(payload);
        self.checked(publish.query_async::<()>(&mut conn)).await
    }

    /// SCAN and UNLINK every key matching `pattern`, a batch at a time.
    async fn unlink_matching(&self, pattern: &str) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let mut cursor = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.cursor_arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) =
                self.checked(scan.query_async(&mut conn)).await?;
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(keys);
                self.checked(unlink.query_async::<()>(&mut conn)).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// The tier's state for `/readyz`.
    pub fn status(&self) -> serde_json::Value {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "state": if self.health.down.load(Ordering::Acquire) { "down" } else { "up" },
            "lastError": *lock(&self.health.last_error),
            "hits": n(&c.hits),
            "misses": n(&c.misses),
            "written": n(&c.written),
            "errors": n(&c.errors),
            "timeouts": n(&c.timeouts),
            "skipped": n(&c.skipped),
            "droppedWrites": n(&c.dropped_writes),
            "pendingWrites": n(&c.pending_writes),
            "subscribed": self.subscribed.load(Ordering::Acquire),
        })
    }

    /// Whether to try Redis now: up, or down long enough to probe again.
    fn usable(&self) -> bool {
        if !self.health.down.load(Ordering::Acquire) {
            return true;
        }
        let mut retry_at = lock(&self.health.retry_at);
        match *retry_at {
            Some(at) if Instant::now() < at => {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => {
                // This caller probes; the others keep skipping until it has an answer.
                *retry_at = Some(Instant::now() + RETRY_AFTER);
                true
            }
        }
    }

    /// Runs `op` within the timeout; `None` (and the tier marked down) on error or timeout.
    async fn within<T>(
        &self,
        op: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        self.checked(op).await.ok()
    }

    async fn checked<T>(
        &self,
        op: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(value)) => {
                self.succeeded();
                Ok(value)
            }
            Ok(Err(e)) => {
                // The connection's own response timeout is a timeout too.
                let counter = if e.is_timeout() {
                    &self.counters.timeouts
                } else {
                    &self.counters.errors
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let message = e.to_string();
                self.failed(&message);
                Err(message)
            }
            Err(_) => {
                self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                let message = format!("no answer within {} ms", self.timeout.as_millis());
                self.failed(&message);
                Err(message)
            }
        }
    }

    fn succeeded(&self) {
        if self.health.down.swap(false, Ordering::AcqRel) {
            tracing::info!(replica = %self.replica, "redis cache tier is back");
        }
    }

    fn failed(&self, error: &str) {
        *lock(&self.health.retry_at) = Some(Instant::now() + RETRY_AFTER);
        *lock(&self.health.last_error) = Some(error.to_owned());
        if !self.health.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error,
                retry_after_ms = RETRY_AFTER.as_millis() as u64,
                "redis cache tier unavailable: serving from memory and providers"
            );
        }
    }
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout.max(Duration::from_millis(250))))
        // Few, quick reconnect attempts: the tier's own RETRY_AFTER paces the rest.
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unique enough to tell replicas apart in invalidation messages.
fn replica_id() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

/// Escapes Redis glob characters, so that a key matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Sends queued writes, as many as have piled up in one pipeline, until the tier is dropped.
async fn write_loop(tier: std::sync::Weak<RedisTier>, mut queue: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while queue.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let Some(tier) = tier.upgrade() else { return };
        let mut pipe = redis::pipe();
        for write in &batch {
            let ms = u64::try_from(write.ttl.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            pipe.cmd("SET")
                .arg(&write.key)
                .arg(&write.value)
                .arg("PX")
                .arg(ms)
                .ignore();
        }
        let mut conn = tier.conn.clone();
        let count = batch.len() as u64;
        batch.clear();
        if tier
            .within(pipe.query_async::<()>(&mut conn))
            .await
            .is_some()
        {
            tier.counters.written.fetch_add(count, Ordering::Relaxed);
        } else {
            tier.counters
                .dropped_writes
                .fetch_add(count, Ordering::Relaxed);
        }
        tier.counters
            .pending_writes
            .fetch_sub(count, Ordering::AcqRel);
    }
}

/// Subscribes to [`CHANNEL`] on a RESP3 connection of its own and forwards other replicas'
/// invalidations. redis-rs resubscribes after a reconnect; a PING now and then makes it
/// reconnect while nothing else would.
async fn subscribe_loop(
    url: String,
    timeout: Duration,
    tier: std::sync::Weak<RedisTier>,
    forward: mpsc::UnboundedSender<Invalidation>,
) {
    let Ok(client) = Client::open(url.as_str()) else {
        return;
    };
    let info = client.get_connection_info().clone();
    let resp3 = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let Ok(client) = Client::open(info.set_redis_settings(resp3)) else {
        return;
    };
    let (pushes, mut received) = mpsc::unbounded_channel();
    let config = manager_config(timeout)
        .set_push_sender(pushes)
        .set_automatic_resubscription();
    let Ok(mut conn) = ConnectionManager::new_lazy_with_config(client, config) else {
        return;
    };
    let mut subscribed = false;
    let mut keepalive = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            push = received.recv() => {
                let Some(push) = push else { return };
                let Some(me) = tier.upgrade() else { return };
                match push.kind {
                    PushKind::Message => {}
                    PushKind::Subscribe => {
                        me.subscribed.store(true, Ordering::Release);
                        continue;
                    }
                    PushKind::Disconnection => {
                        me.subscribed.store(false, Ordering::Release);
                        continue;
                    }
                    _ => continue,
                }
                let Some(Value::BulkString(payload)) = push.data.get(1) else { continue };
                let Ok(message) = serde_json::from_slice::<Invalidation>(payload) else {
                    tracing::warn!("ignored a malformed cache invalidation message");
                    continue;
                };
                if message.origin != me.replica && forward.send(message).is_err() {
                    return;
                }
            }
            _ = keepalive.tick() => {
                if tier.strong_count() == 0 {
                    return;
                }
                let alive = if subscribed {
                    tokio::time::timeout(timeout * 4, redis::cmd("PING").query_async::<()>(&mut conn)).await
                } else {
                    tokio::time::timeout(timeout * 4, conn.subscribe(CHANNEL)).await
                };
                if matches!(alive, Ok(Ok(()))) && !subscribed {
                    subscribed = true;
                    if let Some(me) = tier.upgrade() {
                        me.subscribed.store(true, Ordering::Release);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(check_url("rediss://cache.internal:6380").is_ok());
        let error = check_url("http://127.0.0.1:6379").unwrap_err();
        assert!(error.contains("redis://"), "{error}");
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(glob_escape("reviews:12/"), "reviews:12/");
    }

    #[test]
    fn invalidations_read_back() {
        let message = Invalidation {
            origin: "r1".into(),
            namespace: "reviews:reviews".into(),
            scope: Scope::Prefix("12/".into()),
        };
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(
            text,
            r#"{"origin":"r1","namespace":"reviews:reviews","scope":{"prefix":"12/"}}"#
        );
        assert_eq!(
            serde_json::from_str::<Invalidation>(&text).unwrap(),
            message
        );
    }
}
