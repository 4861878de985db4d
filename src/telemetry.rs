//! Logging: JSON lines for log pipelines or readable text for humans (`RUST_LOG` wins over
//! the configured level), and optional OTLP trace export.
use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub fn init(format: LogFormat, level: &str, otlp: Option<(&str, &str)>) {
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
    let otlp = otlp.and_then(|(endpoint, service)| {
        match crate::otlp::OtlpLayer::start(endpoint, service) {
            Ok(layer) => Some(layer),
            Err(e) => {
                eprintln!("reportgate: OTLP export disabled: {e}");
                None
            }
        }
    });
    // A second init (tests, sandbox after config) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otlp)
        .try_init();
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
    /// OTLP/HTTP JSON trace export, e.g. http://127.0.0.1:4318/v1/traces (off when null).
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}
