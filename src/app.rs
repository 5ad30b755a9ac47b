//! Wiring: config -> sandboxes (for providers on `"sandbox"`) -> transports -> adapters ->
//! schema -> router; and serving it until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use providers::catalog::DummyJson;
use providers::fx::{ErApi, Failover, Frankfurter};
use providers::inventory::{self, Warehouse};
use providers::reviews::{self, ReviewsVendor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{Authenticator, ClientLimits};
use crate::cache::entity::CachePolicy;
use crate::cache::redis::RedisTier;
use crate::cache::response::ResponseCache;
use crate::config::Profile;
use crate::config::ProviderCacheConfig;
use crate::config::{Config, ConfigError, ProviderConfig, ServerConfig, credential};
use crate::graphql::limits::RequestLimits;
use crate::graphql::loaders::Caches;
use crate::graphql::{Providers, SchemaOptions, build_schema};
use crate::http::trusted::TrustedDocuments;
use crate::http::{self, AppState, PersistedQueries};
use crate::sandbox::Sandboxes;
use crate::upstream::{Upstreams, spend_sync, transport_for};

/// A gateway ready to serve: its router, and the simulators it started for itself.
pub struct App {
    pub router: Router,
    pub sandboxes: Sandboxes,
}

impl App {
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let on_sandbox: Vec<&'static str> = config
            .providers
            .iter()
            .filter(|(_, p)| p.is_sandbox())
            .map(|(name, _)| name)
            .collect();
        let sandboxes = Sandboxes::start(config.sandbox.host, None, &on_sandbox).await?;
        let base_url = |name: &str, provider: &ProviderConfig| -> String {
            sandboxes
                .get(name)
                .filter(|_| provider.is_sandbox())
                .map_or_else(|| provider.base_url.clone(), |s| s.base_url())
        };
        let mut upstreams = Upstreams::default();
        let mut transport = |name: &'static str, provider: &ProviderConfig| {
            let (transport, health) = transport_for(name, &base_url(name, provider), provider)
                .with_context(|| format!("providers.{name}: cannot build its HTTP client"))?;
            upstreams.providers.push(health);
            anyhow::Ok(transport)
        };
        let p = &config.providers;

        let catalog = Arc::new(DummyJson::new(transport("catalog", &p.catalog)?));
        let fx = Arc::new(Failover::new(
            Arc::new(Frankfurter::new(transport("frankfurter", &p.frankfurter)?)),
            Arc::new(ErApi::new(transport("erapi", &p.erapi)?)),
        ));
        let inventory_credentials = inventory::Credentials {
            client_id: secret(
                "inventory",
                &p.inventory,
                "client_id",
                inventory::SANDBOX_CLIENT_ID,
            )?,
            client_secret: secret(
                "inventory",
                &p.inventory,
                "client_secret",
                inventory::SANDBOX_CLIENT_SECRET,
            )?,
        };
        let warehouse = Arc::new(Warehouse::new(
            transport("inventory", &p.inventory)?,
            inventory_credentials,
        ));
        let vendor = Arc::new(ReviewsVendor::new(
            transport("reviews", &p.reviews)?,
            secret("reviews", &p.reviews, "api_key", reviews::SANDBOX_API_KEY)?,
        ));

        upstreams.exposure = crate::upstream::health::Exposure::of(config.profile);
        crate::metrics::init(&upstreams);
        let providers = Providers {
            catalog,
            inventory: warehouse,
            reviews: vendor,
            fx,
            catalog_fan_out: p.catalog.max_in_flight,
            reviews_fan_out: p.reviews.max_in_flight,
            in_flight: Arc::default(),
            caches: caches(config)?,
            upstreams: Arc::new(upstreams),
            optional_fields: Arc::new(config.server.optional_fields.iter().cloned().collect()),
        };
        if let Some(redis) = &providers.caches.redis {
            // Budgets count what other replicas (and this one before a restart) spent today.
            spend_sync::share_once(&providers.upstreams, redis).await;
            spend_sync::share(Arc::downgrade(&providers.upstreams), redis.clone());
        }
        let introspection = config.profile == Profile::Development;
        let limits = Arc::new(RequestLimits::new(&config.limits, introspection));
        let auth = Arc::new(
            Authenticator::new(&config.auth)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        if let Some(field) = auth.scoped_fields().find(|f| !limits.knows_field(f)) {
            anyhow::bail!("auth.field_scopes: `{field}` is not a field of the schema");
        }
        let options = SchemaOptions {
            introspection,
            max_list_size: config.limits.max_list_size,
            operation_spans: false,
        };
        let traced = SchemaOptions {
            operation_spans: true,
            ..options
        };
        let state = AppState {
            schema: build_schema(providers.clone(), &options),
            traced_schema: crate::telemetry::exporting()
                .then(|| build_schema(providers.clone(), &traced)),
            providers,
            deadline: std::time::Duration::from_millis(config.server.deadline_ms),
            persisted: Arc::new(PersistedQueries::new(PERSISTED_QUERIES_BYTES)),
            admin_token_env: config.cache.admin_token_env.clone(),
            limits,
            auth,
            client_limits: ClientLimits::new(&config.rate_limits, &config.auth.api_keys),
            trusted: TrustedDocuments::load(&config.trusted_documents)?.map(Arc::new),
        };
        let router = http::router(state, config.server.max_body_bytes, config.graphiql());
        Ok(App { router, sandboxes })
    }
}

