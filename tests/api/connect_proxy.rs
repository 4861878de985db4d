//! A small HTTP CONNECT proxy on loopback for the proxy tests: it records every tunnel asked
//! for (target and `Proxy-Authorization`), optionally requires Basic credentials or refuses
//! every tunnel, and relays bytes both ways. It runs on its own thread and runtime, so that
//! both `#[actix_rt::test]`s and plain tests (a child `serve`) can use it.
use base64::Engine;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// The CONNECT target as sent (`host:port`).
    pub target: String,
    pub authorization: Option<String>,
}

#[derive(Clone)]
pub enum Mode {
    /// Opens every tunnel.
    Open,
    /// Opens tunnels only with this user and password (Basic), else 407.
    RequireBasic(String, String),
    /// Answers every CONNECT with this status line, e.g. `403 Forbidden`.
    Refuse(&'static str),
}

pub struct ConnectProxy {
    pub addr: SocketAddr,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
}

impl ConnectProxy {
    pub fn start(mode: Mode) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                while let Ok((client, _)) = listener.accept().await {
                    let (seen, mode) = (seen.clone(), mode.clone());
                    tokio::spawn(async move {
                        let _ = serve(client, mode, seen).await;
                    });
                }
            });
        });
        Self { addr, tunnels }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels.lock().unwrap().clone()
    }
}

async fn serve(
    mut client: TcpStream,
    mode: Mode,
    seen: Arc<Mutex<Vec<Tunnel>>>,
) -> std::io::Result<()> {
    // The client sends nothing after its request head until it has our answer.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let Some(target) = request
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split(' ').next())
    else {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_owned());
    seen.lock().unwrap().push(Tunnel {
        target: target.to_owned(),
        authorization: authorization.clone(),
    });
    let refusal = match &mode {
        Mode::Open => None,
        Mode::Refuse(status) => Some(*status),
        Mode::RequireBasic(user, password) => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            );
            (authorization.as_deref() != Some(&want)).then_some("407 Proxy Authentication Required")
        }
    };
    if let Some(status) = refusal {
        let answer = format!(
            "HTTP/1.1 {status}\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        client.write_all(answer.as_bytes()).await?;
        return Ok(());
    }
    let mut upstream = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(_) => {
            client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await?;
            return Ok(());
        }
    };
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
