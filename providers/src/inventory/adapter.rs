//! [`Warehouse`]: the [`Inventory`] capability over the warehouse service's `GET /v2/stock`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderValue, StatusCode, header};

use super::auth::{BearerToken, Credentials, TokenSource};
use super::wire::{self, ErrorBody, StockItem, StockResponse};
use crate::capability::Inventory;
use crate::domain::{Sku, Stock};
use crate::error::ProviderError;
use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

/// Stock levels from the internal warehouse service.
pub struct Warehouse {
    transport: Arc<dyn Transport>,
    tokens: TokenSource,
}

impl Warehouse {
    pub fn new(transport: Arc<dyn Transport>, credentials: Credentials) -> Self {
        Warehouse {
            tokens: TokenSource::new(transport.clone(), credentials),
            transport,
        }
    }

    /// One `GET /v2/stock` for at most [`wire::MAX_SKUS_PER_CALL`] SKUs, with one token
    /// refresh and one retry when the service refuses the token.
    async fn stock_batch(&self, skus: &[&Sku]) -> Result<Vec<StockItem>, ProviderError> {
        let path = stock_path(skus);
        let bearer = self.tokens.bearer().await?;
        let units = u32::try_from(skus.len()).unwrap_or(u32::MAX);
        let response = self.send_stock(&path, &bearer, units).await?;
        if !refuses_token(&response) {
            return read_stock_response(&response);
        }
        let bearer = self.tokens.replace(&bearer).await?;
        let response = self.send_stock(&path, &bearer, units).await?;
        if response.status == StatusCode::UNAUTHORIZED {
            return Err(ProviderError::Auth(format!(
                "stock request refused a freshly issued token: {}",
                error_code(&response)
            )));
        }
        read_stock_response(&response)
    }

    async fn send_stock(
        &self,
        path: &str,
        bearer: &BearerToken,
        units: u32,
    ) -> Result<UpstreamResponse, ProviderError> {
        // The warehouse bills per SKU looked up.
        let request = UpstreamRequest::get("GET /v2/stock", path)
            .header(header::AUTHORIZATION, bearer.authorization()?)
            .header(header::ACCEPT, HeaderValue::from_static("application/json"))
            .units(units);
        self.transport.send(request).await
    }
}

impl fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Warehouse")
            .field("client_id", &self.tokens.client_id())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Inventory for Warehouse {
    fn max_batch(&self) -> usize {
        wire::MAX_SKUS_PER_CALL
    }

    /// Callers normally respect [`Inventory::max_batch`]; a longer list is split here rather
    /// than sent as a request the service answers 400, and the parts are asked one after the
    /// other so that one caller cannot spend the service's 20 requests per second at once.
    async fn stock(&self, skus: &[Sku]) -> Result<HashMap<Sku, Stock>, ProviderError> {
        let askable = askable_skus(skus);
        let mut stock = HashMap::with_capacity(askable.len());
        for batch in askable.chunks(wire::MAX_SKUS_PER_CALL) {
            for item in self.stock_batch(batch).await? {
                let sku = Sku(item.sku);
                stock.insert(
                    sku.clone(),
                    Stock {
                        sku,
                        available: item.available,
                        reserved: item.reserved,
                        warehouse: item.warehouse,
                        updated_at: item.updated_at,
                    },
                );
            }
        }
        Ok(stock)
    }
}

/// The SKUs worth a request, each once. The service splits `skus` on commas, so a SKU that is
/// empty or contains one cannot be asked for; the service cannot know it, so it is left out of
/// the answer like any unknown SKU.
fn askable_skus(skus: &[Sku]) -> Vec<&Sku> {
    let mut seen = std::collections::HashSet::with_capacity(skus.len());
    skus.iter()
        .filter(|sku| !sku.0.is_empty() && !sku.0.contains(','))
        .filter(|sku| seen.insert(*sku))
        .collect()
}

/// `/v2/stock?skus=A,B,C`: each SKU percent-encoded, the separating commas left bare.
fn stock_path(skus: &[&Sku]) -> String {
    let mut path = String::from("/v2/stock?skus=");
    for (i, sku) in skus.iter().enumerate() {
        if i > 0 {
            path.push(',');
        }
        path.extend(form_urlencoded::byte_serialize(sku.0.as_bytes()));
    }
    path
}

fn refuses_token(response: &UpstreamResponse) -> bool {
    response.status == StatusCode::UNAUTHORIZED && error_code(response) == wire::INVALID_TOKEN
}

/// The service's error code, or the bare status when the body is not its error format.
/// Never the raw body: it is unbounded and may echo what we sent.
fn error_code(response: &UpstreamResponse) -> String {
    match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(ErrorBody {
            error,
            max: Some(max),
            ..
        }) => format!("{error} (max {max})"),
        Ok(body) => body.error,
        Err(_) => format!("HTTP {}", response.status.as_u16()),
    }
}

fn read_stock_response(response: &UpstreamResponse) -> Result<Vec<StockItem>, ProviderError> {
    let status = response.status;
    if status == StatusCode::OK {
        let body: StockResponse = serde_json::from_slice(&response.body)
            .map_err(|e| ProviderError::decode("stock response", e))?;
        return Ok(body.items);
    }
    let message = error_code(response);
    Err(match status.as_u16() {
        400 | 401 | 403 | 422 | 429 => {
            ProviderError::from_status(status, message, response.retry_after())
        }
        s if s >= 500 => ProviderError::from_status(status, message, response.retry_after()),
        // A 404 here means a wrong base URL, not an unknown SKU (those come back `missing`).
        s => ProviderError::BadResponse(format!("unexpected status {s}: {message}")),
    })
}
