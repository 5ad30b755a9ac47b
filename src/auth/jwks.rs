//! The verification keys of JWTs: a JWKS read from a URL or a file.
//!
//! 1. Loaded at startup. A file that cannot be read or holds no usable key stops startup; a
//!    URL that does not answer only logs a warning (the identity provider may be down
//!    briefly) and the set starts empty, to be filled by the next fetch.
//! 2. Fetched again every `jwks_refresh_s`, and when a token names a `kid` the set lacks, at
//!    most once per `jwks_min_refetch_s` (concurrent tokens with unknown kids share one
//!    fetch). This is how a key rotation at the provider is picked up.
//! 3. A fetch that fails, or yields no usable key, keeps the last good set and logs a warning.
//! 4. Only signing keys the gateway accepts are kept: RSA keys (RS256) and P-256 keys (ES256),
//!    each with a `kid`; a key whose `alg` says otherwise, or meant for encryption, is skipped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::JwtConfig;

/// How long one JWKS fetch may take, connecting included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A JWKS larger than this is refused (real ones are a few KiB).
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why a key set could not be loaded. Messages carry no key material.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("JWKS fetch failed: {0}")]
    Fetch(String),
    #[error("JWKS file {path}: {message}")]
    File { path: String, message: String },
    #[error("the JWKS is not a JSON key set: {0}")]
    Parse(String),
    #[error("the JWKS holds no usable signing key (RSA or P-256, with a kid)")]
    NoUsableKeys,
}

/// One key that verifies tokens, and the one algorithm it verifies.
pub(super) struct VerificationKey {
    pub(super) algorithm: Algorithm,
    pub(super) key: DecodingKey,
}

/// Usable keys by `kid`.
#[derive(Default)]
pub(super) struct KeySet {
    keys: HashMap<String, Arc<VerificationKey>>,
}

