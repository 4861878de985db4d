//! The exporter's HTTP client: awc, the client the gateway already uses upstream, on a thread
//! of its own (awc is not `Send`; the SDK's batch processor calls from its own thread and
//! waits for each answer). TLS is rustls with the system roots plus the standard
//! `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` CA file and, for mutual TLS,
//! `…_CLIENT_CERTIFICATE` and `…_CLIENT_KEY`.
use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

type Answer = Result<Response<Bytes>, String>;
type Job = (Request<Bytes>, oneshot::Sender<Answer>);

/// Collector answers are small (a partial-success message at most); more is not read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct AwcTransport {
    jobs: mpsc::UnboundedSender<Job>,
}

/// The signal's own variable, else the general one (as the exporter itself reads them).
fn var(env: &dyn Fn(&str) -> Option<String>, suffix: &str) -> Option<String> {
    env(&format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}"))
        .or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{suffix}")))
        .filter(|v| !v.trim().is_empty())
}

fn pem_certs(var_name: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{var_name}: cannot read {path}: {e}"))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{var_name}: {path} is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{var_name}: {path} holds no certificate"));
    }
    Ok(certs)
}

fn tls(env: &dyn Fn(&str) -> Option<String>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable individual system certificates are skipped, as every TLS client does.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = var(env, "CERTIFICATE") {
        for cert in pem_certs("OTEL_EXPORTER_OTLP_CERTIFICATE", &path)? {
            roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    let mut cfg = match (var(env, "CLIENT_CERTIFICATE"), var(env, "CLIENT_KEY")) {
        (Some(cert), Some(key)) => {
            let chain = pem_certs("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert)?;
            let pem = std::fs::read(&key)
                .map_err(|e| format!("OTEL_EXPORTER_OTLP_CLIENT_KEY: cannot read {key}: {e}"))?;
            let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut pem.as_slice())
                .ok()
                .flatten()
                .ok_or_else(|| format!("OTEL_EXPORTER_OTLP_CLIENT_KEY: {key} holds no key"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("OTEL_EXPORTER_OTLP_CLIENT_KEY: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY go together".into())
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` (milliseconds), 10 s by default as in the spec.
fn timeout(env: &dyn Fn(&str) -> Option<String>) -> Duration {
    var(env, "TIMEOUT")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

impl AwcTransport {
    pub fn start(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let tls = tls(env)?;
        let timeout = timeout(env);
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let client = awc::Client::builder()
                        .connector(awc::Connector::new().timeout(timeout).rustls_0_23(tls))
                        .timeout(timeout)
                        .disable_redirects()
                        .finish();
                    let mut failing = false;
                    while let Some((request, reply)) = queue.recv().await {
                        let answer = send(&client, request).await;
                        failing = report(failing, &answer);
                        let _ = reply.send(answer);
                    }
                })
            })
            .map_err(|e| e.to_string())?;
        Ok(Self { jobs })
    }
}

/// Says when export starts failing and when it recovers, not on every batch. Never the
/// request: its headers are the collector's credentials.
fn report(was_failing: bool, answer: &Answer) -> bool {
    let problem = match answer {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("collector answered {}", r.status().as_u16())),
        Err(e) => Some(e.clone()),
    };
    match (&problem, was_failing) {
        (Some(p), false) => {
            tracing::warn!(problem = %p, "trace export failing; spans are dropped until it recovers")
        }
        (None, true) => tracing::info!("trace export recovered"),
        _ => {}
    }
    problem.is_some()
}

async fn send(client: &awc::Client, request: Request<Bytes>) -> Answer {
    let (parts, body) = request.into_parts();
    let method = awc::http::Method::from_bytes(parts.method.as_str().as_bytes())
        .map_err(|e| e.to_string())?;
    let mut req = client.request(method, parts.uri.to_string());
    for (name, value) in &parts.headers {
        let value = awc::http::header::HeaderValue::from_bytes(value.as_bytes())
            .map_err(|e| e.to_string())?;
        req = req.append_header((name.as_str(), value));
    }
    let mut resp = req.send_body(body).await.map_err(|e| e.to_string())?;
    let mut answer = Response::builder().status(resp.status().as_u16());
    if let Some(v) = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
    {
        answer = answer.header("retry-after", v);
    }
    let body = resp
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    answer.body(body).map_err(|e| e.to_string())
}

#[async_trait::async_trait]
impl HttpClient for AwcTransport {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((request, reply))
            .map_err(|_| "the export thread has stopped")?;
        Ok(answer
            .await
            .map_err(|_| "the export thread has stopped")??)
    }
}
