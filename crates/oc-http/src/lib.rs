//! Serving an axum router so that no client can stop the server (the HTTP API of `opencoll
//! serve` and the portal). `axum::serve` gives a connection no deadline: a client that sends
//! half a request and waits keeps its connection, and enough of them exhaust the process's
//! file descriptors (slowloris). Here a connection must send its first byte, and each
//! request's headers (also between requests of a kept-alive connection), within a deadline;
//! no connection lives longer than `max_lifetime` (slow bodies, clients that never read);
//! and connections beyond a cap wait in the kernel's backlog instead of being accepted.
//! HTTP/1.1 only: hyper's protocol detection for HTTP/2 waits without a deadline, and the
//! servers sit behind proxies that speak HTTP/2 to browsers if needed. With TLS (`tls.rs`)
//! the handshake must also end within the header deadline.

pub mod tls;

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

/// Serves `app` on `listener` until `shutdown` completes, over TLS when `tls` is given (then
/// only over TLS). Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<tls::Tls>,
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
        let tls = tls.clone();
        tokio::spawn(async move {
            // A silent client (not even the first byte) is cut at the same deadline.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            match tls {
                None => serve_connection(TokioIo::new(stream), service, limits, remote).await,
                Some(tls) => {
                    let shake =
                        tokio::time::timeout(limits.header_timeout, tls.acceptor.accept(stream));
                    match shake.await {
                        Ok(Ok(s)) => {
                            serve_connection(TokioIo::new(s), service, limits, remote).await
                        }
                        // A plain-HTTP request on the TLS port, a scanner, a client that stalls.
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {remote}: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {remote}: too slow"),
                    }
                }
            }
            drop(permit);
        });
    }
}

/// One connection, HTTP/1.1, until it ends or its lifetime is over.
async fn serve_connection<I, S>(io: TokioIo<I>, service: S, limits: Limits, remote: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(io, TowerToHyperService::new(service))
        .with_upgrades();
    match tokio::time::timeout(limits.max_lifetime, conn).await {
        Ok(Err(e)) => tracing::debug!("connection from {remote}: {e}"),
        Err(_) => tracing::debug!("connection from {remote}: lifetime over"),
        Ok(Ok(())) => {}
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
        tokio::spawn(serve(listener, app, limits, None, std::future::pending()));
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

    /// Over TLS the API answers a client that trusts the certificate; a plain-HTTP request on
    /// the TLS port is closed without an answer, and a client that never finishes its
    /// handshake is cut at the header deadline.
    #[tokio::test]
    async fn tls_only_when_configured() {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
        use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tls");
        let files = tls::TlsFiles {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "bonjour" }));
        let limits = Limits {
            header_timeout: Duration::from_millis(500),
            ..Limits::default()
        };
        let tls = files.load().unwrap();
        tokio::spawn(serve(
            listener,
            app,
            limits,
            Some(tls),
            std::future::pending(),
        ));

        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(dir.join("ca.crt")).unwrap())
            .unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut s = connector.connect(name, tcp).await.unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap_or_default();
        assert!(
            out.starts_with("HTTP/1.0 200") && out.ends_with("bonjour"),
            "{out}"
        );

        // Plain HTTP on the TLS port: no answer in clear, the connection is closed.
        let mut plain = TcpStream::connect(addr).await.unwrap();
        plain.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer))
            .await
            .expect("closed by the server")
            .unwrap_or_default();
        assert!(!answer.starts_with(b"HTTP"), "{answer:?}");
        // A client that opens a handshake and stalls is cut too.
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut buf))
            .await
            .expect("cut at the deadline")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
}
