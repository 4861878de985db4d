//! The IdentityNow side: settings, TLS, tokens and the report client.
pub mod client;
pub mod dial;
mod download;
mod family;
mod no_proxy;
pub mod proxy;
mod settings;
mod setup;
pub mod tls;
pub mod token;

pub use crate::domain::credential::CredentialKind;
pub use client::IdentityNow;
pub use download::FileDownload;
pub use family::PathFamily;
pub use proxy::{Egress, ProxyEnvironment, ProxySettings};
pub use settings::TenantSettings;
pub use setup::Upstream;
