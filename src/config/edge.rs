//! The front door's configuration: the profile, request limits, client identity, per-client
//! rate limits and trusted documents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

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
    /// Bytes of the document's text (`PAYLOAD_TOO_LARGE`): parsing costs time by the byte
    /// (about 0.2 ms per KiB of string literal), and variables carry large values for free.
    pub max_document_bytes: usize,
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
            max_document_bytes: 64 * 1024,
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

/// One API key: who holds it, its hash, its scopes and its own limits.
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

/// JWT bearer tokens: where their verification keys are and what a token must say.
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
    #[serde(default = "default_jwks_refresh_s")]
    pub jwks_refresh_s: u64,
    #[serde(default = "default_jwks_min_refetch_s")]
    pub jwks_min_refetch_s: u64,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (one of them, when the token has several).
    pub audience: String,
    /// Accepted algorithms: `RS256`, `ES256`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway_s")]
    pub leeway_s: u64,
    /// The claim that holds the scopes (space-separated, or a list).
    #[serde(default = "default_scopes_claim")]
    pub scopes_claim: String,
}

fn default_jwks_refresh_s() -> u64 {
    300
}

fn default_jwks_min_refetch_s() -> u64 {
    10
}

fn default_algorithms() -> Vec<String> {
    JWT_ALGORITHMS.iter().map(|a| a.to_string()).collect()
}

fn default_leeway_s() -> u64 {
    30
}

fn default_scopes_claim() -> String {
    "scope".to_string()
}

/// The signature algorithms a token may use: asymmetric only, so a verification key can
/// never be used as an HMAC secret.
const JWT_ALGORITHMS: &[&str] = &["RS256", "ES256"];

/// The most clock skew `auth.jwt.leeway_s` may allow.
const MAX_LEEWAY_S: u64 = 600;

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

impl AuthConfig {
    /// Checks the API keys, the JWT settings and the field scopes; an error names the key
    /// (`auth.api_keys[0].sha256`, `auth.jwt.jwks_url`, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = BTreeSet::new();
        let mut digests = BTreeSet::new();
        for (index, api_key) in self.api_keys.iter().enumerate() {
            let key = |field: &str| format!("auth.api_keys[{index}].{field}");
            api_key.validate(&key)?;
            if !names.insert(api_key.name.as_str()) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("`{}` names another key too", api_key.name),
                ));
            }
            if !digests.insert(api_key.sha256.to_ascii_lowercase()) {
                return Err(ConfigError::invalid(
                    key("sha256"),
                    "is the hash of another key too",
                ));
            }
        }
        if let Some(jwt) = &self.jwt {
            jwt.validate()?;
        }
        for (field, scope) in &self.field_scopes {
            let key = format!("auth.field_scopes.\"{field}\"");
            if !Self::is_field_coordinate(field) {
                return Err(ConfigError::invalid(
                    key,
                    "must name a field as `Type.field` (e.g. `Product.stock`)",
                ));
            }
            if !is_scope(scope) {
                return Err(ConfigError::invalid(
                    key,
                    "must be one scope: not empty, no spaces",
                ));
            }
        }
        Ok(())
    }
}

impl ApiKeyConfig {
    fn validate(&self, key: &impl Fn(&str) -> String) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid(key("name"), "must not be empty"));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::invalid(
                key("sha256"),
                "must be the key's SHA-256 as 64 hex digits (`printf %s \"$KEY\" | sha256sum`)",
            ));
        }
        if let Some((index, _)) = self.scopes.iter().enumerate().find(|(_, s)| !is_scope(s)) {
            return Err(ConfigError::invalid(
                key(&format!("scopes[{index}]")),
                "must be one scope: not empty, no spaces",
            ));
        }
        Ok(())
    }
}

impl JwtConfig {
    /// Checks the JWT settings; an error names the key (`auth.jwt.issuer`, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = |field: &str| format!("auth.jwt.{field}");
        match (&self.jwks_url, &self.jwks_file) {
            (None, None) => {
                return Err(ConfigError::invalid(
                    key("jwks_url"),
                    "one of jwks_url and jwks_file is required",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    key("jwks_file"),
                    "give jwks_url or jwks_file, not both",
                ));
            }
            (Some(url), None) => {
                let parsed = reqwest::Url::parse(url).map_err(|e| {
                    ConfigError::invalid(key("jwks_url"), format!("`{url}` is not a URL: {e}"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(ConfigError::invalid(
                        key("jwks_url"),
                        "must be an http or https URL",
                    ));
                }
            }
            (None, Some(_)) => {}
        }
        if self.jwks_refresh_s == 0 {
            return Err(ConfigError::invalid(
                key("jwks_refresh_s"),
                "must be greater than 0",
            ));
        }
        if self.jwks_min_refetch_s == 0 {
            return Err(ConfigError::invalid(
                key("jwks_min_refetch_s"),
                "must be greater than 0",
            ));
        }
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::invalid(key("issuer"), "must not be empty"));
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::invalid(key("audience"), "must not be empty"));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::invalid(
                key("algorithms"),
                format!("must name at least one of {}", JWT_ALGORITHMS.join(", ")),
            ));
        }
        if let Some((index, alg)) = self
            .algorithms
            .iter()
            .enumerate()
            .find(|(_, a)| !JWT_ALGORITHMS.contains(&a.as_str()))
        {
            return Err(ConfigError::invalid(
                key(&format!("algorithms[{index}]")),
                format!(
                    "`{alg}` is not accepted; one of {}",
                    JWT_ALGORITHMS.join(", ")
                ),
            ));
        }
        if self.leeway_s > MAX_LEEWAY_S {
            return Err(ConfigError::invalid(
                key("leeway_s"),
                format!("must be at most {MAX_LEEWAY_S}"),
            ));
        }
        if self.scopes_claim.trim().is_empty() {
            return Err(ConfigError::invalid(
                key("scopes_claim"),
                "must not be empty",
            ));
        }
        Ok(())
    }
}

