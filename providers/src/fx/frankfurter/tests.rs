//! Frankfurter: the adapter on real bodies and error bodies, the adapter against the sandbox
//! over HTTP, and the sandbox's wire behaviour, including a byte-for-byte replay of the
//! captured and derived fixtures.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use http::{HeaderValue, Method, header};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{Frankfurter, sandbox};
use crate::capability::ExchangeRates;
use crate::domain::Currency;
use crate::error::ProviderError;
use crate::fx::test_support::{dec, get, served};
use crate::sandbox::FaultPlan;
use crate::transport::http_testing::HttpTransport;
use crate::transport::testing::{FnTransport, json};
use crate::transport::{UpstreamRequest, UpstreamResponse};

const LATEST_EUR_2023_04_06: &str =
    include_str!("../../../fixtures/frankfurter/verbatim/latest-EUR-2023-04-06.json");
const LATEST_EUR_2024_08_12: &str =
    include_str!("../../../fixtures/frankfurter/verbatim/latest-EUR-2024-08-12.json");
const LATEST_AUD_2025_01_31: &str =
    include_str!("../../../fixtures/frankfurter/verbatim/latest-AUD-2025-01-31.json");
const CURRENCIES: &str = include_str!("../../../fixtures/frankfurter/verbatim/currencies.json");
const DATE_SYMBOLS: &str =
    include_str!("../../../fixtures/frankfurter/derived/date-2025-01-31-symbols-CHF,GBP.json");
const DATE_AMOUNT_BASE_SYMBOLS: &str = include_str!(
    "../../../fixtures/frankfurter/derived/date-2025-01-31-amount-100-base-GBP-symbols-CHF,JPY.json"
);
const SERIES: &str = include_str!(
    "../../../fixtures/frankfurter/derived/timeseries-2025-01-02..2025-01-10-symbols-CHF,GBP,JPY.json"
);
const SERIES_FROM_A_WEEKEND: &str = include_str!(
    "../../../fixtures/frankfurter/derived/timeseries-2025-01-04..2025-01-10-symbols-GBP-weekend-start.json"
);
const SERIES_REBASED: &str = include_str!(
    "../../../fixtures/frankfurter/derived/timeseries-2025-01-06..2025-01-08-base-GBP-symbols-CHF,EUR,JPY.json"
);
const NOT_FOUND: &str =
    include_str!("../../../fixtures/frankfurter/derived/error-404-not-found.json");
const BAD_CURRENCY_PAIR: &str =
    include_str!("../../../fixtures/frankfurter/derived/error-422-bad-currency-pair.json");
const INVALID_AMOUNT: &str =
    include_str!("../../../fixtures/frankfurter/derived/error-422-invalid-amount.json");
const INVALID_DATE: &str =
    include_str!("../../../fixtures/frankfurter/derived/error-422-invalid-date.json");

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// The adapter over a transport that always gives `answer`.
fn answering(
    answer: impl Fn() -> Result<UpstreamResponse, ProviderError> + Send + Sync + 'static,
) -> (Frankfurter, FnTransport) {
    let transport = FnTransport::new(move |_: &UpstreamRequest| answer());
    (Frankfurter::new(Arc::new(transport.clone())), transport)
}

fn with_header(
    mut response: UpstreamResponse,
    name: header::HeaderName,
    value: &'static str,
) -> UpstreamResponse {
    response
        .headers
        .insert(name, HeaderValue::from_static(value));
    response
}

// --- the adapter on real bodies -------------------------------------------------------------

#[tokio::test]
async fn reads_a_real_eur_body_with_exact_rates_ints_included() {
    let (frankfurter, transport) = answering(|| Ok(json(200, LATEST_EUR_2023_04_06)));

    let rates = frankfurter.latest(Currency::EUR).await.unwrap();

    assert_eq!(rates.base, Currency::EUR);
    assert_eq!(rates.date, day("2023-04-06"));
    assert_eq!(rates.source, "frankfurter");
    assert_eq!(rates.rates.len(), 30);
    assert_eq!(rates.rate(Currency::IDR), Some(Decimal::from(16291)));
    assert_eq!(rates.rate(Currency::GBP), Some(dec("0.87495")));
    assert_eq!(rates.rate(Currency::USD), Some(dec("1.0915")));
    assert_eq!(rates.rate(Currency::HUF), Some(dec("376.1")));
    assert!(rates.rates.iter().all(|(c, _)| *c != Currency::EUR));
    assert!(rates.rates.windows(2).all(|w| w[0].0 < w[1].0), "sorted");

    let sent = transport.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, Method::GET);
    assert_eq!(sent[0].path_and_query, "/v1/latest?base=EUR");
    assert_eq!(sent[0].endpoint, "GET /v1/latest");
    assert!(sent[0].idempotent);
}

