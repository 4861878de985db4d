//! Request-level primitives below every middleware and handler: what the router decided about
//! a request, its per-request context, the caller's connection, middleware built with its
//! dependencies, and streamed bodies joined into larger writes.
pub mod coalesce;
pub mod context;
pub mod layer;
pub mod peer;
pub mod route;
pub use context::{AuditNote, Ctx, RequestContext, Wait};
pub use route::{Api, Route};
