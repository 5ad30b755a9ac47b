//! How long the upstream says its answer stays fresh (`Cache-Control: max-age`, `no-store`,
//! `no-cache`, `Expires`), carried from the HTTP client up to the entity cache that stores the
//! answer. A task-local, like the deadline: the cache scopes a fetch with [`capture`] and the
//! client [`report`]s every successful answer inside it; the shortest freshness wins.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use http::header::{CACHE_CONTROL, EXPIRES};

tokio::task_local! {
    static SINK: Arc<Mutex<Option<Duration>>>;
}

/// Runs `future` and returns what the upstream answers inside it said of their freshness.
pub async fn capture<F: Future>(future: F) -> (F::Output, Option<Duration>) {
    let sink = Arc::new(Mutex::new(None));
    let output = SINK.scope(sink.clone(), future).await;
    let freshness = *sink.lock().unwrap_or_else(|e| e.into_inner());
    (output, freshness)
}

/// Notes the freshness of a successful answer, if a fetch is capturing it.
pub fn report(headers: &HeaderMap) {
    if let Some(fresh) = freshness(headers) {
        note(fresh);
    }
}

/// Notes a freshness the answer's content gives (provider metadata, such as when the
/// provider publishes next), if a fetch is capturing it.
pub fn note(fresh: Duration) {
    let _ = SINK.try_with(|sink| {
        let mut current = sink.lock().unwrap_or_else(|e| e.into_inner());
        *current = Some(current.map_or(fresh, |c| c.min(fresh)));
    });
}

/// `Cache-Control` wins over `Expires` (RFC 9111 §5.3).
fn freshness(headers: &HeaderMap) -> Option<Duration> {
    if let Some(cc) = headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        let mut max_age = None;
        for directive in cc.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                max_age = secs
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
        if max_age.is_some() {
            return max_age;
        }
    }
    let expires = headers.get(EXPIRES)?.to_str().ok()?;
    let at = chrono::DateTime::parse_from_rfc2822(expires.trim()).ok()?;
    let left = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(left.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[tokio::test]
    async fn the_shortest_reported_freshness_wins() {
        let ((), fresh) = capture(async {
            report(&headers(&[("cache-control", "public, max-age=86400")]));
            report(&headers(&[("cache-control", "max-age=5")]));
            report(&headers(&[]));
        })
        .await;
        assert_eq!(fresh, Some(Duration::from_secs(5)));
    }

    #[test]
    fn directives_and_expires_are_read() {
        assert_eq!(
            freshness(&headers(&[("cache-control", "no-store")])),
            Some(Duration::ZERO)
        );
        assert_eq!(freshness(&headers(&[("cache-control", "private")])), None);
        assert_eq!(freshness(&headers(&[("expires", "garbage")])), None);
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let left = freshness(&headers(&[("expires", &later)])).unwrap();
        assert!(left > Duration::from_secs(110) && left <= Duration::from_secs(120));
        assert_eq!(
            freshness(&headers(&[
                ("cache-control", "max-age=60"),
                ("expires", &later)
            ])),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn reports_outside_a_capture_are_ignored() {
        report(&headers(&[("cache-control", "max-age=5")]));
    }
}
