//! `GET /status`: the providers' health as a page for people, rendered on the server from
//! the same values as the `providers` query. One self-contained document: inline CSS and
//! SVG, no script, no other request (its Content-Security-Policy allows nothing else); it
//! reloads itself every few seconds (`<meta http-equiv="refresh">`).
//!
//! Per provider: breaker, quota, last error; and where the gateway shows them (development
//! profile, or a request with the admin API's bearer token) its traffic over the last
//! 5 minutes (attempts, error rate, latency p50/p99, cache hit ratio), its spend against its
//! budgets, and two sparklines over the last 15 minutes (latency; error rate). In the
//! production profile the page shows no more than `/readyz` does.
//!
//! Markup is maud's: every value is escaped as it is written.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::AppState;
use super::admin::{AdminToken, admin_token};
use crate::graphql::provider_status::{
    BreakerState, DEFAULT_MINUTES, ProviderSpend, ProviderStatus, TrafficPoint, statuses,
};
use crate::upstream::health::Exposure;
use crate::upstream::window::SPAN;

/// Seconds between the page's reloads.
const REFRESH_S: u32 = 5;
/// Nothing but the document itself and its inline styles (SVG is markup, not a load).
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Sparkline size, in SVG user units (pixels at 1:1).
const CHART_W: f64 = 176.0;
const CHART_H: f64 = 40.0;

/// `GET /status`: the page, never cached (it is read live and reloads itself).
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let upstreams = &state.providers.upstreams;
    let exposure = match upstreams.exposure {
        Exposure::Readiness
            if admin_token(&state.admin_token_env, &headers) == AdminToken::Valid =>
        {
            Exposure::Full
        }
        exposure => exposure,
    };
    let numbers_over = Duration::from_secs(DEFAULT_MINUTES as u64 * 60);
    let providers = statuses(upstreams, numbers_over, exposure);
    let charts: HashMap<String, Vec<TrafficPoint>> = match exposure {
        Exposure::Full => statuses(upstreams, SPAN, exposure)
            .into_iter()
            .filter_map(|s| Some((s.name, s.traffic?.series)))
            .collect(),
        Exposure::Readiness => HashMap::new(),
    };
    let body = render(&providers, &charts, chrono::Utc::now()).into_string();
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::VARY, HeaderValue::from_static("authorization"));
    response
}

/// The whole document; `charts` holds the 15-minute series by provider (empty: no detail).
pub fn render(
    providers: &[ProviderStatus],
    charts: &HashMap<String, Vec<TrafficPoint>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let count = |state: BreakerState| providers.iter().filter(|p| p.breaker == state).count();
    let detailed = providers.iter().any(|p| p.traffic.is_some());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(REFRESH_S);
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No favicon request.
                link rel="icon" href="data:,";
                title { "Switchyard · provider status" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "Switchyard " span { "provider status" } }
                    p.summary {
                        (providers.len()) " providers · "
                        (tally(count(BreakerState::Closed), "closed", "ok")) " · "
                        (tally(count(BreakerState::HalfOpen), "half-open", "warn")) " · "
                        (tally(count(BreakerState::Open), "open", "bad"))
                    }
                    p.meta {
                        @if detailed {
                            "Numbers over the last " (DEFAULT_MINUTES) " min, charts over the last "
                            (SPAN.as_secs() / 60) " min · "
                        } @else {
                            "Traffic, latency and spend are not shown in the production profile · "
                        }
                        "updated " (now.format("%H:%M:%S UTC")) " · refreshes every "
                        (REFRESH_S) " s"
                    }
                }
                main {
                    @for provider in providers {
                        (card(provider, charts.get(&provider.name).map(Vec::as_slice), now))
                    }
                }
            }
        }
    }
}

