//! The TCP connector awc uses for every new upstream connection: direct, or a `CONNECT`
//! tunnel through the egress proxy. The tunnel is opened with the target's *name*
//! (`CONNECT acme.api.identitynow.com:443`), so the proxy resolves it and nothing is looked up
//! here; awc then speaks TLS through the tunnel with the usual rustls configuration (SNI and
//! certificate checks are for the tenant's name, as without a proxy). Plain `http://`
//! targets (loopback tests, a local sidecar) are tunnelled the same way.
use super::proxy::{Egress, ProxyEndpoint};
use actix_rt::net::TcpStream;
use actix_tls::connect::{
    ConnectError, ConnectInfo, Connection, Connector as TcpConnector, ConnectorService,
};
use actix_web::dev::Service;
use actix_web::http::Uri;
use futures_util::future::LocalBoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A proxy's answer to `CONNECT` that is not 2xx, or a proxy that cannot be reached. Carried
/// inside the connect error so that callers can be told it was the proxy, not IdentityNow.
/// Holds no credentials: neither the request sent nor the proxy's body is kept.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProxyFailure {
    #[error("the egress proxy refused the tunnel: {status}")]
    Refused { status: String },
    #[error("the egress proxy could not be reached: {0}")]
    Unreachable(String),
    #[error("the egress proxy broke the tunnel request: {0}")]
    Broken(String),
}

impl ProxyFailure {
    /// The failure behind an awc connect error, if it is one of ours.
    pub fn of(e: &awc::error::ConnectError) -> Option<&Self> {
        match e {
            awc::error::ConnectError::Io(io) => io.get_ref()?.downcast_ref::<Self>(),
            _ => None,
        }
    }

    fn into_connect_error(self) -> ConnectError {
        ConnectError::Io(std::io::Error::other(self))
    }
}

/// awc's TCP connector service, with the proxy decision in front of it.
#[derive(Clone)]
pub struct Dialer {
    direct: ConnectorService,
    egress: Egress,
}

impl Dialer {
    pub fn new(egress: Egress) -> Self {
        Self {
            direct: TcpConnector::default().service(),
            egress,
        }
    }
}

/// An awc connector dialling through `egress`, with `tls` for https targets.
pub fn connector(egress: &Egress, tls: Arc<rustls::ClientConfig>) -> awc::Connector<Dialer> {
    awc::Connector::new()
        .connector(Dialer::new(egress.clone()))
        .rustls_0_23(tls)
}

impl Service<ConnectInfo<Uri>> for Dialer {
    type Response = Connection<Uri, TcpStream>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let scheme = req.request().scheme_str().unwrap_or("http").to_owned();
        let proxy = self
            .egress
            .route(&scheme, req.hostname(), req.port())
            .cloned();
        let direct = self.direct.clone();
        match proxy {
            None => Box::pin(direct.call(req)),
            Some(proxy) => Box::pin(async move {
                let target = format!("{}:{}", req.hostname(), req.port());
                let to_proxy = ConnectInfo::new(proxy.host.clone()).set_port(proxy.port);
                // An IP literal (brackets and all, for v6) is dialled as is, not looked up.
                let bare = proxy.host.trim_start_matches('[').trim_end_matches(']');
                let to_proxy = match bare.parse::<std::net::IpAddr>() {
                    Ok(ip) => to_proxy.set_addr(std::net::SocketAddr::new(ip, proxy.port)),
                    Err(_) => to_proxy,
                };
                let stream = direct
                    .call(to_proxy)
                    .await
                    .map_err(|e| {
                        let why = match e {
                            ConnectError::Io(io) => io.to_string(),
                            other => other.to_string(),
                        };
                        ProxyFailure::Unreachable(why).into_connect_error()
                    })?
                    .into_parts()
                    .0;
                let stream = tunnel(stream, &target, &proxy)
                    .await
                    .map_err(ProxyFailure::into_connect_error)?;
                tracing::debug!(%target, proxy = %proxy.shown, "tunnel opened");
                Ok(Connection::new(req.request().clone(), stream))
            }),
        }
    }
}

/// The longest proxy answer head read; a proxy sending more is broken.
const MAX_HEAD: usize = 8 * 1024;

/// Asks the proxy for a tunnel to `target` (`host:port`) and reads its answer head. Read a
/// byte at a time: whatever follows the head belongs to the tunnel and must stay unread.
async fn tunnel(
    mut stream: TcpStream,
    target: &str,
    proxy: &ProxyEndpoint,
) -> Result<TcpStream, ProxyFailure> {
    let broken = |e: std::io::Error| ProxyFailure::Broken(e.to_string());
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = &proxy.authorization {
        head.push_str("Proxy-Authorization: ");
        head.push_str(auth.expose());
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.map_err(broken)?;
    drop(head);
    let mut answer = Vec::with_capacity(128);
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_HEAD {
            return Err(ProxyFailure::Broken("answer head too long".into()));
        }
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await.map_err(broken)? {
            0 => return Err(ProxyFailure::Broken("closed before answering".into())),
            _ => answer.push(byte[0]),
        }
    }
    let line = answer.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.")
        || code.len() != 3
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ProxyFailure::Broken("not an HTTP answer".into()));
    }
    if code.starts_with('2') {
        return Ok(stream);
    }
    // The status and its reason (printable ASCII, capped): nothing else of the answer.
    let reason: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(64)
        .collect();
    Err(ProxyFailure::Refused {
        status: format!("{code} {reason}").trim_end().to_owned(),
    })
}
