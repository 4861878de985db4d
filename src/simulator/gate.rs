//! The common front of every report operation: counting, faults, auth and rate limit.
use super::errors::dto;
use super::errors::rate_limited;
use super::faults::apply_fault;
use super::oauth::{authenticate, Authenticated};
use super::ratelimit::api_version;
use super::state::{Op, SimState};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use std::sync::atomic::Ordering;

/// The common front of every report operation: count, faults, auth, rate limit, rights.
/// Returns the client id.
pub(super) async fn admit(
    state: &SimState,
    req: &HttpRequest,
    op: Op,
) -> Result<String, HttpResponse> {
    state.counters.bump(op);
    *state
        .calls_by_version
        .lock()
        .unwrap()
        .entry(api_version(req.path()).to_owned())
        .or_default() += 1;
    {
        let mut times = state.call_times.lock().unwrap();
        if times.len() >= 100_000 {
            times.pop_front();
        }
        times.push_back(std::time::Instant::now());
    }
    *state.last_traceparent.lock().unwrap() = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    apply_fault(state, op).await?;
    let who = authenticate(state, req)?;
    if let Err(wait) = state.admit(&who.client_id, api_version(req.path())) {
        state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return Err(rate_limited(&wait.to_string()));
    }
    authorize(state, &who, op)?;
    Ok(who.client_id)
}

/// SPEC-V3 `security`: run needs `sp:report:manage`; result and file `sp:report:read` or
/// `sp:report:manage`; cancel is `userAuth` only, so an API-client token (no user) gets
/// 403 whatever its scopes (AUTH-DOC, Troubleshooting).
fn authorize(state: &SimState, who: &Authenticated, op: Op) -> Result<(), HttpResponse> {
    let allowed = match op {
        Op::Run => who.has_any(&["sp:report:manage"]),
        Op::Result | Op::File => who.has_any(&["sp:report:read", "sp:report:manage"]),
        Op::Cancel => who.user && who.has_any(&["sp:report:manage"]),
        Op::Token => true,
    };
    if allowed {
        return Ok(());
    }
    state.counters.forbidden.fetch_add(1, Ordering::Relaxed);
    Err(dto(
        StatusCode::FORBIDDEN,
        "403 Forbidden",
        "The server understood the request but refuses to authorize it.",
    ))
}