/// The entity caches, with the Redis tier when `cache.redis_url` is set; other replicas'
/// invalidations are applied to this one's memory as they arrive.
fn caches(config: &Config) -> anyhow::Result<Arc<Caches>> {
    let policy = |name: &str| cache_policy(config.providers.get(name).map(|p| &p.cache));
    let responses = || ResponseCache::new(config.cache.response_max_bytes);
    let Some(url) = &config.cache.redis_url else {
        return Ok(Arc::new(Caches::new(
            config.cache.max_bytes,
            policy,
            None,
            responses(),
        )));
    };
    let (forward, mut invalidations) = tokio::sync::mpsc::unbounded_channel();
    let timeout = std::time::Duration::from_millis(config.cache.redis_timeout_ms);
    let redis = RedisTier::start(url, timeout, Some(forward)).map_err(anyhow::Error::msg)?;
    let caches = Arc::new(Caches::new(
        config.cache.max_bytes,
        policy,
        Some(redis),
        responses(),
    ));
    let weak = Arc::downgrade(&caches);
    tokio::spawn(async move {
        while let Some(message) = invalidations.recv().await {
            let Some(caches) = weak.upgrade() else { return };
            caches.apply(&message);
        }
    });
    Ok(caches)
}

/// A provider's credential from the environment; the sandbox's own when the provider is on
/// the built-in sandbox and the variable is unset.
fn secret(
    provider: &str,
    config: &ProviderConfig,
    role: &str,
    sandbox_default: &str,
) -> Result<String, ConfigError> {
    match credential(provider, config, role)? {
        Some(value) => Ok(value),
        None if config.is_sandbox() => Ok(sandbox_default.to_owned()),
        None => Err(ConfigError::Invalid {
            key: format!("providers.{provider}.credentials.{role}"),
            message: match config.credentials.get(role) {
                Some(var) => format!("environment variable {var} is not set"),
                None => "no environment variable is named for this credential".into(),
            },
        }),
    }
}

/// Serves `app` on `listener` with `server`'s connection limits until `shutdown` resolves,
/// then drains in-flight requests (at most `server.shutdown_grace_ms`).
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    server: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    http::server::serve(listener, app.router, server.into(), shutdown).await;
    drop(app.sandboxes);
    Ok(())
}

/// A gateway serving in the background (tests, benchmarks).
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub sandboxes: Sandboxes,
    task: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningGateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts the gateway down as SIGTERM does (stops accepting, lets in-flight requests
    /// finish within `server.shutdown_grace_ms`) and returns once it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(err) = (&mut self.task).await {
            tracing::error!(%err, "gateway task failed");
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Builds the gateway for `config` and serves it on `config.server.listen` in the background.
pub async fn spawn(config: &Config) -> anyhow::Result<RunningGateway> {
    let App { router, sandboxes } = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    // Only `shutdown` stops it gracefully; dropping the handle aborts the task instead.
    let shutdown = async move {
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let task = tokio::spawn(http::server::serve(
        listener,
        router,
        (&config.server).into(),
        shutdown,
    ));
    Ok(RunningGateway {
        addr,
        sandboxes,
        task,
        stop: Some(stop),
    })
}

/// Room for automatic persisted queries (their text and hash).
const PERSISTED_QUERIES_BYTES: u64 = 16 * 1024 * 1024;

/// How long NOT_FOUND answers are remembered: short, so that a new entity shows up soon.
const NEGATIVE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

fn cache_policy(config: Option<&ProviderCacheConfig>) -> CachePolicy {
    let secs = std::time::Duration::from_secs;
    match config {
        Some(c) => CachePolicy {
            enabled: c.enabled,
            ttl: secs(c.ttl_s),
            swr: secs(c.swr_s),
            max_stale: secs(c.max_stale_s),
            negative_ttl: NEGATIVE_TTL,
        },
        None => CachePolicy {
            enabled: false,
            ttl: secs(0),
            swr: secs(0),
            max_stale: secs(0),
            negative_ttl: NEGATIVE_TTL,
        },
    }
}
