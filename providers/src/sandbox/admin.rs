//! The admin API of a sandbox, under `/__sandbox/`:
//!
//! * `GET /__sandbox/counters`: `{"total": N, "endpoints": {"GET /products": n},
//!   "peakInFlight": k, "statuses": {"200": n, "429": m}, "keys": {"GET /v2/stock": n}}`
//!   (`keys`: keys asked for, per batch endpoint)
//! * `POST /__sandbox/reset`: zero the counters and start the quota windows afresh
//! * `GET /__sandbox/faults`, `PUT /__sandbox/faults` (a [`FaultPlan`] as JSON),
//!   `DELETE /__sandbox/faults` (all off)

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::app::SandboxHandle;
use super::faults::FaultPlan;

pub(crate) fn router(handle: SandboxHandle) -> Router {
    Router::new()
        .route("/__sandbox/counters", get(counters))
        .route("/__sandbox/reset", post(reset))
        .route(
            "/__sandbox/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .with_state(handle)
}

async fn counters(State(handle): State<SandboxHandle>) -> impl IntoResponse {
    let endpoints = handle.counters();
    Json(json!({
        "total": endpoints.values().sum::<u64>(),
        "endpoints": endpoints,
        "peakInFlight": handle.peak_in_flight(),
        "statuses": handle.statuses(),
        "keys": handle.keys(),
    }))
}

async fn reset(State(handle): State<SandboxHandle>) -> StatusCode {
    handle.reset();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(handle): State<SandboxHandle>) -> Json<FaultPlan> {
    Json(handle.faults())
}

async fn put_faults(
    State(handle): State<SandboxHandle>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    match serde_json::from_slice::<FaultPlan>(&body) {
        Ok(plan) => {
            handle.set_faults(plan.clone());
            Json(plan).into_response()
        }
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("invalid fault plan: {err}") })),
        )
            .into_response(),
    }
}

async fn clear_faults(State(handle): State<SandboxHandle>) -> StatusCode {
    handle.set_faults(FaultPlan::default());
    StatusCode::NO_CONTENT
}
