//! Trusted documents: with `trusted_documents.enabled`, only documents the gateway was given
//! run. Each `*.graphql` file in `trusted_documents.dir` is one document, known by the SHA-256
//! of its text; an Apollo persisted-query manifest may add more. A client sends either the
//! document's hash alone (`extensions.persistedQuery.sha256Hash`, as with APQ) or the text
//! itself, which must hash to a known document. Anything else is
//! `PERSISTED_QUERY_NOT_IN_LIST`, and nothing can be registered at run time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_graphql::Request;
use axum::http::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::graphql::Rejection;
use crate::config::{ConfigError, TrustedDocumentsConfig};

pub struct TrustedDocuments {
    by_hash: HashMap<String, Arc<str>>,
}

/// Apollo's `persisted-query-manifest.json`.
#[derive(Deserialize)]
struct Manifest {
    operations: Vec<ManifestOperation>,
}

#[derive(Deserialize)]
struct ManifestOperation {
    id: String,
    body: String,
}

impl TrustedDocuments {
    /// The trusted documents of `config`; `None` when the mode is off.
    pub fn load(config: &TrustedDocumentsConfig) -> Result<Option<TrustedDocuments>, ConfigError> {
        if !config.enabled {
            return Ok(None);
        }
        let mut by_hash = HashMap::new();
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("trusted_documents.{key}"),
            message,
        };
        let entries = std::fs::read_dir(&config.dir)
            .map_err(|e| invalid("dir", format!("cannot read {}: {e}", config.dir.display())))?;
        for entry in entries {
            let path = entry
                .map_err(|e| invalid("dir", format!("cannot read {}: {e}", config.dir.display())))?
                .path();
            if path.extension().is_none_or(|ext| ext != "graphql") {
                continue;
            }
            let text = read(&path).map_err(|m| invalid("dir", m))?;
            by_hash.insert(sha256_hex(&text), Arc::from(text.as_str()));
        }
        if let Some(path) = &config.manifest {
            let text = read(path).map_err(|m| invalid("manifest", m))?;
            let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
                invalid(
                    "manifest",
                    format!("{} is not a manifest: {e}", path.display()),
                )
            })?;
            for op in manifest.operations {
                let hash = sha256_hex(&op.body);
                if !op.id.eq_ignore_ascii_case(&hash) {
                    return Err(invalid(
                        "manifest",
                        format!("operation {} is not the SHA-256 of its body", op.id),
                    ));
                }
                by_hash.insert(hash, Arc::from(op.body.as_str()));
            }
        }
        if by_hash.is_empty() {
            return Err(invalid(
                "dir",
                format!("no trusted documents in {}", config.dir.display()),
            ));
        }
        Ok(Some(TrustedDocuments { by_hash }))
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Fills in `request`'s text from its hash, or checks that its text is trusted.
    pub(super) fn resolve(
        &self,
        request: &mut Request,
        as_request_error: StatusCode,
    ) -> Result<(), Rejection> {
        let hash = request
            .extensions
            .get("persistedQuery")
            .and_then(|p| p.clone().into_json().ok())
            .and_then(|p| p.get("sha256Hash")?.as_str().map(str::to_ascii_lowercase));
        let not_trusted = || {
            Rejection::new(
                as_request_error,
                "PERSISTED_QUERY_NOT_IN_LIST",
                "this gateway runs trusted documents only, and this is not one of them",
            )
        };
        match hash {
            Some(hash) if request.query.trim().is_empty() => {
                let text = self.by_hash.get(&hash).ok_or_else(not_trusted)?;
                request.query = text.to_string();
                Ok(())
            }
            _ => {
                let hash = sha256_hex(&request.query);
                if self.by_hash.contains_key(&hash) {
                    Ok(())
                } else {
                    Err(not_trusted())
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
