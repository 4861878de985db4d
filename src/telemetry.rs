//! Logging: JSON lines for log pipelines or readable text for humans (`RUST_LOG` wins over
//! the configured level), and optional OTLP trace export (`crate::otlp`).
use crate::problem::{problem, Problem};
use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps trace export running; dropping it flushes the spans not yet sent.
#[must_use = "dropping it stops trace export"]
pub struct Telemetry {
    _export: Option<crate::otlp::Export>,
}

/// Installs logging and, with `export` (the serve command's log settings), trace export
/// when it is configured there or by `OTEL_*` variables.
pub fn init(format: LogFormat, level: &str, export: Option<&LogSettings>) -> Telemetry {
    // A non-ASCII RUST_LOG is ignored: tracing-subscriber's parser can panic on it.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| v.is_ascii())
        .and_then(|v| EnvFilter::try_new(quiet(&v)).ok())
        .unwrap_or_else(|| EnvFilter::new(quiet(level)));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty => fmt.compact().boxed(),
    };
    let env = |k: &str| std::env::var(k).ok();
    let export = export.and_then(|s| {
        match crate::otlp::start(s.otlp_endpoint.as_deref(), s.service_name.as_deref(), &env) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("reportgate: trace export disabled: {e}");
                None
            }
        }
    });
    // Spans carry their fields as attributes; source locations, thread names and busy/idle
    // times would add bytes to every span for little, and no code reads the OpenTelemetry
    // context from the current span, so it is not activated on every enter.
    let traces = export.as_ref().map(|e| {
        tracing_opentelemetry::layer()
            .with_tracer(e.tracer())
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
    });
    // A second init (tests, sandbox after config) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(export.as_ref().map(|_| crate::otlp::RequestTraces))
        .with(traces)
        .try_init();
    Telemetry { _export: export }
}

/// actix-http logs every malformed request at error level ("stream error: ..."), one line per
/// connection anyone can open: an anonymous log flood. Off unless the filter names actix_http
/// itself (to debug a client). The caller sees its 400 either way.
fn quiet(filter: &str) -> String {
    if filter.contains("actix_http") {
        filter.to_owned()
    } else {
        format!("{filter},actix_http::h1::dispatcher=off")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
    /// OTLP/HTTP trace export, e.g. https://collector:4318/v1/traces; wins over
    /// OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT (off when neither is set).
    pub otlp_endpoint: Option<String>,
    /// The traces' service.name; wins over OTEL_SERVICE_NAME (default: reportgate).
    pub service_name: Option<String>,
}

impl LogSettings {
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if let Some(e) = self.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
            match url::Url::parse(e) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => problems.push(problem(
                    "log.otlp_endpoint",
                    "must be an http:// or https:// URL, e.g. https://collector:4318/v1/traces",
                )),
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}
