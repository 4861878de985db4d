//! Each team's own limit, applied after authentication and before the upstream budget.
//! Over the limit a request is held until its slot, if that is within the wait bound;
//! otherwise, or when the queues are full, it gets 429 at once. Every response carries the
//! IETF `RateLimit-Policy` / `RateLimit` fields describing the caller's own limit.
//! With Redis the team's GCRA lives there (`shared::scripts::TEAM_LIMIT`), so the limit holds
//! across replicas; while Redis is down each replica applies its `fallback_share` of it.
use super::gcra::Gcra;
use crate::auth::settings::TeamPolicy;
use crate::auth::{Caller, Policy};
use crate::domain::retry_after::header_secs;
use crate::error::GatewayError;
use crate::http::peer::{self, Peer};
use crate::http::{RequestContext, Wait};
use crate::metrics::Metrics;
use crate::shared::{scripts, SharedStore};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
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
    shared: Option<Arc<SharedStore>>,
}

/// Gives back a held request's place in the queue, however the request ends.
struct Held<'a> {
    limiter: &'a TeamLimiter,
    team: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.limiter.give_place(&self.team);
    }
}

enum Decision {
    Go(Duration),
    Refuse(Duration),
}

/// The team's bucket after a decision: (requests left, time until it is full again).
type Snapshot = (u32, Duration);

impl TeamLimiter {
    pub fn new(settings: &super::LimitSettings) -> Self {
        Self::with_store(settings, None)
    }

    pub fn with_store(settings: &super::LimitSettings, shared: Option<Arc<SharedStore>>) -> Self {
        Self {
            teams: Mutex::new((HashMap::new(), 0)),
            max_wait: settings.max_wait,
            queue_per_team: settings.queue_per_team,
            queue_global: settings.queue_global,
            shared,
        }
    }

    /// Requests held right now until their team's slot.
    pub fn held(&self) -> usize {
        self.teams.lock().unwrap().1
    }

    pub fn max_wait(&self, p: &TeamPolicy) -> Duration {
        p.max_wait.unwrap_or(self.max_wait)
    }

    /// Decides in Redis when it is up, else locally.
    async fn decide(&self, team: &str, p: &TeamPolicy) -> (Decision, Snapshot) {
        if let Some(store) = self.shared.as_ref().filter(|s| s.is_up()) {
            if let Some(d) = self.decide_shared(store, team, p).await {
                return d;
            }
        }
        self.reserve(team, p)
    }

    async fn decide_shared(
        &self,
        store: &SharedStore,
        team: &str,
        p: &TeamPolicy,
    ) -> Option<(Decision, Snapshot)> {
        // The local queue bound comes first: a request with no place to be held may book a
        // slot in Redis only if it can go at once (a wait bound of zero), so a refused request
        // never spends the team's rate (issue 22 item 3).
        let place = self.take_place(team, p);
        let bound = if place {
            self.max_wait(p)
        } else {
            Duration::ZERO
        };
        let interval = Duration::from_secs_f64(1.0 / p.rate.max(1e-6));
        let reply = Self::book_shared(store, team, p, bound.as_micros() as i64).await;
        let keep = matches!(reply, Some((1, wait_us, _)) if wait_us > 0);
        if place && !keep {
            self.give_place(team);
        }
        let (ok, wait_us, ahead_us) = reply?;
        let (wait, ahead) = (
            Duration::from_micros(wait_us),
            Duration::from_micros(ahead_us),
        );
        let used = ahead.as_secs_f64() / interval.as_secs_f64();
        let remaining = (f64::from(p.burst) - used)
            .floor()
            .clamp(0.0, f64::from(p.burst)) as u32;
        let snapshot = (remaining, ahead);
        if ok == 0 {
            return Some((Decision::Refuse(wait), snapshot));
        }
        Some((Decision::Go(wait), snapshot))
    }

