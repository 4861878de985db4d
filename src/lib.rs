//! reportgate: one internal front door for the IdentityNow Reports Data Extraction API.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod cache;
pub mod callbacks;
pub mod client;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod healthcheck;
pub mod hex;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod otlp;
pub mod problem;
#[cfg(test)]
mod proptests;
pub mod request_id;
pub mod routes;
pub mod sandbox;
pub mod secret;
pub mod shared;
pub mod simulator;
pub mod startup;
pub mod state;
pub mod strict;
pub mod telemetry;
pub mod upstream;
pub mod urls;
pub mod wire;
