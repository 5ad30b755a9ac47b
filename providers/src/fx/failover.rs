//! Vendor failover for exchange rates: the primary answers when it can, the failover when it
//! cannot.
//!
//! 1. Ask the primary; its rates, or its `BadInput`, are the answer. `BadInput` means the
//!    request itself is refused, which another vendor would not change.
//! 2. Any other failure (unavailable, timeout, rate limited, open circuit, bad body, auth, a
//!    currency it does not know) asks the failover once, and its rates are the answer.
//! 3. When the failover fails too, the answer is the primary's error.
//!
//! Each failover is logged at `warn` with the primary's error code (and the failover's, when it
//! failed too). Timeouts, retries and breakers are not this type's business: each vendor's calls
//! already went through its own policy stack in the gateway.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::capability::ExchangeRates;
use crate::domain::{Currency, Rates};
use crate::error::ProviderError;

/// Exchange rates from `primary`, or from `failover` when the primary fails.
pub struct Failover {
    primary: Arc<dyn ExchangeRates>,
    failover: Arc<dyn ExchangeRates>,
}

impl Failover {
    pub fn new(primary: Arc<dyn ExchangeRates>, failover: Arc<dyn ExchangeRates>) -> Self {
        Failover { primary, failover }
    }
}

impl fmt::Debug for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failover").finish_non_exhaustive()
    }
}

