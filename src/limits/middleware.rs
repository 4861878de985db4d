//! Each team's own limit, applied after authentication and before the upstream budget.
//! Over the limit a request is held until its slot, if that is within the wait bound;
//! otherwise, or when the queues are full, it gets 429 at once. Every response carries the
//! IETF `RateLimit-Policy` / `RateLimit` fields describing the caller's own limit.
use super::gcra::Gcra;
use super::{header_secs, RequestContext, CONTEXT};
use crate::auth::settings::TeamPolicy;
use crate::auth::{Caller, Policy};
use crate::error::GatewayError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct TeamState {
    gcra: Gcra,
    waiting: usize,
}

pub struct TeamLimiter {
    teams: Mutex<(HashMap<String, TeamState>, usize)>,
    max_wait: Duration,
    queue_per_team: usize,
    queue_global: usize,
}

/// Gives back a held request's place in the queue, however the request ends.
struct Held<'a> {
    limiter: &'a TeamLimiter,
    team: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut guard = self.limiter.teams.lock().unwrap();
        let (teams, total) = &mut *guard;
        if let Some(t) = teams.get_mut(&self.team) {
            t.waiting -= 1;
        }
        *total -= 1;
    }
}

enum Decision {
    Go(Duration),
    Refuse(Duration),
}

impl TeamLimiter {
    pub fn new(settings: &super::LimitSettings) -> Self {
        Self {
            teams: Mutex::new((HashMap::new(), 0)),
            max_wait: settings.max_wait,
            queue_per_team: settings.queue_per_team,
            queue_global: settings.queue_global,
        }
    }

    pub fn max_wait(&self, p: &TeamPolicy) -> Duration {
        p.max_wait.unwrap_or(self.max_wait)
    }

    fn reserve(&self, team: &str, p: &TeamPolicy) -> Decision {
        let now = Instant::now();
        let mut guard = self.teams.lock().unwrap();
        let (teams, total) = &mut *guard;
        let t = teams.entry(team.to_owned()).or_insert_with(|| TeamState {
            gcra: Gcra::per_second(p.rate, p.burst),
            waiting: 0,
        });
        let wait = t.gcra.wait(now);
        if wait > self.max_wait(p) {
            return Decision::Refuse(wait);
        }
        if !wait.is_zero() {
            if t.waiting >= self.queue_per_team || *total >= self.queue_global {
                return Decision::Refuse(wait);
            }
            t.waiting += 1;
            *total += 1;
        }
        t.gcra.reserve(now);
        Decision::Go(wait)
    }

    /// `RateLimit-Policy` and `RateLimit` for the team (draft-ietf-httpapi-ratelimit-headers).
    fn headers(&self, team: &str, p: &TeamPolicy) -> [(HeaderName, HeaderValue); 2] {
        let guard = self.teams.lock().unwrap();
        let (remaining, reset) = guard
            .0
            .get(team)
            .map(|t| t.gcra.remaining(Instant::now(), p.burst))
            .unwrap_or((p.burst, Duration::ZERO));
        let window = (f64::from(p.burst) / p.rate).ceil().max(1.0) as u64;
        let policy = format!("\"team\";q={};w={window}", p.burst);
        let state = format!(
            "\"team\";r={remaining};t={}",
            reset.as_secs_f64().ceil() as u64
        );
        [
            (
                HeaderName::from_static("ratelimit-policy"),
                HeaderValue::from_str(&policy).expect("ascii"),
            ),
            (
                HeaderName::from_static("ratelimit"),
                HeaderValue::from_str(&state).expect("ascii"),
            ),
        ]
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(caller) = req.extensions().get::<Arc<Caller>>().cloned() else {
        // Open paths (health, OpenAPI) are not limited.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let limiter = req
        .app_data::<web::Data<TeamLimiter>>()
        .cloned()
        .expect("limiter configured");
    let policy = req
        .app_data::<web::Data<Policy>>()
        .cloned()
        .expect("policy configured");
    let team_policy = policy.for_team(&caller.team);
    let arrival = Instant::now();
    let headers = |res: &mut ServiceResponse<BoxBody>| {
        for (k, v) in limiter.headers(&caller.team, team_policy) {
            res.headers_mut().insert(k, v);
        }
    };
    let wait = match limiter.reserve(&caller.team, team_policy) {
        Decision::Go(wait) => wait,
        Decision::Refuse(retry) => {
            let err = GatewayError::RateLimited {
                code: "rate_limited",
                message: "your team's request rate is over its limit".into(),
                retry_after: retry,
            };
            let resp = if crate::auth::is_sdk_path(req.path()) {
                crate::routes::SdkError::from(err).error_response()
            } else {
                err.error_response()
            };
            tracing::debug!(team = %caller.team, retry_after = header_secs(retry), "team limit: refused");
            if let Some(m) = req.app_data::<web::Data<crate::metrics::Metrics>>() {
                m.rejections
                    .with_label_values(&[m.team(&caller.team), "team_limit"])
                    .inc();
            }
            let mut res = req.into_response(resp);
            headers(&mut res);
            return Ok(res);
        }
    };
    if let Some(m) = req.app_data::<web::Data<crate::metrics::Metrics>>() {
        m.caller_wait
            .with_label_values(&[m.team(&caller.team)])
            .observe(wait.as_secs_f64());
    }
    if !wait.is_zero() {
        let _held = Held {
            limiter: &limiter,
            team: caller.team.clone(),
        };
        use tracing::Instrument;
        let span = tracing::info_span!(
            "Waiting for the team's rate limit",
            wait_ms = wait.as_millis() as u64
        );
        actix_rt::time::sleep(wait).instrument(span).await;
    }
    let ctx = RequestContext {
        team: caller.team.clone(),
        weight: team_policy.weight,
        deadline: arrival + limiter.max_wait(team_policy),
        bound: limiter.max_wait(team_policy),
    };
    let mut res = CONTEXT
        .scope(ctx, next.call(req))
        .await?
        .map_into_boxed_body();
    headers(&mut res);
    Ok(res)
}
