//! The IdentityNow side: wire models, tokens and the report client.
pub mod client;
pub mod models;
pub mod tls;
pub mod token;

pub use client::{FileDownload, IdentityNow, PathFamily, Upstream};
