//! Provider failures as GraphQL errors, per the error contract: `extensions.code`, and for
//! provider failures `provider`, `retryable` and, when known, `retryAfterMs`.

use async_graphql::ErrorExtensions;
use providers::ProviderError;

/// A provider's error, with the name of the provider that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderFailure {
    pub provider: &'static str,
    pub error: ProviderError,
}

impl ProviderFailure {
    pub fn new(provider: &'static str, error: ProviderError) -> Self {
        ProviderFailure { provider, error }
    }
}

impl From<ProviderFailure> for async_graphql::Error {
    fn from(failure: ProviderFailure) -> Self {
        let ProviderFailure { provider, error } = failure;
        let message = match &error {
            ProviderError::NotFound(m) | ProviderError::BadInput(m) => m.clone(),
            other => format!("{provider}: {other}"),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", error.code());
            if !matches!(
                error,
                ProviderError::NotFound(_) | ProviderError::BadInput(_)
            ) {
                ext.set("provider", provider);
                ext.set("retryable", error.retryable());
            }
            if let Some(after) = error.retry_after() {
                ext.set("retryAfterMs", after.as_millis() as u64);
            }
        })
    }
}

/// A GraphQL error with a contract code, for arguments the schema accepts but the domain
/// rejects.
pub fn bad_user_input(message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", "BAD_USER_INPUT"))
}
