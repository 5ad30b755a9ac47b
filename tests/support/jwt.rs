//! JWTs for the tests, signed with the fixture keys in `tests/fixtures/jwt/` (the public halves
//! are in its `jwks.json`).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.test/";
pub const AUDIENCE: &str = "switchyard";
pub const RSA_PEM: &[u8] = include_bytes!("../fixtures/jwt/rsa-1.pem");
pub const RSA_PUBLIC_PEM: &[u8] = include_bytes!("../fixtures/jwt/rsa-1.pub.pem");
pub const EC_PEM: &[u8] = include_bytes!("../fixtures/jwt/ec-1.pem");

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `user-42`'s claims for [`ISSUER`] and [`AUDIENCE`], valid for ten minutes, holding `scope`.
pub fn claims(scope: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "exp": now() + 600,
        "iat": now(),
        "scope": scope,
    })
}

/// `claims` signed with the fixture key of `alg` (RS256 or ES256), under `kid`.
pub fn sign(alg: Algorithm, kid: &str, claims: &Value) -> String {
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PEM).expect("RSA key"),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PEM).expect("EC key"),
        other => panic!("no test key for {other:?}"),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).expect("signed")
}
