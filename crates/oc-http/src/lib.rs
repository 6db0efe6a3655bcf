//! Serving an axum router so that no client can stop the server (the HTTP API of `opencoll
//! serve` and the portal). `axum::serve` gives a connection no deadline: a client that sends
//! half a request and waits keeps its connection, and enough of them exhaust the process's
//! file descriptors (slowloris). Here a connection must send its first byte, and each
//! request's headers (also between requests of a kept-alive connection), within a deadline;
//! no connection lives longer than `max_lifetime` (slow bodies, clients that never read);
//! and connections beyond a cap wait in the kernel's backlog instead of being accepted.
//! HTTP/1.1 only: hyper's protocol detection for HTTP/2 waits without a deadline, and the
//! servers sit behind proxies that speak HTTP/2 to browsers if needed.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (the first, and each next one on a
    /// kept-alive connection) before its connection is closed.
    pub header_timeout: Duration,
    /// Longest a connection is kept, whatever it does.
    pub max_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            max_lifetime: Duration::from_secs(30 * 60),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes. Handlers see the client's address
/// as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => return Ok(()),
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept…: the
                    // listener itself is fine, try again shortly.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let service = app
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                req
            })
            .map_err(|e: Infallible| match e {});
        tokio::spawn(async move {
            // A silent client (not even the first byte) is cut at the same deadline.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => {
                    drop(permit);
                    return;
                }
            }
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            match tokio::time::timeout(limits.max_lifetime, conn).await {
                Ok(Err(e)) => tracing::debug!("connection from {remote}: {e}"),
                Err(_) => tracing::debug!("connection from {remote}: lifetime over"),
                Ok(Ok(())) => {}
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start(limits: Limits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/",
            axum::routing::get(|ConnectInfo(from): ConnectInfo<SocketAddr>| async move {
                format!("bonjour {}", from.ip())
            }),
        );
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        addr
    }

    async fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Slow clients holding every connection are cut at the header deadline: the server
    /// answers again right after, and never stops.
    #[tokio::test]
    async fn half_requests_are_cut_at_the_header_deadline_and_the_cap_holds() {
        let limits = Limits {
            max_connections: 4,
            header_timeout: Duration::from_millis(500),
            max_lifetime: Duration::from_secs(60),
        };
        let addr = start(limits).await;
        assert!(get(addr).await.ends_with("bonjour 127.0.0.1"));
        let mut slow = Vec::new();
        for i in 0..4 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            // Half a request, or nothing at all.
            if i % 2 == 0 {
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            }
            slow.push(s);
        }
        // The fifth client waits for a slot, then is served.
        let answer = tokio::time::timeout(Duration::from_secs(20), get(addr)).await;
        assert!(answer.unwrap().ends_with("bonjour 127.0.0.1"));
        // Every slow client was disconnected by the server.
        for mut s in slow {
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
                .await
                .expect("closed by the server")
                .unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
        }
    }
}
