//! Verifying a bearer JWT.
//!
//! 1. The header is read first: its `alg` must be one of `auth.jwt.algorithms` (RS256,
//!    ES256; never `none` or an HMAC, so a public key can never serve as a shared secret) and
//!    its `kid` must name a key of the JWKS whose own algorithm is that `alg`.
//! 2. jsonwebtoken then checks the signature with that key alone, and the claims: `exp`,
//!    `iss`, `aud` and `sub` are required; `exp` and `nbf` (when present) are checked with
//!    `leeway_s` of clock skew; `iss` and `aud` must be the configured ones.
//! 3. The client is `jwt:<iss>|<sub>`, with the scopes of `scopes_claim` (a space-separated
//!    string or a list of strings).

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::client::Client;
use super::jwks::{Jwks, JwksError};
use super::rejection::AuthRejection;
use crate::config::JwtConfig;

pub(super) struct JwtVerifier {
    issuer: String,
    scopes_claim: String,
    /// The accepted algorithms, each with its validation rules.
    validations: Vec<(Algorithm, Validation)>,
    jwks: Arc<Jwks>,
}

/// The part of the header read before verification.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl JwtVerifier {
    pub(super) async fn start(config: &JwtConfig) -> Result<JwtVerifier, JwksError> {
        let validations = config
            .algorithms
            .iter()
            .filter_map(|name| algorithm(name))
            .map(|alg| {
                let mut validation = Validation::new(alg);
                validation.leeway = config.leeway_s;
                validation.validate_exp = true;
                validation.validate_nbf = true;
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&[&config.audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (alg, validation)
            })
            .collect();
        Ok(JwtVerifier {
            issuer: config.issuer.clone(),
            scopes_claim: config.scopes_claim.clone(),
            validations,
            jwks: Jwks::start(config).await?,
        })
    }

    pub(super) async fn refresh(&self) -> Result<usize, JwksError> {
        self.jwks.refresh().await
    }

    pub(super) async fn verify(&self, token: &str) -> Result<Client, AuthRejection> {
        let header = header(token).ok_or(AuthRejection::invalid_token("the token is malformed"))?;
        let Some((alg, validation)) =
            algorithm(&header.alg).and_then(|alg| self.validations.iter().find(|(a, _)| *a == alg))
        else {
            return Err(AuthRejection::invalid_token(
                "the token's algorithm is not accepted",
            ));
        };
        let kid = header
            .kid
            .ok_or(AuthRejection::invalid_token("the token names no key (kid)"))?;
        let key = self
            .jwks
            .key(&kid)
            .await
            .ok_or(AuthRejection::invalid_token(
                "the token's key (kid) is unknown",
            ))?;
        if key.algorithm != *alg {
            return Err(AuthRejection::invalid_token(
                "the token's algorithm is not its key's",
            ));
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation)
            .map_err(|e| AuthRejection::invalid_token(describe(e.kind())))?
            .claims;
        let subject =
            claims
                .get("sub")
                .and_then(Value::as_str)
                .ok_or(AuthRejection::invalid_token(
                    "the token has no subject (sub)",
                ))?;
        let scopes = scopes(claims.get(&self.scopes_claim)).ok_or(AuthRejection::invalid_token(
            "the token's scope claim is malformed",
        ))?;
        Ok(Client::jwt(&self.issuer, subject, scopes))
    }
}

fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

/// The token's header, decoded without trusting it (to choose the key).
fn header(token: &str) -> Option<Header> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Scopes from a space-separated string or a list of strings; `None` when it is neither.
fn scopes(claim: Option<&Value>) -> Option<BTreeSet<String>> {
    match claim {
        None | Some(Value::Null) => Some(BTreeSet::new()),
        Some(Value::String(text)) => Some(text.split_whitespace().map(str::to_string).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect(),
        Some(_) => None,
    }
}

/// Why jsonwebtoken refused a token, in words that hold nothing of the token.
fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::InvalidSignature => "the token's signature does not verify",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "the token's algorithm is not accepted"
        }
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "the token has no expiry (exp)",
            "iss" => "the token has no issuer (iss)",
            "aud" => "the token has no audience (aud)",
            "sub" => "the token has no subject (sub)",
            _ => "the token lacks a required claim",
        },
        ErrorKind::InvalidClaimFormat(_) => "the token has a malformed claim",
        _ => "the token is malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_are_a_string_or_a_list() {
        let read = |v: Value| scopes(Some(&v));
        assert_eq!(
            read(json!("a b  c")).unwrap(),
            BTreeSet::from(["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            read(json!(["a", "b"])).unwrap(),
            BTreeSet::from(["a".into(), "b".into()])
        );
        assert!(scopes(None).unwrap().is_empty());
        assert!(read(json!(["a", 1])).is_none());
        assert!(read(json!({"a": true})).is_none());
    }

    #[test]
    fn the_header_is_read_only_from_three_parts() {
        let encoded = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let parsed = header(&format!("{encoded}.e30.")).unwrap();
        assert_eq!(parsed.alg, "none");
        assert!(parsed.kid.is_none());
        assert!(header(&format!("{encoded}.e30")).is_none());
        assert!(header(&format!("{encoded}.e30.x.y")).is_none());
        assert!(header("%%%.e30.x").is_none());
        assert!(algorithm("none").is_none() && algorithm("HS256").is_none());
    }
}
