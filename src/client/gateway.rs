//! The gateway's `/v1` API as the command line client sees it: one awc client, and every
//! non-success answer turned into a [`Failure`] that keeps the gateway's message and
//! request id.
use super::Failure;
use crate::domain::ReportId;
use awc::http::{header, StatusCode};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// What the gateway (or the way to it) said when something did not work.
#[derive(Debug, Default)]
pub struct Problem {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.status {
            write!(f, "gateway answered {s}")?;
            if let Some(c) = &self.code {
                write!(f, " {c}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl Problem {
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }
}

pub type FileResponse = awc::ClientResponse<
    std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>>>,
    >,
>;

pub struct Gateway {
    base: String,
    bearer: String,
    http: awc::Client,
}

/// Beyond the long-poll itself, how long an answer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Gateway {
    pub fn new(url: &str, token: &str) -> Result<Self, Failure> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Failure::Usage(format!("--url / REPORTGATE_URL is not a URL ({e}): {url}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Failure::Usage(format!(
                "--url / REPORTGATE_URL must be http:// or https://, not {url}"
            )));
        }
        let tls = crate::upstream::tls::client_config(None).map_err(Failure::Usage)?;
        let connector = awc::Connector::new()
            .timeout(Duration::from_secs(10))
            .rustls_0_23(tls);
        let http = awc::Client::builder()
            .connector(connector)
            .timeout(REQUEST_TIMEOUT)
            .disable_redirects()
            .add_default_header((
                header::USER_AGENT,
                concat!("reportgate-cli/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            bearer: format!("Bearer {token}"),
            http,
        })
    }

    fn request(&self, method: awc::http::Method, path: &str) -> awc::ClientRequest {
        self.http
            .request(method, format!("{}{path}", self.base))
            .insert_header((header::AUTHORIZATION, self.bearer.as_str()))
    }

    /// Starts a report; answers the report resource.
    pub async fn run(&self, body: &Value) -> Result<Value, Failure> {
        let resp = self
            .request(awc::http::Method::POST, "/v1/reports")
            .send_json(body)
            .await
            .map_err(unreachable)?;
        // 200: with maxAge, an identical finished report handed over.
        let expect = match resp.status() {
            StatusCode::OK => StatusCode::OK,
            _ => StatusCode::ACCEPTED,
        };
        json(resp, expect).await
    }

    /// Reads a report, holding the request up to `wait` until it finishes.
    pub async fn status(&self, id: &ReportId, wait: Duration) -> Result<Value, Failure> {
        let resp = self
            .request(
                awc::http::Method::GET,
                &format!("/v1/reports/{id}?wait={}", wait.as_secs()),
            )
            .timeout(REQUEST_TIMEOUT + wait)
            .send()
            .await
            .map_err(unreachable)?;
        json(resp, StatusCode::OK).await
    }

    pub async fn cancel(&self, id: &ReportId) -> Result<(), Failure> {
        let mut resp = self
            .request(awc::http::Method::POST, &format!("/v1/reports/{id}/cancel"))
            .send()
            .await
            .map_err(unreachable)?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(());
        }
        Err(refusal(&mut resp).await)
    }

    /// Asks for a report's file from byte `from` on (a `Range` request when `from > 0`).
    /// Any answer with a status comes back; the caller judges 200, 206 and 416.
    pub async fn file(
        &self,
        id: &ReportId,
        format: &str,
        from: u64,
    ) -> Result<FileResponse, Failure> {
        let mut req = self.request(
            awc::http::Method::GET,
            &format!("/v1/reports/{id}/file?format={format}"),
        );
        if from > 0 {
            req = req.insert_header((header::RANGE, format!("bytes={from}-")));
        }
        req.send().await.map_err(unreachable)
    }
}

fn unreachable(e: awc::error::SendRequestError) -> Failure {
    Failure::Trouble(Problem::local(format!(
        "the gateway cannot be reached: {e}"
    )))
}

async fn json<S>(mut resp: awc::ClientResponse<S>, expect: StatusCode) -> Result<Value, Failure>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    if resp.status() != expect {
        return Err(refusal(&mut resp).await);
    }
    let body = resp.body().limit(1 << 20).await.map_err(|e| {
        Failure::Trouble(Problem::local(format!(
            "the gateway's answer broke off: {e}"
        )))
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        Failure::Trouble(Problem::local(format!(
            "the gateway's answer is not JSON: {e}"
        )))
    })
}

/// Turns a non-success answer into a failure: 4xx (but 429) is a refusal, the rest is
/// trouble on the gateway's side or beyond.
pub async fn refusal<S>(resp: &mut awc::ClientResponse<S>) -> Failure
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    let status = resp.status();
    let header_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = match resp.body().limit(1 << 16).await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
        Err(_) => Value::Null,
    };
    let text = |k: &str| body[k].as_str().map(str::to_owned);
    let problem = Problem {
        status: Some(status.as_u16()),
        code: text("error"),
        message: text("message").unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("unexpected answer")
                .to_owned()
        }),
        request_id: text("requestId").or(header_id),
    };
    if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
        Failure::Refused(problem)
    } else {
        Failure::Trouble(problem)
    }
}
