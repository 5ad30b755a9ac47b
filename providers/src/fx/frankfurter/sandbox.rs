//! The simulated Frankfurter v1 API, running the real service's quote algorithm
//! (`lib/versions/v1/quote/*.rb`, `roundable.rb`, `query.rb`) over a small embedded ECB dataset
//! (`fixtures/frankfurter/sandbox-ecb-rates.csv`, whose header says where each value comes from).
//!
//! Endpoints: `GET /v1/latest` (alias `/v1/current`), `GET /v1/{YYYY-MM-DD}`,
//! `GET /v1/{start}..{end}` and `GET /v1/{start}..` (time series), `GET /v1/currencies`. Query
//! parameters: `base` or `from` (default EUR), `symbols` or `to` (comma list), `amount`
//! (`from`/`to` win over `base`/`symbols`; the last of repeated parameters wins; codes are
//! upper-cased).
//!
//! The algorithm, as Frankfurter runs it:
//! 1. parameters are checked in this order: `amount` (422 `invalid amount` unless it reads as a
//!    positive number, by Ruby's lenient `to_f`), the date (422 `invalid date`), then a base
//!    equal to the only symbol (422 `bad currency pair`);
//! 2. a date answers the dataset's closest day on or before it (a future date, and `latest`,
//!    answer the newest day); a time series also starts with the day on or before its start;
//! 3. each EUR rate of the day (only the symbols and the base, when symbols are given) is
//!    multiplied by `amount`; it is rounded when the base is not EUR or `amount` is not 1, else
//!    printed as stored;
//! 4. for another base, EUR joins the rates as `amount` (unless symbols leave it out), the
//!    base's own rate is taken out as the divisor, and every rate becomes
//!    `round(amount * rate / divisor)`; a day without the base, or with nothing left, is dropped;
//! 5. nothing left at all is a 404 `not found`.
//!
//! Rounding (`roundable.rb`): above 5000 an integer; above 80, 20, 1 and 0.0001 two, three,
//! four and five decimals; else six. Numbers print as Ruby prints floats (`1.0`, `0.59873`,
//! `5.9e-05`), the integers as integers. The arithmetic is exact decimal where Ruby's is binary
//! floating point, so a value that lands exactly on a rounding midpoint may differ in its last
//! digit from the real service; no fixture does.
//!
//! Headers: `content-type: application/json; charset=utf-8`, `access-control-allow-origin: *`,
//! `cache-control: public, max-age=86400` on 200s and `no-store` on errors. No rate limit and no
//! rate-limit headers (Frankfurter has none).
//!
//! Not simulated: ETags and 304s; days the dataset lacks (Frankfurter has every business day
//! since 1999; the sandbox answers a missing day with its closest earlier day, and a date before
//! its first day with 404); currencies the dataset lacks on a day (its early January 2025 days
//! have no USD, TRY or ZAR, so those bases are a 404 there); and the 14-day carry forward of a
//! currency missing from a day, which would change nothing here (those three were last seen
//! months earlier).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::sandbox::{Sandbox, SandboxApp};

/// The port the gateway's `sandbox` command serves Frankfurter on.
pub const DEFAULT_PORT: u16 = 9102;

const REFERENCE_RATES: &str = include_str!("../../../fixtures/frankfurter/sandbox-ecb-rates.csv");
/// The real `/v1/currencies` body, served as captured.
const CURRENCY_NAMES: &str = include_str!("../../../fixtures/frankfurter/verbatim/currencies.json");

const JSON: &str = "application/json; charset=utf-8";
const CACHE_ONE_DAY: &str = "public, max-age=86400";
const NO_STORE: &str = "no-store";
/// Every rate in the dataset is quoted against the euro.
const EUR: &str = "EUR";

/// Frankfurter's simulator.
pub fn sandbox() -> Sandbox {
    let app = SandboxApp::new();
    let handle = app.handle();
    let rates = Arc::new(ReferenceRates::parse(REFERENCE_RATES));
    let routes = Router::new()
        .route("/v1/latest", get(latest))
        .route("/v1/current", get(latest))
        .route("/v1/currencies", get(currencies))
        .route("/v1/{period}", get(period))
        .fallback(unmatched)
        .with_state(rates);
    Sandbox {
        router: app.into_router(routes, render_error),
        handle,
    }
}