fn card(
    p: &ProviderStatus,
    series: Option<&[TrafficPoint]>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let (state_class, state_text) = match p.breaker {
        BreakerState::Closed => ("closed", "closed"),
        BreakerState::HalfOpen => ("half-open", "half-open"),
        BreakerState::Open => ("open", "open"),
    };
    html! {
        section.card.(state_class) data-provider=(p.name) data-breaker=(breaker_name(p.breaker)) {
            div.head {
                h2 { (p.name) }
                @if p.critical { span.badge { "critical" } }
                span.pill.(state_class) data-field="breaker" {
                    "breaker " (state_text)
                    @if let Some(ms) = p.breaker_retry_after_ms {
                        " · probe in " (seconds(ms))
                    }
                }
            }
            dl {
                @if let Some(t) = &p.traffic {
                    (stat("w3", "requests", "requests", t.requests, html! { (t.requests) }))
                    (stat("w2", "errors", "error-rate", t.errors, html! { (percent(t.error_rate)) }))
                    div.w4 {
                        dt { "latency p50 / p99" }
                        dd data-field="latency" { (latency_pair(t.latency_p50_ms, t.latency_p99_ms)) }
                    }
                    (stat("w3", "cache hits", "cache-hit-ratio", t.cache_hits, html! { (percent(t.cache_hit_ratio)) }))
                }
                div.w3 {
                    dt { "quota left" }
                    dd data-field="quota" {
                        @match &p.quota {
                            Some(q) => {
                                (q.remaining)
                                @if let Some(limit) = q.limit { " / " (limit) }
                            },
                            None => span.none title="no quota configured or reported" { "—" },
                        }
                    }
                }
                @if let Some(spend) = &p.spend {
                    (money("w4", "spend today", "spend-today", &spend.today, spend.daily_budget.as_deref(), spend))
                    (money("w5", "spend this month", "spend-month", &spend.this_month, spend.monthly_budget.as_deref(), spend))
                }
            }
            @if let Some(series) = series {
                div.charts {
                    (latency_chart(series))
                    (error_chart(series))
                }
            }
            p.last-error data-field="last-error" {
                @match &p.last_error {
                    Some(e) => {
                        "last error " code { (e.code) } " " (ago(&e.at, now)) " · " span.message title=(e.message) { (e.message) }
                    },
                    None => span.none { "no error since start" },
                }
            }
        }
    }
}

/// "3 open", coloured unless none.
fn tally(n: usize, what: &str, level: &str) -> Markup {
    let level = if n == 0 { "zero" } else { level };
    html! { span.(level) { (n) " " (what) } }
}

fn stat(width: &str, label: &str, field: &str, count: i32, shown: Markup) -> Markup {
    html! {
        div.(width) {
            dt { (label) }
            dd data-field=(field) data-count=(count) { (shown) }
        }
    }
}

fn money(
    width: &str,
    label: &str,
    field: &str,
    spent: &str,
    budget: Option<&str>,
    spend: &ProviderSpend,
) -> Markup {
    let share = budget
        .and_then(|b| Some(spent.parse::<f64>().ok()? / b.parse::<f64>().ok()?))
        .filter(|s| s.is_finite());
    let level = match share {
        Some(s) if s >= 1.0 => "bad",
        Some(s) if s >= 0.8 => "warn",
        _ => "ok",
    };
    html! {
        div.(width) {
            dt { (label) }
            dd data-field=(field) data-amount=(spent) {
                (rounded(spent))
                @if let Some(budget) = budget { " / " (rounded(budget)) }
                " " (spend.currency)
                @if let Some(share) = share {
                    span.meter {
                        span.(level) style={ "width:" (format!("{:.0}", share.clamp(0.0, 1.0) * 100.0)) "%" } {}
                    }
                }
            }
        }
    }
}

