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
pub use middleware::{bearer, Authentication, IdpClient, Refusal};
pub use policy::Policy;
pub use report_ids::{Opened, ReportIds};

/// The authenticated caller, available to handlers as `web::ReqData<Arc<Caller>>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller claim (`sub` by default), as logged and audited.
    pub id: String,
    /// The token's `iss`.
    pub issuer: String,
    /// Who the caller is across issuers: `iss` and the caller claim together, so that two
    /// issuers' `alice` are two callers (owner of their reports under caller ownership).
    pub identity: String,
    pub team: String,
    /// Whether `team` came from the team claim (else it is the caller's own id).
    pub team_claimed: bool,
}

impl Caller {
    pub fn new(issuer: &str, id: String, team: Option<String>) -> Self {
        // Length-prefixed, so that no (iss, sub) pair can spell another.
        let identity = format!("{}:{issuer}:{id}", issuer.len());
        Self {
            team_claimed: team.is_some(),
            team: team.unwrap_or_else(|| id.clone()),
            issuer: issuer.to_owned(),
            identity,
            id,
        }
    }
}
