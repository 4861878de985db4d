//! Parse-don't-validate types shared by the gateway and the simulator.
pub mod canonical;
pub mod credential;
pub mod report;
pub mod report_id;
pub mod retry_after;
pub mod status;

pub use report::{validate_report, ReportType, ValidationError};
pub use report_id::ReportId;
pub use status::Status;
