//! Trace export through the OpenTelemetry SDK: spans as OTLP/HTTP protobuf, batched, to a
//! collector over plain HTTP or TLS. Configured by the standard `OTEL_*` variables
//! (endpoint, headers, timeout, sampler, resource, batching, CA and client certificates);
//! `log.otlp_endpoint` and `log.service_name`, when set, win over them, as code-set values do
//! in every OpenTelemetry SDK. Off unless an endpoint is configured one way or the other, and
//! always off with `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
//!
//! Root spans join the caller's W3C trace (`traceparent`): they become children of the
//! caller's span, or, without one, take the trace id the gateway started for the request (the
//! one it sends upstream and logs), so that logs, upstream calls and traces share one id.
mod transport;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Whether a provider is installed: `join_trace` costs nothing when export is off.
static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The trace id the next root span started on this thread must take.
    static NEXT_TRACE: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Random ids, except a root span's trace id when `join_trace` has one for it.
#[derive(Debug, Default)]
struct RequestTraceIds(RandomIdGenerator);

impl IdGenerator for RequestTraceIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// The running export. Dropping it flushes the spans not yet sent (bounded by the export
/// timeout), so a gateway stopped by SIGTERM loses none.
pub struct Export {
    provider: SdkTracerProvider,
}

impl Export {
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("reportgate")
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        ENABLED.store(false, Ordering::Relaxed);
        let _ = self.provider.shutdown();
    }
}

/// Where spans go: the configured endpoint (used as given, e.g. `…/v1/traces`), or `None`
/// for the `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` variables (resolved by the exporter: the
/// general one gets `/v1/traces` appended). `Err` when export is off.
fn endpoint(
    configured: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, &'static str> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Err("OTEL_SDK_DISABLED=true");
    }
    if set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none") {
        return Err("OTEL_TRACES_EXPORTER=none");
    }
    match configured.filter(|e| !e.trim().is_empty()) {
        Some(e) => Ok(Some(e.to_owned())),
        None if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() =>
        {
            Ok(None)
        }
        None => Err("no endpoint"),
    }
}

/// The service name: configured, else the environment's (`OTEL_SERVICE_NAME`, or
/// `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, which the SDK reads), else `reportgate`.
fn resource(configured: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Resource {
    let from_env = env("OTEL_SERVICE_NAME").is_some_and(|v| !v.trim().is_empty())
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|v| {
            v.split(',')
                .any(|kv| kv.trim_start().starts_with("service.name="))
        });
    let builder = Resource::builder();
    match configured.filter(|s| !s.trim().is_empty()) {
        Some(name) => builder.with_service_name(name.to_owned()),
        None if from_env => builder,
        None => builder.with_service_name("reportgate"),
    }
    .build()
}

/// Starts export when it is configured. `Ok(None)`: off. `Err`: configured but unusable
/// (an unreadable certificate file, a malformed endpoint), said once at start.
pub fn start(
    configured_endpoint: Option<&str>,
    configured_service: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Export>, String> {
    let Ok(endpoint) = endpoint(configured_endpoint, env) else {
        return Ok(None);
    };
    let transport = transport::AwcTransport::start(env)?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(transport)
        .with_protocol(Protocol::HttpBinary);
    if let Some(e) = endpoint {
        builder = builder.with_endpoint(e);
    }
    let exporter = builder.build().map_err(|e| e.to_string())?;
    // The batch processor reads OTEL_BSP_*, the provider OTEL_TRACES_SAMPLER(_ARG) and the
    // span limits, the exporter OTEL_EXPORTER_OTLP_[TRACES_]{HEADERS,TIMEOUT,COMPRESSION}.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(RequestTraceIds::default())
        .with_resource(resource(configured_service, env))
        .build();
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Some(Export { provider }))
}

/// The trace id the OpenTelemetry span of a request's root span must take (the one the
/// gateway started for a request without `traceparent`), kept on the root span.
struct RequestTrace(TraceId);

