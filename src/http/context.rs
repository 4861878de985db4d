//! The one per-request context, the pingora `CTX` idea: the outermost middleware creates it
//! once (request id, trace context, the route decision) and puts it in the request's
//! extensions; the team limit adds how long the request may wait; handlers and the upstream
//! client add to its audit note, which the audit middleware writes. Middleware and handlers
//! read it from the extensions ([`RequestContext::of`]); code below the handlers (the
//! upstream client, the caches) receives it as an argument.
use super::peer::Peer;
use super::route::Route;
use crate::request_id::{self, TraceContext};
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What one request is and what it has gathered on its way.
#[derive(Debug)]
pub struct RequestContext {
    /// What the router will match (decided once, here).
    pub route: Route,
    /// The id the caller sees in `X-Request-Id` (empty for work no request asked for).
    pub request_id: String,
    /// The W3C trace this request belongs to; `None` for work no request asked for.
    pub trace: Option<TraceContext>,
    wait: RefCell<Option<Wait>>,
    note: RefCell<AuditNote>,
}

/// How long a request may wait upstream, and on whose behalf: set by the team limit.
#[derive(Debug, Clone)]
pub struct Wait {
    pub team: String,
    pub weight: u32,
    /// The caller's wait bound: no permit wait, pause or retry goes past it.
    pub deadline: Instant,
    /// The bound itself, so that each poll of a long-poll gets a fresh deadline.
    pub bound: Duration,
    /// The caller's connection, watched while the request waits.
    pub peer: Option<Peer>,
}

/// What handlers and the upstream client add to the request's audit event.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub report_id: Option<String>,
    pub upstream_id: Option<String>,
    pub report_type: Option<String>,
    pub arguments: Option<Value>,
    pub upstream_status: Option<u16>,
    pub tracking_id: Option<String>,
    /// A run answered by reuse (`maxAge`): the original report's id (as its owner holds it).
    pub reused_from: Option<String>,
    /// The caller asked for something that is not theirs (answered like a missing report).
    pub denied: bool,
    /// Why the request was refused, when a code says more than the status.
    pub reason: Option<&'static str>,
}

impl RequestContext {
    pub fn new(route: Route, request_id: String, trace: Option<TraceContext>) -> Self {
        Self {
            route,
            request_id,
            trace,
            wait: RefCell::new(None),
            note: RefCell::new(AuditNote::default()),
        }
    }

    /// For work no request asked for (completion callbacks, readiness probes): no trace, no
    /// wait bound (the upstream client applies its default), a note nobody reads.
    pub fn internal() -> Self {
        Self::new(Route::UNMATCHED, String::new(), None)
    }

    /// The context the outermost middleware created for this request (a fresh internal one
    /// on a listener without that middleware, such as the admin listener).
    pub fn of(req: &impl HttpMessage) -> Rc<Self> {
        req.extensions()
            .get::<Rc<Self>>()
            .cloned()
            .unwrap_or_else(|| Rc::new(Self::internal()))
    }

    /// Sets how long the request may wait and for whom (the team limit, once it let it pass).
    pub fn set_wait(&self, wait: Wait) {
        *self.wait.borrow_mut() = Some(wait);
    }

    /// How long the request may wait, if a team limit has set it.
    pub fn wait(&self) -> Option<Wait> {
        self.wait.borrow().clone()
    }

    /// Gives the request a fresh wait bound counted from now (each upstream step of a long
    /// request, e.g. each poll of a long-poll).
    pub fn restart_wait(&self) {
        if let Some(w) = self.wait.borrow_mut().as_mut() {
            w.deadline = Instant::now() + w.bound;
        }
    }

    /// The caller's connection, when it is watched.
    pub fn peer(&self) -> Option<Peer> {
        self.wait.borrow().as_ref().and_then(|w| w.peer.clone())
    }

    /// Whether the caller has closed its connection.
    pub fn caller_gone(&self) -> bool {
        self.wait
            .borrow()
            .as_ref()
            .and_then(|w| w.peer.as_ref())
            .is_some_and(Peer::is_gone)
    }

    /// Adds to the request's audit event.
    pub fn note(&self, f: impl FnOnce(&mut AuditNote)) {
        f(&mut self.note.borrow_mut());
    }

    /// What was noted for the audit event, taken out (the audit middleware, at the end).
    pub fn take_note(&self) -> AuditNote {
        std::mem::take(&mut *self.note.borrow_mut())
    }
}

/// The request's context as a handler argument (`ctx: Ctx`); derefs to [`RequestContext`].
pub struct Ctx(pub Rc<RequestContext>);

impl std::ops::Deref for Ctx {
    type Target = RequestContext;
    fn deref(&self) -> &RequestContext {
        &self.0
    }
}

impl FromRequest for Ctx {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Ctx(RequestContext::of(req))))
    }
}

fn well_formed(raw: &str) -> bool {
    (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The outermost middleware: creates the request's context, with a well-formed incoming
/// `X-Request-Id` (else a new one), the incoming `traceparent` (else a new trace) so that
/// upstream calls continue the caller's trace, and the route decision; returns the id on
/// every response.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map(str::to_owned)
        .unwrap_or_else(request_id::generate);
    let trace = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .unwrap_or_else(TraceContext::start);
    // A path with an escape is refused by the route middleware (see `http::route`).
    let route = match req.path().contains('%') {
        true => Route::UNMATCHED,
        false => Route::decide(req.method(), req.path()),
    };
    let ctx = Rc::new(RequestContext::new(route, id.clone(), Some(trace)));
    req.extensions_mut().insert(ctx);
    let mut res = request_id::scope(id.clone(), next.call(req)).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(request_id::HEADER, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_bound_restarts_from_now_and_notes_add_up() {
        let ctx = RequestContext::internal();
        assert!(ctx.wait().is_none() && !ctx.caller_gone());
        ctx.restart_wait(); // nothing to restart without a team limit
        let bound = Duration::from_secs(5);
        let arrival = Instant::now() - Duration::from_secs(3);
        ctx.set_wait(Wait {
            team: "a".into(),
            weight: 2,
            deadline: arrival + bound,
            bound,
            peer: None,
        });
        ctx.restart_wait();
        let w = ctx.wait().unwrap();
        assert!(
            w.deadline >= Instant::now() + Duration::from_secs(4),
            "fresh bound"
        );
        assert_eq!((w.team.as_str(), w.weight), ("a", 2));
        ctx.note(|n| n.upstream_status = Some(200));
        ctx.note(|n| n.denied = true);
        let note = ctx.take_note();
        assert_eq!((note.upstream_status, note.denied), (Some(200), true));
    }

    #[test]
    fn only_sane_incoming_ids_are_kept() {
        assert!(super::well_formed("abc-123_x.y:z"));
        assert!(!super::well_formed(""));
        assert!(!super::well_formed("a b"));
        assert!(!super::well_formed(&"a".repeat(129)));
    }
}
