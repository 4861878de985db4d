//! The simulator in the modes a real tenant shows (issue 17, docs/upstream-fidelity.md),
//! and the gateway coping with each.
mod backoff;
mod credentials;
mod search_export;
