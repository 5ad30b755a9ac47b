//! ExchangeRate-API: the adapter on the real body and error bodies, the adapter against the
//! sandbox over HTTP, and the sandbox's wire behaviour.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use http::{HeaderValue, Method, header};
use rust_decimal::Decimal;
use serde_json::Value;

use super::sandbox::with_quota;
use super::{ErApi, QUOTA_WINDOW, sandbox};
use crate::capability::ExchangeRates;
use crate::domain::{Currency, Rates};
use crate::error::ProviderError;
use crate::fx::test_support::{dec, get, served};
use crate::sandbox::FaultPlan;
use crate::transport::http_testing::HttpTransport;
use crate::transport::testing::{FnTransport, json};
use crate::transport::{UpstreamRequest, UpstreamResponse};

const LATEST_USD: &str = include_str!("../../../fixtures/open-er-api/latest-USD-2024-08-19.json");
const UNSUPPORTED_CODE: &str =
    include_str!("../../../fixtures/open-er-api/error-unsupported-code.json");

/// The adapter over a transport that always gives `answer`.
fn answering(
    answer: impl Fn() -> Result<UpstreamResponse, ProviderError> + Send + Sync + 'static,
) -> (ErApi, FnTransport) {
    let transport = FnTransport::new(move |_: &UpstreamRequest| answer());
    (ErApi::new(Arc::new(transport.clone())), transport)
}

