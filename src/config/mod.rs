//! Typed configuration: built-in defaults, then a TOML file, then `SWITCHYARD__*` environment
//! variables (`SWITCHYARD__PROVIDERS__CATALOG__BASE_URL` sets `providers.catalog.base_url`).
//! Unknown keys and bad values are errors that name the key's path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

mod edge;
mod spend;

pub use edge::{
    ApiKeyConfig, AuthConfig, JwtConfig, LimitsConfig, Profile, RateLimitsConfig,
    TrustedDocumentsConfig,
};
pub use spend::{BudgetAction, SpendConfig};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The environment prefix of overrides; `__` separates the key's path segments.
const ENV_PREFIX: &str = "SWITCHYARD__";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `development` or `production` (see [`Profile`]).
    pub profile: Profile,
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    pub rate_limits: RateLimitsConfig,
    pub trusted_documents: TrustedDocumentsConfig,
    pub cache: CacheConfig,
    pub sandbox: SandboxConfig,
    pub providers: ProvidersConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the gateway listens on.
    pub listen: SocketAddr,
    /// Largest request body accepted on `/graphql`.
    pub max_body_bytes: usize,
    /// Serve the GraphiQL playground at `/graphiql`; unset: on in the development profile,
    /// off in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphiql: Option<bool>,
    /// Every GraphQL request's deadline; a client may ask for less with the
    /// `x-switchyard-deadline-ms` header.
    pub deadline_ms: u64,
    /// Provider-backed fields shed first when their provider's quota runs low
    /// (`Type.field`, e.g. `Product.reviews`).
    pub optional_fields: Vec<String>,
    /// A connection whose request head (or first bytes) is not in after this is closed; an
    /// HTTP/1.1 keep-alive connection waits this long at most for its next request.
    pub header_read_timeout_ms: u64,
    /// A request body not fully received this long after its head is answered
    /// `408 REQUEST_TIMEOUT`.
    pub body_read_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed (HTTP/2 gets a GOAWAY).
    pub idle_timeout_ms: u64,
    /// Most header fields in a request head; more are answered `431`.
    pub max_headers: usize,
    /// Largest request head (request line and headers; HTTP/2: the header list), at least
    /// 8192; larger ones are answered `431`.
    pub max_header_bytes: usize,
    /// Most connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may take to finish before their connections
    /// are closed.
    pub shutdown_grace_ms: u64,
}

/// The shared entity cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Memory bound of each entity's cache, in bytes of cached values.
    pub max_bytes: u64,
    /// The environment variable holding the bearer token of `POST /admin/cache/invalidate`;
    /// the endpoint refuses every call while it is unset.
    pub admin_token_env: String,
    /// A Redis shared by every replica, as the second tier below each replica's memory
    /// (`redis://host:port/db`, `rediss://` for TLS); unset: memory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// How long a Redis read or write may take before the gateway goes on without it.
    pub redis_timeout_ms: u64,
    /// Memory bound of the whole-response cache (responses a shared cache could keep, for
    /// their max-age); 0 switches it off.
    pub response_max_bytes: u64,
}

/// How long one provider's entities are served from the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderCacheConfig {
    pub enabled: bool,
    /// Fresh for this long, unless the upstream says longer (Cache-Control, Expires).
    pub ttl_s: u64,
    /// After that, served at once while one background refresh runs (stale-while-revalidate).
    pub swr_s: u64,
    /// Up to this age, served when a fresh fetch fails (stale-if-error), and listed in the
    /// response's `extensions.stale`.
    pub max_stale_s: u64,
}

impl ProviderCacheConfig {
    fn new(ttl_s: u64, swr_s: u64, max_stale_s: u64) -> Self {
        ProviderCacheConfig {
            enabled: true,
            ttl_s,
            swr_s,
            max_stale_s,
        }
    }
}

/// Where `switchyard sandbox` serves the simulated upstreams. (A gateway whose providers say
/// `base_url = "sandbox"` runs its own simulators on ephemeral ports instead.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    pub host: std::net::IpAddr,
    pub ports: SandboxPorts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxPorts {
    pub catalog: u16,
    pub frankfurter: u16,
    pub inventory: u16,
    pub reviews: u16,
    pub erapi: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    pub catalog: ProviderConfig,
    pub frankfurter: ProviderConfig,
    pub erapi: ProviderConfig,
    pub inventory: ProviderConfig,
    pub reviews: ProviderConfig,
}

