//! OTLP trace export, set up only from the standard OpenTelemetry variables:
//!
//! * on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set (or
//!   `OTEL_TRACES_EXPORTER=otlp`, to the default `http://localhost:4318`); off when none is,
//!   when `OTEL_TRACES_EXPORTER=none`, or when `OTEL_SDK_DISABLED=true`;
//! * the exporter reads the rest of `OTEL_EXPORTER_OTLP_*` (headers, timeout, compression),
//!   the SDK `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` (default: parent-based, always on)
//!   and `OTEL_BSP_*` (batching), and the resource `OTEL_SERVICE_NAME` (default
//!   `switchyard`) and `OTEL_RESOURCE_ATTRIBUTES`.
//!
//! Only HTTP with protobuf bodies is spoken. Spans are exported by the SDK's batch processor,
//! on its own thread, through reqwest's blocking client: the pairing that processor supports
//! (an async client would need the SDK's experimental async-runtime processor). It is the
//! project's reqwest 0.13 with ring-based rustls, so no second TLS stack is built.

use anyhow::Context as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

const DEFAULT_SERVICE_NAME: &str = "switchyard";

/// The tracer provider the environment asks for, or `None` when traces are not exported.
pub(super) fn provider_from_env() -> anyhow::Result<Option<SdkTracerProvider>> {
    if !wanted(&|name| std::env::var(name).ok()) {
        return Ok(None);
    }
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .context("OTEL_EXPORTER_OTLP_*: cannot set up the OTLP trace exporter")?;
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build(),
    ))
}

/// Whether the variables ask for an OTLP trace export.
fn wanted(var: &dyn Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return false;
    }
    match var("OTEL_TRACES_EXPORTER") {
        Some(exporters) if !exporters.trim().is_empty() => exporters
            .split(',')
            .any(|e| e.trim().eq_ignore_ascii_case("otlp")),
        _ => set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT"),
    }
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), named `switchyard`
/// unless those name it.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let mut builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if !named {
        builder = builder.with_service_name(DEFAULT_SERVICE_NAME);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn wanted_with(vars: &[(&str, &str)]) -> bool {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted(&|name| vars.get(name).cloned())
    }

    #[test]
    fn export_is_on_only_when_an_endpoint_or_the_otlp_exporter_is_named() {
        assert!(!wanted_with(&[]));
        assert!(!wanted_with(&[("OTEL_SERVICE_NAME", "shop")]));
        assert!(!wanted_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]));
        assert!(wanted_with(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4318"
        )]));
        assert!(wanted_with(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces"
        )]));
        assert!(wanted_with(&[("OTEL_TRACES_EXPORTER", "console, otlp")]));
    }

    #[test]
    fn none_and_a_disabled_sdk_turn_it_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert!(!wanted_with(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]));
        assert!(!wanted_with(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]));
        assert!(wanted_with(&[endpoint, ("OTEL_SDK_DISABLED", "false")]));
    }
}
