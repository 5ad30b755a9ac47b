//! The catalog's tests, by subject:
//! * `adapter`: the adapter on real DummyJSON bodies;
//! * `adapter_on_sandbox`: the adapter against the sandbox, over HTTP;
//! * `fixture_replay`: the sandbox against the recorded responses and the live header capture;
//! * `quota`: the sandbox's rate limit;
//! * `sandbox_wire`: the rest of the sandbox's wire behaviour (conditional GET, paging,
//!   `select`, sorting, validation, routing, injected faults).

use std::time::{SystemTime, UNIX_EPOCH};

use super::sandbox;
use crate::domain::ProductQuery;
use crate::sandbox::{SandboxHandle, serve};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../fixtures/dummyjson/", $name))
    };
}

mod adapter;
mod adapter_on_sandbox;
mod fixture_replay;
mod quota;
mod sandbox_wire;

fn page(offset: usize, limit: usize) -> ProductQuery {
    ProductQuery {
        offset,
        limit,
        ..ProductQuery::default()
    }
}

fn now_epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn start() -> (String, SandboxHandle) {
    let sb = sandbox();
    let (addr, _task) = serve(sb.router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (format!("http://{addr}"), sb.handle)
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
