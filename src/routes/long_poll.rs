//! Long-poll: a status read held until the report finishes or the caller's `wait` ends.
//! Every waiter re-reads through the result cache, so however many wait on a report,
//! upstream sees at most one call per `running_ttl`.
//!
//! A long-poll counts once against its team's own limit when it arrives, but its re-reads
//! are upstream calls too: left free, a team allowed one request per second could hold a
//! few dozen long-polls open and re-read them all every `running_ttl`, taking the whole
//! budget (issue 22). So a re-read that would go upstream is made only while the team's
//! own limit has room, and once made it is booked against that limit like a request;
//! re-reads answered by the cache cost nothing. The team's requests and re-reads share its
//! rate: over `wait` seconds its re-reads add at most `rate x wait`, plus one per long-poll
//! that found room at the same moment.
use super::cached_result;
use crate::auth::settings::TeamPolicy;
use crate::cache::CachedResult;
use crate::domain::ReportId;
use crate::error::UpstreamError;
use crate::http::peer;
use crate::http::RequestContext;
use crate::limits::TeamLimiter;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::upstream::{IdentityNow, PathFamily};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whose long-poll this is.
pub(crate) struct Poller<'a> {
    pub team: &'a str,
    pub policy: &'a TeamPolicy,
    pub limiter: &'a TeamLimiter,
    pub metrics: &'a Metrics,
}

/// Reads the report, then re-reads it until it ends or `wait` has passed; answers the last
/// state read. A caller who hangs up meanwhile is let go at once (499, counted).
pub(crate) async fn hold(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    id: &ReportId,
    wait: Duration,
    who: Poller<'_>,
) -> Result<Arc<CachedResult>, UpstreamError> {
    let until = Instant::now() + wait;
    let peer = ctx.peer();
    // Each read upstream gets the caller's whole wait bound, counted from when it starts.
    ctx.restart_wait();
    let mut last = cached_result(ctx, state, upstream, family, id, None).await?;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if last.status().is_terminal() || left.is_zero() {
            return Ok(last);
        }
        // A floor keeps a zero running_ttl (no caching of running reports) from spinning.
        let pace = state
            .cache
            .settings
            .running_ttl
            .max(Duration::from_millis(100));
        tokio::select! {
            _ = actix_rt::time::sleep(left.min(pace)) => {}
            _ = peer::gone(peer.as_ref()) => {
                tracing::debug!(team = %who.team, "caller left during a long-poll");
                who.metrics
                    .abandoned
                    .with_label_values(&[who.metrics.team(who.team), "long_poll"])
                    .inc();
                return Err(UpstreamError::Abandoned);
            }
        }
        if let Some(r) = reread(ctx, state, upstream, family, id, &who).await? {
            last = r;
        }
    }
}

/// One re-read: from the cache, or upstream if the team's limit has room (then booked
/// against it); `None` when neither (the long-poll keeps what it last read).
async fn reread(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    id: &ReportId,
    who: &Poller<'_>,
) -> Result<Option<Arc<CachedResult>>, UpstreamError> {
    if !state.cache.has_result(id.as_str(), None)
        && !who.limiter.has_room(who.team, who.policy).await
    {
        return Ok(None);
    }
    ctx.restart_wait();
    let read = state.cache.result(ctx, id.as_str(), None, || async {
        let fetched = upstream.result(ctx, family, id, None).await;
        // Only a call upstream answered is paid for (and only by the one waiter who made it):
        // not one refused a permit or the caller's, nor one upstream throttled.
        if !matches!(
            fetched,
            Err(UpstreamError::Abandoned | UpstreamError::Throttled { .. })
        ) {
            who.limiter.charge(who.team, who.policy).await;
        }
        let (body, results) = fetched?;
        Ok(CachedResult::new(body, results))
    });
    read.await.map(Some)
}
