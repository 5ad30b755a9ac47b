//! `/readyz`: 503 while a provider marked critical has an open breaker; the body lists every
//! provider's state either way.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::AppState;

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let upstreams = &state.providers.upstreams;
    let ready = !upstreams.providers.iter().any(|p| p.blocks_readiness());
    let providers: Vec<_> = upstreams.providers.iter().map(|p| p.report()).collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "providers": providers })),
    )
}
