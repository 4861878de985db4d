//! The one lifecycle vocabulary the `/v1` API speaks, mapped from upstream's two.
use serde::{Deserialize, Serialize};

/// The gateway's lifecycle vocabulary.
///
/// Upstream speaks two: `ReportResults.status` (`SUCCESS, FAILURE, WARNING, TERMINATED`,
/// absent while running) and `TaskResultDetails.completionStatus` (`SUCCESS, WARNING, ERROR,
/// TERMINATED, TEMP_ERROR`, null until done). See [`Status::from_upstream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Pending,
    Running,
    Success,
    Warning,
    Failed,
    Cancelled,
}

impl Status {
    /// Maps an upstream status (either vocabulary, any case) to ours. `None` (no status
    /// yet) means the report is running. Unknown values are treated as still running
    /// rather than failing the caller's poll.
    pub fn from_upstream(raw: Option<&str>) -> Self {
        // Compared without case and without an uppercased copy (read on every status read).
        let Some(s) = raw else {
            return Self::Running;
        };
        let is = |name: &str| s.eq_ignore_ascii_case(name);
        if is("SUCCESS") {
            Self::Success
        } else if is("WARNING") {
            Self::Warning
        } else if is("FAILURE") || is("ERROR") || is("TEMP_ERROR") || is("TEMPERROR") {
            Self::Failed
        } else if is("TERMINATED") {
            Self::Cancelled
        } else {
            Self::Running
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }

    /// Whether files can be downloaded in this state.
    pub fn has_files(self) -> bool {
        matches!(self, Self::Success | Self::Warning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_statuses_map_to_one_vocabulary() {
        assert_eq!(Status::from_upstream(None), Status::Running);
        assert_eq!(Status::from_upstream(Some("Success")), Status::Success);
        assert_eq!(Status::from_upstream(Some("FAILURE")), Status::Failed);
        assert_eq!(Status::from_upstream(Some("TEMP_ERROR")), Status::Failed);
        assert_eq!(Status::from_upstream(Some("TERMINATED")), Status::Cancelled);
        assert_eq!(Status::from_upstream(Some("temp_Error")), Status::Failed);
        assert_eq!(Status::from_upstream(Some("warning")), Status::Warning);
        assert_eq!(Status::from_upstream(Some("terminated")), Status::Cancelled);
        assert_eq!(Status::from_upstream(Some("SUCCESS ")), Status::Running);
        assert_eq!(Status::from_upstream(Some("ſuccess")), Status::Running);
    }
}
