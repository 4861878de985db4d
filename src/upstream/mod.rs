//! The IdentityNow side: settings, TLS, tokens and the report client.
pub mod client;
pub mod dial;
mod no_proxy;
pub mod proxy;
mod settings;
pub mod tls;
pub mod token;

pub use crate::domain::credential::CredentialKind;
pub use client::{FileDownload, IdentityNow, PathFamily, Upstream};
pub use proxy::{Egress, ProxyEnvironment, ProxySettings};
pub use settings::TenantSettings;
