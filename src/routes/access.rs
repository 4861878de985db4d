//! Which report ids a caller may use: an id as presented (sealed, raw or reused) resolved to
//! the upstream id, the team's `raw_ids` check, cancel rights, and a cancel that withdraws
//! only this owner's claim on a task several owners hold.
use super::cached_result;
use crate::auth::{Caller, Opened, Policy};
use crate::domain::ReportId;
use crate::error::GatewayError;
use crate::http::RequestContext;
use crate::state::AppState;
use crate::upstream::{IdentityNow, PathFamily};

/// A report id a caller may use: the upstream id, whether it came raw (an upstream id
/// without the gateway's seal, which the team's `raw_ids` allows), and whether it is a
/// reused one (another owner's run handed over by `maxAge`).
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub id: ReportId,
    pub raw: bool,
    pub reused: bool,
}

impl std::ops::Deref for Resolved {
    type Target = ReportId;
    fn deref(&self) -> &ReportId {
        &self.id
    }
}

/// Turns an id presented by a caller into the upstream id, if the caller may see it.
/// Someone else's report answers exactly like a report that does not exist, whether its id
/// is sealed for someone else or raw: `raw_ids` opens reports the gateway did not start
/// (and the team's own), never one the gateway handed to another owner.
pub(crate) async fn resolve_id(
    ctx: &RequestContext,
    state: &AppState,
    policy: &Policy,
    caller: &Caller,
    raw: &str,
) -> Result<Resolved, GatewayError> {
    let presented =
        ReportId::parse(raw).map_err(|m| GatewayError::bad_request("invalid_report_id", m))?;
    ctx.note(|n| n.report_id = Some(presented.as_str().to_owned()));
    let owner = policy.owner(caller);
    let found = |id, raw, reused| Some(Resolved { id, raw, reused });
    let resolved = match state.ids.open(owner, &presented) {
        Opened::Owned(id) => found(id, false, false),
        Opened::Reused(id) => found(id, false, true),
        Opened::Raw(id) if policy.for_team(&caller.team).raw_ids => {
            let theirs = state.holders.sealed(id.as_str()).await
                && !state.holders.holds(owner, id.as_str()).await;
            if theirs {
                None
            } else {
                found(id, true, false)
            }
        }
        Opened::Raw(_) | Opened::Foreign => None,
    };
    let Some(resolved) = resolved else {
        ctx.note(|n| n.denied = true);
        return Err(GatewayError::report_not_found());
    };
    ctx.note(|n| n.upstream_id = Some(resolved.id.as_str().to_owned()));
    Ok(resolved)
}

/// A raw id reads only what the team's `run`/`sources` policy allows, judged by the type in
/// the upstream result. The result carries no arguments, so an ACCOUNTS report is readable
/// raw only by a team allowed every source. A refusal answers like a missing report.
pub(crate) fn check_raw_read(
    ctx: &RequestContext,
    policy: &Policy,
    caller: &Caller,
    id: &Resolved,
    results: &crate::wire::models::ReportResults,
) -> Result<(), GatewayError> {
    if !id.raw {
        return Ok(());
    }
    match policy
        .for_team(&caller.team)
        .check_read(results.report_type.as_deref())
    {
        Ok(()) => Ok(()),
        Err(why) => {
            tracing::debug!(reason = %why, "raw id refused by policy");
            ctx.note(|n| n.denied = true);
            Err(GatewayError::report_not_found())
        }
    }
}

/// For a raw id, reads the result (through the cache) to apply [`check_raw_read`]; a team
/// that may run every type of every source needs no read.
pub(crate) async fn check_raw(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    policy: &Policy,
    caller: &Caller,
    id: &Resolved,
) -> Result<(), GatewayError> {
    if !id.raw || policy.for_team(&caller.team).reads_everything() {
        return Ok(());
    }
    let cached = cached_result(ctx, state, upstream, family, id, None).await?;
    check_raw_read(ctx, policy, caller, id, &cached.results)
}

/// Whether the caller may cancel this report: the team's `cancel`; a reused report
/// (another owner's run, handed to this caller by `maxAge`) is readable but not this
/// caller's to cancel; a raw id needs the team's explicit `raw_cancel` too.
pub(crate) fn check_cancel(
    policy: &Policy,
    caller: &Caller,
    id: &Resolved,
) -> Result<(), GatewayError> {
    let team = policy.for_team(&caller.team);
    team.check_cancel().map_err(GatewayError::Forbidden)?;
    if id.reused {
        return Err(GatewayError::Conflict {
            code: "report_reused",
            message: "this report is another owner's run, reused for you (maxAge); it is theirs \
                      to cancel, so nothing was cancelled"
                .into(),
        });
    }
    if id.raw && !team.raw_cancel {
        return Err(GatewayError::Forbidden(
            "your team may not cancel reports by their upstream id".into(),
        ));
    }
    Ok(())
}

/// Cancels a report for its caller. IdentityNow answers a run of a non-concurrent report
/// that is already running with that task, so one upstream task can be held by several
/// owners: a cancel then only withdraws this owner's claim, and the task is cancelled
/// upstream only by the last owner holding it.
pub(crate) async fn cancel_for(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    owner: &str,
    id: &ReportId,
) -> Result<(), GatewayError> {
    if state.holders.release(owner, id.as_str()).await == crate::auth::Release::Withdrawn {
        tracing::info!("cancel withdrew this owner's claim; another owner still holds the task");
        return Ok(());
    }
    upstream.cancel(ctx, family, id).await?;
    Ok(())
}
