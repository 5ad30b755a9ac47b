//! The front door's two questions: who is calling (`authenticate`), and may they select
//! these fields (`authorize`).

use std::net::IpAddr;

use axum::http::HeaderMap;

use super::api_keys::ApiKeys;
use super::client::Client;
use super::credentials::{Credential, credential};
use super::jwks::JwksError;
use super::jwt::JwtVerifier;
use super::rejection::AuthRejection;
use super::scopes::FieldScopes;
use crate::config::{AuthConfig, ConfigError};

/// Why the authenticator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("auth.jwt: {0}")]
    Jwks(#[from] JwksError),
}

/// Establishes each request's [`Client`] from its credentials, and checks field scopes.
pub struct Authenticator {
    anonymous: bool,
    api_keys: ApiKeys,
    jwt: Option<JwtVerifier>,
    scopes: FieldScopes,
}

impl Authenticator {
    /// Validates `config`, loads the JWKS (when JWTs are configured) and starts its refresh
    /// task, which ends when the authenticator is dropped. Needs a tokio runtime.
    pub async fn new(config: &AuthConfig) -> Result<Authenticator, AuthSetupError> {
        config.validate()?;
        let api_keys = ApiKeys::new(&config.api_keys).ok_or_else(|| {
            AuthSetupError::Config(ConfigError::Invalid {
                key: "auth.api_keys".to_string(),
                message: "every sha256 must be 64 hex digits".to_string(),
            })
        })?;
        let jwt = match &config.jwt {
            Some(jwt) => Some(JwtVerifier::start(jwt).await?),
            None => None,
        };
        Ok(Authenticator {
            anonymous: config.anonymous,
            api_keys,
            jwt,
            scopes: FieldScopes::new(&config.field_scopes),
        })
    }

    /// The request's client: the holder of its API key, the subject of its bearer token, or
    /// (without credentials, when `auth.anonymous` allows) an anonymous client known by
    /// `peer`. A bad credential is refused even when anonymous access is allowed.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<Client, AuthRejection> {
        match credential(headers)? {
            Credential::None if self.anonymous => Ok(Client::anonymous(peer)),
            Credential::None => Err(AuthRejection::credentials_required(
                "credentials are required: an API key (x-api-key) or a bearer token",
            )),
            Credential::ApiKey(key) => self
                .api_keys
                .client(key)
                .ok_or(AuthRejection::invalid_token("the API key is not known")),
            Credential::Bearer(token) => match &self.jwt {
                Some(jwt) => jwt.verify(token).await,
                None => Err(AuthRejection::invalid_token(
                    "bearer tokens are not accepted here",
                )),
            },
        }
    }

    /// Whether `client` may select every one of `fields` (the `Type.field` coordinates an
    /// operation selects): 401 for an anonymous client and 403 for an authenticated one
    /// when a field needs a scope it lacks.
    pub fn authorize<'a>(
        &self,
        client: &Client,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), AuthRejection> {
        self.scopes.authorize(client, fields)
    }

    /// Whether any field needs a scope (when not, `authorize` always agrees).
    pub fn has_field_scopes(&self) -> bool {
        !self.scopes.is_empty()
    }

    /// The fields `auth.field_scopes` names, to check at startup that each exists.
    pub fn scoped_fields(&self) -> impl Iterator<Item = &str> {
        self.scopes.fields()
    }

    /// Reads the JWKS again now (it is also refreshed periodically); returns how many keys
    /// it holds. On failure the last good keys stay. `Ok(0)` when JWTs are not configured.
    pub async fn refresh_keys(&self) -> Result<usize, JwksError> {
        match &self.jwt {
            Some(jwt) => jwt.refresh().await,
            None => Ok(0),
        }
    }
}
