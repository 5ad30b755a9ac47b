//! The front door's configuration: the profile, request limits, client identity, per-client
//! rate limits and trusted documents.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `development` (the default) shows the schema to anyone who asks; `production` turns off
/// introspection, field suggestions and (unless `server.graphiql` says otherwise) GraphiQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Development,
    Production,
}

/// Limits on one GraphQL request, checked before anything runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Lexical tokens of the document, counted before it is parsed (`MAX_TOKENS_LIMIT`).
    pub max_tokens: usize,
    /// Nesting of fields, through fragments (`MAX_DEPTH_LIMIT`).
    pub max_depth: usize,
    /// Aliased fields, with fragments expanded (`MAX_ALIASES_LIMIT`).
    pub max_aliases: usize,
    /// Fields at the operation's root, with fragments expanded (`MAX_ROOT_FIELDS_LIMIT`).
    pub max_root_fields: usize,
    /// Directives on one field (`MAX_DIRECTIVES_LIMIT`).
    pub max_directives_per_field: usize,
    /// Directives in the whole document (`MAX_DIRECTIVES_LIMIT`).
    pub max_directives: usize,
    /// The operation's cost: the provider calls it can cause, list sizes from `first`
    /// (`MAX_COMPLEXITY_LIMIT`).
    pub max_cost: u64,
    /// The largest `first` a list argument takes.
    pub max_list_size: u32,
    /// Operations in one batched request (a JSON array); 0 turns batching off
    /// (`BATCHING_NOT_ENABLED`).
    pub max_batch_operations: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_tokens: 15_000,
            max_depth: 12,
            max_aliases: 30,
            max_root_fields: 20,
            max_directives_per_field: 5,
            max_directives: 50,
            max_cost: 1000,
            max_list_size: 100,
            max_batch_operations: 0,
        }
    }
}

/// Who may call the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether a request without credentials runs (for fields that need no scope).
    pub anonymous: bool,
    /// API keys, sent as `x-api-key` or `Authorization: ApiKey <key>`; stored as their SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKeyConfig>,
    /// JWT bearer tokens (RS256/ES256), verified with the keys of a JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtConfig>,
    /// Fields that need a scope (`Type.field` = `scope`); every other field is public.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_scopes: BTreeMap<String, String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            anonymous: true,
            api_keys: Vec::new(),
            jwt: None,
            field_scopes: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who holds the key: the client's name in logs and rate limits.
    pub name: String,
    /// Hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
    pub sha256: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// This client's own limits instead of `[rate_limits]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_minute: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Where the verification keys are: a JWKS URL, refetched every `jwks_refresh_s` (and on
    /// an unknown `kid`, at most once per `jwks_min_refetch_s`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// ... or a JWKS file, reread as often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    pub jwks_refresh_s: u64,
    pub jwks_min_refetch_s: u64,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (one of them, when the token has several).
    pub audience: String,
    /// Accepted algorithms: `RS256`, `ES256`.
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_s: u64,
    /// The claim that holds the scopes (space-separated, or a list).
    pub scopes_claim: String,
}

/// Each client's budget: the requests and the query cost it may spend per minute (GCRA,
/// bursts up to the whole minute's amount). A client is an API key, a JWT subject, or an
/// anonymous client's IP address; 0 means unlimited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    pub requests_per_minute: u32,
    pub cost_per_minute: u32,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            requests_per_minute: 1200,
            cost_per_minute: 60_000,
        }
    }
}

/// Trusted documents: when enabled, only operations whose document is known run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedDocumentsConfig {
    pub enabled: bool,
    /// Every `*.graphql` file here is a trusted document, known by the SHA-256 of its text.
    pub dir: PathBuf,
    /// An Apollo persisted-query manifest (`{"operations": [{"id", "body"}]}`), in addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<PathBuf>,
}

impl Default for TrustedDocumentsConfig {
    fn default() -> Self {
        TrustedDocumentsConfig {
            enabled: false,
            dir: PathBuf::from("schema/operations"),
            manifest: None,
        }
    }
}