impl KeySet {
    /// The usable keys of a JWKS document; keys the gateway cannot use are skipped.
    pub(super) fn parse(bytes: &[u8]) -> Result<KeySet, JwksError> {
        // Each key is read on its own, so that one key of a kind this library does not know
        // does not make the whole set unreadable.
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawSet =
            serde_json::from_slice(bytes).map_err(|e| JwksError::Parse(e.to_string()))?;
        let mut keys = HashMap::new();
        for value in raw.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if let Some((kid, key)) = usable(&jwk) {
                keys.insert(kid, Arc::new(key));
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(KeySet { keys })
    }

    fn get(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        self.keys.get(kid).cloned()
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// The `kid` and verification key of a JWK the gateway accepts.
fn usable(jwk: &Jwk) -> Option<(String, VerificationKey)> {
    let common = &jwk.common;
    let kid = common.key_id.clone()?;
    if matches!(common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    if let Some(ops) = &common.key_operations
        && !ops.iter().any(|op| matches!(op, KeyOperations::Verify))
    {
        return None;
    }
    let (algorithm, expected) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    if common.key_algorithm.is_some_and(|alg| alg != expected) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, VerificationKey { algorithm, key }))
}

/// Where the key set comes from.
enum Source {
    Url {
        client: reqwest::Client,
        url: String,
    },
    File(PathBuf),
}

impl Source {
    async fn read(&self) -> Result<Vec<u8>, JwksError> {
        match self {
            Source::Url { client, url } => fetch(client, url).await,
            Source::File(path) => tokio::fs::read(path).await.map_err(|e| JwksError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, JwksError> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| JwksError::Fetch(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(JwksError::Fetch(format!("status {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| JwksError::Fetch(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Fetch(format!(
                "the JWKS is larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The current key set, refreshed in the background and on unknown kids.
pub(super) struct Jwks {
    source: Source,
    keys: RwLock<Arc<KeySet>>,
    /// When a token's unknown kid last caused a fetch; held while that fetch runs.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    min_refetch: Duration,
}

impl Jwks {
    /// Loads the key set (see the module's rules) and starts its periodic refresh, which ends
    /// when the returned handle is dropped.
    pub(super) async fn start(config: &JwtConfig) -> Result<Arc<Jwks>, JwksError> {
        let source = match (&config.jwks_url, &config.jwks_file) {
            (Some(url), _) => Source::Url {
                client: {
                    // reqwest panics when no rustls provider is installed; main installs ring,
                    // and so does this, for an authenticator built anywhere else.
                    let _ = rustls::crypto::ring::default_provider().install_default();
                    reqwest::Client::builder()
                        .timeout(FETCH_TIMEOUT)
                        .connect_timeout(CONNECT_TIMEOUT)
                        .build()
                        .map_err(|e| JwksError::Fetch(e.to_string()))?
                },
                url: url.clone(),
            },
            (None, Some(path)) => Source::File(path.clone()),
            (None, None) => return Err(JwksError::NoUsableKeys),
        };
        let jwks = Arc::new(Jwks {
            source,
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_refetch: tokio::sync::Mutex::new(None),
            min_refetch: Duration::from_secs(config.jwks_min_refetch_s),
        });
        match (&jwks.source, jwks.refresh().await) {
            (_, Ok(_)) | (Source::Url { .. }, Err(_)) => {}
            (Source::File(_), Err(error)) => return Err(error),
        }
        spawn_refresh(
            Arc::downgrade(&jwks),
            Duration::from_secs(config.jwks_refresh_s),
        );
        Ok(jwks)
    }

    /// Reads the key set again; on failure keeps the last good one and logs why.
    pub(super) async fn refresh(&self) -> Result<usize, JwksError> {
        let loaded = match self.source.read().await {
            Ok(bytes) => KeySet::parse(&bytes),
            Err(error) => Err(error),
        };
        match loaded {
            Ok(set) => {
                let count = set.len();
                let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
                *keys = Arc::new(set);
                tracing::debug!(keys = count, "JWKS loaded");
                Ok(count)
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS refresh failed; keeping the last good keys");
                Err(error)
            }
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key named `kid`, fetching the set again first when it is unknown (rate-limited).
    pub(super) async fn key(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        if let Some(key) = self.current().get(kid) {
            return Some(key);
        }
        let mut last = self.last_refetch.lock().await;
        // Another request may have fetched it while this one waited.
        if let Some(key) = self.current().get(kid) {
            return Some(key);
        }
        if last.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return None;
        }
        *last = Some(Instant::now());
        let _ = self.refresh().await;
        self.current().get(kid)
    }
}

fn spawn_refresh(jwks: Weak<Jwks>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(jwks) = jwks.upgrade() else {
                return;
            };
            let _ = jwks.refresh().await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/jwt/jwks.json");

    #[test]
    fn the_fixture_set_holds_an_rsa_and_a_p256_key() {
        let set = KeySet::parse(FIXTURE).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("rsa-1").unwrap().algorithm, Algorithm::RS256);
        assert_eq!(set.get("ec-1").unwrap().algorithm, Algorithm::ES256);
        assert!(set.get("rsa-2").is_none());
    }

    #[test]
    fn keys_the_gateway_cannot_use_are_skipped() {
        let fixture: serde_json::Value = serde_json::from_slice(FIXTURE).unwrap();
        let rsa = fixture["keys"][0].clone();
        let ec = fixture["keys"][1].clone();
        let with = |key: &serde_json::Value, change: serde_json::Value| {
            let mut key = key.clone();
            for (name, value) in change.as_object().unwrap() {
                if value.is_null() {
                    key.as_object_mut().unwrap().remove(name);
                } else {
                    key[name] = value.clone();
                }
            }
            key
        };
        let set = json!({ "keys": [
            with(&rsa, json!({"kid": "enc", "use": "enc"})),
            with(&rsa, json!({"kid": "ps", "alg": "PS256"})),
            with(&rsa, json!({"kid": null})),
            with(&rsa, json!({"kid": "ops", "key_ops": ["encrypt"]})),
            with(&ec, json!({"kid": "p384", "crv": "P-384"})),
            with(&ec, json!({"kid": "es-as-rs", "alg": "RS256"})),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "ML-DSA", "kid": "future", "alg": "ML-DSA-44", "pub": "AAAA"},
            with(&ec, json!({"kid": "good"})),
        ]});
        let parsed = KeySet::parse(set.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(parsed.get("good").is_some());
    }

    #[test]
    fn a_set_without_usable_keys_or_not_json_is_an_error() {
        assert!(matches!(
            KeySet::parse(br#"{"keys": []}"#),
            Err(JwksError::NoUsableKeys)
        ));
        assert!(matches!(KeySet::parse(b"<html>"), Err(JwksError::Parse(_))));
    }
}
