//! Reading a request's credential: `x-api-key: <key>`, `Authorization: ApiKey <key>` or
//! `Authorization: Bearer <token>` (schemes case-insensitive). One credential per request:
//! several are refused rather than one of them silently chosen.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::rejection::AuthRejection;

/// The `x-api-key` header.
const API_KEY_HEADER: &str = "x-api-key";

/// Longer credentials are refused before any decoding (tokens are a few KiB at most).
const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// The credential a request carries.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Credential<'a> {
    None,
    ApiKey(&'a str),
    Bearer(&'a str),
}

pub(super) fn credential(headers: &HeaderMap) -> Result<Credential<'_>, AuthRejection> {
    let api_key = single(headers, API_KEY_HEADER)?;
    let authorization = single(headers, AUTHORIZATION.as_str())?;
    let found = match (api_key, authorization) {
        (None, None) => return Ok(Credential::None),
        (Some(_), Some(_)) => {
            return Err(AuthRejection::invalid_request(
                "send an API key or an Authorization header, not both",
            ));
        }
        (Some(key), None) => Credential::ApiKey(key.trim()),
        (None, Some(value)) => {
            let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                Credential::Bearer(rest.trim())
            } else if scheme.eq_ignore_ascii_case("apikey") {
                Credential::ApiKey(rest.trim())
            } else {
                return Err(AuthRejection::invalid_request(
                    "the Authorization scheme must be Bearer or ApiKey",
                ));
            }
        }
    };
    match found {
        Credential::ApiKey("") | Credential::Bearer("") => {
            Err(AuthRejection::invalid_token("the credential is empty"))
        }
        Credential::ApiKey(c) | Credential::Bearer(c) if c.len() > MAX_CREDENTIAL_BYTES => {
            Err(AuthRejection::invalid_token("the credential is too long"))
        }
        found => Ok(found),
    }
}

/// The header's one value, if any.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthRejection> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthRejection::invalid_request("send one credential"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| AuthRejection::invalid_token("the credential is not ASCII text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn reads_each_form_of_credential() {
        assert_eq!(credential(&headers(&[])), Ok(Credential::None));
        assert_eq!(
            credential(&headers(&[("x-api-key", "k1")])),
            Ok(Credential::ApiKey("k1"))
        );
        assert_eq!(
            credential(&headers(&[("authorization", "ApiKey k2")])),
            Ok(Credential::ApiKey("k2"))
        );
        assert_eq!(
            credential(&headers(&[("authorization", "bearer a.b.c")])),
            Ok(Credential::Bearer("a.b.c"))
        );
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer  a.b.c ")])),
            Ok(Credential::Bearer("a.b.c"))
        );
    }

    #[test]
    fn refuses_ambiguous_unknown_or_empty_credentials() {
        for bad in [
            headers(&[("x-api-key", "k"), ("authorization", "Bearer t")]),
            headers(&[("x-api-key", "k"), ("x-api-key", "j")]),
            headers(&[("authorization", "Basic dTpw")]),
            headers(&[("authorization", "Bearer")]),
            headers(&[("x-api-key", "")]),
        ] {
            let rejection = credential(&bad).unwrap_err();
            assert_eq!(rejection.status, 401);
            assert_eq!(rejection.code, "UNAUTHENTICATED");
            assert!(
                rejection
                    .www_authenticate
                    .unwrap()
                    .starts_with("Bearer error="),
                "{}",
                rejection.message
            );
        }
    }

    #[test]
    fn refuses_a_credential_too_long_to_be_one() {
        let mut headers = HeaderMap::new();
        let long = "x".repeat(MAX_CREDENTIAL_BYTES + 1);
        headers.insert("x-api-key", HeaderValue::from_str(&long).unwrap());
        let rejection = credential(&headers).unwrap_err();
        assert!(!rejection.message.contains(&long[..32]));
    }
}
