//! A faithful stand-in for the IdentityNow tenant (see `shared/identitynow-api.md`):
//! token endpoint, the four report operations on both path families, the sliding rate
//! limit, expiring tokens, and fault injection. Serves tests, benchmarks and the sandbox.
// Handlers return early with a ready `HttpResponse` as the error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

mod admin;
mod details;
mod download;
mod errors;
mod faults;
mod files;
mod gate;
mod oauth;
mod ratelimit;
mod reports;
mod routes;
mod state;
mod zip;

pub use details::{Level, TaskDetails, TaskMessage};
pub use files::{csv_len, rows_for_size, ROW_BYTES};
pub use ratelimit::{BACKOFF_THRESHOLD, TIER_MEMORY, VIOLATION_WINDOW};
pub use state::{
    default_non_concurrent, ClientKind, CounterSnapshot, FaultAction, FaultRule, Op, Outcome,
    SimConfig, SimState,
};

use actix_web::{dev::ServerHandle, web, App, HttpServer};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Builds a simulator: `Simulator::builder().report_duration(..).start()`.
#[derive(Default)]
pub struct SimulatorBuilder {
    config: SimConfig,
    tls: Option<rustls::ServerConfig>,
    listen: Option<SocketAddr>,
    workers: Option<usize>,
}

pub struct Simulator;

impl Simulator {
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }
}

impl SimulatorBuilder {
    pub fn config(mut self, config: SimConfig) -> Self {
        self.config = config;
        self
    }
    pub fn credentials(mut self, id: &str, secret: &str) -> Self {
        self.config.client_id = id.into();
        self.config.client_secret = secret.into();
        self
    }
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.config.token_ttl = Some(ttl);
        self
    }
    /// The kind of credential the tenant's client is (PAT by default).
    pub fn client_kind(mut self, kind: ClientKind) -> Self {
        self.config.client_kind = kind;
        self
    }
    /// The scopes issued tokens carry (default `sp:scopes:all`).
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.config.scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Back-off tiers in seconds (default 60, 300, 600, 1200); empty turns escalation off.
    pub fn backoff_tiers(mut self, tiers: &[u64]) -> Self {
        self.config.backoff_tiers = tiers.to_vec();
        self
    }
    /// Report types whose running report a second identical start returns instead of a new
    /// one (default: every type but SEARCH_EXPORT); empty turns de-duplication off.
    pub fn non_concurrent(mut self, types: &[crate::domain::ReportType]) -> Self {
        self.config.non_concurrent = types.to_vec();
        self
    }
    /// Forget reports this long after they end (result and file 404), as upstream purges them.
    pub fn retention(mut self, keep: Duration) -> Self {
        self.config.retention = Some(keep);
        self
    }
    pub fn report_duration(mut self, d: Duration) -> Self {
        self.config.report_duration = d;
        self
    }
    pub fn csv_rows(mut self, rows: u64) -> Self {
        self.config.csv_rows = rows;
        self
    }
    /// Requests per window per client id; 0 lifts the limit.
    pub fn rate_limit(mut self, limit: u32, window: Duration) -> Self {
        self.config.rate_limit = limit;
        self.config.rate_window = window;
        self
    }
    /// Serve HTTPS with this server configuration.
    pub fn tls(mut self, tls: rustls::ServerConfig) -> Self {
        self.tls = Some(tls);
        self
    }
    /// Listen here instead of a free loopback port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Binds and starts serving on the current actix/tokio runtime.
    pub fn start(self) -> std::io::Result<SimulatorHandle> {
        let (listener, port_hold) = bind_held(self.listen.unwrap_or(([127, 0, 0, 1], 0).into()))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(self.config));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .configure(routes::configure)
        })
        .workers(self.workers.unwrap_or(2))
        .disable_signals()
        .shutdown_timeout(1);
        let tls = self.tls.is_some();
        let server = match self.tls {
            Some(cfg) => server.listen_rustls_0_23(listener, cfg)?,
            None => server.listen(listener)?,
        }
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(SimulatorHandle {
            addr,
            tls,
            state,
            server: handle,
            _port_hold: Arc::new(port_hold),
        })
    }
}

/// Binds a listener and a second, never-listening socket on the same address (both with
/// `SO_REUSEPORT`). The second one holds the port for as long as the handle lives, so after
/// `stop()` connections are refused instead of reaching whatever else binds the freed port
/// (other tests' servers bind port 0 all the time). A bind to port 0 never shares a port.
fn bind_held(addr: SocketAddr) -> std::io::Result<(TcpListener, socket2::Socket)> {
    use socket2::{Domain, Socket, Type};
    let socket = |addr: SocketAddr| -> std::io::Result<Socket> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        s.set_reuse_port(true)?;
        s.bind(&addr.into())?;
        Ok(s)
    };
    let listener = socket(addr)?;
    listener.listen(1024)?;
    let listener: TcpListener = listener.into();
    let hold = socket(listener.local_addr()?)?;
    Ok((listener, hold))
}

/// A running simulator: its address, counters and fault controls.
#[derive(Clone)]
pub struct SimulatorHandle {
    addr: SocketAddr,
    tls: bool,
    state: Arc<SimState>,
    server: ServerHandle,
    _port_hold: Arc<socket2::Socket>,
}

impl SimulatorHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tenant base URL (`http://127.0.0.1:PORT`), as `tenant.base_url` expects it.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.tls {
            "localhost".to_string()
        } else {
            self.addr.ip().to_string()
        };
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    pub fn counters(&self) -> CounterSnapshot {
        self.state.counters.snapshot()
    }

    /// Report API calls by API version (`v3`, `v2024`, …, `v1` for `/reports/v1`).
    pub fn calls_by_version(&self) -> std::collections::BTreeMap<String, u64> {
        self.state.calls_by_version.lock().unwrap().clone()
    }

    pub fn inject(&self, rule: FaultRule) {
        self.state.add_fault(rule);
    }

    /// Shorthand: the next `times` requests of `op` get `action`.
    pub fn fail_next(&self, op: Op, action: FaultAction, times: u32) {
        self.inject(FaultRule {
            op: Some(op),
            action,
            times: Some(times),
            probability: None,
        });
    }

    /// The `traceparent` header of the last report API call.
    pub fn last_traceparent(&self) -> Option<String> {
        self.state.last_traceparent.lock().unwrap().clone()
    }

    /// When report API calls arrived (real time, oldest first).
    pub fn call_times(&self) -> Vec<std::time::Instant> {
        self.state
            .call_times
            .lock()
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// Revokes every token issued so far (the next API call with one gets 401).
    pub fn revoke_tokens(&self) {
        self.state.revoke_tokens();
    }

    /// Moves the simulator's clock forward (reports progress, tokens expire).
    pub fn advance(&self, by: Duration) {
        self.state.advance(by);
    }

    /// The outcome of reports started from now on.
    pub fn set_outcome(&self, outcome: Outcome) {
        *self.state.next_outcome.lock().unwrap() = outcome;
    }

    /// Task details (launched at once, messages, TEMP_ERROR) of reports started from now on.
    pub fn set_task_details(&self, details: TaskDetails) {
        *self.state.next_details.lock().unwrap() = details;
    }

    /// Stops listening and closes open connections (idle keep-alive ones included, within
    /// the 1 s shutdown timeout): later connections are refused, and the port stays held.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}
