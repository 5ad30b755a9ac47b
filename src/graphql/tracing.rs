//! The GraphQL operation's span (`graphql.operation`: its name, type and errors), and, in
//! sampled traces only, a `graphql.resolve` span around each field that calls a provider
//! (those `limits::cost::PROVIDER_CALLS` prices). DataLoader batches started by a field are
//! children of its span (`loaders::on_tick`).
//!
//! The schema has the extension only while traces are exported: with any extension at all,
//! async-graphql sends every field through its extension path, which costs a warm storefront
//! query about 0.2 ms (a fifth of its time) whatever the extension does. Within it an
//! unsampled request pays one flag test per field.
//!
//! Written as a small extension rather than async-graphql's `opentelemetry` feature, which
//! pins an older OpenTelemetry than the one the gateway exports with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use ::tracing::Instrument as _;
use ::tracing::field::Empty;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Value, Variables};

use super::limits::cost::PROVIDER_CALLS;
use crate::telemetry::spans::{is_sampled, otel_fields};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The extension: register it on the schema.
pub struct OperationSpans;

impl ExtensionFactory for OperationSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationTrace::default())
    }
}

/// One request's state.
#[derive(Default)]
struct OperationTrace {
    /// Whether the request's trace is sampled: resolver spans only then.
    sampled: AtomicBool,
    /// The `operationName` the request asked for, to pick its operation from the document.
    asked: OnceLock<String>,
}

#[async_trait::async_trait]
impl Extension for OperationTrace {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = ::tracing::info_span!(
            "graphql.operation",
            "graphql.operation.name" = Empty,
            "graphql.operation.type" = Empty,
            "graphql.errors" = Empty,
            "graphql.error.codes" = Empty,
            "otel.status_code" = Empty,
        );
        self.sampled.store(is_sampled(&span), Ordering::Relaxed);
        let response = next.run(ctx).instrument(span.clone()).await;
        if !response.errors.is_empty() {
            span.record("graphql.errors", response.errors.len());
            span.record("graphql.error.codes", error_codes(&response).as_str());
            otel_fields(&span, &[("otel.status_code", "ERROR")]);
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Some(name) = &request.operation_name {
            let _ = self.asked.set(name.clone());
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        // Called within `request`: the current span is the operation's.
        if let Some((name, ty)) = selected(&document, self.asked.get().map(String::as_str)) {
            let span = ::tracing::Span::current();
            let ty = match ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            span.record("graphql.operation.type", ty);
            if let Some(name) = name {
                span.record("graphql.operation.name", name);
            }
            if crate::telemetry::exporting() {
                let title = match name {
                    Some(name) => format!("{ty} {name}"),
                    None => ty.to_owned(),
                };
                // Renamed on the started span: `request` started it to learn the sampling.
                span.context().span().update_name(title);
            }
        }
        Ok(document)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !self.sampled.load(Ordering::Relaxed) || !calls_provider(info.parent_type, info.name) {
            return next.run(ctx, info).await;
        }
        let span = ::tracing::info_span!(
            "graphql.resolve",
            "otel.name" = %format_args!("{}.{}", info.parent_type, info.name),
            "graphql.field.path" = %info.path_node,
            "graphql.field.type" = info.return_type,
        );
        next.run(ctx, info).instrument(span).await
    }
}

/// The operation `asked` names (or the document's only one): its name and type.
fn selected<'a>(
    document: &'a ExecutableDocument,
    asked: Option<&str>,
) -> Option<(Option<&'a str>, OperationType)> {
    match (&document.operations, asked) {
        (DocumentOperations::Single(operation), _) => Some((None, operation.node.ty)),
        (DocumentOperations::Multiple(operations), Some(asked)) => operations
            .get_key_value(asked)
            .map(|(name, operation)| (Some(name.as_str()), operation.node.ty)),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .iter()
            .next()
            .map(|(name, operation)| (Some(name.as_str()), operation.node.ty)),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Whether resolving `parent.field` may call a provider.
fn calls_provider(parent: &str, field: &str) -> bool {
    PROVIDER_CALLS
        .iter()
        .any(|(coordinate, _)| coordinate.split_once('.') == Some((parent, field)))
}

/// The distinct `extensions.code`s of the response's errors, comma-separated.
fn error_codes(response: &Response) -> String {
    let mut codes: Vec<&str> = response
        .errors
        .iter()
        .filter_map(|e| match e.extensions.as_ref()?.get("code")? {
            Value::String(code) => Some(code.as_str()),
            Value::Enum(code) => Some(code.as_str()),
            _ => None,
        })
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fields_priced_as_provider_calls_get_resolver_spans() {
        assert!(calls_provider("Query", "products"));
        assert!(calls_provider("Product", "stock"));
        assert!(!calls_provider("Product", "title"));
        assert!(!calls_provider("[Product!]", "stock"));
        assert!(!calls_provider("Query", "__schema"));
    }

    #[test]
    fn the_selected_operation_is_the_asked_one_or_the_only_one() {
        let parse = |q: &str| async_graphql::parser::parse_query(q).unwrap();
        let single = parse("{ products { totalCount } }");
        assert_eq!(selected(&single, None), Some((None, OperationType::Query)));
        let named = parse("query Storefront { products { totalCount } }");
        assert_eq!(
            selected(&named, None),
            Some((Some("Storefront"), OperationType::Query))
        );
        let two = parse("query A { categories { slug } } query B { categories { name } }");
        assert_eq!(selected(&two, None), None);
        assert_eq!(
            selected(&two, Some("B")),
            Some((Some("B"), OperationType::Query))
        );
        assert_eq!(selected(&two, Some("C")), None);
    }
}