/// Latency p50 (solid) and p99 (faint) over the series, with the attempts per slot as bars
/// behind them.
fn latency_chart(series: &[TrafficPoint]) -> Markup {
    let top = nice_ceiling(
        series
            .iter()
            .filter_map(|p| p.latency_p99_ms.or(p.latency_p50_ms))
            .fold(0.0, f64::max),
    );
    let most_requests = series.iter().map(|p| p.requests).max().unwrap_or(0).max(1);
    let bar_w = CHART_W / series.len().max(1) as f64;
    let y = |ms: f64| CHART_H - (ms / top).clamp(0.0, 1.0) * CHART_H;
    let p50: Vec<Option<f64>> = series.iter().map(|p| p.latency_p50_ms.map(y)).collect();
    let p99: Vec<Option<f64>> = series.iter().map(|p| p.latency_p99_ms.map(y)).collect();
    let label = format!(
        "latency p50 and p99 over the last {} min, scale up to {}",
        SPAN.as_secs() / 60,
        latency(Some(top))
    );
    html! {
        figure.chart {
            figcaption { "latency p50 / " span.p99 { "p99" } span.scale { "≤ " (latency(Some(top))) } }
            svg.latency xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(label)
                viewBox={ "0 0 " (CHART_W) " " (CHART_H) } width=(CHART_W) height=(CHART_H) {
                @for (i, point) in series.iter().enumerate() {
                    @if point.requests > 0 {
                        @let h = f64::from(point.requests) / f64::from(most_requests) * CHART_H * 0.9;
                        rect.volume x=(fmt(i as f64 * bar_w + 0.5)) y=(fmt(CHART_H - h))
                            width=(fmt((bar_w - 1.0).max(0.5))) height=(fmt(h)) {}
                    }
                }
                (line(&p99, "p99"))
                (line(&p50, "p50"))
            }
            div.axis { span { "−" (SPAN.as_secs() / 60) " min" } span { "now" } }
        }
    }
}

/// The share of failed attempts per slot, as bars on a 0–100 % scale; a slot with attempts
/// and no error shows a green tick.
fn error_chart(series: &[TrafficPoint]) -> Markup {
    let bar_w = CHART_W / series.len().max(1) as f64;
    let worst = series
        .iter()
        .filter_map(|p| p.error_rate)
        .fold(0.0, f64::max);
    let label = format!(
        "error rate over the last {} min, worst {}",
        SPAN.as_secs() / 60,
        percent(Some(worst))
    );
    html! {
        figure.chart {
            figcaption { "error rate" span.scale { "worst " (percent(Some(worst))) } }
            svg.errors xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(label)
                viewBox={ "0 0 " (CHART_W) " " (CHART_H) } width=(CHART_W) height=(CHART_H) {
                line.grid x1="0" y1=(fmt(CHART_H / 2.0)) x2=(CHART_W) y2=(fmt(CHART_H / 2.0)) {}
                @for (i, point) in series.iter().enumerate() {
                    @match point.error_rate {
                        Some(rate) if rate > 0.0 => {
                            @let h = (rate.clamp(0.0, 1.0) * CHART_H).max(1.5);
                            rect.failed x=(fmt(i as f64 * bar_w + 0.5)) y=(fmt(CHART_H - h))
                                width=(fmt((bar_w - 1.0).max(0.5))) height=(fmt(h)) {}
                        },
                        Some(_) => {
                            rect.fine x=(fmt(i as f64 * bar_w + 0.5)) y=(fmt(CHART_H - 1.5))
                                width=(fmt((bar_w - 1.0).max(0.5))) height="1.5" {}
                        },
                        None => {},
                    }
                }
            }
            div.axis { span { "−" (SPAN.as_secs() / 60) " min" } span { "now" } }
        }
    }
}

/// A polyline through the points that have a value, broken where a slot has none; a lone
/// point is drawn as a dot.
fn line(ys: &[Option<f64>], class: &str) -> Markup {
    let step = CHART_W / ys.len().max(1) as f64;
    let x = |i: usize| i as f64 * step + step / 2.0;
    let mut path = String::new();
    let mut dots = Vec::new();
    for (i, y) in ys.iter().enumerate() {
        let Some(y) = y else { continue };
        let joined = i > 0 && ys[i - 1].is_some();
        let continues = ys.get(i + 1).is_some_and(Option::is_some);
        if joined {
            path.push_str(&format!(" L{} {}", fmt(x(i)), fmt(*y)));
        } else if continues {
            path.push_str(&format!(" M{} {}", fmt(x(i)), fmt(*y)));
        } else {
            dots.push((x(i), *y));
        }
    }
    html! {
        @if !path.is_empty() { path.(class) d=(path.trim_start()) {} }
        @for (cx, cy) in dots { circle.(class) cx=(fmt(cx)) cy=(fmt(cy)) r="1.6" {} }
    }
}