impl AuthConfig {
    /// Whether `text` is a field's coordinate, `Type.field` (both GraphQL names).
    pub fn is_field_coordinate(text: &str) -> bool {
        match text.split_once('.') {
            Some((type_name, field)) => is_graphql_name(type_name) && is_graphql_name(field),
            None => false,
        }
    }
}

impl JwtConfig {
    /// The algorithms `algorithms` may name.
    pub const ALGORITHMS: &'static [&'static str] = JWT_ALGORITHMS;
}

/// A GraphQL name: `[_A-Za-z][_0-9A-Za-z]*`.
fn is_graphql_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// A scope as OAuth writes them (RFC 6749 3.3): printable ASCII without spaces, quotes or
/// backslashes.
fn is_scope(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
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

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn error_of(toml: &str) -> String {
        Config::from_toml_str(toml).unwrap_err().to_string()
    }

    const KEY: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    #[test]
    fn a_jwt_section_needs_only_its_keys_issuer_and_audience() {
        let config = Config::from_toml_str(
            "[auth.jwt]\njwks_url = \"https://idp.example/jwks.json\"\n\
             issuer = \"https://idp.example/\"\naudience = \"switchyard\"\n",
        )
        .unwrap();
        let jwt = config.auth.jwt.unwrap();
        assert_eq!(jwt.jwks_refresh_s, 300);
        assert_eq!(jwt.jwks_min_refetch_s, 10);
        assert_eq!(jwt.algorithms, ["RS256", "ES256"]);
        assert_eq!(jwt.leeway_s, 30);
        assert_eq!(jwt.scopes_claim, "scope");
    }

    #[test]
    fn bad_jwt_settings_are_named_with_their_path() {
        let base = "[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\n";
        assert!(error_of(base).starts_with("auth.jwt.jwks_url"));
        let with_url = format!("{base}jwks_url = \"https://idp.example/jwks\"\n");
        let err = error_of(&format!("{with_url}jwks_file = \"jwks.json\"\n"));
        assert!(err.starts_with("auth.jwt.jwks_file"), "{err}");
        let err = error_of(&base.replace("[auth.jwt]\n", "[auth.jwt]\njwks_url = \"file:///x\"\n"));
        assert!(err.starts_with("auth.jwt.jwks_url"), "{err}");
        let err = error_of(&format!("{with_url}algorithms = [\"RS256\", \"HS256\"]\n"));
        assert!(err.starts_with("auth.jwt.algorithms[1]"), "{err}");
        let err = error_of(&format!("{with_url}algorithms = [\"none\"]\n"));
        assert!(err.starts_with("auth.jwt.algorithms[0]"), "{err}");
        let err = error_of(&format!("{with_url}leeway_s = 86400\n"));
        assert!(err.starts_with("auth.jwt.leeway_s"), "{err}");
        let err = error_of(&format!("{with_url}jwks_refresh_s = 0\n"));
        assert!(err.starts_with("auth.jwt.jwks_refresh_s"), "{err}");
        let err = error_of(&with_url.replace("issuer = \"i\"", "issuer = \" \""));
        assert!(err.starts_with("auth.jwt.issuer"), "{err}");
    }

    #[test]
    fn bad_api_keys_are_named_with_their_index() {
        let key = |name: &str, sha: &str| {
            format!("[[auth.api_keys]]\nname = \"{name}\"\nsha256 = \"{sha}\"\n")
        };
        let err = error_of(&format!("{}{}", key("web", KEY), key("ios", "abc")));
        assert!(err.starts_with("auth.api_keys[1].sha256"), "{err}");
        let err = error_of(&format!(
            "{}{}",
            key("web", KEY),
            key("web", &KEY.replace('5', "6"))
        ));
        assert!(err.starts_with("auth.api_keys[1].name"), "{err}");
        let err = error_of(&format!(
            "{}{}",
            key("web", KEY),
            key("ios", &KEY.to_uppercase())
        ));
        assert!(err.starts_with("auth.api_keys[1].sha256"), "{err}");
        let err = error_of(&format!("{}scopes = [\"a b\"]\n", key("web", KEY)));
        assert!(err.starts_with("auth.api_keys[0].scopes[0]"), "{err}");
        assert!(Config::from_toml_str(&key("web", &KEY.to_uppercase())).is_ok());
    }

    #[test]
    fn field_scopes_must_name_a_type_and_a_field() {
        for bad in [
            "stock",
            "Product.",
            ".stock",
            "Product.stock.x",
            "Product.st-ock",
        ] {
            let err = error_of(&format!("[auth.field_scopes]\n\"{bad}\" = \"s\"\n"));
            assert!(err.starts_with("auth.field_scopes."), "{bad}: {err}");
        }
        let err = error_of("[auth.field_scopes]\n\"Product.stock\" = \"two words\"\n");
        assert!(
            err.starts_with("auth.field_scopes.\"Product.stock\""),
            "{err}"
        );
        assert!(
            Config::from_toml_str("[auth.field_scopes]\n\"Product.stock\" = \"inventory:read\"\n")
                .is_ok()
        );
    }

    #[test]
    fn the_readme_auth_examples_are_a_valid_config() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Auth and rate limits")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README has the auth section");
        let toml: String = section
            .split("```toml\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .collect();
        let config = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        assert_eq!(config.auth.api_keys[0].requests_per_minute, Some(6000));
        assert!(config.auth.jwt.is_some());
        assert_eq!(config.auth.field_scopes.len(), 1);
    }
}
