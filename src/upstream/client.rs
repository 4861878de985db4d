//! The IdentityNow report client. One per worker (awc is `!Send`); all share one
//! [`TokenProvider`] and budget ([`super::Upstream`]).
use super::download::{FileDownload, IdleTimeout};
use super::token::TokenProvider;
use super::PathFamily;
use crate::domain::ReportId;
use crate::error::UpstreamError;
use crate::http::peer;
use crate::http::{RequestContext, Wait};
use crate::limits::{LimitSettings, UpstreamBudget};
use crate::metrics::{status_label, Metrics};
use crate::wire::models::{ReportResults, TaskResultDetails};
use actix_web::http::{header, Method, StatusCode};
use awc::error::{ConnectError, PayloadError, SendRequestError};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

const JSON_LIMIT: usize = 1 << 20;

/// The report client of one worker (built by [`super::Upstream::client`]).
pub struct IdentityNow {
    pub(super) http: awc::Client,
    pub(super) base: String,
    pub tokens: Arc<TokenProvider>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) budget: Arc<UpstreamBudget>,
    pub(super) limits: LimitSettings,
    pub(super) request_timeout: Duration,
    pub(super) download_timeout: Duration,
    pub(super) download_idle_timeout: Duration,
}

pub fn map_send_error(e: SendRequestError) -> UpstreamError {
    match e {
        SendRequestError::Timeout => UpstreamError::Timeout("no response in time".into()),
        SendRequestError::Connect(ConnectError::Timeout) => {
            UpstreamError::Timeout("connect timed out".into())
        }
        SendRequestError::Connect(c) => match super::dial::ProxyFailure::of(&c) {
            Some(proxy) => UpstreamError::Proxy(proxy.to_string()),
            None => UpstreamError::Unreachable(c.to_string()),
        },
        other => UpstreamError::Unreachable(other.to_string()),
    }
}

/// Retries of an idempotent read after an upstream 5xx or a refused connection.
const MAX_READ_RETRIES: u32 = 2;

/// The pause before retry `n` (jittered, 100 ms doubling), if it fits before `deadline`.
fn backoff(n: u32, deadline: Instant) -> Option<Duration> {
    let base = Duration::from_millis(100) * 2u32.pow(n);
    let pause = base.mul_f64(0.5 + rand::random::<f64>());
    (Instant::now() + pause < deadline).then_some(pause)
}

/// Parses an upstream JSON body; a body that is not JSON of the expected shape is a 502.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, UpstreamError> {
    let bad = |e: serde_json::Error| UpstreamError::BadResponse(e.to_string());
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(bad)?;
    // serde would read a struct from an array too; upstream only ever sends objects.
    if !value.is_object() {
        return Err(UpstreamError::BadResponse("expected a JSON object".into()));
    }
    serde_json::from_value(value).map_err(bad)
}

