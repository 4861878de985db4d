//! Trace export (OpenTelemetry SDK, OTLP/HTTP protobuf) to a collector on loopback, as
//! operators configure it: `log.otlp_endpoint` or the standard `OTEL_*` variables.
use crate::helpers::{settings_for, token_for, unknown_id};
use crate::served::Served;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reportgate::simulator::{Simulator, SimulatorHandle};
use std::process::Command;
use std::sync::{Arc, Mutex};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// One export request as the collector saw it.
struct Received {
    headers: Vec<(String, String)>,
    body: ExportTraceServiceRequest,
}

/// An OTLP/HTTP collector on loopback (plain, or TLS with its own CA's PEM in `ca_file`).
struct Collector {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    ca_file: Option<std::path::PathBuf>,
}

impl Collector {
    fn start(tls: bool) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sink = received.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let sink = sink.clone();
            App::new().route(
                "/v1/traces",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let sink = sink.clone();
                    async move {
                        assert_eq!(
                            req.headers().get("content-type").unwrap(),
                            "application/x-protobuf"
                        );
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect();
                        let body = ExportTraceServiceRequest::decode(body).expect("protobuf");
                        sink.lock().unwrap().push(Received { headers, body });
                        HttpResponse::Ok()
                            .content_type("application/x-protobuf")
                            .finish()
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals();
        let (server, base, ca_file) = if tls {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
            let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
                rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()),
            );
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
            let ca = std::env::temp_dir().join(format!("rg-otel-ca-{}.pem", unknown_id()));
            std::fs::write(&ca, cert.cert.pem()).unwrap();
            (
                server.listen_rustls_0_23(listener, config).unwrap(),
                format!("https://localhost:{port}"),
                Some(ca),
            )
        } else {
            (
                server.listen(listener).unwrap(),
                format!("http://127.0.0.1:{port}"),
                None,
            )
        };
        actix_rt::spawn(server.run());
        Self {
            base,
            received,
            ca_file,
        }
    }

    fn spans(&self) -> Vec<Span> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| &r.body.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }

    fn service_names(&self) -> Vec<String> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        let received = self.received.lock().unwrap();
        let attributes = received
            .iter()
            .flat_map(|r| &r.body.resource_spans)
            .flat_map(|r| &r.resource)
            .flat_map(|r| &r.attributes);
        attributes
            .filter(|kv| kv.key == "service.name")
            .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

/// `reportgate serve` as a process (export is set up at start, from its environment).
struct Gateway {
    served: Served,
    token: String,
}

