//! The gateway's HTTP surface: `/graphql` (GraphQL over HTTP), `/graphiql` (the playground,
//! assets embedded), `/healthz` (the process is up), `/readyz` (the providers it needs are),
//! `/metrics` (Prometheus), `/status` (the providers' health for humans).

mod admin;
mod edge;
pub mod graphiql;
mod graphql;
mod health;
mod negotiate;
mod persisted;
pub mod server;
mod status;
mod trace;
pub mod trusted;

pub use persisted::PersistedQueries;

use axum::Router;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;

use crate::graphql::{Providers, StorefrontSchema};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: StorefrontSchema,
    /// The same schema with operation and resolver spans, for requests whose trace is sampled
    /// (only while traces are exported).
    pub traced_schema: Option<StorefrontSchema>,
    pub providers: Providers,
    /// Every request's deadline (a client may ask for less).
    pub deadline: std::time::Duration,
    /// Automatic persisted queries, by hash.
    pub persisted: std::sync::Arc<PersistedQueries>,
    /// The environment variable holding the admin API's bearer token.
    pub admin_token_env: String,
    /// Request limits and the schema's cost model.
    pub limits: std::sync::Arc<crate::graphql::limits::RequestLimits>,
    /// Who the client is, and which fields it may select.
    pub auth: std::sync::Arc<crate::auth::Authenticator>,
    /// Each client's request and cost budget.
    pub client_limits: std::sync::Arc<crate::auth::ClientLimits>,
    /// The trusted documents, when only those may run.
    pub trusted: Option<std::sync::Arc<trusted::TrustedDocuments>>,
}

/// `GET /metrics`: Prometheus' text exposition format.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state.providers.upstreams),
    )
}

pub fn router(state: AppState, max_body_bytes: usize, graphiql: bool) -> Router {
    // async-graphql's own extractor ignores axum's default body limit, and this handler reads
    // the body itself: the tower-http layer bounds it for both (chunked bodies included).
    let graphql = Router::new()
        .route(
            "/graphql",
            get(graphql::get_request)
                .post(graphql::post_request)
                .fallback(graphql::other_method),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::admit,
        ))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::map_response(
            graphql::payload_too_large_as_contract,
        ))
        .with_state(state.clone());
    let mut app = Router::new()
        .merge(graphql)
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics).with_state(state.clone()))
        .route("/readyz", get(health::readyz).with_state(state.clone()))
        .route("/status", get(status::page).with_state(state.clone()))
        .route(
            "/admin/cache/invalidate",
            axum::routing::post(admin::invalidate).with_state(state),
        );
    if graphiql {
        app = app.merge(graphiql::router());
    }
    // Outermost: the request's span and id cover everything done for it.
    app.layer(axum::middleware::from_fn(trace::request_span))
}