fn retry_after(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn header_str(headers: &header::HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl IdentityNow {
    /// The pause an upstream 429 asks for: its `Retry-After`, else the default with jitter,
    /// never more than the cap.
    fn pause_for(&self, headers: &header::HeaderMap) -> Duration {
        let asked = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::domain::retry_after::parse(v, std::time::SystemTime::now()));
        let d = asked.unwrap_or_else(|| {
            let jitter = rand::random::<f64>() * 0.2 + 0.9;
            self.limits.retry_after_default.mul_f64(jitter)
        });
        d.min(self.limits.retry_after_cap)
    }

    fn abandoned(&self, team: &str, stage: &str) -> UpstreamError {
        tracing::debug!(stage, "caller left before the upstream call");
        self.metrics
            .abandoned
            .with_label_values(&[team, stage])
            .inc();
        UpstreamError::Abandoned
    }

    /// Sends one request with a budget permit and a tenant token. On 401 it drops that token
    /// and tries once more; on 429 it pauses the whole budget and holds the request for
    /// another try while the caller's wait bound allows.
    #[tracing::instrument(name = "Calling IdentityNow", skip_all, fields(operation = op))]
    async fn send(
        &self,
        ctx: &RequestContext,
        op: &'static str,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
        accept: &str,
    ) -> Result<awc::ClientResponse<impl Stream<Item = Result<Bytes, PayloadError>>>, UpstreamError>
    {
        let url = format!("{}{}", self.base, path_and_query);
        let wait = ctx.wait().unwrap_or_else(|| Wait {
            team: "internal".into(),
            weight: 1,
            deadline: Instant::now() + self.limits.max_wait,
            bound: self.limits.max_wait,
            peer: None,
        });
        let mut refreshed = false;
        let mut throttled = 0;
        let idempotent = method == Method::GET;
        let mut retries = 0;
        let team = self.metrics.team(&wait.team).to_owned();
        loop {
            let waited = Instant::now();
            let permit = tokio::select! {
                p = self.budget.acquire(&wait.team, wait.weight, wait.deadline) => p,
                _ = peer::gone(wait.peer.as_ref()) => {
                    // Leaving drops the place in the queue: no permit is taken for nobody.
                    let stage = if self.budget.pause_remaining().is_zero() { "budget" } else { "pause" };
                    return Err(self.abandoned(&team, stage));
                }
            };
            if permit.is_err() {
                self.metrics
                    .rejections
                    .with_label_values(&[&team, "upstream_busy"])
                    .inc();
                return Err(UpstreamError::Throttled {
                    retry_after: self.budget.estimated_wait(),
                });
            }
            self.metrics
                .caller_wait
                .with_label_values(&[&team])
                .observe(waited.elapsed().as_secs_f64());
            let token = self.tokens.get(&self.http).await?;
            // The last look before anything is sent: a caller who has left gets no call.
            if wait.peer.as_ref().is_some_and(|p| p.is_gone()) {
                return Err(self.abandoned(&team, "before_send"));
            }
            let req = self.http.request(method.clone(), &url);
            let req = match token.header() {
                Some(value) => req.insert_header((header::AUTHORIZATION, value)),
                None => req.insert_header((header::AUTHORIZATION, token.bearer())),
            }
            .insert_header((header::ACCEPT, accept))
            .timeout(self.request_timeout);
            // Continue the caller's W3C trace upstream.
            let req = match &ctx.trace {
                Some(t) => req.insert_header(("traceparent", t.child_header())),
                None => req,
            };
            let started = Instant::now();
            let sent = match &body {
                Some(b) => {
                    req.insert_header((header::CONTENT_TYPE, "application/json"))
                        .send_body(b.clone())
                        .await
                }
                None => req.send().await,
            };
            self.metrics
                .upstream_duration
                .with_label_values(&[op])
                .observe(started.elapsed().as_secs_f64());
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let e = map_send_error(e);
                    let label = if matches!(e, UpstreamError::Timeout(_)) {
                        "timeout"
                    } else {
                        "unreachable"
                    };
                    self.metrics
                        .upstream_requests
                        .with_label_values(&[op, label])
                        .inc();
                    // Reads are idempotent: a refused connection is worth another try.
                    if idempotent
                        && retries < MAX_READ_RETRIES
                        && matches!(e, UpstreamError::Unreachable(_))
                    {
                        if let Some(pause) = backoff(retries, wait.deadline) {
                            retries += 1;
                            actix_rt::time::sleep(pause).await;
                            continue;
                        }
                    }
                    return Err(e);
                }
            };
            self.metrics
                .upstream_requests
                .with_label_values(&[op, status_label(resp.status().as_u16())])
                .inc();
            ctx.note(|n| n.upstream_status = Some(resp.status().as_u16()));
            match resp.status() {
                // Reads are retried on upstream 5xx with jittered back-off, within the
                // caller's wait bound; run and cancel are never retried blindly.
                StatusCode::INTERNAL_SERVER_ERROR
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
                    if idempotent && retries < MAX_READ_RETRIES =>
                {
                    match backoff(retries, wait.deadline) {
                        Some(pause) => {
                            retries += 1;
                            tracing::info!(
                                status = resp.status().as_u16(),
                                retry = retries,
                                "retrying an upstream read"
                            );
                            drop(resp);
                            actix_rt::time::sleep(pause).await;
                        }
                        None => return Ok(resp),
                    }
                }
                StatusCode::UNAUTHORIZED if !refreshed => {
                    tracing::info!("upstream refused the tenant token; refreshing once");
                    self.tokens.invalidate(&token);
                    refreshed = true;
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let pause = self.pause_for(resp.headers());
                    self.budget.pause(pause);
                    // Counted once the pause is in force: whoever sees the count sees the pause.
                    self.metrics.upstream_throttled.inc();
                    throttled += 1;
                    tracing::warn!(
                        pause_ms = pause.as_millis() as u64,
                        "upstream answered 429; budget paused"
                    );
                    if throttled > 5 || Instant::now() + pause >= wait.deadline {
                        self.metrics
                            .rejections
                            .with_label_values(&[&team, "upstream_busy"])
                            .inc();
                        return Err(UpstreamError::Throttled { retry_after: pause });
                    }
                }
                _ => return Ok(resp),
            }
        }
    }

    /// Reads a bounded body, turning non-2xx answers into [`UpstreamError::Status`].
    async fn read<S>(
        &self,
        ctx: &RequestContext,
        mut resp: awc::ClientResponse<S>,
    ) -> Result<(StatusCode, Bytes), UpstreamError>
    where
        S: Stream<Item = Result<Bytes, PayloadError>>,
    {
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let body = actix_rt::time::timeout(self.request_timeout, resp.body().limit(JSON_LIMIT))
            .await
            .map_err(|_| UpstreamError::Timeout("response body timed out".into()))?
            .map_err(|e| UpstreamError::BadResponse(format!("reading body: {e}")))?;
        if !status.is_success() {
            if let Some(t) = crate::error::tracking_id_of(&body) {
                ctx.note(|n| n.tracking_id = Some(t));
            }
            return Err(UpstreamError::Status {
                status,
                body,
                retry_after,
            });
        }
        Ok((status, body))
    }

    /// One JSON call: the upstream's status and raw body (SDK paths relay it as is).
    pub async fn raw(
        &self,
        ctx: &RequestContext,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), UpstreamError> {
        let op = if path.ends_with("/run") {
            "run"
        } else if path.ends_with("/cancel") {
            "cancel"
        } else {
            "result"
        };
        let resp = self
            .send(ctx, op, method, path, body, "application/json")
            .await?;
        self.read(ctx, resp).await
    }

    async fn json<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<T, UpstreamError> {
        let (_, bytes) = self.raw(ctx, method, path, body).await?;
        parse(&bytes)
    }

    /// Makes sure a tenant token can be had (readiness).
    pub async fn ensure_token(&self) -> Result<(), UpstreamError> {
        self.tokens.get(&self.http).await.map(|_| ())
    }

    #[tracing::instrument(name = "Starting a report upstream", skip_all)]
    pub async fn run(
        &self,
        ctx: &RequestContext,
        family: PathFamily,
        details: Bytes,
    ) -> Result<TaskResultDetails, UpstreamError> {
        let path = format!("{}/run", family.prefix());
        let t: TaskResultDetails = self.json(ctx, Method::POST, &path, Some(details)).await?;
        if ReportId::parse(&t.id).is_err() {
            return Err(UpstreamError::BadResponse(
                "run returned no usable id".into(),
            ));
        }
        Ok(t)
    }

    #[tracing::instrument(name = "Reading a report result upstream", skip_all, fields(report_id = %id))]
    /// A report's result: the upstream's body as sent (the SDK paths relay it) and parsed.
    pub async fn result(
        &self,
        ctx: &RequestContext,
        family: PathFamily,
        id: &ReportId,
        completed: Option<bool>,
    ) -> Result<(Bytes, ReportResults), UpstreamError> {
        let mut path = format!("{}/{id}/result", family.prefix());
        if let Some(c) = completed {
            path.push_str(&format!("?completed={c}"));
        }
        let (_, body) = self.raw(ctx, Method::GET, &path, None).await?;
        let results = parse(&body)?;
        Ok((body, results))
    }

    #[tracing::instrument(name = "Cancelling a report upstream", skip_all, fields(report_id = %id))]
    pub async fn cancel(
        &self,
        ctx: &RequestContext,
        family: PathFamily,
        id: &ReportId,
    ) -> Result<(), UpstreamError> {
        let path = format!("{}/{id}/cancel", family.prefix());
        let resp = self
            .send(ctx, "cancel", Method::POST, &path, None, "application/json")
            .await?;
        match self.read(ctx, resp).await {
            Err(UpstreamError::Status { status, .. })
                if status == StatusCode::FORBIDDEN
                    && self.tokens.kind() == Some(super::CredentialKind::ApiClient) =>
            {
                Err(UpstreamError::CancelNeedsPat)
            }
            other => other.map(|_| ()),
        }
    }

    /// Starts a download. `format` is `csv` or `pdf`; `Accept` is derived from it, because
    /// upstream answers a mismatched Accept with a 500 (python-sdk issue #63).
    #[tracing::instrument(name = "Downloading a report file upstream", skip_all, fields(report_id = %id))]
    pub async fn file(
        &self,
        ctx: &RequestContext,
        family: PathFamily,
        id: &ReportId,
        format: &str,
        query: &[(&str, String)],
    ) -> Result<FileDownload, UpstreamError> {
        let mut qs = vec![("fileFormat", format.to_owned())];
        qs.extend(query.iter().cloned());
        let qs = serde_urlencoded::to_string(&qs)
            .map_err(|e| UpstreamError::BadResponse(e.to_string()))?;
        let path = format!("{}/{id}?{qs}", family.prefix());
        let accept = if format == "pdf" {
            "application/pdf"
        } else {
            "application/csv"
        };
        let resp = self
            .send(ctx, "file", Method::GET, &path, None, accept)
            .await?;
        if !resp.status().is_success() {
            return Err(self.read(ctx, resp).await.err().unwrap_or_else(|| {
                UpstreamError::BadResponse("non-success status with success body".into())
            }));
        }
        // awc hands the rest of the request timeout to the body; a large file needs longer.
        let resp = resp.timeout(self.download_timeout);
        let headers = resp.headers();
        let content_length: Option<u64> =
            header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        Ok(FileDownload {
            content_type: header_str(headers, header::CONTENT_TYPE),
            content_disposition: header_str(headers, header::CONTENT_DISPOSITION),
            content_length,
            body: Box::pin(IdleTimeout::new(
                resp.boxed_local(),
                self.download_idle_timeout,
                content_length,
            )),
        })
    }
}