/// Puts a request's root span in its W3C trace. `trace_id` is the request's (the caller's,
/// or the one the gateway started); `traceparent` is the caller's header, whose span becomes
/// the parent when it belongs to that trace. A caller's unsampled flag is honoured by the
/// default (parent-based) sampler.
pub fn join_trace(span: &tracing::Span, trace_id: &str, traceparent: Option<&str>) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Ok(trace) = TraceId::from_hex(trace_id) else {
        return;
    };
    let caller = traceparent.and_then(|h| {
        let parts: Vec<&str> = h.trim().split('-').collect();
        match parts.as_slice() {
            [_, t, s, flags] if *t == trace_id => Some((
                SpanId::from_hex(s).ok()?,
                u8::from_str_radix(flags, 16).ok()? & 1 == 1,
            )),
            _ => None,
        }
    });
    match caller {
        Some((parent, sampled)) => {
            let flags = if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            let cx = SpanContext::new(trace, parent, flags, true, TraceState::default());
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(cx));
        }
        // The OpenTelemetry span is started later (when its first child needs it, or when it
        // closes, so that the route's name recorded meanwhile is kept): `RequestTraces` hands
        // the id generator this trace id just before.
        None => {
            span.with_subscriber(|(id, dispatch)| {
                let span = dispatch
                    .downcast_ref::<tracing_subscriber::Registry>()
                    .and_then(|r| r.span(id));
                if let Some(span) = span {
                    span.extensions_mut().insert(RequestTrace(trace));
                }
            });
        }
    }
}

/// Installed just inside the OpenTelemetry layer: before each callback that may start an
/// OpenTelemetry span (a new child starts its parent; a close starts an unstarted span), it
/// leaves the trace id of the span's request (or none) for `RequestTraceIds`.
pub struct RequestTraces;

impl RequestTraces {
    fn hint<S: Subscriber + for<'a> LookupSpan<'a>>(id: &Id, ctx: &Context<'_, S>) {
        let trace = ctx
            .span_scope(id)
            .and_then(|scope| scope.from_root().next())
            .and_then(|root| root.extensions().get::<RequestTrace>().map(|t| t.0));
        NEXT_TRACE.with(|n| n.set(trace));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RequestTraces {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        Self::hint(id, &ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        Self::hint(&id, &ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn export_is_on_with_a_configured_or_an_environment_endpoint_unless_disabled() {
        let none = env(&[]);
        assert_eq!(endpoint(None, &none), Err("no endpoint"));
        assert_eq!(
            endpoint(Some("http://c/v1/traces"), &none),
            Ok(Some("http://c/v1/traces".into()))
        );
        let general = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")]);
        assert_eq!(endpoint(None, &general), Ok(None));
        // The configuration wins over the environment.
        assert_eq!(
            endpoint(Some("http://mine"), &general),
            Ok(Some("http://mine".into()))
        );
        let traces = env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c/v1/traces")]);
        assert_eq!(endpoint(None, &traces), Ok(None));
        let disabled = env(&[
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "x"),
        ]);
        assert!(endpoint(Some("http://mine"), &disabled).is_err());
        let no_exporter = env(&[("OTEL_TRACES_EXPORTER", "none")]);
        assert!(endpoint(Some("http://mine"), &no_exporter).is_err());
        assert_eq!(endpoint(Some("  "), &none), Err("no endpoint"));
    }

    #[test]
    fn the_service_name_is_configured_else_the_environments_else_reportgate() {
        let name = |r: Resource| {
            r.get(&opentelemetry::Key::new("service.name"))
                .map(|v| v.to_string())
        };
        assert_eq!(
            name(resource(Some("rg-acme"), &env(&[]))).as_deref(),
            Some("rg-acme")
        );
        assert_eq!(
            name(resource(None, &env(&[]))).as_deref(),
            Some("reportgate")
        );
    }
}