/// Injected faults in Frankfurter's error shape. Its real 5xx and 429 bodies are unknown (they
/// come from the CDN in front of it); the sandbox keeps the `{"message":..}` shape for them.
fn render_error(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    let reason = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let mut response = json_response(status, message_body(&reason));
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

async fn currencies() -> Response {
    json_response(StatusCode::OK, CURRENCY_NAMES.to_owned())
}

/// A path that no route matches. The real body is not verified (WIRE-FORMATS.md §2.3); Roda's
/// v1 app, which has no `not_found` handler, is taken to answer an empty 404.
async fn unmatched() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CACHE_CONTROL, NO_STORE),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
    )
        .into_response()
}

async fn latest(State(rates): State<Arc<ReferenceRates>>, RawQuery(query): RawQuery) -> Response {
    let today = Utc::now().date_naive();
    respond(single_day(&rates, query.as_deref(), || Ok(today)))
}

async fn period(
    State(rates): State<Arc<ReferenceRates>>,
    Path(period): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match Period::parse(&period) {
        Some(Period::Day(date)) => {
            respond(single_day(&rates, query.as_deref(), || parse_date(date)))
        }
        Some(Period::Range { start, end }) => {
            respond(time_series(&rates, query.as_deref(), start, end))
        }
        None => unmatched().await,
    }
}

fn respond(answer: Result<String, Refusal>) -> Response {
    match answer {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(refusal) => json_response(refusal.status(), message_body(refusal.message())),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let cache_control = if status.is_success() {
        CACHE_ONE_DAY
    } else {
        NO_STORE
    };
    (
        status,
        [
            (header::CONTENT_TYPE, JSON),
            (header::CACHE_CONTROL, cache_control),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

fn message_body(message: &str) -> String {
    serde_json::json!({ "message": message }).to_string()
}

/// Why Frankfurter refuses a request; each is one fixed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotFound,
    InvalidAmount,
    InvalidDate,
    BadCurrencyPair,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::NotFound => "not found",
            Refusal::InvalidAmount => "invalid amount",
            Refusal::InvalidDate => "invalid date",
            Refusal::BadCurrencyPair => "bad currency pair",
        }
    }
}

/// The last path segment of a dated request, as Frankfurter's routes match it.
#[derive(Debug, PartialEq, Eq)]
enum Period<'a> {
    /// `YYYY-MM-DD`
    Day(&'a str),
    /// `YYYY-MM-DD..YYYY-MM-DD`, or `YYYY-MM-DD..` up to today.
    Range {
        start: &'a str,
        end: Option<&'a str>,
    },
}

impl<'a> Period<'a> {
    fn parse(segment: &'a str) -> Option<Self> {
        if looks_like_date(segment) {
            return Some(Period::Day(segment));
        }
        let (start, end) = segment.split_once("..")?;
        if !looks_like_date(start) {
            return None;
        }
        match end {
            "" => Some(Period::Range { start, end: None }),
            end if looks_like_date(end) => Some(Period::Range {
                start,
                end: Some(end),
            }),
            _ => None,
        }
    }
}

/// `\d{4}-\d{2}-\d{2}`: what the route matches; whether it is a real date is checked later, so
/// that `2024-13-45` is a 422 `invalid date` rather than an unknown path.
fn looks_like_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

fn parse_date(text: &str) -> Result<NaiveDate, Refusal> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| Refusal::InvalidDate)
}

fn single_day(
    rates: &ReferenceRates,
    query: Option<&str>,
    date: impl FnOnce() -> Result<NaiveDate, Refusal>,
) -> Result<String, Refusal> {
    let params = Params::parse(query)?;
    let date = date()?;
    params.check_pair()?;
    let (day, observations) = rates.day_on_or_before(date).ok_or(Refusal::NotFound)?;
    let quotes = params.quote(observations)?.ok_or(Refusal::NotFound)?;
    let mut body = format!(
        r#"{{"amount":{},"base":"{}","date":"{day}","rates":"#,
        ruby_float(params.amount),
        params.base()
    );
    write_rates(&mut body, &quotes);
    body.push('}');
    Ok(body)
}

fn time_series(
    rates: &ReferenceRates,
    query: Option<&str>,
    start: &str,
    end: Option<&str>,
) -> Result<String, Refusal> {
    let params = Params::parse(query)?;
    let start = parse_date(start)?;
    let end = match end {
        Some(end) => parse_date(end)?,
        None => Utc::now().date_naive(),
    };
    params.check_pair()?;
    let mut days = Vec::new();
    for (day, observations) in rates.days_from_on_or_before(start, end) {
        if let Some(quotes) = params.quote(observations)? {
            days.push((day, quotes));
        }
    }
    let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) else {
        return Err(Refusal::NotFound);
    };
    let mut body = format!(
        r#"{{"amount":{},"base":"{}","start_date":"{first}","end_date":"{last}","rates":{{"#,
        ruby_float(params.amount),
        params.base()
    );
    for (i, (day, quotes)) in days.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(r#""{day}":"#));
        write_rates(&mut body, quotes);
    }
    body.push_str("}}");
    Ok(body)
}

