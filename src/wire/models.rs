//! The upstream's wire shapes (SPEC-V3), camelCase as IdentityNow sends them.
//!
//! Every field is optional or defaulted on the way in: real responses differ from the
//! spec (unknown `reportType`s, timezone-less `created`), and a poll must not fail over that.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `TaskResultDetails`, the response of `run`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResultDetails {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub report_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_def_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parent_name: Option<String>,
    #[serde(default)]
    pub launcher: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub launched: Option<String>,
    #[serde(default)]
    pub completed: Option<String>,
    #[serde(default)]
    pub completion_status: Option<String>,
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub returns: Vec<Value>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
    #[serde(default)]
    pub progress: Option<String>,
}

/// `ReportResults`, the response of `result`. `status` is absent while a report runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportResults {
    #[serde(default)]
    pub report_type: Option<String>,
    #[serde(default)]
    pub task_def_name: Option<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    #[serde(default)]
    pub available_formats: Vec<String>,
    /// Not declared by `ReportResults`: kept when upstream sends them (task messages, e.g.
    /// WARN entries of a WARNING report), so `/v1` can show them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}

/// `ErrorMessageDto`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessageDto {
    pub locale: Option<String>,
    pub locale_origin: Option<String>,
    pub text: String,
}

/// `ErrorResponseDto`, the body of upstream 400, 403, 404 and 500.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponseDto {
    pub detail_code: String,
    pub tracking_id: String,
    pub messages: Vec<ErrorMessageDto>,
    #[serde(default)]
    pub causes: Vec<ErrorMessageDto>,
}

impl ErrorResponseDto {
    pub fn new(detail_code: &str, tracking_id: &str, text: impl Into<String>) -> Self {
        Self {
            detail_code: detail_code.to_owned(),
            tracking_id: tracking_id.to_owned(),
            messages: vec![ErrorMessageDto {
                locale: Some("en-US".into()),
                locale_origin: Some("DEFAULT".into()),
                text: text.into(),
            }],
            causes: vec![],
        }
    }
}

/// The token endpoint's answer. Only the fields the gateway uses are required.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    pub expires_in: u64,
    /// Set only for a personal access token (user context); absent for an API client.
    #[serde(default)]
    pub identity_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}
