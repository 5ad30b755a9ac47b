//! The gateway's HTTP surface: `/graphql` (GraphQL over HTTP), `/graphiql` (the playground,
//! assets embedded), `/healthz` (the process is up), `/readyz` (the providers it needs are).

mod admin;
pub mod graphiql;
mod graphql;
mod health;
mod negotiate;
mod persisted;

pub use persisted::PersistedQueries;

use axum::Router;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;

use crate::graphql::{Providers, StorefrontSchema};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: StorefrontSchema,
    pub providers: Providers,
    /// Every request's deadline (a client may ask for less).
    pub deadline: std::time::Duration,
    /// Automatic persisted queries, by hash.
    pub persisted: std::sync::Arc<PersistedQueries>,
    /// The environment variable holding the admin API's bearer token.
    pub admin_token_env: String,
}

pub fn router(state: AppState, max_body_bytes: usize, graphiql: bool) -> Router {
    // async-graphql's own extractor ignores axum's default body limit, and this handler reads
    // the body itself: the tower-http layer bounds it for both (chunked bodies included).
    let graphql = Router::new()
        .route(
            "/graphql",
            get(graphql::get_request).post(graphql::post_request),
        )
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::map_response(
            graphql::payload_too_large_as_contract,
        ))
        .with_state(state.clone());
    let mut app = Router::new()
        .merge(graphql)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz).with_state(state.clone()))
        .route(
            "/admin/cache/invalidate",
            axum::routing::post(admin::invalidate).with_state(state),
        );
    if graphiql {
        app = app.merge(graphiql::router());
    }
    app
}
