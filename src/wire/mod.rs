//! IdentityNow's API surface as JSON: the gateway's client, its SDK-compatible paths and the
//! simulator all speak it, so it sits below all three.
pub mod models;
