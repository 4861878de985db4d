//! Callers: who they are (JWT), what they may do (policy), and which reports are theirs
//! (owner-bound ids).
pub mod clients;
mod holders;
mod jwt;
mod keys;
mod middleware;
pub mod mint;
mod policy;
mod report_ids;
pub mod settings;
pub mod webhook;

pub use holders::{Holders, Release};
pub use jwt::Authenticator;
pub use middleware::{bearer, middleware, IdpClient, Refusal};
pub use policy::Policy;
pub use report_ids::{Opened, ReportIds};

/// The authenticated caller, available to handlers as `web::ReqData<Arc<Caller>>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: String,
    pub team: String,
}