#[tokio::test]
async fn reads_a_rebased_body_where_eur_is_a_quote_and_the_base_is_not() {
    let (frankfurter, transport) = answering(|| Ok(json(200, LATEST_AUD_2025_01_31)));

    let rates = frankfurter.latest(Currency::AUD).await.unwrap();

    assert_eq!(rates.base, Currency::AUD);
    assert_eq!(rates.date, day("2025-01-31"));
    assert_eq!(rates.rates.len(), 30);
    assert_eq!(rates.rate(Currency::EUR), Some(dec("0.59873")));
    assert_eq!(rates.rate(Currency::IDR), Some(Decimal::from(10143)));
    assert_eq!(rates.rate(Currency::USD), Some(dec("0.62226")));
    assert_eq!(rates.rate(Currency::AUD), Some(Decimal::ONE));
    assert!(rates.rates.iter().all(|(c, _)| *c != Currency::AUD));
    assert_eq!(
        transport.requests()[0].path_and_query,
        "/v1/latest?base=AUD"
    );
}

#[tokio::test]
async fn reads_the_pretty_printed_capture() {
    let (frankfurter, _) = answering(|| Ok(json(200, LATEST_EUR_2024_08_12)));

    let rates = frankfurter.latest(Currency::EUR).await.unwrap();

    assert_eq!(rates.date, day("2024-08-12"));
    assert_eq!(rates.rates.len(), 30);
    assert_eq!(rates.rate(Currency::IDR), Some(Decimal::from(17444)));
    assert_eq!(rates.rate(Currency::USD), Some(dec("1.0925")));
}

#[tokio::test]
async fn skips_codes_it_does_not_price_in_and_reads_exponents_exactly() {
    let body = r#"{"amount":1.0,"base":"IDR","date":"2025-01-31","rates":{"CYP":0.00003,"EUR":5.9e-05,"HRK":0.00044,"IDR":1.0,"USD":6.1e-05}}"#;
    let (frankfurter, _) = answering(move || Ok(json(200, body)));

    let rates = frankfurter.latest(Currency::IDR).await.unwrap();

    assert_eq!(
        rates.rates,
        [
            (Currency::EUR, dec("0.000059")),
            (Currency::USD, dec("0.000061")),
        ]
    );
}

#[tokio::test]
async fn refusals_and_failures_become_provider_errors() {
    let cases: Vec<(&str, Result<UpstreamResponse, ProviderError>, ProviderError)> = vec![
        (
            "unknown currency",
            Ok(json(404, NOT_FOUND)),
            ProviderError::NotFound("not found".into()),
        ),
        (
            "bad pair",
            Ok(json(422, BAD_CURRENCY_PAIR)),
            ProviderError::BadInput("bad currency pair".into()),
        ),
        (
            "bad amount",
            Ok(json(422, INVALID_AMOUNT)),
            ProviderError::BadInput("invalid amount".into()),
        ),
        (
            "server error page",
            Ok(json(500, "<html>oops</html>")),
            ProviderError::Unavailable {
                status: Some(500),
                message: "Internal Server Error".into(),
                retry_after: None,
            },
        ),
        (
            "cdn timeout with a delay",
            Ok(with_header(json(503, ""), header::RETRY_AFTER, "120")),
            ProviderError::Unavailable {
                status: Some(503),
                message: "Service Unavailable".into(),
                retry_after: Some(Duration::from_secs(120)),
            },
        ),
        (
            "rate limited",
            Ok(with_header(json(429, ""), header::RETRY_AFTER, "7")),
            ProviderError::RateLimited {
                message: "Too Many Requests".into(),
                retry_after: Some(Duration::from_secs(7)),
            },
        ),
        (
            "timeout",
            Err(ProviderError::Timeout),
            ProviderError::Timeout,
        ),
    ];
    for (case, answer, expected) in cases {
        let (frankfurter, _) = answering(move || answer.clone());
        let err = frankfurter.latest(Currency::USD).await.unwrap_err();
        assert_eq!(err, expected, "{case}");
    }
}

