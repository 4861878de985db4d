//! Black-box tests: the real gateway over HTTP against the real simulator, on loopback,
//! port 0.
mod abandon;
mod audit;
mod auth;
mod caching;
mod callbacks;
mod cli;
mod deadlines;
mod errors;
mod faults;
mod fidelity;
mod helpers;
mod https;
mod limits;
mod observability;
mod policy;
mod ranges;
mod report_cli;
mod reports;
mod sdk_arguments;
mod sdk_files;
mod sdk_paths;
mod security;
mod shared;
mod shared_limits;
mod simulator;
mod tokens;
