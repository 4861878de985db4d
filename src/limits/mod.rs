//! Rate limits: each team's own limit (held, then 429) and the one shared upstream budget
//! (paced, paused on upstream 429s, shared fairly by weight).
pub mod anonymous;
pub mod budget;
pub mod gcra;
mod grant_guard;
pub mod long_polls;
mod middleware;
mod settings;

pub use budget::{BudgetConfig, Refusal, UpstreamBudget};
pub use grant_guard::GrantGuard;
pub use middleware::{TeamLimit, TeamLimiter};
pub use settings::LimitSettings;
