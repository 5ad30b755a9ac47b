//! `/readyz`: 503 while a provider marked critical has an open breaker; the body lists every
//! provider's state either way, and the Redis cache tier's when there is one (Redis never makes
//! the gateway unready: without it requests are served from memory and providers).

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
    let mut body = json!({ "ready": ready, "providers": providers });
    if let Some(redis) = &state.providers.caches.redis {
        body["cache"] = json!({ "redis": redis.status() });
    }
    (status, Json(body))
}
