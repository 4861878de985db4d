//! Whether the caller is still there. actix-web keeps running a handler after its client has
//! closed the connection (the HTTP/1 dispatcher polls the handler to completion), so a request
//! held by a rate limit would keep its place and later call upstream for nobody: a POST run
//! would start an export no one receives. So each connection's socket is duplicated when it
//! is accepted (`on_connect`); a request that waits watches the duplicate for the peer's FIN
//! (`EPOLLRDHUP`, surfaced by tokio as "read closed") and leaves when it comes, and the
//! upstream client looks once more (a non-blocking peek) right before it sends.
//!
//! A client that half-closes its side while still reading the answer counts as gone: HTTP
//! clients do not do that (NGINX's `proxy_ignore_client_abort off`, its default, treats it
//! the same way).
use actix_web::dev::Extensions;
use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use tokio::io::Interest;

/// A duplicate of the caller's socket: closing it never closes the connection.
#[derive(Clone, Debug)]
pub struct Peer(Arc<OwnedFd>);

/// `HttpServer::on_connect`: remembers the connection's socket (plain TCP only).
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_rt::net::TcpStream>() {
        if let Ok(fd) = tcp.as_fd().try_clone_to_owned() {
            ext.insert(Peer(Arc::new(fd)));
        }
    }
}

impl Peer {
    /// Whether the caller has closed the connection, right now: a non-blocking peek reads
    /// end-of-stream (the socket is non-blocking, as the server set it up). With unread data
    /// still in front of the FIN this says "still here"; the watch in `gone` sees that case.
    pub fn is_gone(&self) -> bool {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        matches!(socket2::SockRef::from(&*self.0).peek(&mut buf), Ok(0))
    }

    /// Resolves when the caller closes the connection; never otherwise.
    pub async fn gone(&self) {
        // A fresh duplicate per watch: each is registered with this worker's reactor once.
        let watch = self
            .0
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::net::TcpStream::from)
            .and_then(|s| actix_rt::net::TcpStream::from_std(s).ok());
        let Some(watch) = watch else {
            return std::future::pending().await;
        };
        loop {
            match watch.ready(Interest::READABLE).await {
                Ok(r) if !r.is_read_closed() => {}
                _ => return,
            }
            // Readable without FIN: the next request of a pipelining client, or a body the
            // dispatcher has not read yet. Forget this readiness and wait for the next edge
            // (new data or the FIN), so nothing spins.
            let _ = watch.try_io(Interest::READABLE, || {
                Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
            });
        }
    }
}

/// Resolves when the caller is gone; never when there is no peer to watch.
pub async fn gone(peer: Option<&Peer>) {
    match peer {
        Some(p) => p.gone().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    /// (client, the server's end as the dispatcher reads it, the server's end as watched)
    fn pair() -> (std::net::TcpStream, std::net::TcpStream, Peer) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let watched = server.as_fd().try_clone_to_owned().unwrap();
        (client, server, Peer(Arc::new(watched)))
    }

    #[actix_rt::test]
    async fn a_caller_that_closes_is_seen_gone_at_once_and_one_that_sends_more_is_not() {
        let (mut client, mut server, peer) = pair();
        assert!(!peer.is_gone());
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        // Unread data alone is not a departure.
        let waiting = tokio::time::timeout(Duration::from_millis(50), peer.gone()).await;
        assert!(waiting.is_err(), "data without FIN must not count as gone");
        assert!(!peer.is_gone());
        let watch = actix_rt::spawn({
            let peer = peer.clone();
            async move { peer.gone().await }
        });
        tokio::task::yield_now().await;
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), watch)
            .await
            .expect("the FIN wakes the watcher, even behind unread data")
            .unwrap();
        // Once the request is read (as the dispatcher does), the quick look sees it too.
        std::io::Read::read(&mut server, &mut [0u8; 64]).unwrap();
        assert!(peer.is_gone());
    }
}
