//! Builds one audit event per API request and writes it in the action's mode. Fails closed:
//! a blocking action with a failing sink is refused with 503 before anything goes upstream,
//! and a response whose blocking record could not be written is replaced by a 503.
use super::event::{self, Event};
use super::sink::Sink;
use super::{AuditSettings, Mode};
use crate::auth::{Authenticator, Caller};
use crate::error::GatewayError;
use crate::http::RequestContext;
use crate::metrics::Metrics;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

pub struct Audit {
    pub sink: Sink,
    /// Anonymous refusals, counted per address and reason, written once per interval.
    pub refusals: super::refusals::Refusals,
    settings: AuditSettings,
}

impl Audit {
    pub fn new(settings: &AuditSettings, latency: Option<prometheus::Histogram>) -> Self {
        Self {
            sink: Sink::start(settings, latency),
            refusals: Default::default(),
            settings: settings.clone(),
        }
    }

    /// Starts writing the anonymous-refusal records every `audit.anonymous_interval`.
    pub fn start_refusal_records(self: &Arc<Self>) {
        super::refusals::start_flushing(Arc::downgrade(self), self.settings.anonymous_interval);
    }

    /// Queues the anonymous-refusal records counted since the last call (batch mode).
    pub fn flush_refusals(&self) {
        for line in self.refusals.take_lines() {
            self.sink.enqueue(line);
        }
    }

    /// The byte cap on audit files (`audit.max_total_bytes`), 0 without a file sink.
    pub fn retention_limit(&self) -> u64 {
        match self.settings.file {
            Some(_) => self.settings.max_total_bytes,
            None => 0,
        }
    }

    pub fn upstream_auditable(&self) -> bool {
        self.settings.upstream_auditable
    }

    fn mode(&self, action: &str) -> Mode {
        let m = &self.settings.modes;
        match action.trim_start_matches("sdk_") {
            "run" => m.run,
            "status" => m.status,
            "download" => m.download,
            "cancel" => m.cancel,
            _ => m.other,
        }
    }
}

fn outcome(status: u16, denied: bool) -> &'static str {
    match status {
        401 => "unauthenticated",
        403 => "denied",
        _ if denied => "denied",
        429 => "rate_limited",
        // The caller closed the connection while the request waited; nothing went upstream.
        499 => "abandoned",
        200..=399 => "allowed",
        _ => "error",
    }
}

/// The audit middleware, built with the audit trail, the verified-token cache (to name a
/// known caller in a fail-closed refusal) and the metrics (see `http::layer`).
pub struct AuditLayer {
    audit: Arc<Audit>,
    auth: Arc<Authenticator>,
    metrics: Arc<Metrics>,
}

impl AuditLayer {
    pub fn new(audit: Arc<Audit>, auth: Arc<Authenticator>, metrics: Arc<Metrics>) -> Self {
        Self {
            audit,
            auth,
            metrics,
        }
    }
}

crate::http::layer::layer!(AuditLayer, middleware);

