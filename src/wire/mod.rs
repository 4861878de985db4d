//! IdentityNow's API surface as JSON: the gateway's client, its SDK-compatible paths and the
//! simulator all speak it, so it sits below all three. `v1` holds the gateway's own `/v1`
//! resource shapes, built from upstream's.
pub mod form;
pub mod models;
pub mod v1;
