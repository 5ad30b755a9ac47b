//! API keys. The config holds each key's SHA-256, never the key: a presented key is hashed
//! and its digest compared with every configured digest in constant time (`subtle`), so
//! neither the answer nor its timing says how close a guess was.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client::Client;
use crate::config::ApiKeyConfig;

/// The configured keys, by digest.
pub(super) struct ApiKeys {
    keys: Vec<KnownKey>,
}

struct KnownKey {
    digest: [u8; 32],
    name: String,
    scopes: Vec<String>,
}

impl ApiKeys {
    /// `None` when a digest is not 64 hex digits (config validation says which).
    pub(super) fn new(config: &[ApiKeyConfig]) -> Option<ApiKeys> {
        let keys = config
            .iter()
            .map(|k| {
                Some(KnownKey {
                    digest: digest_from_hex(&k.sha256)?,
                    name: k.name.clone(),
                    scopes: k.scopes.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ApiKeys { keys })
    }

    /// The client holding `key`, if it is one of ours.
    pub(super) fn client(&self, key: &str) -> Option<Client> {
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Every digest is compared, whichever matches, so the time taken is the same.
        let mut found = None;
        for known in &self.keys {
            if bool::from(known.digest.ct_eq(&presented)) {
                found = Some(known);
            }
        }
        found.map(|k| Client::api_key(&k.name, k.scopes.iter().cloned()))
    }
}

/// Hex to bytes: 32 pairs of hex digits, either case. Hand-written because it is four lines
/// and no hex crate is in the dependency tree.
fn digest_from_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, key: &str) -> ApiKeyConfig {
        let hex: String = Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        ApiKeyConfig {
            name: name.to_string(),
            sha256: hex,
            scopes: vec!["inventory:read".to_string()],
            requests_per_minute: None,
            cost_per_minute: None,
        }
    }

    #[test]
    fn a_key_is_known_by_its_hash() {
        let keys = ApiKeys::new(&[config("web", "s3cret-web"), config("ios", "s3cret-ios")])
            .expect("valid digests");
        let client = keys.client("s3cret-ios").expect("known key");
        assert_eq!(client.id, "key:ios");
        assert!(client.scopes.contains("inventory:read"));
        assert!(keys.client("s3cret-web").is_some());
        assert!(keys.client("s3cret-web ").is_none());
        assert!(keys.client("").is_none());
    }

    #[test]
    fn digests_that_are_not_hex_are_refused() {
        let mut bad = config("web", "k");
        bad.sha256.replace_range(0..2, "zz");
        assert!(ApiKeys::new(&[bad]).is_none());
        let mut short = config("web", "k");
        short.sha256.truncate(62);
        assert!(ApiKeys::new(&[short]).is_none());
        let mut multibyte = config("web", "k");
        multibyte.sha256.replace_range(0..2, "é");
        assert!(ApiKeys::new(&[multibyte]).is_none());
    }
}
