//! Optional trace export: spans as OTLP/HTTP JSON (`POST {endpoint}` with
//! `application/json`) to an OpenTelemetry Collector, batched once a second by a background
//! thread. Off unless `tracing.otlp_endpoint` is set. Plain HTTP only: point it at a local
//! collector or sidecar, which forwards to wherever traces go. Root spans take the request's
//! W3C trace id (from `traceparent`), so the gateway's spans join the caller's trace.
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

struct SpanData {
    trace_id: String,
    span_id: String,
    parent_id: Option<String>,
    start: u64,
    attributes: Vec<(String, String)>,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}

pub struct OtlpLayer {
    buffer: Arc<Mutex<Vec<Value>>>,
}

impl OtlpLayer {
    /// The layer and its exporter thread. `endpoint` is `http://host:port/v1/traces`.
    pub fn start(endpoint: &str, service: &str) -> Result<Self, String> {
        let url = url::Url::parse(endpoint).map_err(|e| e.to_string())?;
        if url.scheme() != "http" {
            return Err("tracing.otlp_endpoint must be an http:// URL (a local collector)".into());
        }
        let host = url.host_str().ok_or("no host")?.to_owned();
        let port = url.port_or_known_default().unwrap_or(4318);
        let path = url.path().to_owned();
        let buffer: Arc<Mutex<Vec<Value>>> = Arc::default();
        let b = buffer.clone();
        let service = service.to_owned();
        std::thread::Builder::new()
            .name("otlp-exporter".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                let spans = std::mem::take(&mut *b.lock().unwrap());
                if spans.is_empty() {
                    continue;
                }
                let body = json!({"resourceSpans": [{
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"scope": {"name": "reportgate"}, "spans": spans}],
                }]})
                .to_string();
                // Export failures are not the caller's problem: drop the batch and go on.
                let _ = post(&host, port, &path, &body);
            })
            .map_err(|e| e.to_string())?;
        Ok(Self { buffer })
    }
}

fn post(host: &str, port: u16, path: &str, body: &str) -> std::io::Result<()> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or(std::io::ErrorKind::NotFound)?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = [0u8; 64];
    let _ = s.read(&mut reply)?;
    Ok(())
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for OtlpLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut attributes = Vec::new();
        attrs.record(&mut Fields(&mut attributes));
        let parent = span.parent();
        let parent_data = parent.as_ref().and_then(|p| {
            p.extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id.clone(), d.span_id.clone()))
        });
        let own_trace = attributes
            .iter()
            .find(|(k, _)| k == "trace_id")
            .map(|(_, v)| v.clone());
        let (trace_id, parent_id) = match parent_data {
            Some((t, p)) => (t, Some(p)),
            None => (
                own_trace.unwrap_or_else(|| format!("{:032x}", rand::random::<u128>())),
                None,
            ),
        };
        span.extensions_mut().insert(SpanData {
            trace_id,
            span_id: format!("{:016x}", rand::random::<u64>().max(1)),
            parent_id,
            start: now_nanos(),
            attributes,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(d) = span.extensions_mut().get_mut::<SpanData>() {
                values.record(&mut Fields(&mut d.attributes));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(d) = ext.get::<SpanData>() else {
            return;
        };
        let mut out = json!({
            "traceId": d.trace_id,
            "spanId": d.span_id,
            "name": span.name(),
            "kind": if d.parent_id.is_none() { 2 } else { 1 },
            "startTimeUnixNano": d.start.to_string(),
            "endTimeUnixNano": now_nanos().to_string(),
            "attributes": d.attributes.iter().map(|(k, v)| json!({"key": k, "value": {"stringValue": v}})).collect::<Vec<_>>(),
        });
        if let Some(p) = &d.parent_id {
            out["parentSpanId"] = json!(p);
        }
        let mut buf = self.buffer.lock().unwrap();
        // Bounded: a collector that is down must not grow memory.
        if buf.len() < 10_000 {
            buf.push(out);
        }
    }
}