/// One upstream provider: where it is, how to reach it, and its credential's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// `"sandbox"` for the built-in simulator, or the upstream's base URL.
    pub base_url: String,
    pub connect_timeout_ms: u64,
    /// Budget of one attempt, from sending the request to the last byte of the body.
    pub timeout_ms: u64,
    /// Calls in flight at once; more wait for a free slot.
    pub max_in_flight: usize,
    /// Bodies larger than this are refused as `UPSTREAM_BAD_RESPONSE`.
    pub max_body_bytes: usize,
    /// Whether the gateway is not ready (`/readyz` 503) while this provider's breaker is open.
    pub critical: bool,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub cache: ProviderCacheConfig,
    /// The provider's real quota; absent for providers that publish none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaConfig>,
    /// What its calls cost and the budgets they must stay within; unset: free.
    #[serde(default)]
    pub spend: SpendConfig,
    /// Names of the environment variables that hold the provider's credential, by role
    /// (`client_id`, `client_secret` for inventory; `api_key` for reviews).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
}

/// Retries of idempotent calls (GET, or POST with an Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Exponential backoff with full jitter: attempt n waits up to `base_ms * 2^(n-1)`, capped.
    pub base_ms: u64,
    pub cap_ms: u64,
    /// Retries may be at most this share of the provider's calls (plus `budget_min_per_s`).
    pub budget_percent: f32,
    pub budget_min_per_s: u32,
}

/// The circuit breaker: opens when the recent calls fail or are slow too often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// How many of the most recent calls the rates are computed over.
    pub window: u32,
    /// No decision before this many calls are in the window.
    pub min_calls: u32,
    /// Opens at this share of failed calls (0.0 to 1.0).
    pub failure_rate: f64,
    /// A call slower than this is slow.
    pub slow_call_ms: u64,
    /// Opens at this share of slow calls (0.0 to 1.0).
    pub slow_call_rate: f64,
    /// How long it stays open before letting probes through.
    pub open_ms: u64,
    /// Probe calls let through while half-open; all must succeed to close.
    pub half_open_probes: u32,
}

/// A provider's quota: at most `limit` calls per `window_s` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub limit: u32,
    pub window_s: u64,
    /// Share of the quota left (0.0 to 1.0) below which optional fields are shed.
    #[serde(default = "default_shed_below")]
    pub shed_optional_below: f64,
}

fn default_shed_below() -> f64 {
    0.2
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 2,
            base_ms: 100,
            cap_ms: 2000,
            budget_percent: 20.0,
            budget_min_per_s: 5,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            window: 20,
            min_calls: 10,
            failure_rate: 0.5,
            slow_call_ms: 1500,
            slow_call_rate: 0.8,
            open_ms: 30_000,
            half_open_probes: 3,
        }
    }
}