#[tokio::test]
async fn bodies_that_break_the_contract_are_bad_responses() {
    let bodies = [
        ("html", "<html><body>502 Bad Gateway</body></html>"),
        (
            "truncated",
            r#"{"amount":1.0,"base":"USD","date":"2025-01-31","rates":{"EUR":0.96"#,
        ),
        (
            "other base",
            r#"{"amount":1.0,"base":"EUR","date":"2025-01-31","rates":{"USD":1.0393}}"#,
        ),
        (
            "quoted rate",
            r#"{"amount":1.0,"base":"USD","date":"2025-01-31","rates":{"EUR":"0.96219"}}"#,
        ),
        (
            "negative rate",
            r#"{"amount":1.0,"base":"USD","date":"2025-01-31","rates":{"EUR":-0.96219}}"#,
        ),
        (
            "no date",
            r#"{"amount":1.0,"base":"USD","rates":{"EUR":0.96219}}"#,
        ),
    ];
    for (case, body) in bodies {
        let (frankfurter, _) = answering(move || Ok(json(200, body)));
        let err = frankfurter.latest(Currency::USD).await.unwrap_err();
        assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE", "{case}: {err}");
    }
}

// --- the adapter against the sandbox ----------------------------------------------------------

fn over_http(base_url: &str) -> Frankfurter {
    Frankfurter::new(Arc::new(HttpTransport::new(base_url)))
}

#[tokio::test]
async fn the_adapter_reads_the_sandbox_for_every_base() {
    let (sandbox, url) = served(sandbox()).await;
    let frankfurter = over_http(&url);

    for base in Currency::ALL {
        let rates = frankfurter.latest(*base).await.unwrap();
        assert_eq!(rates.base, *base);
        assert_eq!(rates.date, day("2025-01-31"), "{base}");
        assert_eq!(rates.rates.len(), 30, "{base}");
        assert!(rates.rates.iter().all(|(c, _)| c != base), "{base}");
    }
    assert_eq!(sandbox.handle.counters()["GET /v1/latest"], 31);
}

#[tokio::test]
async fn the_sandbox_rebases_like_frankfurter() {
    let (_sandbox, url) = served(sandbox()).await;
    let frankfurter = over_http(&url);

    let eur = frankfurter.latest(Currency::EUR).await.unwrap();
    // A plain EUR answer is the stored ECB value, unrounded.
    assert_eq!(eur.rate(Currency::IDR), Some(dec("16941.21")));
    assert_eq!(eur.rate(Currency::GBP), Some(dec("0.83608")));

    let usd = frankfurter.latest(Currency::USD).await.unwrap();
    assert_eq!(usd.rate(Currency::EUR), Some(dec("0.96219")));
    assert_eq!(usd.rate(Currency::GBP), Some(dec("0.80446")));
    assert_eq!(usd.rate(Currency::IDR), Some(Decimal::from(16300)));
    assert_eq!(usd.rate(Currency::JPY), Some(dec("154.9")));

    // Printed as `5.9e-05`: the adapter reads the exponent exactly.
    let idr = frankfurter.latest(Currency::IDR).await.unwrap();
    assert_eq!(idr.rate(Currency::EUR), Some(dec("0.000059")));
    assert_eq!(idr.rate(Currency::USD), Some(dec("0.000061")));
}

#[tokio::test]
async fn the_adapter_reports_injected_faults() {
    let (sandbox, url) = served(sandbox()).await;
    let frankfurter = over_http(&url);

    sandbox.handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let err = frankfurter.latest(Currency::USD).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(503),
            message: "service unavailable".into(),
            retry_after: None,
        }
    );

    sandbox.handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(9),
        ..FaultPlan::default()
    });
    let err = frankfurter.latest(Currency::USD).await.unwrap_err();
    assert_eq!(err.code(), "RATE_LIMITED");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(9)));

    sandbox.handle.set_faults(FaultPlan {
        malformed_body: true,
        ..FaultPlan::default()
    });
    let err = frankfurter.latest(Currency::USD).await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}

// --- the sandbox on the wire ------------------------------------------------------------------

enum Match {
    /// The body is the fixture, byte for byte.
    Bytes,
    /// The body is the fixture's JSON (the fixture is pretty-printed).
    Json,
}

