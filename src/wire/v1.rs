//! The gateway's own `/v1` resource shapes (camelCase), built from upstream's answers:
//! what a report looks like to a `/v1` caller, its links, messages and the error body.
use crate::domain::Status;
use crate::wire::models::{ReportResults, TaskResultDetails};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where to go next with a report.
#[derive(Serialize, ToSchema)]
pub struct Links {
    #[serde(rename = "self")]
    pub(crate) self_: String,
    pub(crate) cancel: String,
    /// Download links by format, once the report has files.
    pub(crate) files: BTreeMap<String, String>,
}

/// A report as the gateway presents it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub(crate) id: String,
    /// The upstream report type (usually one of the seven run types).
    #[serde(rename = "type")]
    pub(crate) report_type: Option<String>,
    pub(crate) status: Status,
    pub(crate) rows: Option<i64>,
    pub(crate) duration_ms: Option<i64>,
    /// Lower-case formats the file endpoint serves (`csv`, `pdf`).
    pub(crate) available_formats: Vec<String>,
    pub(crate) created_at: Option<String>,
    pub(crate) completed_at: Option<String>,
    /// What upstream's task says while running (e.g. `Initializing...`), when it says it.
    pub(crate) progress: Option<String>,
    /// Upstream's task messages, e.g. WARN entries for accounts that failed to correlate
    /// in a WARNING report, or the ERROR behind a failure. Empty when upstream sent none.
    pub(crate) messages: Vec<ReportMessage>,
    pub(crate) links: Links,
    /// In the answer to a run: `true` when `maxAge` handed over an identical report (finished
    /// within that age, or joined while running) instead of starting one. Absent on reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reused: Option<bool>,
}

/// One of upstream's task messages.
#[derive(Serialize, ToSchema)]
pub struct ReportMessage {
    /// `INFO`, `WARN` or `ERROR` (upstream's value as sent, when it sends another).
    #[serde(rename = "type")]
    pub(crate) level: String,
    /// Upstream's message key, when it sends one.
    pub(crate) key: Option<String>,
    /// The message text (upstream's `localizedText`).
    pub(crate) text: Option<String>,
}

impl ReportMessage {
    /// From upstream's message object; the level from `type`, else its `error`/`warning` flags.
    fn from_upstream(v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let flag = |k: &str| v.get(k).and_then(Value::as_bool) == Some(true);
        let level = s("type").unwrap_or_else(|| {
            if flag("error") {
                "ERROR".into()
            } else if flag("warning") {
                "WARN".into()
            } else {
                "INFO".into()
            }
        });
        Self {
            level,
            key: s("key"),
            text: s("localizedText").or_else(|| s("text")),
        }
    }

    fn all(messages: &[Value]) -> Vec<Self> {
        messages.iter().map(Self::from_upstream).collect()
    }
}

/// The error body of every `/v1` error.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable code, e.g. `invalid_argument`, `report_not_found`, `upstream_timeout`.
    pub(crate) error: String,
    pub(crate) message: String,
    pub(crate) request_id: String,
}

/// Upstream timestamps in UTC RFC 3339; timezone-less ones (seen in the wild) are taken as UTC.
pub(crate) fn normalize_time(raw: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    let raw = raw?;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

fn fmt_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Report {
    pub(crate) fn new(
        id: &str,
        report_type: Option<String>,
        status: Status,
        formats: Vec<String>,
    ) -> Self {
        let base = format!("/v1/reports/{id}");
        let files = if status.has_files() {
            formats
                .iter()
                .map(|f| (f.clone(), format!("{base}/file?format={f}")))
                .collect()
        } else {
            BTreeMap::new()
        };
        Self {
            id: id.to_owned(),
            report_type,
            status,
            rows: None,
            duration_ms: None,
            available_formats: formats,
            created_at: None,
            completed_at: None,
            reused: None,
            progress: None,
            messages: vec![],
            links: Links {
                cancel: format!("{base}/cancel"),
                self_: base,
                files,
            },
        }
    }

    pub(crate) fn from_task(t: &TaskResultDetails) -> Self {
        let status = match t.completion_status.as_deref() {
            Some(s) => Status::from_upstream(Some(s)),
            None if t.launched.is_none() => Status::Pending,
            None => Status::Running,
        };
        let mut r = Self::new(&t.id, t.report_type.clone(), status, vec![]);
        r.created_at = normalize_time(t.created.as_deref()).map(fmt_time);
        r.completed_at = normalize_time(t.completed.as_deref()).map(fmt_time);
        r.progress = t.progress.clone();
        r.messages = ReportMessage::all(&t.messages);
        r
    }

    /// How many download links the report carries.
    pub(crate) fn files(&self) -> usize {
        self.links.files.len()
    }

    pub(crate) fn from_results(r: &ReportResults) -> Self {
        let status = Status::from_upstream(r.status.as_deref());
        let formats = r
            .available_formats
            .iter()
            .map(|f| f.to_ascii_lowercase())
            .collect();
        let mut out = Self::new(&r.id, r.report_type.clone(), status, formats);
        let created = normalize_time(r.created.as_deref());
        out.rows = r.rows;
        out.duration_ms = r.duration;
        out.created_at = created.map(fmt_time);
        out.progress = r.progress.clone();
        out.messages = ReportMessage::all(&r.messages);
        if status.is_terminal() {
            out.completed_at = created
                .zip(r.duration)
                .map(|(c, d)| fmt_time(c + chrono::Duration::milliseconds(d)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_less_upstream_times_are_read_as_utc() {
        let t = normalize_time(Some("2024-07-01T22:35:38.709")).unwrap();
        assert_eq!(fmt_time(t), "2024-07-01T22:35:38.709Z");
        assert!(normalize_time(Some("2020-09-07T42:14:00.364Z")).is_none());
    }
}
