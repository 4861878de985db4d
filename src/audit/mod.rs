//! The audit trail: one event per API request (downloads add an end record), chained with
//! SHA-256 (optionally HMAC'd), written to stdout and/or an append-only rotating file,
//! `blocking` (on disk before the response) or `batch` per action, failing closed.
pub(crate) mod chain;
mod event;
mod middleware;
pub mod refusals;
mod retention;
mod settings;
mod sink;
pub mod verify;
mod writer;

pub use event::{now, Event};
pub use middleware::{Audit, AuditLayer};
pub use settings::{AuditSettings, Mode, Modes};
pub use sink::{Sink, SinkStats};