    /// The team's limit in Redis: books a slot if its wait is within `bound_us` (a negative
    /// bound only reads the wait). Returns (booked, wait_us, ahead_us); `None` if Redis failed.
    async fn book_shared(
        store: &SharedStore,
        team: &str,
        p: &TeamPolicy,
        bound_us: i64,
    ) -> Option<(u8, u64, u64)> {
        let interval = Duration::from_secs_f64(1.0 / p.rate.max(1e-6));
        let mut call = scripts::TEAM_LIMIT.prepare_invoke();
        call.key(store.key(&["team", team]))
            .arg(interval.as_micros() as u64)
            .arg((interval * p.burst.max(1).saturating_sub(1)).as_micros() as u64)
            .arg(bound_us);
        store
            .run(|mut c| async move { call.invoke_async(&mut c).await })
            .await
    }

    /// Whether a request of the team would be within its limit now (nothing is booked).
    /// A long-poll asks before a re-read that would go upstream.
    pub async fn has_room(&self, team: &str, p: &TeamPolicy) -> bool {
        if let Some(store) = self.shared.as_ref().filter(|s| s.is_up()) {
            if let Some((_, wait_us, _)) = Self::book_shared(store, team, p, -1).await {
                return wait_us == 0;
            }
        }
        let mut guard = self.teams.lock().unwrap();
        let t = guard
            .0
            .entry(team.to_owned())
            .or_insert_with(|| self.local_state(p));
        t.gcra.wait(Instant::now()).is_zero()
    }

    /// Books one slot of the team's limit whatever its wait: an upstream call made on the
    /// team's behalf without a request of its own (a long-poll's re-read) is paid after the
    /// fact, so the team's next requests and re-reads wait for it.
    pub async fn charge(&self, team: &str, p: &TeamPolicy) {
        if let Some(store) = self.shared.as_ref().filter(|s| s.is_up()) {
            if Self::book_shared(store, team, p, i64::MAX).await.is_some() {
                return;
            }
        }
        let mut guard = self.teams.lock().unwrap();
        let t = guard
            .0
            .entry(team.to_owned())
            .or_insert_with(|| self.local_state(p));
        t.gcra.reserve(Instant::now());
    }

    /// Takes a place in the local hold queue, if there is one.
    fn take_place(&self, team: &str, p: &TeamPolicy) -> bool {
        let mut guard = self.teams.lock().unwrap();
        let (teams, total) = &mut *guard;
        let t = teams
            .entry(team.to_owned())
            .or_insert_with(|| self.local_state(p));
        if t.waiting >= self.queue_per_team || *total >= self.queue_global {
            return false;
        }
        t.waiting += 1;
        *total += 1;
        true
    }

    fn give_place(&self, team: &str) {
        let mut guard = self.teams.lock().unwrap();
        let (teams, total) = &mut *guard;
        if let Some(t) = teams.get_mut(team) {
            t.waiting -= 1;
        }
        *total -= 1;
    }

    fn local_state(&self, p: &TeamPolicy) -> TeamState {
        // As fallback for a shared limit, this replica takes its share of the team's rate.
        let share = self.shared.as_ref().map_or(1.0, |s| s.fallback_share());
        TeamState {
            gcra: Gcra::per_second(p.rate * share, p.burst),
            waiting: 0,
        }
    }

    fn reserve(&self, team: &str, p: &TeamPolicy) -> (Decision, Snapshot) {
        let now = Instant::now();
        let mut guard = self.teams.lock().unwrap();
        let (teams, total) = &mut *guard;
        // A known team is looked up by &str: `entry` would allocate its name every request.
        if !teams.contains_key(team) {
            teams.insert(team.to_owned(), self.local_state(p));
        }
        let t = teams.get_mut(team).expect("inserted above");
        let wait = t.gcra.wait(now);
        if wait > self.max_wait(p) {
            return (Decision::Refuse(wait), t.gcra.remaining(now, p.burst));
        }
        if !wait.is_zero() {
            if t.waiting >= self.queue_per_team || *total >= self.queue_global {
                return (Decision::Refuse(wait), t.gcra.remaining(now, p.burst));
            }
            t.waiting += 1;
            *total += 1;
        }
        t.gcra.reserve(now);
        (Decision::Go(wait), t.gcra.remaining(now, p.burst))
    }

