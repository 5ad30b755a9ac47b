//! What can go wrong when asking a provider, in the terms of the gateway's error contract.

use std::time::Duration;

/// A provider call's failure. Each variant maps to one `extensions.code` of the GraphQL error
/// contract (see [`ProviderError::code`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// Connect error, reset, or a 5xx answer.
    #[error("provider unavailable: {message}")]
    Unavailable {
        status: Option<u16>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The attempt's timeout or the request's deadline ran out.
    #[error("provider did not answer in time")]
    Timeout,
    /// The provider answered 429, or the local quota cannot admit the call in time.
    #[error("provider rate limit reached: {message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The provider's circuit breaker is open; no call was made.
    #[error("provider circuit is open")]
    CircuitOpen { retry_after: Option<Duration> },
    /// The body does not decode, breaks the provider's contract, or is too large.
    #[error("provider sent a bad response: {0}")]
    BadResponse(String),
    /// The provider rejected our credential.
    #[error("provider rejected our credentials: {0}")]
    Auth(String),
    /// The entity does not exist (not a failure of the provider).
    #[error("{0}")]
    NotFound(String),
    /// The provider rejected arguments that the schema accepted.
    #[error("{0}")]
    BadInput(String),
}

impl ProviderError {
    /// The error contract's `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Unavailable { .. } => "UPSTREAM_UNAVAILABLE",
            ProviderError::Timeout => "UPSTREAM_TIMEOUT",
            ProviderError::RateLimited { .. } => "RATE_LIMITED",
            ProviderError::CircuitOpen { .. } => "CIRCUIT_OPEN",
            ProviderError::BadResponse(_) => "UPSTREAM_BAD_RESPONSE",
            ProviderError::Auth(_) => "UPSTREAM_AUTH",
            ProviderError::NotFound(_) => "NOT_FOUND",
            ProviderError::BadInput(_) => "BAD_USER_INPUT",
        }
    }

    /// Whether asking again later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Unavailable { .. }
                | ProviderError::Timeout
                | ProviderError::RateLimited { .. }
                | ProviderError::CircuitOpen { .. }
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Unavailable { retry_after, .. }
            | ProviderError::RateLimited { retry_after, .. }
            | ProviderError::CircuitOpen { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A body that could not be decoded into the provider's wire type.
    pub fn decode(what: &str, err: impl std::fmt::Display) -> Self {
        ProviderError::BadResponse(format!("{what}: {err}"))
    }

    /// The usual mapping of an HTTP status that an adapter did not handle specially.
    /// `message` is a short, secret-free description (e.g. the provider's error message).
    pub fn from_status(
        status: http::StatusCode,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let message = message.into();
        match status.as_u16() {
            401 | 403 => ProviderError::Auth(message),
            404 => ProviderError::NotFound(message),
            429 => ProviderError::RateLimited {
                message,
                retry_after,
            },
            400 | 422 => ProviderError::BadInput(message),
            s if s >= 500 => ProviderError::Unavailable {
                status: Some(s),
                message,
                retry_after,
            },
            s => ProviderError::BadResponse(format!("unexpected status {s}: {message}")),
        }
    }
}