impl QuotaConfig {
    fn new(limit: u32, window_s: u64) -> Option<Self> {
        Some(QuotaConfig {
            limit,
            window_s,
            shed_optional_below: default_shed_below(),
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profile: Profile::Development,
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            trusted_documents: TrustedDocumentsConfig::default(),
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
                max_body_bytes: 1024 * 1024,
                graphiql: None,
                deadline_ms: 10_000,
                optional_fields: vec!["Product.reviews".into()],
                header_read_timeout_ms: 10_000,
                body_read_timeout_ms: 10_000,
                idle_timeout_ms: 60_000,
                max_headers: 100,
                max_header_bytes: 16 * 1024,
                max_connections: 4096,
                shutdown_grace_ms: 30_000,
            },
            cache: CacheConfig {
                max_bytes: 64 * 1024 * 1024,
                admin_token_env: "SWITCHYARD_ADMIN_TOKEN".into(),
                redis_url: None,
                redis_timeout_ms: 50,
                response_max_bytes: 16 * 1024 * 1024,
            },
            sandbox: SandboxConfig {
                host: [127, 0, 0, 1].into(),
                ports: SandboxPorts {
                    catalog: 9101,
                    frankfurter: 9102,
                    inventory: 9103,
                    reviews: 9104,
                    erapi: 9105,
                },
            },
            providers: ProvidersConfig {
                // DummyJSON: 100 requests per 10 s per IP.
                catalog: ProviderConfig {
                    quota: QuotaConfig::new(100, 10),
                    cache: ProviderCacheConfig::new(300, 60, 86_400),
                    ..ProviderConfig::sandbox(16)
                },
                // Frankfurter publishes no quota. Not critical: ExchangeRate-API answers
                // when it fails.
                // Rates change once a day.
                frankfurter: ProviderConfig {
                    critical: false,
                    cache: ProviderCacheConfig::new(3600, 600, 7 * 86_400),
                    ..ProviderConfig::sandbox(8)
                },
                // ExchangeRate-API asks for no more than hourly calls; it rate-limits far
                // beyond that, at a limit it does not publish.
                erapi: ProviderConfig {
                    critical: false,
                    cache: ProviderCacheConfig::new(3600, 600, 7 * 86_400),
                    ..ProviderConfig::sandbox(8)
                },
                inventory: ProviderConfig {
                    credentials: BTreeMap::from([
                        ("client_id".into(), "INVENTORY_CLIENT_ID".into()),
                        ("client_secret".into(), "INVENTORY_CLIENT_SECRET".into()),
                    ]),
                    quota: QuotaConfig::new(20, 1),
                    // Stock moves: the service says max-age=5.
                    cache: ProviderCacheConfig::new(5, 5, 600),
                    ..ProviderConfig::sandbox(16)
                },
                // The vendor answers 503 past 8 concurrent calls per key; 600 per minute.
                reviews: ProviderConfig {
                    credentials: BTreeMap::from([("api_key".into(), "REVIEWS_API_KEY".into())]),
                    critical: false,
                    quota: QuotaConfig::new(600, 60),
                    cache: ProviderCacheConfig::new(300, 300, 86_400),
                    // Billed per call.
                    spend: SpendConfig::per_call(0.002, 25.0, 500.0),
                    ..ProviderConfig::sandbox(8)
                },
            },
        }
    }
}

impl ProviderConfig {
    fn sandbox(max_in_flight: usize) -> Self {
        ProviderConfig {
            base_url: "sandbox".into(),
            connect_timeout_ms: 500,
            timeout_ms: 2000,
            max_in_flight,
            max_body_bytes: 10 * 1024 * 1024,
            credentials: BTreeMap::new(),
            critical: true,
            cache: ProviderCacheConfig::new(60, 60, 3600),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            quota: None,
            spend: SpendConfig::default(),
        }
    }

    pub fn is_sandbox(&self) -> bool {
        self.base_url == "sandbox"
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The fields that can be marked optional: those a provider feeds under a parent that another
/// provider (or the root) returns.
pub const SHEDDABLE_FIELDS: &[&str] = &[
    "Product.price",
    "Product.stock",
    "Product.reviews",
    "Product.reviewSummary",
    "Query.exchangeRates",
];

impl ProviderConfig {
    fn validate_policy(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        let positive = |field: &str, value: u64| {
            if value == 0 {
                Err(ConfigError::invalid(key(field), "must be greater than 0"))
            } else {
                Ok(())
            }
        };
        let share = |field: &str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    key(field),
                    "must be between 0.0 and 1.0",
                ))
            }
        };
        if self.cache.max_stale_s < self.cache.ttl_s + self.cache.swr_s {
            return Err(ConfigError::invalid(
                key("cache.max_stale_s"),
                "must be at least cache.ttl_s + cache.swr_s",
            ));
        }
        positive("retry.max_attempts", self.retry.max_attempts.into())?;
        positive("retry.base_ms", self.retry.base_ms)?;
        if self.retry.cap_ms < self.retry.base_ms {
            return Err(ConfigError::invalid(
                key("retry.cap_ms"),
                "must not be less than retry.base_ms",
            ));
        }
        if !(0.0..=100.0).contains(&self.retry.budget_percent) {
            return Err(ConfigError::invalid(
                key("retry.budget_percent"),
                "must be between 0 and 100",
            ));
        }
        let b = &self.breaker;
        positive("breaker.window", b.window.into())?;
        positive("breaker.open_ms", b.open_ms)?;
        positive("breaker.slow_call_ms", b.slow_call_ms)?;
        positive("breaker.half_open_probes", b.half_open_probes.into())?;
        if b.min_calls > b.window {
            return Err(ConfigError::invalid(
                key("breaker.min_calls"),
                "must not be more than breaker.window",
            ));
        }
        share("breaker.failure_rate", b.failure_rate)?;
        share("breaker.slow_call_rate", b.slow_call_rate)?;
        if let Some(q) = &self.quota {
            positive("quota.limit", q.limit.into())?;
            positive("quota.window_s", q.window_s)?;
            share("quota.shed_optional_below", q.shed_optional_below)?;
        }
        self.spend.validate(key)
    }
}

