//! The common front of every report operation: counting, faults, auth and rate limit.
use super::errors::rate_limited;
use super::faults::apply_fault;
use super::oauth::authenticate;
use super::state::{Op, SimState};
use actix_web::{HttpRequest, HttpResponse};
use std::sync::atomic::Ordering;

/// The common front of every report operation: count, faults, auth, rate limit.
pub(super) async fn admit(
    state: &SimState,
    req: &HttpRequest,
    op: Op,
) -> Result<String, HttpResponse> {
    state.counters.bump(op);
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
    let client = authenticate(state, req)?;
    if let Err(wait) = state.admit(&client) {
        state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return Err(rate_limited(&wait.to_string()));
    }
    Ok(client)
}
