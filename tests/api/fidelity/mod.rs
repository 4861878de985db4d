//! The simulator in the modes a real tenant shows (issue 17, docs/upstream-fidelity.md),
//! and the gateway coping with each.
mod backoff;
mod credentials;
mod dedup;
mod retention;
mod search_export;
mod task_details;

use crate::helpers::sim_token_response;
use reportgate::simulator::SimulatorHandle;
use serde_json::Value;

/// Calls the simulator directly, as the tenant's own client would (bearer from its token
/// endpoint).
pub struct Tenant {
    base: String,
    bearer: String,
    http: awc::Client,
}

impl Tenant {
    pub async fn of(sim: &SimulatorHandle) -> Self {
        let token = sim_token_response(sim).await;
        Self {
            base: sim.base_url(),
            bearer: format!("Bearer {}", token["access_token"].as_str().unwrap()),
            http: awc::Client::default(),
        }
    }

    /// `(status, body)` of a call on `/v3/reports{path}`.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, bytes::Bytes) {
        let req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/v3/reports{path}", self.base),
            )
            .insert_header(("authorization", self.bearer.as_str()));
        let mut resp = match body {
            Some(b) => req.send_json(&b).await,
            None => req.send().await,
        }
        .unwrap();
        let body = resp.body().limit(1 << 26).await.unwrap();
        (resp.status().as_u16(), body)
    }

    /// A run's `TaskResultDetails`.
    pub async fn run(&self, details: Value) -> Value {
        let (status, body) = self.call("POST", "/run", Some(details)).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}
