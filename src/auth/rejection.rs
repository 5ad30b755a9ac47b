//! Why a request's client is refused: 401 `UNAUTHENTICATED` (no or bad credentials) or 403
//! `FORBIDDEN` (a field needs a scope the client lacks), with the `WWW-Authenticate` challenge
//! of RFC 6750. Messages say what is wrong with a credential, never what it was.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// A client that may not run the request; answered before execution (no `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    pub status: StatusCode,
    /// `UNAUTHENTICATED` or `FORBIDDEN`.
    pub code: &'static str,
    pub message: String,
    /// The `WWW-Authenticate` value to send with it.
    pub www_authenticate: Option<String>,
}

impl AuthRejection {
    /// No credentials where some are needed (RFC 6750 3.1: a bare challenge, no error code).
    pub(super) fn credentials_required(message: impl Into<String>) -> Self {
        AuthRejection {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHENTICATED",
            message: message.into(),
            www_authenticate: Some("Bearer".to_string()),
        }
    }

    /// A credential that is not accepted: `description` says why, in a few fixed words.
    pub(super) fn invalid_token(description: &'static str) -> Self {
        AuthRejection {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHENTICATED",
            message: format!("invalid credentials: {description}"),
            www_authenticate: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\""
            )),
        }
    }

    /// A request whose credentials cannot be read (several, or an unknown scheme).
    pub(super) fn invalid_request(description: &'static str) -> Self {
        AuthRejection {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHENTICATED",
            message: format!("invalid credentials: {description}"),
            www_authenticate: Some(format!(
                "Bearer error=\"invalid_request\", error_description=\"{description}\""
            )),
        }
    }

    /// An authenticated client without the scopes the fields need.
    pub(super) fn insufficient_scope(message: String, scopes: &[&str]) -> Self {
        AuthRejection {
            status: StatusCode::FORBIDDEN,
            code: "FORBIDDEN",
            message,
            www_authenticate: Some(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                scopes.join(" ")
            )),
        }
    }

    /// The headers to answer with (`WWW-Authenticate`).
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        headers
    }

    /// The GraphQL error: `{"message", "extensions": {"code"}}`.
    pub fn graphql_error(&self) -> Value {
        json!({ "message": self.message, "extensions": { "code": self.code } })
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AuthRejection {}
