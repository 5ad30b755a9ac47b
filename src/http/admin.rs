//! `POST /admin/cache/invalidate`: evicts cached entities, for operators who know a provider's
//! data changed. Authenticated with the bearer token from the environment variable that
//! `cache.admin_token_env` names; refused while that variable is unset.
//!
//! Body: `{"provider": "catalog", "entity": "products", "key": "1"}`; without `key`, every
//! entry of the entity; without `entity`, every entity of the provider. Entities: catalog
//! `pages` and `products` (key: product id), inventory `stock` (SKU), reviews `reviews`
//! (product id: all its pages), frankfurter and erapi `rates` (base currency).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::graphql::loaders::Caches;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invalidation {
    provider: String,
    entity: Option<String>,
    key: Option<String>,
}

type Answer = (StatusCode, Json<Value>);

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    (
        status,
        Json(json!({ "errors": [{ "message": message.into(), "extensions": { "code": code } }] })),
    )
}

pub async fn invalidate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    let Some(expected) = std::env::var(&state.admin_token_env)
        .ok()
        .filter(|t| !t.is_empty())
    else {
        return refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!(
                "the admin API is off: set {} to enable it",
                state.admin_token_env
            ),
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same(given.as_bytes(), expected.as_bytes()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "a valid bearer token is required",
        );
    }
    let request: Invalidation = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("bad invalidation: {e}"),
            );
        }
    };
    match evict(&state.providers.caches, &request) {
        Ok(entities) => (
            StatusCode::OK,
            Json(json!({ "invalidated": entities, "key": request.key })),
        ),
        Err(message) => refuse(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message),
    }
}

/// Compares without stopping at the first difference, so timing says nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn evict(caches: &Caches, request: &Invalidation) -> Result<Vec<&'static str>, String> {
    let entities: &[&'static str] = match request.provider.as_str() {
        "catalog" => &["pages", "products"],
        "inventory" => &["stock"],
        "reviews" => &["reviews"],
        "frankfurter" | "erapi" => &["rates"],
        other => return Err(format!("unknown provider `{other}`")),
    };
    let chosen: Vec<&'static str> = match &request.entity {
        Some(entity) => match entities.iter().find(|e| *e == entity) {
            Some(e) => vec![*e],
            None => {
                return Err(format!(
                    "{} has no entity `{entity}`; it has {}",
                    request.provider,
                    entities.join(", ")
                ));
            }
        },
        None => entities.to_vec(),
    };
    for entity in &chosen {
        let key = request.key.as_deref();
        let bad_key = |what: &str| format!("`{}` is not {what}", key.unwrap_or(""));
        match (*entity, key) {
            ("pages", None) => caches.pages.invalidate_all(),
            ("pages", Some(_)) => return Err("pages are invalidated all at once".into()),
            ("products", None) => caches.products.invalidate_all(),
            ("products", Some(k)) => {
                caches
                    .products
                    .invalidate(&k.parse().map_err(|_| bad_key("a product id"))?);
                // The product also appears in cached pages.
                caches.pages.invalidate_all();
            }
            ("stock", None) => caches.stock.invalidate_all(),
            ("stock", Some(k)) => caches.stock.invalidate(&providers::domain::Sku(k.into())),
            ("reviews", None) => caches.reviews.invalidate_all(),
            ("reviews", Some(k)) => {
                let product: providers::domain::ProductId =
                    k.parse().map_err(|_| bad_key("a product id"))?;
                caches.reviews.invalidate_where(|r| r.product == product);
            }
            ("rates", None) => caches.rates.invalidate_all(),
            ("rates", Some(k)) => caches
                .rates
                .invalidate(&k.parse().map_err(|_| bad_key("a currency code"))?),
            _ => {}
        }
    }
    Ok(chosen)
}
