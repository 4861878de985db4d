//! The IdentityNow side: settings, TLS, tokens and the report client.
pub mod client;
mod settings;
pub mod tls;
pub mod token;

pub use crate::domain::credential::CredentialKind;
pub use client::{FileDownload, IdentityNow, PathFamily, Upstream};
pub use settings::TenantSettings;
