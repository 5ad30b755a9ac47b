//! `POST /admin/cache/invalidate`: evicts cached entities, for operators who know a provider's
//! data changed. Authenticated with the bearer token from the environment variable that
//! `cache.admin_token_env` names; refused while that variable is unset.
//!
//! Body: `{"provider": "catalog", "entity": "products", "key": "1"}`; without `key`, every
//! entry of the entity; without `entity`, every entity of the provider. Entities: catalog
//! `pages` and `products` (key: product id), inventory `stock` (SKU), reviews `reviews`
//! (product id: all its pages), frankfurter and erapi `rates` (base currency).
//!
//! With Redis configured, entries are evicted there too and every other replica is told to
//! evict them from its memory. When Redis cannot be reached the answer is 503
//! `CACHE_UNAVAILABLE`: this replica's memory is evicted, but other replicas may still serve the
//! entries until their TTL, so the call should be repeated.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::AppState;
use providers::domain::{Currency, ProductId, Sku};

use crate::graphql::loaders::{Caches, reviews_prefix};

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
    match admin_token(&state.admin_token_env, &headers) {
        AdminToken::Off => {
            return refuse(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!(
                    "the admin API is off: set {} to enable it",
                    state.admin_token_env
                ),
            );
        }
        AdminToken::Missing => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "a valid bearer token is required",
            );
        }
        AdminToken::Valid => {}
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
    let caches = &state.providers.caches;
    let chosen = match entities(&request) {
        Ok(chosen) => chosen,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message),
    };
    let evicted = evict(caches, &chosen, request.key.as_deref()).await;
    // Any response may hold what was evicted.
    caches.responses.clear();
    match evicted {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "invalidated": chosen,
                "key": request.key,
                "tiers": if caches.redis.is_some() { vec!["memory", "redis"] } else { vec!["memory"] },
            })),
        ),
        Err(Eviction::BadKey(message)) => {
            refuse(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message)
        }
        Err(Eviction::Shared(error)) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "CACHE_UNAVAILABLE",
            format!(
                "evicted from this replica's memory, but Redis could not be told ({error}): \
                 other replicas may still serve the entries; repeat the call"
            ),
        ),
    }
}

/// What a request holds of the admin API's bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminToken {
    /// The token's variable is unset: the admin API is off for everyone.
    Off,
    /// No bearer token, or another one.
    Missing,
    Valid,
}

/// Whether `headers` carry the bearer token held by the variable `token_env`, compared in
/// constant time so that timing says nothing of the token.
pub fn admin_token(token_env: &str, headers: &HeaderMap) -> AdminToken {
    let Some(expected) = std::env::var(token_env).ok().filter(|t| !t.is_empty()) else {
        return AdminToken::Off;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        AdminToken::Valid
    } else {
        AdminToken::Missing
    }
}

/// The entities `request` names.
fn entities(request: &Invalidation) -> Result<Vec<&'static str>, String> {
    let entities: &[&'static str] = match request.provider.as_str() {
        "catalog" => &["pages", "products"],
        "inventory" => &["stock"],
        "reviews" => &["reviews"],
        "frankfurter" | "erapi" => &["rates"],
        other => return Err(format!("unknown provider `{other}`")),
    };
    match &request.entity {
        Some(entity) => match entities.iter().find(|e| *e == entity) {
            Some(e) => Ok(vec![*e]),
            None => Err(format!(
                "{} has no entity `{entity}`; it has {}",
                request.provider,
                entities.join(", ")
            )),
        },
        None => Ok(entities.to_vec()),
    }
}

enum Eviction {
    BadKey(String),
    /// Redis did not take the eviction.
    Shared(String),
}

async fn evict(
    caches: &Caches,
    chosen: &[&'static str],
    key: Option<&str>,
) -> Result<(), Eviction> {
    let bad_key = |what: &str| Eviction::BadKey(format!("`{}` is not {what}", key.unwrap_or("")));
    for entity in chosen {
        let done = match (*entity, key) {
            ("pages", None) => caches.pages.invalidate_all().await,
            ("pages", Some(_)) => {
                return Err(Eviction::BadKey("pages are invalidated all at once".into()));
            }
            ("products", None) => caches.products.invalidate_all().await,
            ("products", Some(k)) => {
                let id: ProductId = k.parse().map_err(|_| bad_key("a product id"))?;
                // The product also appears in cached pages.
                caches
                    .products
                    .invalidate(&id)
                    .await
                    .and(caches.pages.invalidate_all().await)
            }
            ("stock", None) => caches.stock.invalidate_all().await,
            ("stock", Some(k)) => caches.stock.invalidate(&Sku(k.into())).await,
            ("reviews", None) => caches.reviews.invalidate_all().await,
            ("reviews", Some(k)) => {
                let product: ProductId = k.parse().map_err(|_| bad_key("a product id"))?;
                caches
                    .reviews
                    .invalidate_prefix(&reviews_prefix(product))
                    .await
            }
            ("rates", None) => caches.rates.invalidate_all().await,
            ("rates", Some(k)) => {
                let base: Currency = k.parse().map_err(|_| bad_key("a currency code"))?;
                caches.rates.invalidate(&base).await
            }
            _ => Ok(()),
        };
        done.map_err(Eviction::Shared)?;
    }
    Ok(())
}
