//! Logs and traces.
//!
//! * Logs go to stderr, filtered like `RUST_LOG` (default `info`), human-readable or JSON
//!   lines (`SWITCHYARD_LOG_FORMAT=json`). A line logged while serving a request carries its
//!   request span, and so its `request_id` (`src/http/trace.rs`).
//! * Traces are exported over OTLP/HTTP when the standard `OTEL_*` variables ask for it
//!   (`otlp.rs`); off otherwise. The spans: the HTTP request (`src/http/trace.rs`), the GraphQL
//!   operation and the resolvers that call providers (`src/graphql/tracing.rs`, on a second
//!   copy of the schema that runs only requests whose trace is sampled), each DataLoader
//!   batch, and each upstream attempt ([`spans`]).
//!   The W3C trace context is taken from clients and passed on to providers ([`propagation`]).

mod otlp;
pub mod propagation;
pub mod spans;

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

pub use propagation::trace_headers;
pub use spans::upstream_attempt;

/// Whether spans are being exported: set once by [`init`].
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported. Everything that only serves the export (trace context,
/// sampling checks, span names built at run time) is skipped when they are not.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// What [`init`] set up; [`Telemetry::shutdown`] exports the spans still buffered.
#[must_use = "call shutdown() before the process exits, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter. Blocks (up to the exporter's
    /// timeout): call it outside the async runtime, or on a blocking thread.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(%err, "traces: the last spans could not be exported");
        }
    }
}

/// Installs the process's subscriber: the log lines on stderr and, when configured, the
/// OTLP trace export. A second call (a test harness that already installed one) keeps the
/// subscriber in place and exports nothing.
pub fn init() -> anyhow::Result<Telemetry> {
    let provider = otlp::provider_from_env()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("SWITCHYARD_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colours only for a terminal: a file or a log collector gets plain text.
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // The JSON lines list every span the event is in (`spans`), so the request span's
    // `request_id` is on every line logged while serving a request.
    let lines = if json {
        lines.json().boxed()
    } else {
        lines.boxed()
    };
    // Its own filter, so that RUST_LOG shapes the log lines and not the traces: the gateway's
    // own spans, at INFO and above.
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("switchyard"))
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_filter(Targets::new().with_target("switchyard", LevelFilter::INFO))
    });
    let installed = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(traces)
        .try_init()
        .is_ok();
    EXPORTING.store(installed && provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry {
        provider: provider.filter(|_| installed),
    })
}
