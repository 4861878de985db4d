//! Request-level primitives below every middleware and handler: what the router decided about
//! a request, its per-request context, and header formats.
pub mod layer;
pub mod route;
pub use route::{Api, Route};