/// The roles of credential each provider takes.
const CREDENTIAL_ROLES: &[(&str, &[&str])] = &[
    ("catalog", &[]),
    ("frankfurter", &[]),
    ("erapi", &[]),
    ("inventory", &["client_id", "client_secret"]),
    ("reviews", &["api_key"]),
];

/// A configuration that cannot be used, with the key's path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(String),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Whether `/graphiql` is served: as `server.graphiql` says, else only in development.
    pub fn graphiql(&self) -> bool {
        self.server
            .graphiql
            .unwrap_or(self.profile == Profile::Development)
    }

    /// Defaults, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::extract(figment.merge(Env::prefixed(ENV_PREFIX).split("__")))
    }

    /// Defaults, then a TOML text (no environment): for tests and `check-config` of a string.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::extract(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|errors| {
            // figment reports every problem; each names its key's path and its source.
            let lines: Vec<String> = errors.into_iter().map(describe_figment_error).collect();
            ConfigError::Load(lines.join("\n"))
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be greater than 0",
            ));
        }
        if self.cache.max_bytes == 0 {
            return Err(ConfigError::invalid(
                "cache.max_bytes",
                "must be greater than 0",
            ));
        }
        if let Some(url) = &self.cache.redis_url {
            crate::cache::redis::check_url(url)
                .map_err(|message| ConfigError::invalid("cache.redis_url", message))?;
        }
        if self.cache.redis_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "cache.redis_timeout_ms",
                "must be greater than 0",
            ));
        }
        if self.server.deadline_ms == 0 {
            return Err(ConfigError::invalid(
                "server.deadline_ms",
                "must be greater than 0",
            ));
        }
        let server = &self.server;
        for (key, value) in [
            (
                "server.header_read_timeout_ms",
                server.header_read_timeout_ms,
            ),
            ("server.body_read_timeout_ms", server.body_read_timeout_ms),
            ("server.idle_timeout_ms", server.idle_timeout_ms),
            ("server.max_headers", server.max_headers as u64),
            ("server.max_header_bytes", server.max_header_bytes as u64),
            ("server.max_connections", server.max_connections as u64),
            ("server.shutdown_grace_ms", server.shutdown_grace_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        // The HTTP/1 parser sets aside room for every allowed header on each request head.
        const MAX_HEADERS_CAP: usize = 10_000;
        if server.max_headers > MAX_HEADERS_CAP {
            return Err(ConfigError::invalid(
                "server.max_headers",
                format!("must be at most {MAX_HEADERS_CAP}"),
            ));
        }
        // The request head must fit hyper's HTTP/1 read buffer, which is at least 8 KiB.
        if server.max_header_bytes < crate::http::server::MIN_HEADER_BYTES {
            return Err(ConfigError::invalid(
                "server.max_header_bytes",
                format!("must be at least {}", crate::http::server::MIN_HEADER_BYTES),
            ));
        }
        if let Some(field) = self
            .server
            .optional_fields
            .iter()
            .find(|f| !SHEDDABLE_FIELDS.contains(&f.as_str()))
        {
            return Err(ConfigError::invalid(
                "server.optional_fields",
                format!(
                    "`{field}` is not a field another provider feeds; one of {}",
                    SHEDDABLE_FIELDS.join(", ")
                ),
            ));
        }
        for (name, provider) in self.providers.iter() {
            let key = |field: &str| format!("providers.{name}.{field}");
            provider.validate_policy(&key)?;
            if !provider.is_sandbox() {
                let url = reqwest::Url::parse(&provider.base_url).map_err(|e| {
                    ConfigError::invalid(
                        key("base_url"),
                        format!("`{}` is not \"sandbox\" or a URL: {e}", provider.base_url),
                    )
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ConfigError::invalid(
                        key("base_url"),
                        "must be an http or https URL",
                    ));
                }
            }
            for (field, value) in [
                ("timeout_ms", provider.timeout_ms),
                ("connect_timeout_ms", provider.connect_timeout_ms),
                ("max_in_flight", provider.max_in_flight as u64),
                ("max_body_bytes", provider.max_body_bytes as u64),
            ] {
                if value == 0 {
                    return Err(ConfigError::invalid(key(field), "must be greater than 0"));
                }
            }
            let roles = CREDENTIAL_ROLES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| *r)
                .unwrap_or_default();
            for role in provider.credentials.keys() {
                if !roles.contains(&role.as_str()) {
                    let expected = if roles.is_empty() {
                        format!("{name} takes no credentials")
                    } else {
                        format!("{name} takes {}", roles.join(", "))
                    };
                    return Err(ConfigError::invalid(
                        key(&format!("credentials.{role}")),
                        format!("unknown credential; {expected}"),
                    ));
                }
            }
        }
        self.auth.validate()?;
        Ok(())
    }
}