#[async_trait]
impl ExchangeRates for Failover {
    async fn latest(&self, base: Currency) -> Result<Rates, ProviderError> {
        let primary_error = match self.primary.latest(base).await {
            Ok(rates) => return Ok(rates),
            Err(err @ ProviderError::BadInput(_)) => return Err(err),
            Err(err) => err,
        };
        match self.failover.latest(base).await {
            Ok(rates) => {
                tracing::warn!(
                    %base,
                    primary_error = primary_error.code(),
                    answered_by = rates.source,
                    "primary exchange-rate provider failed; the failover answered"
                );
                Ok(rates)
            }
            Err(failover_error) => {
                tracing::warn!(
                    %base,
                    primary_error = primary_error.code(),
                    failover_error = failover_error.code(),
                    "both exchange-rate providers failed"
                );
                // The primary's error is the one the caller can act on: its retryability and
                // Retry-After say when the provider of record will answer again, and it is what
                // the gateway's breaker and stale-cache annotations are about. The failover is
                // a best effort whose failure (often its own quota) says nothing about that.
                Err(primary_error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    use super::*;
    use crate::fx::{ErApi, Frankfurter};
    use crate::sandbox::{FaultPlan, serve};
    use crate::transport::http_testing::HttpTransport;
    use crate::transport::testing::{FnTransport, json};
    use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

    const FRANKFURTER_AUD: &str =
        include_str!("../../fixtures/frankfurter/verbatim/latest-AUD-2025-01-31.json");
    const ERAPI_USD: &str = include_str!("../../fixtures/open-er-api/latest-USD-2024-08-19.json");

    type Answer = Result<UpstreamResponse, ProviderError>;
    type Responder = Box<dyn Fn() -> Answer + Send + Sync>;

    /// A vendor over a canned transport, and the transport, to count what it was asked.
    fn vendor<V>(
        new: impl FnOnce(Arc<dyn Transport>) -> V,
        answer: impl Fn() -> Answer + Send + Sync + 'static,
    ) -> (Arc<V>, FnTransport) {
        let transport = FnTransport::new(move |_: &UpstreamRequest| answer());
        (Arc::new(new(Arc::new(transport.clone()))), transport)
    }

    fn frankfurter_answers(
        answer: impl Fn() -> Answer + Send + Sync + 'static,
    ) -> (Arc<Frankfurter>, FnTransport) {
        vendor(Frankfurter::new, answer)
    }

    fn erapi_answers(
        answer: impl Fn() -> Answer + Send + Sync + 'static,
    ) -> (Arc<ErApi>, FnTransport) {
        vendor(ErApi::new, answer)
    }

    #[tokio::test]
    async fn a_healthy_primary_answers_and_the_failover_is_never_asked() {
        let (primary, primary_calls) = frankfurter_answers(|| Ok(json(200, FRANKFURTER_AUD)));
        let (failover, failover_calls) = erapi_answers(|| Ok(json(200, ERAPI_USD)));
        let fx = Failover::new(primary, failover);

        let rates = fx.latest(Currency::AUD).await.unwrap();

        assert_eq!(rates.source, "frankfurter");
        assert_eq!(rates.rate(Currency::EUR), Some(Decimal::new(59873, 5)));
        assert_eq!(primary_calls.requests().len(), 1);
        assert!(failover_calls.requests().is_empty());
    }

    #[tokio::test]
    async fn a_failing_primary_is_answered_for_by_the_failover() {
        let failures: Vec<(&str, Responder)> = vec![
            (
                "5xx",
                Box::new(|| Ok(json(503, "<html>503 Service Unavailable</html>"))),
            ),
            ("timeout", Box::new(|| Err(ProviderError::Timeout))),
            (
                "bad body",
                Box::new(|| Ok(json(200, r#"{"amount":1.0,"base":"USD","da"#))),
            ),
            ("429", Box::new(|| Ok(json(429, "")))),
            (
                "open circuit",
                Box::new(|| Err(ProviderError::CircuitOpen { retry_after: None })),
            ),
            (
                "unknown currency",
                Box::new(|| Ok(json(404, r#"{"message":"not found"}"#))),
            ),
        ];
        for (case, failure) in failures {
            let (primary, primary_calls) = frankfurter_answers(failure);
            let (failover, failover_calls) = erapi_answers(|| Ok(json(200, ERAPI_USD)));
            let fx = Failover::new(primary, failover);

            let rates = fx.latest(Currency::USD).await.unwrap();

            assert_eq!(rates.source, "erapi", "{case}");
            assert_eq!(
                rates.date,
                NaiveDate::from_ymd_opt(2024, 8, 19).unwrap(),
                "{case}"
            );
            assert_eq!(
                rates.rate(Currency::EUR),
                Some(Decimal::new(907539, 6)),
                "{case}"
            );
            assert_eq!(primary_calls.requests().len(), 1, "{case}");
            assert_eq!(failover_calls.requests().len(), 1, "{case}");
        }
    }

    #[tokio::test]
    async fn when_both_fail_the_primary_error_is_returned() {
        let (primary, _) = frankfurter_answers(|| {
            let mut response = json(503, "");
            response.headers.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("30"),
            );
            Ok(response)
        });
        let (failover, failover_calls) = erapi_answers(|| {
            Ok(json(
                429,
                r#"{"result":"error","error-type":"quota-reached"}"#,
            ))
        });
        let fx = Failover::new(primary, failover);

        let err = fx.latest(Currency::USD).await.unwrap_err();

        assert_eq!(err.code(), "UPSTREAM_UNAVAILABLE");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(failover_calls.requests().len(), 1);
    }

    #[tokio::test]
    async fn refused_input_is_not_asked_again_elsewhere() {
        let (primary, _) =
            frankfurter_answers(|| Ok(json(422, r#"{"message":"bad currency pair"}"#)));
        let (failover, failover_calls) = erapi_answers(|| Ok(json(200, ERAPI_USD)));
        let fx = Failover::new(primary, failover);

        let err = fx.latest(Currency::USD).await.unwrap_err();

        assert_eq!(err, ProviderError::BadInput("bad currency pair".into()));
        assert!(failover_calls.requests().is_empty());
    }

    /// Records the bases it was asked for and answers with a fixed outcome.
    struct Scripted {
        asked: Mutex<Vec<Currency>>,
        answer: Result<Rates, ProviderError>,
    }

    #[async_trait]
    impl ExchangeRates for Scripted {
        async fn latest(&self, base: Currency) -> Result<Rates, ProviderError> {
            self.asked.lock().unwrap().push(base);
            self.answer.clone()
        }
    }

    #[tokio::test]
    async fn the_failover_is_asked_for_the_same_base() {
        let primary = Arc::new(Scripted {
            asked: Mutex::default(),
            answer: Err(ProviderError::Timeout),
        });
        let failover = Arc::new(Scripted {
            asked: Mutex::default(),
            answer: Ok(Rates {
                base: Currency::GBP,
                date: NaiveDate::from_ymd_opt(2024, 8, 19).unwrap(),
                rates: vec![(Currency::EUR, Decimal::new(117, 2))],
                source: "erapi",
                next_update: None,
            }),
        });
        let fx = Failover::new(primary.clone(), failover.clone());

        let rates = fx.latest(Currency::GBP).await.unwrap();

        assert_eq!(rates.base, Currency::GBP);
        assert_eq!(*primary.asked.lock().unwrap(), [Currency::GBP]);
        assert_eq!(*failover.asked.lock().unwrap(), [Currency::GBP]);
    }

    #[tokio::test]
    async fn over_http_an_outage_of_the_primary_sandbox_fails_over_to_the_other() {
        let frankfurter = crate::fx::frankfurter::sandbox();
        let erapi = crate::fx::erapi::sandbox();
        let (frankfurter_addr, _) = serve(frankfurter.router, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (erapi_addr, _) = serve(erapi.router, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let fx = Failover::new(
            Arc::new(Frankfurter::new(Arc::new(HttpTransport::new(format!(
                "http://{frankfurter_addr}"
            ))))),
            Arc::new(ErApi::new(Arc::new(HttpTransport::new(format!(
                "http://{erapi_addr}"
            ))))),
        );

        let healthy = fx.latest(Currency::USD).await.unwrap();
        assert_eq!(healthy.source, "frankfurter");
        assert_eq!(erapi.handle.total(), 0);

        frankfurter.handle.set_faults(FaultPlan {
            outage: true,
            ..FaultPlan::default()
        });
        let failed_over = fx.latest(Currency::USD).await.unwrap();
        assert_eq!(failed_over.source, "erapi");
        assert_eq!(
            failed_over.rate(Currency::EUR),
            Some(Decimal::new(907539, 6))
        );
        assert_eq!(frankfurter.handle.total(), 2);
        assert_eq!(erapi.handle.total(), 1);
    }
}
