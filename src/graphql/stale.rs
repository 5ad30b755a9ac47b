//! What a response was served from the cache. The loaders note each key they answered with an
//! expired entry because its fresh fetch failed (stale-if-error), and the field that used it
//! adds its path: the HTTP layer lists them in the response's `extensions.stale` (DESIGN's
//! degradation contract: `[{path, provider, ageMs, reason}]`). They also note how long each
//! value stays fresh, which bounds the response's own `Cache-Control: max-age`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_graphql::{Context, QueryPathNode, QueryPathSegment};
use serde_json::{Value, json};

/// Why a key was served stale.
#[derive(Debug, Clone)]
pub struct Staleness {
    pub provider: &'static str,
    pub age: Duration,
    /// The error code that prevented a fresh fetch.
    pub reason: &'static str,
}

/// One request's stale answers: by entity key as the loaders serve them, and by path as the
/// fields use them.
#[derive(Default)]
pub struct StaleReport {
    by_key: Mutex<HashMap<String, Staleness>>,
    entries: Mutex<Vec<Value>>,
    /// The least time any value served stays fresh; `None` until a value is served.
    fresh_for: Mutex<Option<Duration>>,
}

impl StaleReport {
    /// A loader served `key` of `entity` from an expired entry.
    pub fn served(&self, entity: &str, key: &impl std::fmt::Debug, staleness: Staleness) {
        self.by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{entity}:{key:?}"), staleness);
    }

    /// Lists the field at `ctx`'s path if the value it got for `key` was stale.
    pub fn used(&self, ctx: &Context<'_>, entity: &str, key: &impl std::fmt::Debug) {
        let staleness = self
            .by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&format!("{entity}:{key:?}"))
            .cloned();
        let Some(staleness) = staleness else {
            return;
        };
        let path = ctx.path_node.as_ref().map(path_of).unwrap_or_default();
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(json!({
                "path": path,
                "provider": staleness.provider,
                "ageMs": staleness.age.as_millis() as u64,
                "reason": staleness.reason,
            }));
    }

    /// A value served stays fresh for `left` more.
    pub fn fresh_for(&self, left: Duration) {
        let mut current = self.fresh_for.lock().unwrap_or_else(|e| e.into_inner());
        *current = Some(current.map_or(left, |c| c.min(left)));
    }

    /// How long the whole response may be cached: the least freshness of what it holds.
    pub fn max_age(&self) -> Option<Duration> {
        *self.fresh_for.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `extensions.stale` list; empty when every answer was fresh.
    pub fn entries(&self) -> Vec<Value> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn path_of(node: &QueryPathNode<'_>) -> Vec<Value> {
    let mut path: Vec<Value> = std::iter::once(node)
        .chain(node.parents())
        .map(|n| match n.segment {
            QueryPathSegment::Index(i) => json!(i),
            QueryPathSegment::Name(name) => json!(name),
        })
        .collect();
    path.reverse();
    path
}