fn breaker_name(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "CLOSED",
        BreakerState::HalfOpen => "HALF_OPEN",
        BreakerState::Open => "OPEN",
    }
}

/// 1, 2 or 5 times a power of ten, at least `value` (and at least 1 ms).
fn nice_ceiling(value: f64) -> f64 {
    let value = value.max(1.0);
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= value)
        .unwrap_or(value)
}

/// "1.2 / 8.0 ms", "40 ms / 1.20 s": the unit once when both are in ms.
fn latency_pair(p50: Option<f64>, p99: Option<f64>) -> String {
    match (p50, p99) {
        (Some(p50), Some(p99)) if p99 < 1000.0 => {
            let p50 = latency(Some(p50));
            format!("{} / {}", p50.trim_end_matches(" ms"), latency(Some(p99)))
        }
        (p50, p99) => format!("{} / {}", latency(p50), latency(p99)),
    }
}

/// An exact amount as people read it: cents from 1 up, four decimals at most below.
fn rounded(amount: &str) -> String {
    let Ok(value) = amount.parse::<f64>() else {
        return amount.to_owned();
    };
    if value >= 1000.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}").trim_end_matches(".00").to_owned()
    } else {
        let short = format!("{value:.4}");
        let short = short.trim_end_matches('0').trim_end_matches('.');
        if short == "0" && value > 0.0 {
            "< 0.0001".to_owned()
        } else {
            short.to_owned()
        }
    }
}

fn latency(ms: Option<f64>) -> String {
    match ms {
        None => "—".to_owned(),
        Some(ms) if ms >= 1000.0 => format!("{:.2} s", ms / 1000.0),
        Some(ms) if ms >= 10.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{ms:.1} ms"),
    }
}

fn percent(share: Option<f64>) -> String {
    match share {
        None => "—".to_owned(),
        Some(s) if s == 0.0 || s >= 0.1 => format!("{:.0} %", s * 100.0),
        Some(s) => format!("{:.1} %", s * 100.0),
    }
}

fn seconds(ms: i32) -> String {
    format!("{} s", (ms + 999) / 1000)
}

