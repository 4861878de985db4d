//! `maxAge` on `POST /v1/reports`: hand the caller an identical report that finished
//! successfully within that age, or join an identical one still running, instead of
//! starting another export upstream. "Identical" is the canonical fingerprint of the type
//! and arguments (`domain::canonical`); the caller's own `run`/`sources` policy has already
//! passed for those arguments, and `Policy::may_reuse` decides whose runs it may be handed.
use super::cached_result;
use crate::auth::{Caller, Policy};
use crate::cache::{CachedResult, LatestRun};
use crate::domain::{ReportId, Status};
use crate::error::{GatewayError, UpstreamError};
use crate::http::RequestContext;
use crate::state::AppState;
use crate::upstream::{IdentityNow, PathFamily};
use actix_web::http::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A report `maxAge` hands over instead of a fresh run.
pub(super) struct Found {
    pub result: Arc<CachedResult>,
    pub run: Arc<LatestRun>,
    pub upstream_id: ReportId,
    /// Finished (handed over as it is), or still running (joined).
    pub finished: bool,
}

/// The id a caller gets for a report handed over to it, audited with the original id: its
/// own run keeps its id (and its cancel); another owner's is sealed as reused (readable,
/// not cancellable).
pub(super) fn handed_over_id(
    ctx: &RequestContext,
    state: &AppState,
    owner: &str,
    run: &LatestRun,
    upstream_id: &ReportId,
) -> String {
    let id = if run.owner == owner {
        state.ids.seal(owner, upstream_id)
    } else {
        state.ids.seal_reused(owner, upstream_id)
    };
    let original = state.ids.seal(&run.owner, upstream_id);
    ctx.note(|n| {
        n.upstream_id = Some(upstream_id.to_string());
        n.report_id = Some(id.clone());
        n.reused_from = Some(original);
    });
    id
}

/// The grammar of `maxAge`, as the OpenAPI document declares it (`MAX_AGE_PATTERN` in
/// `domain::report`): one or more `<digits><unit>`, unit `ms`, `s`, `m`, `h` or `d`.
/// Reads `maxAge` by exactly that grammar, so that the document is as strict as the API.
/// An age past `max` (`cache.reuse_max_age`) is read as `max`: never an older report than
/// asked for, and the index keeps none older anyway. `0s` reuses nothing finished (a
/// running identical report is still joined: it will be fresh when it ends).
pub(super) fn parse_max_age(raw: &Value, max: Duration) -> Result<Duration, GatewayError> {
    let bad = |why: &str| {
        GatewayError::bad_request(
            "invalid_argument",
            format!("maxAge: {why} (a duration such as 15m, 90s or 1h30m)"),
        )
    };
    let text = raw.as_str().ok_or_else(|| bad("must be a string"))?;
    let mut rest = text.as_bytes();
    if rest.is_empty() {
        return Err(bad("is not a duration"));
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad("is not a duration"));
        }
        // Saturating: a number too large for any unit is simply past `max`.
        let n: u64 = std::str::from_utf8(&rest[..digits])
            .expect("ASCII digits")
            .parse()
            .unwrap_or(u64::MAX);
        rest = &rest[digits..];
        let (unit_ms, len): (u64, usize) = match rest {
            [b'm', b's', ..] => (1, 2),
            [b's', ..] => (1_000, 1),
            [b'm', ..] => (60_000, 1),
            [b'h', ..] => (3_600_000, 1),
            [b'd', ..] => (86_400_000, 1),
            _ => return Err(bad("is not a duration")),
        };
        rest = &rest[len..];
        total = total.saturating_add(Duration::from_millis(n.saturating_mul(unit_ms)));
    }
    Ok(total.min(max))
}

/// The latest identical run this caller may be handed, if it finished successfully within
/// `max_age` or is still running. A report upstream no longer knows, or one that failed,
/// was cancelled or is too old, means a fresh run (`None`).
#[allow(clippy::too_many_arguments)] // the request's context, the services, then what to find
pub(super) async fn find(
    ctx: &RequestContext,
    state: &AppState,
    upstream: &IdentityNow,
    family: PathFamily,
    policy: &Policy,
    caller: &Caller,
    fingerprint: &str,
    max_age: Duration,
) -> Result<Option<Found>, GatewayError> {
    let Some(run) = state.cache.latest_run(fingerprint).await else {
        return Ok(None);
    };
    if !policy.may_reuse(caller, &run.owner, &run.team) {
        return Ok(None);
    }
    let Ok(upstream_id) = ReportId::parse(&run.upstream_id) else {
        return Ok(None);
    };
    let result = match cached_result(ctx, state, upstream, family, &upstream_id, None).await {
        Ok(r) => r,
        Err(UpstreamError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
            return Ok(None)
        }
        Err(e) => return Err(e.into()),
    };
    let finished = match result.status() {
        Status::Pending | Status::Running => false,
        // WARNING has files but says something went wrong: only a clean result is reused.
        Status::Success if fresh_enough(&result, state.clock.utc_now(), max_age) => true,
        _ => return Ok(None),
    };
    Ok(Some(Found {
        result,
        run,
        upstream_id,
        finished,
    }))
}

/// Whether the report completed (created + duration, as `completedAt` says) within `max_age`.
/// Without both times its age is unknown, and it is not reused.
fn fresh_enough(r: &CachedResult, now: chrono::DateTime<chrono::Utc>, max_age: Duration) -> bool {
    let created = crate::wire::v1::normalize_time(r.results.created.as_deref());
    let Some(completed) = created
        .zip(r.results.duration)
        .map(|(c, d)| c + chrono::Duration::milliseconds(d))
    else {
        return false;
    };
    let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    now - completed <= max_age
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn max_age_reads_its_documented_grammar_and_caps_at_the_configured_bound() {
        let max = Duration::from_secs(24 * 3600);
        let read = |v: Value| parse_max_age(&v, max);
        assert_eq!(read(json!("15m")).unwrap(), Duration::from_secs(900));
        assert_eq!(read(json!("1h30m")).unwrap(), Duration::from_secs(5400));
        assert_eq!(read(json!("1500ms")).unwrap(), Duration::from_millis(1500));
        assert_eq!(read(json!("0s")).unwrap(), Duration::ZERO);
        assert_eq!(read(json!("25h")).unwrap(), max);
        assert_eq!(read(json!("99999999999999999999999d")).unwrap(), max);
        for bad in [
            json!("soon"),
            json!(900),
            json!(""),
            json!("1h 30m"),
            json!("15"),
            json!("m"),
        ] {
            let e = read(bad.clone()).unwrap_err();
            assert!(e.to_string().starts_with("maxAge"), "{bad}: {e}");
        }
    }

    proptest::proptest! {
        /// Whatever the document's pattern admits, the parser accepts (a schema-valid
        /// request is never refused), and nothing it is given makes it panic.
        #[test]
        fn every_age_the_documented_pattern_admits_is_accepted(
            s in proptest::string::string_regex(
                crate::domain::report::MAX_AGE_PATTERN.trim_start_matches('^').trim_end_matches('$'),
            ).unwrap()
        ) {
            proptest::prop_assert!(parse_max_age(&json!(s), Duration::from_secs(86400)).is_ok(), "{s:?}");
        }

        #[test]
        fn no_text_makes_the_max_age_parser_panic(s in ".{0,24}") {
            let _ = parse_max_age(&json!(s), Duration::from_secs(86400));
        }
    }
}
