//! The `/__sim` admin API: counters, faults, revocation, clock, outcomes and task details.
use super::routes::State;
use super::state::{FaultRule, Outcome};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::time::Duration;

pub(super) async fn admin_counters(state: State) -> HttpResponse {
    HttpResponse::Ok().json(state.counters.snapshot())
}

pub(super) async fn admin_list_faults(state: State) -> HttpResponse {
    HttpResponse::Ok().json(state.faults())
}

pub(super) async fn admin_add_fault(state: State, rule: web::Json<FaultRule>) -> HttpResponse {
    state.add_fault(rule.into_inner());
    HttpResponse::Created().json(state.faults())
}

pub(super) async fn admin_clear_faults(state: State) -> HttpResponse {
    state.clear_faults();
    HttpResponse::NoContent().finish()
}

pub(super) async fn admin_revoke(state: State) -> HttpResponse {
    state.revoke_tokens();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
pub(super) struct Advance {
    seconds: u64,
}

pub(super) async fn admin_advance(state: State, body: web::Json<Advance>) -> HttpResponse {
    state.advance(Duration::from_secs(body.seconds));
    HttpResponse::NoContent().finish()
}

pub(super) async fn admin_outcome(state: State, body: web::Json<Outcome>) -> HttpResponse {
    *state.next_outcome.lock().unwrap() = body.into_inner();
    HttpResponse::NoContent().finish()
}

pub(super) async fn admin_task_details(
    state: State,
    body: web::Json<super::details::TaskDetails>,
) -> HttpResponse {
    *state.next_details.lock().unwrap() = body.into_inner();
    HttpResponse::NoContent().finish()
}