/// "12 s ago", "3 min ago", "2 h ago"; the timestamp itself when it does not parse.
fn ago(at: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(then) = chrono::DateTime::parse_from_rfc3339(at) else {
        return at.to_owned();
    };
    let secs = (now - then.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

/// SVG coordinates with one decimal.
fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

const STYLE: &str = r#"
:root { --ok: #1a7f37; --warn: #b26b00; --bad: #cf222e; --ink: #1f2328; --muted: #656d76;
  --line: #d0d7de; --card: #ffffff; --bg: #f3f5f8; --p50: #0969da; --p99: #8cb8f0; }
* { box-sizing: border-box; }
body { margin: 0; padding: 18px 22px; background: var(--bg); color: var(--ink);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
header { display: flex; align-items: baseline; gap: 18px; flex-wrap: wrap; margin-bottom: 14px; }
h1 { font-size: 20px; margin: 0; }
h1 span { font-weight: 400; color: var(--muted); }
.summary { margin: 0; font-weight: 600; }
.meta { margin: 0 0 0 auto; color: var(--muted); font-size: 12px; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.zero { color: var(--muted); font-weight: 400; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(390px, 1fr)); gap: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--ok);
  border-radius: 8px; padding: 12px 14px; }
.card.half-open { border-left-color: var(--warn); }
.card.open { border-left-color: var(--bad); background: #fff8f8; }
.head { display: flex; align-items: center; gap: 8px; }
h2 { font-size: 16px; margin: 0; }
.badge { font-size: 11px; border: 1px solid var(--line); border-radius: 10px; padding: 0 7px;
  color: var(--muted); }
.pill { margin-left: auto; font-size: 12px; font-weight: 600; border-radius: 12px; padding: 2px 10px;
  color: #fff; background: var(--ok); }
.pill.half-open { background: var(--warn); } .pill.open { background: var(--bad); }
dl { display: grid; grid-template-columns: repeat(12, 1fr); gap: 6px 6px; margin: 10px 0 6px; }
dl div { min-width: 0; }
.w2 { grid-column: span 2; } .w3 { grid-column: span 3; } .w4 { grid-column: span 4; }
.w5 { grid-column: span 5; }
dt { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.none { color: var(--muted); font-weight: 400; }
.meter { display: block; height: 4px; background: #eaeef2; border-radius: 2px; margin-top: 2px; }
.meter span { display: block; height: 4px; border-radius: 2px; background: var(--ok); }
.meter span.warn { background: var(--warn); } .meter span.bad { background: var(--bad); }
.charts { display: flex; gap: 12px; }
.chart { margin: 4px 0 0; }
figcaption { font-size: 11px; color: var(--muted); display: flex; gap: 4px; }
figcaption .p99 { color: var(--p99); }
figcaption .scale { margin-left: auto; }
svg { display: block; background: #fafbfc; border: 1px solid #eaeef2; border-radius: 4px; }
svg .volume { fill: #e6e9ee; }
svg path { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
svg path.p50 { stroke: var(--p50); } svg path.p99 { stroke: var(--p99); }
svg circle.p50 { fill: var(--p50); } svg circle.p99 { fill: var(--p99); }
svg .failed { fill: var(--bad); } svg .fine { fill: #8fd19e; }
svg .grid { stroke: #eaeef2; stroke-dasharray: 2 3; }
.axis { display: flex; justify-content: space-between; font-size: 10px; color: var(--muted); }
.last-error { margin: 6px 0 0; font-size: 12px; color: var(--muted); white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.last-error code { color: var(--bad); font-weight: 600; }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::provider_status::{ProviderFailure, ProviderQuota, ProviderTraffic};

    fn provider(name: &str, breaker: BreakerState) -> ProviderStatus {
        ProviderStatus {
            name: name.to_owned(),
            critical: true,
            breaker,
            breaker_retry_after_ms: None,
            quota: Some(ProviderQuota {
                remaining: 7,
                limit: Some(10),
            }),
            last_error: None,
            traffic: None,
            spend: None,
        }
    }

    #[test]
    fn every_string_is_escaped() {
        let mut p = provider("<script>alert(1)</script>", BreakerState::Open);
        p.last_error = Some(ProviderFailure {
            code: "UPSTREAM_UNAVAILABLE".into(),
            message: "\"><img src=x onerror=alert(1)>".into(),
            at: "not a time".into(),
        });
        let page = render(&[p], &HashMap::new(), chrono::Utc::now()).into_string();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn charts_draw_lines_bars_and_lone_points() {
        let point = |requests, errors, p50: Option<f64>| TrafficPoint {
            start: String::new(),
            requests,
            errors,
            error_rate: (requests > 0).then(|| f64::from(errors) / f64::from(requests)),
            latency_p50_ms: p50,
            latency_p99_ms: p50.map(|v| v * 2.0),
        };
        let series = vec![
            point(0, 0, None),
            point(4, 0, Some(3.0)),
            point(4, 2, Some(5.0)),
            point(0, 0, None),
            point(1, 1, Some(40.0)),
        ];
        let mut p = provider("catalog", BreakerState::Closed);
        p.traffic = Some(ProviderTraffic {
            minutes: 5.0,
            requests: 9,
            errors: 3,
            error_rate: Some(1.0 / 3.0),
            latency_p50_ms: Some(4.0),
            latency_p99_ms: Some(80.0),
            cache_hits: 0,
            cache_misses: 0,
            cache_hit_ratio: None,
            series: series.clone(),
        });
        let charts = HashMap::from([("catalog".to_owned(), series)]);
        let page = render(&[p], &charts, chrono::Utc::now()).into_string();
        assert_eq!(page.matches("<path class=\"p50\"").count(), 1, "{page}");
        assert_eq!(page.matches("<circle class=\"p50\"").count(), 1);
        assert_eq!(page.matches("<rect class=\"failed\"").count(), 2);
        assert_eq!(page.matches("<rect class=\"fine\"").count(), 1);
        assert_eq!(page.matches("<rect class=\"volume\"").count(), 3);
        assert!(page.contains("≤ 100 ms"), "p99 of 80 ms scales to 100 ms");
        assert!(page.contains("data-field=\"error-rate\" data-count=\"3\">33 %"));
    }

    #[test]
    fn without_traffic_the_page_has_no_numbers_or_charts() {
        let page = render(
            &[provider("catalog", BreakerState::HalfOpen)],
            &HashMap::new(),
            chrono::Utc::now(),
        )
        .into_string();
        assert!(page.contains(r#"data-breaker="HALF_OPEN""#));
        assert!(page.contains("7 / 10"), "{page}");
        for detail in [
            "<svg",
            "data-field=\"requests\"",
            "data-field=\"spend-today\"",
        ] {
            assert!(!page.contains(detail), "{detail}: {page}");
        }
        assert!(page.contains("not shown in the production profile"));
    }

    fn holds_admin_token(var: &str, headers: &HeaderMap) -> bool {
        admin_token(var, headers) == AdminToken::Valid
    }

    #[test]
    fn only_the_admin_token_itself_unlocks_the_page() {
        const VAR: &str = "SWITCHYARD_UNIT_STATUS_TOKEN";
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(
            !holds_admin_token(VAR, &with("Bearer s3cret")),
            "variable unset"
        );
        // SAFETY: no other test reads this variable.
        unsafe { std::env::set_var(VAR, "s3cret") };
        assert!(holds_admin_token(VAR, &with("Bearer s3cret")));
        assert!(!holds_admin_token(VAR, &with("Bearer s3cre")));
        assert!(!holds_admin_token(VAR, &with("Basic s3cret")));
        assert!(!holds_admin_token(VAR, &HeaderMap::new()));
    }

    #[test]
    fn numbers_read_as_people_expect() {
        assert_eq!(latency(Some(0.84)), "0.8 ms");
        assert_eq!(latency(Some(42.4)), "42 ms");
        assert_eq!(latency(Some(1250.0)), "1.25 s");
        assert_eq!(latency(None), "—");
        assert_eq!(percent(Some(0.0)), "0 %");
        assert_eq!(percent(Some(0.005)), "0.5 %");
        assert_eq!(percent(Some(0.5)), "50 %");
        assert_eq!(nice_ceiling(0.3), 1.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(480.0), 500.0);
        assert_eq!(seconds(28_001), "29 s");
        assert_eq!(latency_pair(Some(1.23), Some(12.0)), "1.2 / 12 ms");
        assert_eq!(latency_pair(Some(40.0), Some(1200.0)), "40 ms / 1.20 s");
        assert_eq!(latency_pair(None, None), "— / —");
        assert_eq!(rounded("0.008"), "0.008");
        assert_eq!(rounded("0.000002"), "< 0.0001");
        assert_eq!(rounded("0"), "0");
        assert_eq!(rounded("25"), "25");
        assert_eq!(rounded("12.345678"), "12.35");
        assert_eq!(rounded("2500.5"), "2500");
        let now = chrono::Utc::now();
        let earlier = (now - chrono::TimeDelta::seconds(125)).to_rfc3339();
        assert_eq!(ago(&earlier, now), "2 min ago");
    }
}