impl ProvidersConfig {
    pub fn get(&self, name: &str) -> Option<&ProviderConfig> {
        self.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &ProviderConfig)> {
        [
            ("catalog", &self.catalog),
            ("frankfurter", &self.frankfurter),
            ("erapi", &self.erapi),
            ("inventory", &self.inventory),
            ("reviews", &self.reviews),
        ]
        .into_iter()
    }
}

/// Reads a provider's credential from the environment variable its config names. `Ok(None)`
/// when the variable is unset (a sandbox provider then uses the sandbox's own credential).
pub fn credential(
    provider: &str,
    config: &ProviderConfig,
    role: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(var) = config.credentials.get(role) else {
        return Ok(None);
    };
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Some(value)),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::invalid(
            format!("providers.{provider}.credentials.{role}"),
            format!("environment variable {var} is not valid UTF-8"),
        )),
    }
}

/// figment says `for key "default.server.listen"`: drop its profile name, which this
/// project does not use, so the path reads as it does in the file.
fn describe_figment_error(error: figment::Error) -> String {
    let key = error
        .path
        .iter()
        .skip_while(|segment| segment.as_str() == "default")
        .cloned()
        .collect::<Vec<_>>()
        .join(".");
    let source = error
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(source) => format!(" (from {} {source})", m.name),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    if key.is_empty() {
        format!("{}{source}", error.kind)
    } else {
        format!("{key}: {}{source}", error.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_the_default() {
        let shipped = Config::from_toml_str(include_str!("../../switchyard.toml")).unwrap();
        assert_eq!(shipped, Config::default());
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let err = Config::from_toml_str("[providers.catalog]\nbase_urll = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("providers.catalog.base_urll"), "{err}");
    }

    #[test]
    fn bad_values_are_named_with_their_path() {
        let err = Config::from_toml_str("[server]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.listen"), "{err}");
        let err = Config::from_toml_str("[providers.reviews]\ntimeout_ms = -3\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("providers.reviews.timeout_ms"), "{err}");
        let err = Config::from_toml_str("[providers.inventory]\nbase_url = \"ftp://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("providers.inventory.base_url"), "{err}");
        let err = Config::from_toml_str("[providers.catalog.credentials]\napi_key = \"K\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("providers.catalog.credentials.api_key"),
            "{err}"
        );
    }

    #[test]
    fn a_partial_provider_table_keeps_the_other_defaults() {
        let config =
            Config::from_toml_str("[providers.reviews]\nbase_url = \"http://127.0.0.1:9\"\n")
                .unwrap();
        assert_eq!(config.providers.reviews.max_in_flight, 8);
        assert_eq!(config.providers.reviews.base_url, "http://127.0.0.1:9");
    }
}
