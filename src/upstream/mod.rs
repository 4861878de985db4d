//! The IdentityNow side: settings, TLS, tokens and the report client.
pub mod client;
pub mod credential;
mod settings;
pub mod tls;
pub mod token;

pub use client::{FileDownload, IdentityNow, PathFamily, Upstream};
pub use credential::CredentialKind;
pub use settings::TenantSettings;