fn write_rates(body: &mut String, quotes: &[(&str, Printed)]) {
    body.push('{');
    for (i, (code, value)) in quotes.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(r#""{code}":{value}"#));
    }
    body.push('}');
}

/// The ECB's daily reference rates, quoted against the euro.
#[derive(Debug, Default)]
struct ReferenceRates {
    days: BTreeMap<NaiveDate, Vec<Observation>>,
}

#[derive(Debug)]
struct Observation {
    currency: &'static str,
    rate: Decimal,
    /// The value as the dataset writes it, which is how a plain EUR answer prints it.
    text: &'static str,
}

impl ReferenceRates {
    /// Reads the ECB `csvdata` rows (`D,USD,2025-01-31,1.0393`); other lines (comments, the
    /// header) are skipped.
    fn parse(csv: &'static str) -> Self {
        let mut days: BTreeMap<NaiveDate, Vec<Observation>> = BTreeMap::new();
        for line in csv.lines() {
            let mut fields = line.split(',');
            let (Some("D"), Some(currency), Some(date), Some(text), None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                continue;
            };
            let (Ok(date), Ok(rate)) = (
                NaiveDate::parse_from_str(date, "%Y-%m-%d"),
                text.parse::<Decimal>(),
            ) else {
                continue;
            };
            days.entry(date).or_default().push(Observation {
                currency,
                rate,
                text,
            });
        }
        for observations in days.values_mut() {
            observations.sort_by_key(|o| o.currency);
        }
        ReferenceRates { days }
    }

    fn day_on_or_before(&self, date: NaiveDate) -> Option<(NaiveDate, &[Observation])> {
        self.days
            .range(..=date)
            .next_back()
            .map(|(day, observations)| (*day, observations.as_slice()))
    }

    /// The days of `start..=end`, led by the day on or before `start` when `start` itself has
    /// no rates (a series asked from a Saturday starts on the Friday).
    fn days_from_on_or_before(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> impl Iterator<Item = (NaiveDate, &[Observation])> {
        let from = self
            .days
            .range(..=start)
            .next_back()
            .map_or(start, |(day, _)| *day);
        let days = if from <= end {
            Some(self.days.range(from..=end))
        } else {
            None
        };
        days.into_iter()
            .flatten()
            .map(|(day, observations)| (*day, observations.as_slice()))
    }
}

/// A request's query, as Frankfurter's `Query` reads it.
#[derive(Debug, PartialEq)]
struct Params {
    /// Ruby's `to_f` of `amount`; 1 when absent.
    amount: Decimal,
    /// Upper-cased `from` or `base`; `None` (EUR) when neither is given.
    base: Option<String>,
    /// Upper-cased `to` or `symbols`, split on commas; `None` for every currency.
    symbols: Option<Vec<String>>,
}

impl Params {
    fn parse(query: Option<&str>) -> Result<Self, Refusal> {
        // Rack keeps the last of repeated parameters.
        let pairs: HashMap<String, String> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let amount = match pairs.get("amount") {
            None => Decimal::ONE,
            Some(text) => match ruby_to_f(text) {
                Some(amount) if amount > Decimal::ZERO => amount,
                _ => return Err(Refusal::InvalidAmount),
            },
        };
        let base = pairs
            .get("from")
            .or_else(|| pairs.get("base"))
            .map(|base| base.to_uppercase());
        let symbols = pairs
            .get("to")
            .or_else(|| pairs.get("symbols"))
            .map(|symbols| ruby_split_commas(&symbols.to_uppercase()));
        Ok(Params {
            amount,
            base,
            symbols,
        })
    }

    fn base(&self) -> &str {
        self.base.as_deref().unwrap_or(EUR)
    }

    /// `?from=USD&to=USD`. Only an explicit base counts: `?symbols=EUR` alone is a 404, not a
    /// bad pair.
    fn check_pair(&self) -> Result<(), Refusal> {
        match (&self.base, &self.symbols) {
            (Some(base), Some(symbols)) if symbols.len() == 1 && symbols[0] == *base => {
                Err(Refusal::BadCurrencyPair)
            }
            _ => Ok(()),
        }
    }

    fn wants(&self, currency: &str) -> bool {
        self.symbols
            .as_ref()
            .is_none_or(|symbols| symbols.iter().any(|s| s == currency))
    }