    /// `RateLimit-Policy` and `RateLimit` for the team (draft-ietf-httpapi-ratelimit-headers),
    /// each written into one buffer handed to the header as is (two `format!`s and a copy
    /// of each into the header before).
    fn headers(p: &TeamPolicy, (remaining, reset): Snapshot) -> [(HeaderName, HeaderValue); 2] {
        let window = (f64::from(p.burst) / p.rate).ceil().max(1.0) as u64;
        let reset = reset.as_secs_f64().ceil() as u64;
        let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (q, w) = (a.format(p.burst).as_bytes(), b.format(window).as_bytes());
        let policy = header_value(&[b"\"team\";q=", q, b";w=", w]);
        let (r, t) = (a.format(remaining).as_bytes(), b.format(reset).as_bytes());
        let state = header_value(&[b"\"team\";r=", r, b";t=", t]);
        [
            (HeaderName::from_static("ratelimit-policy"), policy),
            (HeaderName::from_static("ratelimit"), state),
        ]
    }
}

fn header_value(parts: &[&[u8]]) -> HeaderValue {
    let mut v = Vec::with_capacity(48);
    for part in parts {
        v.extend_from_slice(part);
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(v)).expect("ascii")
}

/// The team-limit middleware, built with the limiter, the teams' policies and the metrics
/// (see `http::layer`).
pub struct TeamLimit {
    limiter: Arc<TeamLimiter>,
    policy: Arc<Policy>,
    metrics: Arc<Metrics>,
}

impl TeamLimit {
    pub fn new(limiter: Arc<TeamLimiter>, policy: Arc<Policy>, metrics: Arc<Metrics>) -> Self {
        Self {
            limiter,
            policy,
            metrics,
        }
    }
}

crate::http::layer::layer!(TeamLimit, middleware);

async fn middleware(
    deps: &TeamLimit,
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
    let (limiter, policy) = (&deps.limiter, &deps.policy);
    let team_policy = policy.for_team(&caller.team);
    let arrival = Instant::now();
    let (decision, snapshot) = limiter.decide(&caller.team, team_policy).await;
    let headers = |res: &mut ServiceResponse<BoxBody>| {
        for (k, v) in TeamLimiter::headers(team_policy, snapshot) {
            res.headers_mut().insert(k, v);
        }
    };
    let wait = match decision {
        Decision::Go(wait) => wait,
        Decision::Refuse(retry) => {
            let err = GatewayError::RateLimited {
                code: "rate_limited",
                message: "your team's request rate is over its limit".into(),
                retry_after: retry,
            };
            let resp = if crate::http::Route::of(&req).api.is_sdk() {
                crate::error::SdkError::from(err).error_response()
            } else {
                err.error_response()
            };
            tracing::debug!(team = %caller.team, retry_after = header_secs(retry), "team limit: refused");
            let m = &deps.metrics;
            m.rejections
                .with_label_values(&[m.team(&caller.team), "team_limit"])
                .inc();
            let mut res = req.into_response(resp);
            headers(&mut res);
            return Ok(res);
        }
    };
    let m = &deps.metrics;
    m.caller_wait
        .with_label_values(&[m.team(&caller.team)])
        .observe(wait.as_secs_f64());
    let peer = req.conn_data::<Peer>().cloned();
    if !wait.is_zero() {
        let _held = Held {
            limiter,
            team: caller.team.clone(),
        };
        use tracing::Instrument;
        let span = tracing::info_span!(
            "Waiting for the team's rate limit",
            wait_ms = wait.as_millis() as u64
        );
        let held = actix_rt::time::sleep(wait).instrument(span);
        tokio::select! {
            _ = held => {}
            _ = peer::gone(peer.as_ref()) => {
                // The caller hung up while held: it leaves the queue and goes nowhere.
                tracing::debug!(team = %caller.team, "caller left while held by the team limit");
                let m = &deps.metrics;
                m.abandoned
                    .with_label_values(&[m.team(&caller.team), "team_limit"])
                    .inc();
                let err = GatewayError::Upstream(crate::error::UpstreamError::Abandoned);
                return Ok(req.into_response(err.error_response()));
            }
        }
    }
    RequestContext::of(&req).set_wait(Wait {
        team: caller.team.clone(),
        weight: team_policy.weight,
        deadline: arrival + limiter.max_wait(team_policy),
        bound: limiter.max_wait(team_policy),
        peer,
    });
    let mut res = next.call(req).await?.map_into_boxed_body();
    headers(&mut res);
    Ok(res)
}
