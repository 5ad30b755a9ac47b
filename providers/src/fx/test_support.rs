//! What the exchange-rate vendors' tests share: exact decimals, a sandbox served on an
//! ephemeral port, and a client to ask it over HTTP.

use rust_decimal::Decimal;

use crate::sandbox::{Sandbox, serve};

pub(super) fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// `sandbox` listening on 127.0.0.1, and its base URL.
pub(super) async fn served(sandbox: Sandbox) -> (Sandbox, String) {
    let (addr, _) = serve(sandbox.router.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (sandbox, format!("http://{addr}"))
}

fn client() -> reqwest::Client {
    // reqwest is built without a default TLS crypto provider; any client needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub(super) async fn get(url: &str, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = client().get(format!("{url}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}