fn error_body(error_type: &str) -> String {
    format!(r#"{{"result":"error","error-type":"{error_type}"}}"#)
}

// --- the adapter on real bodies -------------------------------------------------------------

#[tokio::test]
async fn reads_the_real_body_keeping_only_the_currencies_switchyard_prices_in() {
    let (erapi, transport) = answering(|| Ok(json(200, LATEST_USD)));

    let rates = erapi.latest(Currency::USD).await.unwrap();
    // What the gateway's shared cache stores comes back the same.
    let stored = serde_json::to_string(&rates).unwrap();
    assert_eq!(serde_json::from_str::<Rates>(&stored).unwrap(), rates);

    assert_eq!(rates.base, Currency::USD);
    assert_eq!(rates.source, "erapi");
    // `time_last_update_unix` 1724025751 is 2024-08-19 00:02:31 UTC.
    assert_eq!(rates.date, NaiveDate::from_ymd_opt(2024, 8, 19).unwrap());
    // `time_next_update_unix` 1724112381 (Tue, 20 Aug 2024 00:06:21 +0000): the cache keeps
    // the rates fresh until then.
    assert_eq!(
        rates.next_update.map(|at| at.to_rfc2822()),
        Some("Tue, 20 Aug 2024 00:06:21 +0000".to_owned())
    );
    // 162 codes in the body; 30 are Switchyard currencies other than the base.
    assert_eq!(rates.rates.len(), 30);
    assert!(rates.rates.iter().all(|(c, _)| *c != Currency::USD));
    assert!(rates.rates.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    assert_eq!(rates.rate(Currency::EUR), Some(dec("0.907539")));
    assert_eq!(rates.rate(Currency::GBP), Some(dec("0.773358")));
    assert_eq!(rates.rate(Currency::JPY), Some(dec("148.042596")));
    assert_eq!(rates.rate(Currency::IDR), Some(dec("15688.05663")));

    let sent = transport.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, Method::GET);
    assert_eq!(sent[0].path_and_query, "/v6/latest/USD");
    assert_eq!(sent[0].endpoint, "GET /v6/latest/{base}");
}

#[tokio::test]
async fn reads_whole_values_written_as_ints_and_drops_the_base() {
    // The capture's ints (`"BBD":2`, `"CUP":24`) are all outside the Currency set; this body has
    // them where the adapter keeps them.
    let body = r#"{"result":"success","time_last_update_unix":1724025751,"base_code":"DKK","rates":{"DKK":1,"EUR":0.134,"ISK":20,"SEK":2,"FOK":1}}"#;
    let (erapi, _) = answering(move || Ok(json(200, body)));

    let rates = erapi.latest(Currency::DKK).await.unwrap();

    assert_eq!(
        rates.rates,
        [
            (Currency::EUR, dec("0.134")),
            (Currency::ISK, Decimal::from(20)),
            (Currency::SEK, Decimal::from(2)),
        ]
    );
}

#[tokio::test]
async fn error_results_are_read_whatever_their_status() {
    let cases: Vec<(&str, UpstreamResponse, ProviderError)> = vec![
        (
            "unsupported code, 200",
            json(200, UNSUPPORTED_CODE),
            ProviderError::BadInput("ExchangeRate-API error `unsupported-code`".into()),
        ),
        (
            "unsupported code, 404",
            json(404, UNSUPPORTED_CODE),
            ProviderError::BadInput("ExchangeRate-API error `unsupported-code`".into()),
        ),
        (
            "quota reached",
            json(200, error_body("quota-reached")),
            ProviderError::RateLimited {
                message: "ExchangeRate-API error `quota-reached`".into(),
                retry_after: None,
            },
        ),
        (
            "invalid key",
            json(403, error_body("invalid-key")),
            ProviderError::Auth("ExchangeRate-API error `invalid-key`".into()),
        ),
        (
            "malformed request",
            json(400, error_body("malformed-request")),
            ProviderError::BadResponse("ExchangeRate-API error `malformed-request`".into()),
        ),
        (
            "an error type it may add",
            json(200, error_body("something-new")),
            ProviderError::BadResponse("ExchangeRate-API error `something-new`".into()),
        ),
    ];
    for (case, response, expected) in cases {
        let (erapi, _) = answering(move || Ok(response.clone()));
        let err = erapi.latest(Currency::EUR).await.unwrap_err();
        assert_eq!(err, expected, "{case}");
    }
}

#[tokio::test]
async fn statuses_speak_when_the_body_cannot() {
    let mut limited = json(429, "");
    limited
        .headers
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1200"));
    let cases: Vec<(&str, Result<UpstreamResponse, ProviderError>, ProviderError)> = vec![
        (
            "rate limited",
            Ok(limited),
            ProviderError::RateLimited {
                message: "Too Many Requests".into(),
                retry_after: Some(Duration::from_secs(1200)),
            },
        ),
        (
            "server error",
            Ok(json(502, "<html>502 Bad Gateway</html>")),
            ProviderError::Unavailable {
                status: Some(502),
                message: "Bad Gateway".into(),
                retry_after: None,
            },
        ),
        (
            "not found page",
            Ok(json(404, "<html>not here</html>")),
            ProviderError::NotFound("Not Found".into()),
        ),
        (
            "timeout",
            Err(ProviderError::Timeout),
            ProviderError::Timeout,
        ),
    ];
    for (case, answer, expected) in cases {
        let (erapi, _) = answering(move || answer.clone());
        let err = erapi.latest(Currency::EUR).await.unwrap_err();
        assert_eq!(err, expected, "{case}");
    }
}

#[tokio::test]
async fn bodies_that_break_the_contract_are_bad_responses() {
    let bodies = [
        ("html", "<html><body>oops</body></html>".to_owned()),
        ("truncated", LATEST_USD[..LATEST_USD.len() / 2].to_owned()),
        ("other base", LATEST_USD.to_owned()),
        ("unknown result", r#"{"result":"pending"}"#.to_owned()),
        (
            "quoted rate",
            r#"{"result":"success","time_last_update_unix":1724025751,"base_code":"EUR","rates":{"EUR":1,"USD":"1.1"}}"#
                .to_owned(),
        ),
        (
            "zero rate",
            r#"{"result":"success","time_last_update_unix":1724025751,"base_code":"EUR","rates":{"EUR":1,"USD":0}}"#
                .to_owned(),
        ),
        (
            "impossible update time",
            r#"{"result":"success","time_last_update_unix":9223372036854775807,"base_code":"EUR","rates":{"EUR":1}}"#
                .to_owned(),
        ),
        (
            "no update time",
            r#"{"result":"success","base_code":"EUR","rates":{"EUR":1}}"#.to_owned(),
        ),
    ];
    for (case, body) in bodies {
        let (erapi, _) = answering(move || Ok(json(200, body.clone())));
        let err = erapi.latest(Currency::EUR).await.unwrap_err();
        assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE", "{case}: {err}");
    }
}

// --- the adapter against the sandbox ----------------------------------------------------------

fn over_http(base_url: &str) -> ErApi {
    ErApi::new(Arc::new(HttpTransport::new(base_url)))
}

#[tokio::test]
async fn the_adapter_reads_the_sandbox_for_every_base() {
    let (sandbox, url) = served(sandbox()).await;
    let erapi = over_http(&url);

    for base in Currency::ALL {
        let rates = erapi.latest(*base).await.unwrap();
        assert_eq!(rates.base, *base);
        assert_eq!(rates.date, NaiveDate::from_ymd_opt(2024, 8, 19).unwrap());
        assert_eq!(rates.rates.len(), 30, "{base}");
        assert!(rates.rates.iter().all(|(c, _)| c != base), "{base}");
    }
    assert_eq!(sandbox.handle.counters()["GET /v6/latest/{base}"], 31);

    let usd = erapi.latest(Currency::USD).await.unwrap();
    assert_eq!(usd.rate(Currency::EUR), Some(dec("0.907539")));
    let eur = erapi.latest(Currency::EUR).await.unwrap();
    assert_eq!(eur.rate(Currency::USD), Some(dec("1.101881")));
    assert_eq!(eur.rate(Currency::GBP), Some(dec("0.852149")));
    assert_eq!(eur.rate(Currency::JPY), Some(dec("163.125327")));
    assert_eq!(eur.rate(Currency::IDR), Some(dec("17286.371858")));
}

#[tokio::test]
async fn the_adapter_reports_injected_faults() {
    let (sandbox, url) = served(sandbox()).await;
    let erapi = over_http(&url);

    sandbox.handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let err = erapi.latest(Currency::EUR).await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_UNAVAILABLE");

    sandbox.handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(60),
        ..FaultPlan::default()
    });
    let err = erapi.latest(Currency::EUR).await.unwrap_err();
    assert_eq!(err.code(), "RATE_LIMITED");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));

    sandbox.handle.set_faults(FaultPlan {
        truncated_body: true,
        ..FaultPlan::default()
    });
    let err = erapi.latest(Currency::EUR).await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}

