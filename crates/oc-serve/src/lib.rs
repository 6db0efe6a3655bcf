//! `opencoll serve`: the lake over the Postgres wire protocol and an HTTP API, read-only and
//! authenticated, on the same DataFusion session as `opencoll sql` (lake tables and views).

pub mod auth;
pub mod error;
pub mod exec;
pub mod guard;
#[cfg(test)]
mod guard_properties;
pub mod http;
pub mod openapi;
pub mod pg;
pub mod throttle;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use futures::FutureExt;
use oc_lake::Lake;
use oc_spec::Project;

pub use auth::Auth;
pub use oc_http::tls::{Tls, TlsFiles};

/// Why the service could not start or stopped: a configuration to fix, a listener that could
/// not be opened (a port taken), or the lake.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    // (not a `source`: the message already says it, and chains would repeat it)
    #[error("{what} listener on {addr}: {error}")]
    Listener {
        what: &'static str,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Lake(#[from] oc_sql::SqlError),
    #[error(transparent)]
    Tls(#[from] oc_http::tls::TlsError),
    #[error("{0}")]
    Server(String),
}
pub use error::ServeError;
pub use exec::Limits;

#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub pg: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    /// Accept clients without credentials (only when every listener is on loopback).
    pub no_auth: bool,
    pub auth_file: Option<PathBuf>,
    /// Both listeners over TLS only (Postgres clients must ask for SSL).
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    /// Postgres connections served at once (0: no limit).
    pub max_connections: usize,
    /// Seconds between re-reads of the lake (new Delta versions, new tables); 0: never.
    pub reload: u64,
    /// Public web pages served beside the API on the HTTP listener, without credentials
    /// (`serve --portal`: the portal's pages, whose paths the API does not use).
    pub pages: Option<axum::Router>,
}

/// What every request shares: the lake's session, the limits, who may connect.
pub struct State {
    /// Lake tables, views and pg_catalog. Queries run in per-query contexts built from it.
    pub base: SessionContext,
    pub limits: Limits,
    /// `None`: no authentication (`--no-auth` on loopback).
    pub auth: Option<Auth>,
    /// Set: every connection must be TLS.
    pub tls: Option<Tls>,
    pub max_connections: usize,
    pub project: Project,
    pub lake: Lake,
    pub tables: std::sync::RwLock<Vec<String>>,
    pub views: std::sync::RwLock<Vec<String>>,
    pub started: std::time::Instant,
    /// Failed logins per client address (HTTP tokens and Postgres passwords).
    pub throttle: throttle::Throttle,
    /// How reloads read the lake again (the engine the service was started with).
    pub open: SessionOpener,
}

/// Reads credentials and applies the rule: authentication is required unless every listener
/// is on loopback and `--no-auth` is given.
pub fn load_auth(
    opts: &ServeOptions,
    env_tokens: Option<&str>,
    env_users: Option<&str>,
) -> Result<Option<Auth>, StartError> {
    let listeners: Vec<SocketAddr> = opts.pg.iter().chain(opts.http.iter()).copied().collect();
    if opts.no_auth {
        if let Some(a) = listeners.iter().find(|a| !auth::is_loopback(a)) {
            return Err(StartError::Config(format!(
                "--no-auth is only allowed when every listener is on loopback (127.0.0.1 or ::1); {a} is not: configure users and tokens instead"
            )));
        }
        return Ok(None);
    }
    let mut a = Auth::default();
    if let Some(f) = &opts.auth_file {
        a.add_file(f).map_err(StartError::Config)?;
    }
    a.add_env(env_tokens, env_users)
        .map_err(StartError::Config)?;
    if opts.pg.is_some() && !a.has_users() {
        return Err(StartError::Config(format!(
            "the Postgres server needs users: set {}=user:password (or `user NAME PASSWORD` lines in --auth-file), or pass --no-auth on loopback",
            auth::ENV_USERS
        )));
    }
    if opts.http.is_some() && !a.has_tokens() {
        return Err(StartError::Config(format!(
            "the HTTP API needs tokens: set {}=name:token (or `token NAME SECRET` lines in --auth-file), or pass --no-auth on loopback",
            auth::ENV_TOKENS
        )));
    }
    Ok(Some(a))
}

/// Opens a session of the lake: locally (`oc_sql::LakeSession::open_in`) or on a cluster.
/// Called at start and at every reload, so both see the tables the same way; a reload passes
/// the service's runtime, so that the tables' object stores are registered where its queries
/// run.
pub type SessionOpener = Arc<
    dyn Fn(
            Arc<RuntimeEnv>,
        )
            -> futures::future::BoxFuture<'static, Result<oc_sql::LakeSession, oc_sql::SqlError>>
        + Send
        + Sync,
>;

/// The opener of `opencoll sql`'s local session.
pub fn local_sessions(lake: Lake, project: &Project) -> SessionOpener {
    let views = project.views.clone();
    Arc::new(move |runtime| {
        let (lake, views) = (lake.clone(), views.clone());
        async move { oc_sql::LakeSession::open_in(&lake, &views, runtime).await }.boxed()
    })
}