impl Gateway {
    async fn start(sim: &SimulatorHandle, env: &[(&str, &str)]) -> Self {
        let settings = settings_for(sim);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reportgate"));
        cmd.args(["serve"])
            .env("REPORTGATE__SERVER__LISTEN", "127.0.0.1:0")
            .env("REPORTGATE__SERVER__DRAIN_DELAY", "0s")
            .env("REPORTGATE__ADMIN__LISTEN", "127.0.0.1:0")
            .env("REPORTGATE__TENANT__BASE_URL", sim.base_url())
            .env("REPORTGATE__TENANT__CLIENT_ID", "sim-client")
            .env("REPORTGATE__TENANT__CLIENT_SECRET", "sim-secret")
            .env(
                "REPORTGATE__AUTH__ID_SIGNING_KEY",
                "0123456789abcdef0123456789abcdef",
            )
            .env(
                "REPORTGATE_CONFIG",
                crate::observability::write_issuer_config(),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self {
            served: Served::start(&mut cmd),
            token: token_for(&settings, "otel", "test-team"),
        }
    }

    async fn status(&self, traceparent: Option<&str>) -> u16 {
        let mut req = awc::Client::default()
            .get(format!(
                "{}/v1/reports/{}",
                self.served.base_url(),
                unknown_id()
            ))
            .bearer_auth(&self.token);
        if let Some(t) = traceparent {
            req = req.insert_header(("traceparent", t));
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// SIGTERM, then the exit: the spans not yet sent are flushed on the way out, so once it
    /// has exited the collector holds everything it will ever get. The wait runs off this
    /// thread, which serves the collector.
    async fn stop(self) -> String {
        Command::new("kill")
            .args(["-TERM", &self.served.child.id().to_string()])
            .status()
            .unwrap();
        let served = self.served;
        let (code, log) = actix_rt::task::spawn_blocking(move || served.wait())
            .await
            .unwrap();
        assert_eq!(code, Some(0), "{log}");
        log
    }
}

/// Whether `span` is `ancestor` or under it (through its parents, in one trace).
fn descends(spans: &[Span], span: &Span, ancestor: &Span) -> bool {
    let mut at = span;
    for _ in 0..spans.len() {
        if at.span_id == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|s| s.span_id == at.parent_span_id) {
            Some(parent) => at = parent,
            None => return false,
        }
    }
    false
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[actix_rt::test]
async fn spans_are_exported_to_an_otlp_collector_in_the_callers_trace() {
    // Arrange: the configuration key (plain http, the path given in full).
    let collector = Collector::start(false);
    let sim = Simulator::builder().start().unwrap();
    let endpoint = format!("{}/v1/traces", collector.base);
    let gateway = Gateway::start(&sim, &[("REPORTGATE__LOG__OTLP_ENDPOINT", &endpoint)]).await;
    // Act
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    assert_eq!(gateway.status(Some(&traceparent)).await, 404);
    gateway.stop().await;
    // Assert: the request span is the child of the caller's span, in the caller's trace, and
    // the upstream call is the child of the request span.
    let spans = collector.spans();
    let root = spans
        .iter()
        .find(|s| s.kind == 2 && hex(&s.trace_id) == CALLER_TRACE)
        .expect("the request span (kind server) in the caller's trace");
    let upstream = spans
        .iter()
        .find(|s| s.name == "Calling IdentityNow" && s.trace_id == root.trace_id)
        .expect("the upstream span, in the same trace");
    assert_eq!(hex(&root.parent_span_id), CALLER_SPAN);
    assert_eq!(root.name, "GET /v1/reports/{id}", "named by its route");
    assert!(
        descends(&spans, upstream, root),
        "the upstream call is under the request span"
    );
    assert_eq!(collector.service_names()[0], "reportgate");
}

#[actix_rt::test]
async fn without_a_traceparent_the_spans_take_the_trace_id_sent_upstream() {
    // Arrange: the standard variable (the exporter appends /v1/traces).
    let collector = Collector::start(false);
    let sim = Simulator::builder().start().unwrap();
    let gateway = Gateway::start(&sim, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.base)]).await;
    // Act
    assert_eq!(gateway.status(None).await, 404);
    gateway.stop().await;
    // Assert: one trace id for the exported spans and the upstream call's traceparent.
    let upstream = sim.last_traceparent().expect("upstream got a traceparent");
    let trace = upstream.split('-').nth(1).unwrap().to_owned();
    let spans = collector.spans();
    let root = spans
        .iter()
        .find(|s| s.kind == 2 && s.name == "GET /v1/reports/{id}")
        .expect("the request span, named by its route");
    assert_eq!(hex(&root.trace_id), trace);
    assert!(root.parent_span_id.is_empty(), "a root of its own");
    let upstream = spans
        .iter()
        .find(|s| s.name == "Calling IdentityNow")
        .expect("the upstream span");
    assert!(
        descends(&spans, upstream, root),
        "in the same trace, under the request"
    );
}

#[actix_rt::test]
async fn otel_headers_reach_a_tls_collector_and_never_the_log() {
    // Arrange: TLS with the collector's CA, a credential header, a service name and a debug
    // log, all from the standard variables.
    let collector = Collector::start(true);
    let sim = Simulator::builder().start().unwrap();
    let ca = collector.ca_file.as_ref().unwrap().display().to_string();
    let secret = "collector-key-5f2c9e81d4";
    let headers = format!("x-collector-key={secret},x-tenant=acme");
    let gateway = Gateway::start(
        &sim,
        &[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{}/v1/traces", collector.base),
            ),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
            ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
            ("OTEL_SERVICE_NAME", "reportgate-acme"),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    // Act
    assert_eq!(gateway.status(None).await, 404);
    let log = gateway.stop().await;
    // Assert
    let received = collector.received.lock().unwrap();
    assert!(
        !received.is_empty(),
        "nothing reached the collector; log:\n{log}"
    );
    for r in received.iter() {
        assert!(r
            .headers
            .contains(&("x-collector-key".into(), secret.into())));
        assert!(r.headers.contains(&("x-tenant".into(), "acme".into())));
    }
    drop(received);
    assert!(collector.spans().iter().any(|s| s.kind == 2));
    assert_eq!(collector.service_names()[0], "reportgate-acme");
    assert!(
        log.contains("reportgate listening"),
        "the log was kept: {log}"
    );
    assert!(!log.contains(secret), "the collector's key is in the log");
}

#[actix_rt::test]
async fn a_sampler_ratio_of_0_exports_nothing() {
    // The same gateway and traffic at ratio 1 and at ratio 0: only the ratio differs.
    let mut sent = Vec::new();
    for ratio in ["1", "0"] {
        // Arrange
        let collector = Collector::start(false);
        let sim = Simulator::builder().start().unwrap();
        let gateway = Gateway::start(
            &sim,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.base),
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", ratio),
            ],
        )
        .await;
        // Act: with and without a (sampled) caller trace.
        let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
        for _ in 0..5 {
            assert_eq!(gateway.status(Some(&traceparent)).await, 404);
            assert_eq!(gateway.status(None).await, 404);
        }
        gateway.stop().await;
        assert_eq!(sim.counters().result, 10, "every request was served");
        let requests = collector.received.lock().unwrap().len();
        sent.push((collector.spans().len(), requests));
    }
    // Assert: spans of all 10 requests at ratio 1, and not one export request at ratio 0 (the
    // gateway flushed on exit, so nothing is still to come).
    let (at_1, _) = sent[0];
    assert!(at_1 >= 10, "{sent:?}");
    assert_eq!(sent[1], (0, 0), "{sent:?}");
}
