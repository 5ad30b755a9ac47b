//! Asks Frankfurter for the latest rates from one base and maps its answer (or refusal) into
//! the domain.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;

use super::wire;
use crate::capability::ExchangeRates;
use crate::domain::{Currency, Rates};
use crate::error::ProviderError;
use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

const ENDPOINT: &str = "GET /v1/latest";
const SOURCE: &str = "frankfurter";

/// Frankfurter v1, reached through the gateway's [`Transport`] (whose base URL is the host,
/// e.g. `https://api.frankfurter.dev`).
pub struct Frankfurter {
    transport: Arc<dyn Transport>,
}

impl Frankfurter {
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        Frankfurter { transport }
    }
}

impl std::fmt::Debug for Frankfurter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frankfurter").finish_non_exhaustive()
    }
}

#[async_trait]
impl ExchangeRates for Frankfurter {
    async fn latest(&self, base: Currency) -> Result<Rates, ProviderError> {
        let request = UpstreamRequest::get(ENDPOINT, format!("/v1/latest?base={}", base.code()));
        let response = self.transport.send(request).await?;
        if !response.status.is_success() {
            return Err(failure(&response));
        }
        let quote: wire::Quote = serde_json::from_slice(&response.body)
            .map_err(|err| ProviderError::decode("Frankfurter rates", err))?;
        into_rates(base, quote)
    }
}

/// 404 (`not found`: Frankfurter does not know the currency), 422 (refused parameters), 429 and
/// 5xx all take the usual meaning of their status; the body only contributes its message.
fn failure(response: &UpstreamResponse) -> ProviderError {
    let message = match serde_json::from_slice::<wire::ErrorBody>(&response.body) {
        Ok(body) => body.message,
        Err(_) => response
            .status
            .canonical_reason()
            .unwrap_or("unexpected status")
            .to_owned(),
    };
    ProviderError::from_status(response.status, message, response.retry_after())
}

fn into_rates(base: Currency, quote: wire::Quote) -> Result<Rates, ProviderError> {
    if quote.base != base.code() {
        return Err(ProviderError::BadResponse(format!(
            "asked Frankfurter for {base} rates, got {} rates",
            quote.base
        )));
    }
    let mut rates = Vec::with_capacity(quote.rates.len());
    for (code, wire::ExactNumber(rate)) in quote.rates {
        // Historical dates also carry retired codes (HRK, CYP, ...) that Switchyard does not
        // price in; they are not an error.
        let Ok(currency) = Currency::from_str(&code) else {
            continue;
        };
        if currency == base {
            continue;
        }
        if rate <= rust_decimal::Decimal::ZERO {
            return Err(ProviderError::BadResponse(format!(
                "Frankfurter sent a non-positive {base}/{currency} rate: {rate}"
            )));
        }
        rates.push((currency, rate));
    }
    rates.sort_by_key(|(currency, _)| *currency);
    Ok(Rates {
        base,
        date: quote.date,
        rates,
        source: SOURCE,
        // Frankfurter says how long its answer stays fresh in Cache-Control instead.
        next_update: None,
    })
}