/// Opens the lake's session (as `opencoll sql` does) and adds the Postgres catalog tables.
pub async fn open_state(
    project: Project,
    lake: Lake,
    opts: &ServeOptions,
    auth: Option<Auth>,
    open: SessionOpener,
) -> Result<Arc<State>, StartError> {
    // Before the lake: a bad certificate is said at once.
    let tls = opts.tls.as_ref().map(|f| f.load()).transpose()?;
    if let Some(auth) = &auth
        && opts.pg.is_some()
        && tls.is_none()
    {
        for user in auth.cleartext_users() {
            tracing::warn!(
                "Postgres user {user}: a sha256: password is asked in clear and crosses the network readable; give it in clear or as `opencoll password`'s scram-sha-256: form (SCRAM), or serve with --tls-cert/--tls-key"
            );
        }
    }
    let session = open(Arc::new(RuntimeEnv::default())).await?;
    for (t, e) in &session.broken_tables {
        tracing::warn!("table {t} is not served: {e}");
    }
    for (v, e) in &session.broken_views {
        tracing::warn!("view {} is not served: {e}", v.name);
    }
    setup_pg_catalog(&session.ctx, "datafusion", EmptyContextProvider)
        .map_err(|e| StartError::Server(format!("pg_catalog: {e}")))?;
    Ok(Arc::new(State {
        base: session.ctx,
        limits: opts.limits.clone(),
        auth,
        tls,
        max_connections: opts.max_connections,
        project,
        lake,
        tables: std::sync::RwLock::new(session.tables),
        views: std::sync::RwLock::new(session.views),
        started: std::time::Instant::now(),
        throttle: Default::default(),
        open,
    }))
}

impl State {
    pub fn tables(&self) -> Vec<String> {
        self.tables.read().map(|t| t.clone()).unwrap_or_default()
    }
    pub fn views(&self) -> Vec<String> {
        self.views.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Registers the lake's current table versions (and new tables) in the shared catalog,
    /// then the views again (a view's plan holds the table versions it was built on).
    pub async fn reload(&self) -> Result<(), oc_sql::SqlError> {
        let fresh = (self.open)(self.base.runtime_env()).await?;
        for (t, e) in &fresh.broken_tables {
            tracing::warn!("table {t} is not served: {e}");
        }
        let mut ok = Vec::new();
        for t in &fresh.tables {
            let provider = fresh.ctx.table_provider(t.as_str()).await?;
            oc_sql::session::register(&self.base, t, provider)?;
            ok.push(t.clone());
        }
        let (views, broken) =
            oc_sql::session::register_views(&self.base, &self.project.views).await?;
        for (v, e) in broken {
            tracing::warn!("view {} is not served: {e}", v.name);
        }
        if let Ok(mut t) = self.tables.write() {
            *t = ok;
        }
        if let Ok(mut v) = self.views.write() {
            *v = views;
        }
        Ok(())
    }
}

/// Runs the listeners until `shutdown` resolves or one of them fails.
pub async fn run(
    state: Arc<State>,
    opts: &ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    if opts.pg.is_none() && opts.http.is_none() {
        return Err(StartError::Config(
            "nothing to serve: pass --pg ADDR and/or --http ADDR".into(),
        ));
    }
    let shutdown = shutdown.boxed().shared();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = opts.pg {
        // Bind errors (port taken) come back at once; the accept loop runs until shutdown.
        std::net::TcpListener::bind(addr).map_err(|error| StartError::Listener {
            what: "Postgres",
            addr,
            error,
        })?;
        let st = state.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                r = pg::serve(st, addr) => r.map_err(|error| StartError::Listener { what: "Postgres", addr, error }),
                _ = stop => Ok(()),
            }
        });
        let tls = if state.tls.is_some() {
            " (TLS required)"
        } else {
            ""
        };
        println!("postgres: listening on {addr}{tls}");
    }
    if let Some(addr) = opts.http {
        let listener = http_listener(addr).map_err(|error| StartError::Listener {
            what: "HTTP",
            addr,
            error,
        })?;
        let app = http::router(state.clone(), opts.pages.clone());
        let stop = shutdown.clone();
        let tls = state.tls.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        tasks.spawn(async move {
            oc_http::serve(listener, app, oc_http::Limits::default(), tls, stop)
                .await
                .map_err(|error| StartError::Listener {
                    what: "HTTP",
                    addr,
                    error,
                })
        });
        println!("http: listening on {scheme}://{addr}");
    }
    if opts.reload > 0 {
        let st = state.clone();
        let stop = shutdown.clone();
        let every = Duration::from_secs(opts.reload);
        tasks.spawn(async move {
            let tick = async {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = st.reload().await {
                        tracing::warn!("reloading the lake: {e}");
                    }
                }
            };
            tokio::select! {
                _ = tick => Ok(()),
                _ = stop => Ok(()),
            }
        });
    }
    if state.auth.is_none() {
        println!("authentication: none (--no-auth, loopback only)");
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(StartError::Server(format!("server task failed: {e}"))),
        }
    }
    Ok(())
}

/// The HTTP listener, with an accept queue sized for bursts of clients: tokio's `bind` keeps
/// std's 128, which a burst of 300 requests overflowed (some clients then got a reset).
fn http_listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pg: &str, http: &str, no_auth: bool) -> ServeOptions {
        ServeOptions {
            pg: Some(pg.parse().unwrap()),
            http: Some(http.parse().unwrap()),
            no_auth,
            ..Default::default()
        }
    }

    #[test]
    fn no_auth_only_on_loopback_and_credentials_otherwise() {
        assert!(
            load_auth(&opts("127.0.0.1:5433", "[::1]:8080", true), None, None)
                .unwrap()
                .is_none()
        );
        let e = load_auth(&opts("0.0.0.0:5433", "127.0.0.1:8080", true), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("loopback"), "{e}");
        let e = load_auth(&opts("127.0.0.1:5433", "127.0.0.1:8080", false), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(auth::ENV_USERS), "{e}");
        let e = load_auth(
            &opts("127.0.0.1:5433", "127.0.0.1:8080", false),
            None,
            Some("a:b"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(auth::ENV_TOKENS), "{e}");
        let a = load_auth(
            &opts("0.0.0.0:5433", "0.0.0.0:8080", false),
            Some("t"),
            Some("a:b"),
        )
        .unwrap()
        .unwrap();
        assert!(a.check_user("a", "b"));
    }
}
