//! Serving an axum router so that no client can stop the server (the HTTP API of `opencoll
//! serve` and the portal). `axum::serve` gives a connection no deadline: a client that sends
//! half a request and waits keeps its connection, and enough of them exhaust the process's
//! file descriptors (slowloris). Here a connection must send its first byte, and each
//! request's headers (also between requests of a kept-alive connection), within a deadline;
//! no connection lives longer than `max_lifetime` (slow bodies, clients that never read);
//! connections beyond a cap wait in the kernel's backlog instead of being accepted; one
//! client address holds at most a share of them (more are answered 503 at once); and an
//! answer the client does not read within a deadline closes the connection (clients that
//! sent requests and never read the answers had held every slot).
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
    /// Connections one client address may hold at once.
    pub max_per_client: usize,
    /// Whether clients on this machine escape `max_per_client` (a reverse proxy in front
    /// holds the connections of all its clients).
    pub loopback_uncapped: bool,
    /// Time a write to the client may wait (a client that does not read its answer).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            max_lifetime: Duration::from_secs(30 * 60),
            max_per_client: 256,
            loopback_uncapped: true,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Connections held per client address; a [`ClientSlot`] is one of them.
type PerClient = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

struct ClientSlot {
    held: PerClient,
    ip: std::net::IpAddr,
}

impl ClientSlot {
    /// A slot for `ip`, or None when it holds `max` already.
    fn take(held: &PerClient, ip: std::net::IpAddr, max: usize) -> Option<ClientSlot> {
        let mut map = held.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            held: Arc::clone(held),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
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
    let per_client = PerClient::default();
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
        let cap = if limits.loopback_uncapped && remote.ip().is_loopback() {
            usize::MAX
        } else {
            limits.max_per_client
        };
        let Some(slot) = ClientSlot::take(&per_client, remote.ip(), cap) else {
            tracing::warn!(
                "{remote}: refused, {} connections from that address already",
                limits.max_per_client
            );
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut stream = stream;
                // Without waiting on the client (it may not read either); its request is
                // drained a moment, or closing would reset the connection before it reads.
                let _ = stream.try_write(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = stream.shutdown().await;
                let mut sink = [0u8; 4096];
                let drain =
                    async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
                let _ = tokio::time::timeout(Duration::from_millis(200), drain).await;
                drop(permit);
            });
            continue;
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
            let stream = WriteDeadline::new(stream, limits.write_timeout);
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
            drop((permit, slot));
        });
    }
}

/// A stream whose writes fail with `TimedOut` once one has waited `timeout` for the client
/// to read: hyper then closes the connection.
struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        WriteDeadline {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// `r` of a write, flush or shutdown: progress clears the deadline, a wait starts it.
    fn watch<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        r: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::future::Future;
        use std::task::Poll;
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client did not read its answer",
            )));
        }
        Poll::Pending
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, r)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, r)
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
            ..Limits::default()
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

    /// One address holds at most `max_per_client` connections (the next is answered 503 at
    /// once), and a client that does not read its answer loses its connection at the write
    /// deadline, which frees its slot.
    #[tokio::test]
    async fn one_client_holds_a_share_of_the_connections_and_must_read_its_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let big = "x".repeat(64 << 20);
        let app = Router::new()
            .route("/", axum::routing::get(|| async { "bonjour" }))
            .route(
                "/big",
                axum::routing::get(move || async move { big.clone() }),
            );
        let limits = Limits {
            max_per_client: 2,
            loopback_uncapped: false,
            write_timeout: Duration::from_millis(500),
            ..Limits::default()
        };
        tokio::spawn(serve(listener, app, limits, None, std::future::pending()));
        assert!(get(addr).await.ends_with("bonjour"));
        // two clients that ask for 64 MiB each and never read (more than sockets buffer)
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let third = get(addr).await;
        assert!(third.starts_with("HTTP/1.1 503"), "{third}");
        // the write deadline closes them, and the address is served again
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(get(addr).await.ends_with("bonjour"));
        drop(held);
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