    /// One day's rates from the base, sorted by currency; `None` when the day has nothing to
    /// say about this base and these symbols. An `amount` so large or small that the exact
    /// arithmetic overflows is refused as invalid (Ruby would answer `Infinity` or fail).
    fn quote<'d>(
        &self,
        observations: &'d [Observation],
    ) -> Result<Option<Vec<(&'d str, Printed)>>, Refusal> {
        let base = self.base();
        let rebase = base != EUR;
        let round_values = rebase || self.amount != Decimal::ONE;
        let mut rates: BTreeMap<&'d str, QuoteValue> = BTreeMap::new();
        for observation in observations {
            if !(observation.currency == base || self.wants(observation.currency)) {
                continue;
            }
            let value = if round_values {
                round(checked(self.amount.checked_mul(observation.rate))?)
            } else {
                QuoteValue {
                    value: observation.rate,
                    printed: Printed::Stored(observation.text),
                }
            };
            rates.insert(observation.currency, value);
        }
        if !rebase {
            return Ok(if rates.is_empty() {
                None
            } else {
                Some(rates.into_iter().map(|(c, r)| (c, r.printed)).collect())
            });
        }
        if self.wants(EUR) {
            rates.insert(
                EUR,
                QuoteValue {
                    value: self.amount,
                    printed: Printed::Float(self.amount),
                },
            );
        }
        let Some(divisor) = rates.remove(base) else {
            return Ok(None);
        };
        if rates.is_empty() || divisor.value.is_zero() {
            return Ok(None);
        }
        let mut quotes = Vec::with_capacity(rates.len());
        for (currency, rate) in rates {
            let value = checked(
                self.amount
                    .checked_mul(rate.value)
                    .and_then(|v| v.checked_div(divisor.value)),
            )?;
            quotes.push((currency, round(value).printed));
        }
        Ok(Some(quotes))
    }
}

fn checked(value: Option<Decimal>) -> Result<Decimal, Refusal> {
    value.ok_or(Refusal::InvalidAmount)
}

/// A value of a quote (rounded or as stored), and how it prints.
#[derive(Debug, Clone, Copy, PartialEq)]
struct QuoteValue {
    value: Decimal,
    printed: Printed,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Printed {
    /// The dataset's own text.
    Stored(&'static str),
    /// A Ruby `Float`.
    Float(Decimal),
    /// A Ruby `Integer` (`Float#round` with no digits).
    Integer(Decimal),
}

impl std::fmt::Display for Printed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Printed::Stored(text) => f.write_str(text),
            Printed::Float(value) => f.write_str(&ruby_float(*value)),
            Printed::Integer(value) => write!(f, "{}", value.normalize()),
        }
    }
}

/// `Roundable#round`: integers above 5000 (`Float#round`, half away from zero), else a fixed
/// number of decimals by size (`format("%.Nf")`, whose ties go to even).
fn round(value: Decimal) -> QuoteValue {
    if value > Decimal::from(5000) {
        let value = value.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        return QuoteValue {
            value,
            printed: Printed::Integer(value),
        };
    }
    let decimals = if value > Decimal::from(80) {
        2
    } else if value > Decimal::from(20) {
        3
    } else if value > Decimal::ONE {
        4
    } else if value > Decimal::new(1, 4) {
        5
    } else {
        6
    };
    let value = value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointNearestEven);
    QuoteValue {
        value,
        printed: Printed::Float(value),
    }
}

/// How Ruby's `Float#to_s` writes a value: at least one decimal (`100.0`), plain notation for
/// magnitudes in `1e-4 ..< 1e16`, else `d.ddde±XX` (`5.9e-05`).
fn ruby_float(value: Decimal) -> String {
    let value = value.normalize();
    if value.is_zero() {
        return "0.0".to_owned();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    let digits = value.mantissa().unsigned_abs().to_string();
    // value = 0.<digits> × 10^point; an integer's trailing zeros are in the exponent, not digits.
    let point = digits.len() as i64 - i64::from(value.scale());
    let digits = digits.trim_end_matches('0');
    let body = if point > 0 && point <= 16 {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    } else if point <= 0 && point > -4 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{first}.{rest}e{:+03}", point - 1)
    };
    format!("{sign}{body}")
}

