//! Asks ExchangeRate-API for the latest rates from one base and maps its answer (or refusal)
//! into the domain.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use http::StatusCode;
use rust_decimal::Decimal;

use super::wire;
use crate::capability::ExchangeRates;
use crate::domain::{Currency, Rates};
use crate::error::ProviderError;
use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

const ENDPOINT: &str = "GET /v6/latest/{base}";
const SOURCE: &str = "erapi";

/// ExchangeRate-API's open access endpoint, reached through the gateway's [`Transport`] (whose
/// base URL is the host, e.g. `https://open.er-api.com`).
pub struct ErApi {
    transport: Arc<dyn Transport>,
}

impl ErApi {
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        ErApi { transport }
    }
}

impl std::fmt::Debug for ErApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErApi").finish_non_exhaustive()
    }
}

#[async_trait]
impl ExchangeRates for ErApi {
    async fn latest(&self, base: Currency) -> Result<Rates, ProviderError> {
        let request = UpstreamRequest::get(ENDPOINT, format!("/v6/latest/{}", base.code()));
        let response = self.transport.send(request).await?;
        // The status of an `error` result is undocumented (clients see both 200 and 4xx), so the
        // body decides wherever it can; only 429 and 5xx speak for themselves.
        if response.status == StatusCode::TOO_MANY_REQUESTS || response.status.is_server_error() {
            return Err(from_status(&response));
        }
        let outcome = serde_json::from_slice::<wire::Outcome>(&response.body).ok();
        match outcome {
            Some(outcome) if outcome.result == "error" => Err(refusal(&response, outcome)),
            Some(outcome) if outcome.result == "success" && response.status.is_success() => {
                let latest: wire::Latest = serde_json::from_slice(&response.body)
                    .map_err(|err| ProviderError::decode("ExchangeRate-API rates", err))?;
                into_rates(base, latest)
            }
            Some(outcome) if response.status.is_success() => Err(ProviderError::BadResponse(
                format!("ExchangeRate-API answered with result `{}`", outcome.result),
            )),
            None if response.status.is_success() => Err(ProviderError::BadResponse(
                "ExchangeRate-API sent a body that is not its JSON".into(),
            )),
            _ => Err(from_status(&response)),
        }
    }
}

/// `{"result":"error","error-type":..}`, whatever its HTTP status.
fn refusal(response: &UpstreamResponse, outcome: wire::Outcome) -> ProviderError {
    let error_type = outcome.error_type.unwrap_or_default();
    let message = format!("ExchangeRate-API error `{error_type}`");
    match error_type.as_str() {
        // The base is one Switchyard prices in but the provider does not serve.
        "unsupported-code" | "base-code-only-on-pro" | "not-available-on-plan" => {
            ProviderError::BadInput(message)
        }
        "quota-reached" => ProviderError::RateLimited {
            message,
            retry_after: response.retry_after(),
        },
        "invalid-key" | "inactive-account" => ProviderError::Auth(message),
        // `malformed-request` and types it may add later: retrying the same request will not
        // help, and the provider, not the user, disagrees with it.
        _ => ProviderError::BadResponse(message),
    }
}

fn from_status(response: &UpstreamResponse) -> ProviderError {
    let message = response
        .status
        .canonical_reason()
        .unwrap_or("unexpected status");
    ProviderError::from_status(response.status, message, response.retry_after())
}

fn into_rates(base: Currency, latest: wire::Latest) -> Result<Rates, ProviderError> {
    if latest.base_code != base.code() {
        return Err(ProviderError::BadResponse(format!(
            "asked ExchangeRate-API for {base} rates, got {} rates",
            latest.base_code
        )));
    }
    // The rates are the snapshot taken at the last update; its UTC day is the day they are for.
    let date = DateTime::from_timestamp(latest.time_last_update_unix, 0)
        .ok_or_else(|| {
            ProviderError::BadResponse(format!(
                "ExchangeRate-API sent an impossible update time {}",
                latest.time_last_update_unix
            ))
        })?
        .date_naive();
    let mut rates = Vec::new();
    for (code, wire::ExactNumber(rate)) in latest.rates.0 {
        // About 130 of the provider's codes are currencies Switchyard does not price in.
        let Ok(currency) = Currency::from_str(&code) else {
            continue;
        };
        // The provider lists the base itself (as 1); the domain never does.
        if currency == base {
            continue;
        }
        if rate <= Decimal::ZERO {
            return Err(ProviderError::BadResponse(format!(
                "ExchangeRate-API sent a non-positive {base}/{currency} rate: {rate}"
            )));
        }
        rates.push((currency, rate));
    }
    rates.sort_by_key(|(currency, _)| *currency);
    Ok(Rates {
        base,
        date,
        rates,
        source: SOURCE,
        // An impossible time only loses the hint; the rates themselves are fine.
        next_update: latest
            .time_next_update_unix
            .and_then(|at| DateTime::from_timestamp(at, 0)),
    })
}