/// Every Frankfurter fixture, asked of the sandbox. All of them can be reproduced: the dataset
/// holds the 2023-04-06 and 2024-08-12 days as captured, and the real ECB rates of the January
/// 2025 days the derived fixtures were computed from (with USD, TRY and ZAR of 2025-01-31 taken
/// from the AUD capture, see the dataset's header).
#[tokio::test]
async fn the_sandbox_replays_every_fixture() {
    let (_sandbox, url) = served(sandbox()).await;
    let cases: &[(&str, u16, &str, Match)] = &[
        ("/v1/2023-04-06", 200, LATEST_EUR_2023_04_06, Match::Bytes),
        ("/v1/2024-08-12", 200, LATEST_EUR_2024_08_12, Match::Json),
        (
            "/v1/latest?from=AUD",
            200,
            LATEST_AUD_2025_01_31,
            Match::Bytes,
        ),
        (
            "/v1/2025-01-31?base=AUD",
            200,
            LATEST_AUD_2025_01_31,
            Match::Bytes,
        ),
        ("/v1/currencies", 200, CURRENCIES, Match::Bytes),
        (
            "/v1/2025-01-31?symbols=CHF,GBP",
            200,
            DATE_SYMBOLS,
            Match::Bytes,
        ),
        (
            "/v1/2025-01-31?amount=100&base=GBP&symbols=CHF,JPY",
            200,
            DATE_AMOUNT_BASE_SYMBOLS,
            Match::Bytes,
        ),
        (
            "/v1/2025-01-02..2025-01-10?symbols=CHF,GBP,JPY",
            200,
            SERIES,
            Match::Bytes,
        ),
        (
            "/v1/2025-01-04..2025-01-10?symbols=GBP",
            200,
            SERIES_FROM_A_WEEKEND,
            Match::Bytes,
        ),
        (
            "/v1/2025-01-06..2025-01-08?base=GBP&symbols=CHF,EUR,JPY",
            200,
            SERIES_REBASED,
            Match::Bytes,
        ),
        ("/v1/latest?base=XYZ", 404, NOT_FOUND, Match::Bytes),
        (
            "/v1/latest?from=USD&to=USD",
            422,
            BAD_CURRENCY_PAIR,
            Match::Bytes,
        ),
        ("/v1/latest?amount=0", 422, INVALID_AMOUNT, Match::Bytes),
        ("/v1/latest?amount=abc", 422, INVALID_AMOUNT, Match::Bytes),
        ("/v1/2024-13-45", 422, INVALID_DATE, Match::Bytes),
    ];
    for (path, status, fixture, matching) in cases {
        let (got_status, _, body) = get(&url, path).await;
        assert_eq!(got_status, *status, "{path}");
        match matching {
            Match::Bytes => assert_eq!(body, *fixture, "{path}"),
            Match::Json => assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap(),
                serde_json::from_str::<Value>(fixture).unwrap(),
                "{path}"
            ),
        }
    }
}

#[tokio::test]
async fn answers_carry_frankfurters_headers_and_no_rate_limit_headers() {
    let (_sandbox, url) = served(sandbox()).await;

    let (status, headers, _) = get(&url, "/v1/latest").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=86400");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers
            .keys()
            .all(|name| !name.as_str().contains("ratelimit") && name != "retry-after"),
        "{headers:?}"
    );

    for path in ["/v1/latest?base=XYZ", "/v1/2024-13-45", "/v1/nothing-here"] {
        let (status, headers, _) = get(&url, path).await;
        assert!(status >= 400, "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
    }
}