/// Ruby's `String#to_f`: the longest leading decimal number (`" 10abc"` is 10, `"1_000"` is
/// 1000, `"abc"` is 0). `None` when the number does not fit a [`Decimal`].
fn ruby_to_f(text: &str) -> Option<Decimal> {
    let bytes = text.trim_start().as_bytes();
    let mut number = String::new();
    let mut i = 0;
    if let Some(sign @ (b'+' | b'-')) = bytes.first() {
        if *sign == b'-' {
            number.push('-');
        }
        i = 1;
    }
    let mut digits = 0;
    i = take_digits(bytes, i, &mut number, &mut digits);
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
        number.push('.');
        i = take_digits(bytes, i + 1, &mut number, &mut digits);
    }
    if digits == 0 {
        return Some(Decimal::ZERO);
    }
    if let Some(b'e' | b'E') = bytes.get(i) {
        let mut j = i + 1;
        let mut exponent = String::from("e");
        if let Some(sign @ (b'+' | b'-')) = bytes.get(j) {
            exponent.push(char::from(*sign));
            j += 1;
        }
        let mut exponent_digits = 0;
        take_digits(bytes, j, &mut exponent, &mut exponent_digits);
        if exponent_digits > 0 {
            number.push_str(&exponent);
            return Decimal::from_scientific(&number).ok();
        }
    }
    number.parse().ok()
}

/// Digits, with single underscores between digits as Ruby allows (`1_000`).
fn take_digits(bytes: &[u8], mut i: usize, out: &mut String, count: &mut usize) -> usize {
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_digit() {
            out.push(char::from(b));
            *count += 1;
            i += 1;
        } else if b == b'_'
            && i > 0
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Ruby's `split(",")`, which drops trailing empty fields (`"".split(",")` is `[]`).
fn ruby_split_commas(text: &str) -> Vec<String> {
    let mut fields: Vec<String> = text.split(',').map(str::to_owned).collect();
    while fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    fields
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn floats_print_as_ruby_prints_them() {
        let cases = [
            ("1", "1.0"),
            ("100", "100.0"),
            ("2.5", "2.5"),
            ("0.59873", "0.59873"),
            ("0.0001", "0.0001"),
            ("0.000059", "5.9e-05"),
            ("0.00001", "1.0e-05"),
            ("10000000000000000", "1.0e+16"),
            ("1234567890123456", "1234567890123456.0"),
        ];
        for (value, printed) in cases {
            let value: Decimal = value.parse().unwrap();
            assert_eq!(ruby_float(value), printed, "{value}");
        }
    }

    #[test]
    fn amounts_read_as_ruby_to_f_reads_them() {
        let cases = [
            ("100", Some("100")),
            (" 10abc", Some("10")),
            ("1_000", Some("1000")),
            ("1__0", Some("1")),
            ("2.5e2", Some("250")),
            ("1e", Some("1")),
            (".5", Some("0.5")),
            ("-3", Some("-3")),
            ("abc", Some("0")),
            ("", Some("0")),
            ("1e400", None),
        ];
        for (text, value) in cases {
            let value = value.map(|v| v.parse::<Decimal>().unwrap());
            assert_eq!(ruby_to_f(text), value, "{text:?}");
        }
    }

    #[test]
    fn rounding_follows_the_size_of_the_value() {
        let cases = [
            ("19254.87", "19255"),
            ("5000.4", "5000"),
            ("4999.996", "5000.0"),
            ("113.0128", "113.01"),
            ("22.31170", "22.312"),
            ("1.130712", "1.1307"),
            ("0.598731", "0.59873"),
            ("0.0000590278", "5.9e-05"),
        ];
        for (value, printed) in cases {
            let value: Decimal = value.parse().unwrap();
            assert_eq!(round(value).printed.to_string(), printed, "{value}");
        }
    }

    #[test]
    fn periods_match_like_the_routes() {
        assert_eq!(Period::parse("2025-01-31"), Some(Period::Day("2025-01-31")));
        assert_eq!(
            Period::parse("2025-01-02..2025-01-10"),
            Some(Period::Range {
                start: "2025-01-02",
                end: Some("2025-01-10")
            })
        );
        assert_eq!(
            Period::parse("2025-01-02.."),
            Some(Period::Range {
                start: "2025-01-02",
                end: None
            })
        );
        assert_eq!(Period::parse("2025-1-31"), None);
        assert_eq!(Period::parse("2025-01-02..x"), None);
        assert_eq!(Period::parse("latest2"), None);
    }

    #[test]
    fn the_dataset_has_every_currency_on_its_newest_day() {
        let rates = ReferenceRates::parse(REFERENCE_RATES);
        assert_eq!(rates.days.len(), 10);
        let (day, observations) = rates.day_on_or_before(NaiveDate::MAX).unwrap();
        assert_eq!(day.to_string(), "2025-01-31");
        let codes: Vec<&str> = observations.iter().map(|o| o.currency).collect();
        let expected: Vec<&str> = crate::domain::Currency::ALL
            .iter()
            .map(|c| c.code())
            .filter(|c| *c != EUR)
            .collect();
        assert_eq!(codes, expected);
    }
}
