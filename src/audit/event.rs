//! One audit record, as a typed struct serialized straight to its JSON line (a map of
//! `serde_json::Value`s cost an allocation per field on every request).
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time: String,
    pub request_id: String,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub method: String,
    pub api: &'static str,
    pub action: &'static str,
    pub caller: String,
    pub team: String,
    pub report_id: Option<String>,
    pub upstream_id: Option<String>,
    pub report_type: Option<String>,
    pub arguments: Option<Value>,
    pub outcome: &'static str,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub tracking_id: Option<String>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    /// A run answered with another run's report (`maxAge`): that report's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// The record time: UTC, milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Event {
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("an audit event serializes")
    }

    /// The request was refused because the audit trail could not keep its record.
    pub fn refused(mut self) -> Self {
        self.outcome = "error";
        self.status = 503;
        self.reason = Some("audit_unavailable");
        self
    }
}
