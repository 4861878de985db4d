//! Rate limits: each team's own limit (held, then 429) and the one shared upstream budget
//! (paced, paused on upstream 429s, shared fairly by weight).
pub mod anonymous;
pub mod budget;
pub mod gcra;
mod grant_guard;
pub mod long_polls;
mod middleware;
pub mod peer;
mod settings;

pub use budget::{BudgetConfig, Refusal, UpstreamBudget};
pub use grant_guard::GrantGuard;
pub use middleware::{TeamLimit, TeamLimiter};
pub use settings::LimitSettings;

use std::time::{Duration, Instant};

/// What the upstream client needs to know about the request it serves.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub team: String,
    pub weight: u32,
    /// The caller's wait bound: no permit wait, pause or retry goes past it.
    pub deadline: Instant,
    /// The bound itself, so that each poll of a long-poll gets a fresh deadline.
    pub bound: Duration,
    /// The caller's connection, watched while the request waits.
    pub peer: Option<peer::Peer>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request being served, if any (none for readiness probes).
pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// Whether the caller of the request being served has closed its connection.
pub fn caller_gone() -> bool {
    CONTEXT
        .try_with(|c| c.peer.as_ref().is_some_and(peer::Peer::is_gone))
        .unwrap_or(false)
}

/// Runs `fut` (one upstream step of a long request, e.g. one poll of a long-poll) with a
/// fresh wait bound counted from now.
pub async fn with_fresh_deadline<F: std::future::Future>(fut: F) -> F::Output {
    match current() {
        Some(mut ctx) => {
            ctx.deadline = Instant::now() + ctx.bound;
            CONTEXT.scope(ctx, fut).await
        }
        None => fut.await,
    }
}