// --- the sandbox on the wire ------------------------------------------------------------------

#[tokio::test]
async fn usd_is_the_captured_body_byte_for_byte() {
    let (_sandbox, url) = served(sandbox()).await;

    let (status, headers, body) = get(&url, "/v6/latest/USD").await;

    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, LATEST_USD);
}

#[tokio::test]
async fn other_bases_are_the_snapshot_rebased_base_first() {
    let (_sandbox, url) = served(sandbox()).await;

    let (status, _, body) = get(&url, "/v6/latest/eur").await;
    assert_eq!(status, 200);
    let latest: Value = serde_json::from_str(&body).unwrap();
    let captured: Value = serde_json::from_str(LATEST_USD).unwrap();

    let keys: Vec<&str> = latest
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let captured_keys: Vec<&str> = captured
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, captured_keys, "same fields, same order");
    assert_eq!(latest["base_code"], "EUR");
    assert_eq!(
        latest["time_last_update_unix"],
        captured["time_last_update_unix"]
    );

    let codes: Vec<&str> = latest["rates"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(codes.len(), 162);
    assert_eq!(codes[0], "EUR");
    assert!(
        codes[1..].windows(2).all(|w| w[0] < w[1]),
        "then alphabetical"
    );
    assert!(
        body.contains(r#""rates":{"EUR":1,"AED":4.046658,"#),
        "{body}"
    );
    assert!(body.contains(r#""USD":1.101881,"#));
    assert!(body.contains(r#""BBD":2.203762,"#));

    // A weak base keeps six significant digits rather than six decimals.
    let (_, _, irr) = get(&url, "/v6/latest/IRR").await;
    assert!(irr.contains(r#""USD":0.0000237703,"#), "{irr}");
}

#[tokio::test]
async fn unknown_bases_and_paths_are_refused_in_its_error_shape() {
    let (_sandbox, url) = served(sandbox()).await;

    let (status, headers, body) = get(&url, "/v6/latest/XYZ").await;
    assert_eq!((status, body.as_str()), (404, UNSUPPORTED_CODE));
    assert_eq!(headers["content-type"], "application/json");

    let (status, _, body) = get(&url, "/v6/latest").await;
    assert_eq!(
        (status, body.as_str()),
        (
            404,
            r#"{"result":"error","error-type":"malformed-request"}"#
        )
    );
}

#[tokio::test]
async fn over_quota_is_a_429_until_the_window_restarts() {
    let (sandbox, url) = served(with_quota(3, QUOTA_WINDOW)).await;
    for _ in 0..3 {
        assert_eq!(get(&url, "/v6/latest/USD").await.0, 200);
    }

    let (status, headers, body) = get(&url, "/v6/latest/USD").await;
    assert_eq!(status, 429);
    assert_eq!(body, r#"{"result":"error","error-type":"quota-reached"}"#);
    assert!(headers.get("retry-after").is_none());
    // Unknown bases count too: the limiter stands in front of the API.
    assert_eq!(get(&url, "/v6/latest/XYZ").await.0, 429);

    sandbox.handle.set_faults(FaultPlan {
        quota_off: true,
        ..FaultPlan::default()
    });
    assert_eq!(get(&url, "/v6/latest/USD").await.0, 200);

    sandbox.handle.set_faults(FaultPlan::default());
    assert_eq!(get(&url, "/v6/latest/USD").await.0, 429);
    sandbox.handle.reset();
    assert_eq!(get(&url, "/v6/latest/USD").await.0, 200);
}

#[tokio::test]
async fn injected_faults_speak_its_error_shape() {
    let (sandbox, url) = served(sandbox()).await;

    sandbox.handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(30),
        ..FaultPlan::default()
    });
    let (status, headers, body) = get(&url, "/v6/latest/USD").await;
    assert_eq!(status, 429);
    assert_eq!(body, r#"{"result":"error","error-type":"quota-reached"}"#);
    assert_eq!(headers["retry-after"], "30");

    sandbox.handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let (status, _, body) = get(&url, "/v6/latest/USD").await;
    assert_eq!((status, body.as_str()), (503, "Service Unavailable"));
}
