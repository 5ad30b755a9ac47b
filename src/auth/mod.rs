//! Client identity and per-client rate limits: who is calling, what they may select, and how
//! much they may spend.
//!
//! A request's way through this module, in the order the HTTP handler asks:
//!
//! 1. [`Authenticator::authenticate`] reads the one credential a request may carry
//!    (`credentials.rs`): an API key (`x-api-key: <key>` or `Authorization: ApiKey <key>`),
//!    known by its SHA-256 and compared in constant time (`api_keys.rs`); or a JWT
//!    (`Authorization: Bearer <token>`), RS256 or ES256 only, verified with the key its `kid`
//!    names in a JWKS (`jwt.rs`), which is refreshed periodically and refetched, rate-limited,
//!    when a token names an unknown `kid` (`jwks.rs`). No credential gives an anonymous
//!    client when `auth.anonymous` allows it. The result is a [`Client`] (`client.rs`), or a
//!    401 `UNAUTHENTICATED` [`AuthRejection`] with a `WWW-Authenticate: Bearer` challenge
//!    (`rejection.rs`) that says what is wrong and never repeats the credential.
//! 2. [`ClientLimits::admit_request`] spends one of the client's requests per minute
//!    (`limits.rs`, governor's GCRA; API keys may have their own amounts).
//! 3. Once the document is parsed, [`Authenticator::authorize`] checks the `Type.field`
//!    coordinates it selects against `auth.field_scopes` (`scopes.rs`): 401 for an
//!    anonymous client, 403 `FORBIDDEN` for one without the scope.
//! 4. [`ClientLimits::admit_cost`] spends the operation's computed cost.
//!
//! Admitted requests answer with the IETF `RateLimit-Policy` and `RateLimit` fields of their
//! [`Budget`]; refused ones with 429 `RATE_LIMITED`, `Retry-After` and
//! `extensions.retryAfterMs` ([`Limited`], `budget.rs`).

mod api_keys;
mod authenticator;
mod budget;
mod client;
mod credentials;
mod jwks;
mod jwt;
mod limits;
mod rejection;
mod scopes;

pub use authenticator::{AuthSetupError, Authenticator};
pub use budget::{Budget, BudgetItem, Limited};
pub use client::Client;
pub use jwks::JwksError;
pub use limits::ClientLimits;
pub use rejection::AuthRejection;
