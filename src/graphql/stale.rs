//! What a response served from expired cache entries: the loaders note each key they answered
//! with an entry whose fresh fetch failed (stale-if-error), the field that used it adds its
//! path, and the HTTP layer lists them all in the response's `extensions.stale` (DESIGN's
//! degradation contract: `[{path, provider, ageMs, reason}]`).

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