async fn middleware(
    deps: &AuditLayer,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ctx = RequestContext::of(&req);
    let route = ctx.route;
    if route.is_open() {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let audit = deps.audit.clone();
    let started = Instant::now();
    let (api, action) = (route.api.as_str(), route.action);
    let mode = audit.mode(action);
    let base = Event {
        time: event::now(),
        request_id: ctx.request_id.clone(),
        client_addr: req.peer_addr().map(|a| event::address(a.ip())),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            // At most 256 characters: a string of at most 256 bytes is copied whole.
            .map(|s| match s.len() {
                0..=256 => s.to_owned(),
                _ => s.chars().take(256).collect(),
            }),
        method: req.method().as_str().to_owned(),
        api,
        action,
        // Set on every path below (the caller, or "anonymous").
        caller: String::new(),
        team: String::new(),
        report_id: None,
        upstream_id: None,
        report_type: None,
        arguments: None,
        outcome: "error",
        status: 0,
        upstream_status: None,
        tracking_id: None,
        duration_ms: 0,
        reason: None,
        phase: None,
        bytes: None,
        completed: None,
        reused_from: None,
    };
    if mode == Mode::Blocking && !audit.sink.healthy() {
        // Fail closed: nothing goes upstream while the record could not be kept. Only a
        // caller known from a recently verified token gets a record of its own; the rest are
        // anonymous and counted per address by the guard, so an anonymous flood cannot fill
        // the backlog that holds identified callers' records until the file is back.
        let known = crate::auth::bearer(&req)
            .ok()
            .and_then(|token| deps.auth.cached_caller(token));
        match known {
            Some(c) => {
                let event = Event {
                    caller: c.id.clone(),
                    team: c.team.clone(),
                    ..base
                };
                let _ = audit.sink.write(event.refused().line(), false).await;
            }
            None => {
                req.extensions_mut()
                    .insert(crate::auth::Refusal::AuditUnavailable);
            }
        }
        return Ok(req.into_response(audit_unavailable()));
    }
    let res = next.call(req).await?.map_into_boxed_body();
    let note = ctx.take_note();
    let caller = res.request().extensions().get::<Arc<Caller>>().cloned();
    let status = res.status().as_u16();
    if status == 401 && caller.is_none() {
        // Counted in aggregate by the per-address guard (limits::anonymous), not one by one.
        return Ok(res);
    }
    let download = action.ends_with("download") && res.status().is_success();
    let event = Event {
        caller: caller
            .as_ref()
            .map_or("anonymous", |c| c.id.as_str())
            .to_owned(),
        team: caller
            .as_ref()
            .map_or("anonymous", |c| c.team.as_str())
            .to_owned(),
        outcome: outcome(status, note.denied),
        status,
        upstream_status: note.upstream_status,
        duration_ms: started.elapsed().as_millis() as u64,
        phase: download.then_some("start"),
        report_id: note.report_id,
        upstream_id: note.upstream_id,
        report_type: note.report_type,
        arguments: note.arguments,
        tracking_id: note.tracking_id,
        reused_from: note.reused_from,
        reason: note.reason,
        ..base
    };
    if let Err(e) = audit.sink.write(event.line(), mode == Mode::Blocking).await {
        tracing::error!(error = %e, "blocking audit write failed; refusing the response");
        let _ = audit.sink.write(event.refused().line(), false).await;
        return Ok(res.into_response(audit_unavailable()));
    }
    if !download {
        return Ok(res);
    }
    // The download's end record: bytes sent and whether the transfer completed.
    let metrics = deps.metrics.clone();
    metrics.downloads_in_flight.inc();
    let end_base = event;
    let on_end: Box<dyn FnOnce(u64, bool)> = Box::new(move |bytes, completed| {
        let end = Event {
            time: event::now(),
            phase: Some("end"),
            bytes: Some(bytes),
            completed: Some(completed),
            duration_ms: started.elapsed().as_millis() as u64,
            ..end_base
        };
        metrics.downloads_in_flight.dec();
        metrics.download_bytes.inc_by(bytes);
        // Batch: the transfer is over; nothing is left to hold back.
        audit.sink.enqueue(end.line());
    });
    Ok(res.map_body(|_, body| {
        BoxBody::new(Counted {
            inner: body,
            bytes: 0,
            on_end: Some(on_end),
        })
    }))
}

fn audit_unavailable() -> actix_web::HttpResponse {
    GatewayError::AuditUnavailable.error_response()
}

/// A response body that counts what was sent and reports at the end, or when it is dropped
/// before the end (the caller went away, or the upstream stream broke).
struct Counted {
    inner: BoxBody,
    bytes: u64,
    on_end: Option<Box<dyn FnOnce(u64, bool)>>,
}

impl MessageBody for Counted {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => self.bytes += chunk.len() as u64,
            Poll::Ready(None) => {
                if let Some(f) = self.on_end.take() {
                    f(self.bytes, true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(f) = self.on_end.take() {
                    f(self.bytes, false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(self.bytes, false);
        }
    }
}
