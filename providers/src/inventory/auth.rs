//! OAuth2 client credentials for the warehouse service: the bearer token cache.
//!
//! Rules:
//! 1. A token is reused until a little before its `expires_in` runs out (a tenth of its
//!    lifetime, at most a minute), so a call never leaves with a token that dies on the way.
//! 2. At most one token request is in flight: callers that find no usable token join the one
//!    already running and all get its outcome, success or failure. A burst of calls at start-up
//!    or during a token-endpoint outage costs one token request, not one per call.
//! 3. A token the service rejected (`401 invalid_token`) is dropped, unless another caller has
//!    already replaced it, so a burst of rejections also costs one token request.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use http::{HeaderValue, StatusCode, header};
use tokio::time::Instant;

use super::wire::{self, ErrorBody, TokenResponse};
use crate::error::ProviderError;
use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

/// The client identity the warehouse service issues tokens to.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

// By hand so that the secret never reaches a log line through `{:?}`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// An access token, compared by value to tell "the token I was refused" from "a newer one".
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BearerToken(Arc<str>);

impl BearerToken {
    /// The `Authorization` value, marked sensitive so that header dumps hide it.
    pub(crate) fn authorization(&self) -> Result<HeaderValue, ProviderError> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", self.0)).map_err(|_| {
            ProviderError::BadResponse(
                "the token endpoint issued a token that cannot be sent in a header".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

#[derive(Clone)]
struct IssuedToken {
    bearer: BearerToken,
    refresh_at: Instant,
}

type TokenFetch = Shared<BoxFuture<'static, Result<IssuedToken, ProviderError>>>;

#[derive(Default)]
struct TokenState {
    cached: Option<IssuedToken>,
    in_flight: Option<TokenFetch>,
}

/// Hands out bearer tokens for the warehouse service, asking `/oauth/token` as rarely as it can.
pub(crate) struct TokenSource {
    transport: Arc<dyn Transport>,
    credentials: Arc<Credentials>,
    state: Mutex<TokenState>,
}

impl TokenSource {
    pub(crate) fn new(transport: Arc<dyn Transport>, credentials: Credentials) -> Self {
        TokenSource {
            transport,
            credentials: Arc::new(credentials),
            state: Mutex::default(),
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// A token that is still good, fetched only when there is none.
    pub(crate) async fn bearer(&self) -> Result<BearerToken, ProviderError> {
        self.obtain(None).await
    }

    /// A token other than `rejected`, which the service just refused.
    pub(crate) async fn replace(
        &self,
        rejected: &BearerToken,
    ) -> Result<BearerToken, ProviderError> {
        self.obtain(Some(rejected)).await
    }

    async fn obtain(&self, rejected: Option<&BearerToken>) -> Result<BearerToken, ProviderError> {
        let fetch = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rejected) = rejected
                && state.cached.as_ref().is_some_and(|t| t.bearer == *rejected)
            {
                state.cached = None;
            }
            if let Some(token) = &state.cached
                && Instant::now() < token.refresh_at
            {
                return Ok(token.bearer.clone());
            }
            let start = |state: &mut TokenState| {
                let fetch = request_token(self.transport.clone(), self.credentials.clone())
                    .boxed()
                    .shared();
                state.in_flight = Some(fetch.clone());
                fetch
            };
            match state.in_flight.take() {
                Some(fetch) => match fetch.peek() {
                    // Join the request under way.
                    None => {
                        state.in_flight = Some(fetch.clone());
                        fetch
                    }
                    // One that finished before its callers came back to publish it (or that
                    // they left): its token serves while it is fresh and not the one refused.
                    Some(Ok(token))
                        if Instant::now() < token.refresh_at
                            && rejected.is_none_or(|r| token.bearer != *r) =>
                    {
                        let token = token.clone();
                        state.cached = Some(token.clone());
                        return Ok(token.bearer);
                    }
                    Some(_) => start(&mut state),
                },
                None => start(&mut state),
            }
        };
        let outcome = fetch.clone().await;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // The first joiner back publishes the outcome; later ones find the slot already moved on.
        if state.in_flight.as_ref().is_some_and(|f| f.ptr_eq(&fetch)) {
            state.in_flight = None;
            if let Ok(token) = &outcome {
                state.cached = Some(token.clone());
            }
        }
        outcome.map(|token| token.bearer)
    }
}

async fn request_token(
    transport: Arc<dyn Transport>,
    credentials: Arc<Credentials>,
) -> Result<IssuedToken, ProviderError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", wire::CLIENT_CREDENTIALS)
        .append_pair("client_id", &credentials.client_id)
        .append_pair("client_secret", &credentials.client_secret)
        .finish();
    let mut request = UpstreamRequest::post("POST /oauth/token", "/oauth/token", Bytes::from(form))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .header(header::ACCEPT, HeaderValue::from_static("application/json"));
    // Asking twice only issues two tokens; nothing is created that a retry could duplicate.
    request.idempotent = true;
    let response = transport.send(request).await?;
    let issued_at = Instant::now();
    let token = read_token_response(&response)?;
    // A token that claims to live for ages is still renewed daily (and `Instant` cannot
    // overflow on a silly `expires_in`).
    let lifetime = Duration::from_secs(token.expires_in).min(LONGEST_REUSE);
    Ok(IssuedToken {
        bearer: BearerToken(token.access_token.into()),
        refresh_at: issued_at + lifetime - refresh_margin(lifetime),
    })
}

const LONGEST_REUSE: Duration = Duration::from_secs(24 * 60 * 60);

/// How long before expiry a token is replaced: covers the trip to the service and clock drift.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

fn read_token_response(response: &UpstreamResponse) -> Result<TokenResponse, ProviderError> {
    let status = response.status;
    if status == StatusCode::OK {
        // serde's messages quote offending values, which here could be the token: give only
        // the position.
        let token: TokenResponse = serde_json::from_slice(&response.body).map_err(|e| {
            ProviderError::BadResponse(format!(
                "token response does not decode (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if !token.token_type.eq_ignore_ascii_case("bearer") {
            return Err(ProviderError::BadResponse(format!(
                "token endpoint issued a `{}` token, expected Bearer",
                token.token_type
            )));
        }
        if token.access_token.is_empty() {
            return Err(ProviderError::BadResponse(
                "token endpoint issued an empty token".into(),
            ));
        }
        return Ok(token);
    }
    let code = serde_json::from_slice::<ErrorBody>(&response.body)
        .map(|body| body.error)
        .unwrap_or_else(|_| format!("HTTP {}", status.as_u16()));
    let message = format!("token request refused: {code}");
    Err(match status.as_u16() {
        // RFC 6749 §5.2: every 400 of a token endpoint (invalid_client, invalid_request,
        // unsupported_grant_type...) refuses our client configuration, not the caller's input.
        400 | 401 | 403 => ProviderError::Auth(message),
        429 => ProviderError::from_status(status, message, response.retry_after()),
        s if s >= 500 => ProviderError::from_status(status, message, response.retry_after()),
        s => ProviderError::BadResponse(format!("unexpected status {s} from the token endpoint")),
    })
}
