//! Automatic persisted queries (Apollo's APQ protocol), so that queries can travel as short,
//! cacheable GETs: `extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}`.
//!
//! 1. Hash without query: the query stored under that hash runs; an unknown hash is answered
//!    `PERSISTED_QUERY_NOT_FOUND`, and the client sends the query with its hash.
//! 2. Hash with query: the hash must be the query's SHA-256 (`PERSISTED_QUERY_HASH_MISMATCH`
//!    otherwise); the query is stored and runs.
//!
//! Hand-written rather than async-graphql's `ApolloPersistedQueries` extension: that one
//! resolves the query inside execution, after this gateway has parsed the document for its
//! own checks (GET mutations, required variables), so the text must be known before.

use std::sync::Arc;

use async_graphql::Request;
use axum::http::StatusCode;

use super::graphql::Rejection;
use super::trusted::sha256_hex;

/// Stored queries, bounded by their total size.
pub struct PersistedQueries {
    queries: moka::sync::Cache<String, Arc<str>>,
}

impl PersistedQueries {
    pub fn new(max_bytes: u64) -> Self {
        PersistedQueries {
            queries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|hash: &String, query: &Arc<str>| {
                    u32::try_from(hash.len() + query.len()).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    /// Fills in or checks `request`'s query when it carries a persisted-query hash.
    pub(super) fn resolve(
        &self,
        request: &mut Request,
        as_request_error: StatusCode,
    ) -> Result<(), Rejection> {
        let Some(persisted) = request.extensions.get("persistedQuery") else {
            return Ok(());
        };
        let persisted = persisted.clone().into_json().unwrap_or_default();
        if persisted.get("version").and_then(|v| v.as_u64()) != Some(1) {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "persistedQuery.version must be 1",
            ));
        }
        let Some(hash) = persisted
            .get("sha256Hash")
            .and_then(|h| h.as_str())
            .map(str::to_ascii_lowercase)
        else {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "persistedQuery.sha256Hash is missing",
            ));
        };
        if request.query.trim().is_empty() {
            return match self.queries.get(&hash) {
                Some(query) => {
                    request.query = query.to_string();
                    Ok(())
                }
                None => Err(Rejection::new(
                    as_request_error,
                    "PERSISTED_QUERY_NOT_FOUND",
                    "PersistedQueryNotFound",
                )),
            };
        }
        let actual = sha256_hex(&request.query);
        if actual != hash {
            return Err(Rejection::new(
                as_request_error,
                "PERSISTED_QUERY_HASH_MISMATCH",
                "persistedQuery.sha256Hash is not the SHA-256 of the query",
            ));
        }
        self.queries.insert(hash, Arc::from(request.query.as_str()));
        Ok(())
    }
}