#[tokio::test]
async fn latest_is_the_newest_day_with_every_currency() {
    let (_sandbox, url) = served(sandbox()).await;

    let (_, _, body) = get(&url, "/v1/latest").await;
    let latest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(latest["amount"], 1.0);
    assert_eq!(latest["base"], "EUR");
    assert_eq!(latest["date"], "2025-01-31");
    let codes: Vec<&str> = latest["rates"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: Vec<&str> = Currency::ALL
        .iter()
        .map(|c| c.code())
        .filter(|c| *c != "EUR")
        .collect();
    assert_eq!(codes, expected);
    assert!(
        body.starts_with(
            r#"{"amount":1.0,"base":"EUR","date":"2025-01-31","rates":{"AUD":1.6702,"#
        )
    );

    let (_, _, current) = get(&url, "/v1/current").await;
    assert_eq!(current, body);
    let (_, _, future) = get(&url, "/v1/2999-01-01").await;
    assert_eq!(future, body);
}

#[tokio::test]
async fn a_date_answers_the_closest_business_day_on_or_before_it() {
    let (_sandbox, url) = served(sandbox()).await;

    let (_, _, saturday) = get(&url, "/v1/2025-01-04?symbols=GBP").await;
    assert_eq!(
        saturday,
        r#"{"amount":1.0,"base":"EUR","date":"2025-01-03","rates":{"GBP":0.82993}}"#
    );

    let (status, _, before) = get(&url, "/v1/2020-01-01").await;
    assert_eq!((status, before.as_str()), (404, NOT_FOUND));
}

#[tokio::test]
async fn parameters_are_read_as_frankfurter_reads_them() {
    let (_sandbox, url) = served(sandbox()).await;
    let cases = [
        // `from`/`to` win over `base`/`symbols`, codes are upper-cased.
        (
            "/v1/2025-01-31?base=USD&from=gbp&symbols=JPY&to=chf",
            r#"{"amount":1.0,"base":"GBP","date":"2025-01-31","rates":{"CHF":1.1302}}"#,
        ),
        // The last of repeated parameters wins.
        (
            "/v1/2025-01-31?symbols=JPY&symbols=GBP",
            r#"{"amount":1.0,"base":"EUR","date":"2025-01-31","rates":{"GBP":0.83608}}"#,
        ),
        // An amount is echoed as a float and rounds even a EUR answer.
        (
            "/v1/2025-01-31?amount=2.5&symbols=IDR,GBP",
            r#"{"amount":2.5,"base":"EUR","date":"2025-01-31","rates":{"GBP":2.0902,"IDR":42353}}"#,
        ),
        // Ruby's `to_f`: a number followed by anything.
        (
            "/v1/2025-01-31?amount=10abc&symbols=GBP",
            r#"{"amount":10.0,"base":"EUR","date":"2025-01-31","rates":{"GBP":8.3608}}"#,
        ),
        // Unknown symbols among known ones are left out.
        (
            "/v1/2025-01-31?symbols=GBP,XYZ",
            r#"{"amount":1.0,"base":"EUR","date":"2025-01-31","rates":{"GBP":0.83608}}"#,
        ),
        // EUR is among the symbols of another base only when asked for.
        (
            "/v1/2025-01-31?base=USD&symbols=EUR",
            r#"{"amount":1.0,"base":"USD","date":"2025-01-31","rates":{"EUR":0.96219}}"#,
        ),
    ];
    for (path, expected) in cases {
        let (status, _, body) = get(&url, path).await;
        assert_eq!((status, body.as_str()), (200, expected), "{path}");
    }
}

#[tokio::test]
async fn refusals_come_in_frankfurters_order() {
    let (_sandbox, url) = served(sandbox()).await;
    let cases = [
        // The amount is checked before the date, the date before the pair.
        ("/v1/2024-13-45?amount=0", 422, INVALID_AMOUNT),
        ("/v1/2024-02-30?from=USD&to=USD", 422, INVALID_DATE),
        ("/v1/latest?amount=-5", 422, INVALID_AMOUNT),
        ("/v1/latest?amount=", 422, INVALID_AMOUNT),
        // Only an explicit base makes a bad pair; EUR alone is just not a quote.
        ("/v1/latest?symbols=EUR", 404, NOT_FOUND),
        ("/v1/latest?symbols=XYZ", 404, NOT_FOUND),
        ("/v1/latest?base=USD&symbols=", 404, NOT_FOUND),
        // The January 2025 days of the dataset have no USD.
        ("/v1/2025-01-10?base=USD", 404, NOT_FOUND),
        ("/v1/2025-01-02..2025-01-10?base=USD", 404, NOT_FOUND),
        ("/v1/2025-01-10..2025-01-02", 404, NOT_FOUND),
    ];
    for (path, status, body) in cases {
        let got = get(&url, path).await;
        assert_eq!((got.0, got.2.as_str()), (status, body), "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_are_empty_404s() {
    let (_sandbox, url) = served(sandbox()).await;
    for path in [
        "/v1/nope",
        "/v1/2025-1-31",
        "/v1/2025-01-02..x",
        "/latest",
        "/v1/latest/",
    ] {
        let (status, _, body) = get(&url, path).await;
        assert_eq!((status, body.as_str()), (404, ""), "{path}");
    }
}

#[tokio::test]
async fn injected_faults_speak_frankfurters_error_shape() {
    let (sandbox, url) = served(sandbox()).await;
    sandbox.handle.set_faults(FaultPlan {
        error_rate: 1.0,
        error_status: Some(500),
        ..FaultPlan::default()
    });

    let (status, headers, body) = get(&url, "/v1/latest").await;

    assert_eq!(status, 500);
    assert_eq!(body, r#"{"message":"internal server error"}"#);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(sandbox.handle.counters()["GET /v1/latest"], 1);
}
