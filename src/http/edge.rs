//! The front door of `/graphql`, before the body is read: who the client is (401 without
//! acceptable credentials) and whether its request budget admits one more request (429).
//! The handler then charges the query's cost; the client's budget is reported on every
//! answer as IETF `RateLimit` headers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::graphql::{Admitted, Rejection};
use super::negotiate::{ResponseType, response_type};

const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

pub async fn admit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let as_type = response_type(request.headers()).unwrap_or(ResponseType::Json);
    // The server puts the peer's address on every request; a router driven without it
    // (a test harness, a fuzzer) counts as loopback.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    let client = match state.auth.authenticate(request.headers(), peer).await {
        Ok(client) => client,
        Err(rejection) => return Rejection::from(rejection).into_response(as_type),
    };
    let budget = match state.client_limits.admit_request(&client) {
        Ok(budget) => budget,
        Err(limited) => return Rejection::from(limited).into_response(as_type),
    };
    request.extensions_mut().insert(Arc::new(Admitted {
        client,
        budget: budget.clone(),
    }));
    let mut response = next.run(request).await;
    // Answers the handler gave before charging a cost still report the request budget.
    if !response.headers().contains_key(RATELIMIT) {
        budget.write_headers(response.headers_mut());
    }
    response
}
