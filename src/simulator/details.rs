//! Task details a real tenant shows and a plain simulated run does not (issue 17, item 5):
//! a run answered with `launched` already set (the spec's example), `messages` with WARN or
//! ERROR entries (e.g. accounts that failed to correlate), and `completionStatus`
//! `TEMP_ERROR` (SPEC-V3 `TaskResultDetails.yaml`). Set through the admin API
//! (`POST /__sim/task-details`) or [`super::SimulatorHandle::set_task_details`]; they apply
//! to reports started from then on.
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDetails {
    /// The run answer carries `launched` already (else it is set after the first tenth of
    /// the run, `null` before).
    #[serde(default)]
    pub launched: bool,
    /// Messages the task carries: in the run answer, and in the result once it has ended
    /// (results carrying them is an inference: `ReportResults` declares no `messages`).
    #[serde(default)]
    pub messages: Vec<TaskMessage>,
    /// The run answer ends the task at once with `completionStatus: TEMP_ERROR` (it could
    /// not be started for now); its result says `FAILURE` (the nearest `ReportResults`
    /// status) and it has no files.
    #[serde(default)]
    pub temp_error: bool,
}

/// One `messages[]` entry (SPEC-V3 `TaskResultDetails.messages`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskMessage {
    #[serde(rename = "type")]
    pub level: Level,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub localized_text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl TaskMessage {
    pub fn new(level: Level, key: &str, text: &str) -> Self {
        Self {
            level,
            key: key.into(),
            localized_text: text.into(),
        }
    }

    /// The message as upstream sends it, with its `error`/`warning` flags.
    pub fn to_json(&self) -> Value {
        json!({
            "type": self.level,
            "error": self.level == Level::Error,
            "warning": self.level == Level::Warn,
            "key": self.key,
            "localizedText": self.localized_text,
        })
    }
}

impl TaskDetails {
    pub fn messages_json(&self) -> Vec<Value> {
        self.messages.iter().map(TaskMessage::to_json).collect()
    }
}
