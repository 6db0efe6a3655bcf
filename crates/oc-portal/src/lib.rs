//! The Open Collectivités portal: French, server-rendered pages over a published release
//! (`opencoll publish`), not over the lake, so it runs wherever a release can be copied.
//!
//! A release is loaded whole into memory (`snapshot`): the geography, the figures of every
//! collectivité in exact cents, and indexes for search and strates, so a page is a few map
//! lookups and never a query. `latest.json` is polled: a new release is loaded in the
//! background and swapped in only once complete; until then, and whenever loading fails,
//! the previous one is served.

pub mod chart;
pub mod error;
pub mod export;
pub mod fmt;
pub mod load;
pub mod map;
pub mod model;
pub mod pages;
pub mod release;
pub mod search;
pub mod snapshot;
pub mod strate;
pub mod table;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use error::{LoadError, StartError};
use export::Format;
use model::Level;
use pages::{Outcome, Params};
use release::{Latest, ReleaseRoot};
use snapshot::Snapshot;

pub struct PortalOptions {
    /// Folder or URL holding `latest.json`.
    pub release: String,
    pub http: SocketAddr,
    /// How often `latest.json` is read again.
    pub poll: Duration,
    /// The address readers use (for the DCAT feed's links); default `http(s)://<http>`.
    pub public_url: Option<String>,
    /// Serve over TLS only (`--tls-cert`, `--tls-key`).
    pub tls: Option<oc_http::tls::TlsFiles>,
}

struct Portal {
    root: ReleaseRoot,
    current: RwLock<Arc<Snapshot>>,
    public_url: String,
}

impl Portal {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Loads the release `latest.json` names (or fails, saying why), then serves until the
/// process is stopped.
pub async fn serve(opts: PortalOptions) -> Result<(), StartError> {
    // Before the (long) load of the release: a bad certificate is said at once.
    let tls = opts.tls.as_ref().map(|f| f.load()).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (root, snapshot) = load(&opts.release).await?;
    let listener = tokio::net::TcpListener::bind(opts.http)
        .await
        .map_err(|error| StartError::Bind {
            addr: opts.http.to_string(),
            error,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    let public_url = public_url(opts.public_url, addr, tls.is_some())?;
    let portal = follow_release(root, snapshot, public_url, opts.poll);
    eprintln!(
        "portal on {scheme}://{addr} (release {})",
        portal.snapshot().latest.release
    );
    oc_http::serve(
        listener,
        router(portal),
        oc_http::Limits::default(),
        tls,
        std::future::pending(),
    )
    .await
    .map_err(StartError::Serve)
}

/// The portal's pages as routes for a server that mounts them beside its own (`opencoll
/// serve --http --portal`): the release is loaded before this returns, then followed like
/// [`serve`] does. `addr` and `tls` are the server's, for the DCAT feed's links.
pub async fn pages(
    release: &str,
    poll: Duration,
    public_url: Option<String>,
    addr: SocketAddr,
    tls: bool,
) -> Result<Router, StartError> {
    let public_url = self::public_url(public_url, addr, tls)?;
    let (root, snapshot) = load(release).await?;
    Ok(router(follow_release(root, snapshot, public_url, poll)))
}

async fn load(release: &str) -> Result<(ReleaseRoot, Snapshot), LoadError> {
    let root = ReleaseRoot::open(release)?;
    let latest = root.latest().await?;
    let snapshot = Snapshot::load(&root, latest).await?;
    tracing::info!(
        release = %snapshot.latest.release,
        collectivites = snapshot.c.entities.len(),
        "release loaded"
    );
    Ok((root, snapshot))
}

/// The address readers use: given, or the listener's, which must then name one interface.
fn public_url(given: Option<String>, addr: SocketAddr, tls: bool) -> Result<String, StartError> {
    match given {
        Some(u) => Ok(u),
        None if addr.ip().is_unspecified() => Err(StartError::PublicUrl(addr.to_string())),
        None => Ok(format!("{}://{addr}", if tls { "https" } else { "http" })),
    }
}

/// The portal serving `snapshot`, with a task that swaps in each new release.
fn follow_release(
    root: ReleaseRoot,
    snapshot: Snapshot,
    public_url: String,
    poll: Duration,
) -> Arc<Portal> {
    let portal = Arc::new(Portal {
        root,
        current: RwLock::new(Arc::new(snapshot)),
        public_url,
    });
    tokio::spawn(follow(portal.clone(), poll));
    portal
}

/// Reads `latest.json` every `poll` and swaps in a new release once it is fully loaded. A
/// release that fails to load (still being copied, say) is tried again a minute later, or as
/// soon as `latest.json` names another one.
async fn follow(portal: Arc<Portal>, poll: Duration) {
    let mut failed: Option<(Latest, std::time::Instant)> = None;
    loop {
        tokio::time::sleep(poll).await;
        let latest = match portal.root.latest().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("latest.json unreadable, still serving the loaded release: {e}");
                continue;
            }
        };
        if latest == portal.snapshot().latest {
            continue;
        }
        if let Some((l, at)) = &failed
            && *l == latest
            && at.elapsed() < Duration::from_secs(60)
        {
            continue;
        }
        // Loading hashes and decodes the whole release and builds the indexes: on a thread
        // of its own, so pages keep being served by the runtime's workers meanwhile.
        let (root, next) = (portal.root.clone(), latest.clone());
        let handle = tokio::runtime::Handle::current();
        let loaded =
            tokio::task::spawn_blocking(move || handle.block_on(Snapshot::load(&root, next)))
                .await
                .unwrap_or_else(|e| {
                    Err(LoadError::Format {
                        file: "latest.json".into(),
                        message: format!("loading stopped: {e}"),
                    })
                });
        match loaded {
            Ok(s) => {
                eprintln!("portal: release {} loaded", latest.release);
                *portal.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
                failed = None;
            }
            Err(e) => {
                eprintln!(
                    "portal: release {} not loaded, still serving {}: {e}",
                    latest.release,
                    portal.snapshot().latest.release
                );
                failed = Some((latest, std::time::Instant::now()));
            }
        }
    }
}

fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/recherche", get(recherche))
        .route("/api/suggestions", get(suggestions))
        .route("/comparer", get(comparer))
        .route("/carte", get(carte))
        .route("/catalogue", get(catalogue))
        .route("/catalogue/dcat.jsonld", get(dcat))
        .route("/catalogue/{dataset}", get(catalogue_dataset))
        .route("/strate/{niveau}/{n}", get(strate))
        .route("/fichiers/{*path}", get(fichier))
        .route("/static/portail.css", get(css))
        .route("/static/portail.js", get(js))
        .route("/sante", get(sante))
        .route("/{niveau}/{code}", get(fiche))
        .fallback(not_found)
        .layer(middleware::from_fn(headers))
        .with_state(portal)
}

type St = State<Arc<Portal>>;

async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

fn html_page(s: &Snapshot, status: StatusCode, title: &str, body: maud::Markup) -> Response {
    let page = pages::layout(s, title, body).into_string();
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

fn respond(s: &Snapshot, outcome: Outcome, p: &Params) -> Response {
    match outcome {
        Outcome::Redirect(to) => {
            (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response()
        }
        Outcome::NotFound(m) => html_page(
            s,
            StatusCode::NOT_FOUND,
            "Page introuvable",
            pages::error_body(&m),
        ),
        Outcome::BadRequest(m) => html_page(
            s,
            StatusCode::BAD_REQUEST,
            "Demande incorrecte",
            maud::html! { h1 { "Demande incorrecte" } p { (m) } p { a href="/" { "Retour à l'accueil" } } },
        ),
        Outcome::Page(page) => match p.get("format") {
            None => html_page(s, StatusCode::OK, &page.title, page.body),
            Some(f) => {
                let Some(format) = Format::parse(f) else {
                    return respond(
                        s,
                        Outcome::BadRequest(format!(
                            "Format inconnu « {f} » : csv, csv-fr, json ou parquet."
                        )),
                        &Params::default(),
                    );
                };
                let t = match p.get("table") {
                    Some(name) => page.tables.iter().find(|t| t.name == name),
                    None => page.tables.first(),
                };
                let Some(t) = t else {
                    return respond(
                        s,
                        Outcome::NotFound(
                            "Cette page n'a pas de tableau de ce nom à télécharger.".into(),
                        ),
                        &Params::default(),
                    );
                };
                match export::export(t, format) {
                    Ok(bytes) => (
                        [
                            (header::CONTENT_TYPE, format.content_type().to_string()),
                            (
                                header::CONTENT_DISPOSITION,
                                format!(
                                    "attachment; filename=\"{}.{}\"",
                                    t.name.replace(['"', '\\'], "_"),
                                    format.extension()
                                ),
                            ),
                        ],
                        bytes,
                    )
                        .into_response(),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
                }
            }
        },
    }
}

async fn home(State(p): St, RawQuery(q): RawQuery) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    respond(&s, pages::home::home(&s), &params)
}

async fn recherche(State(p): St, RawQuery(q): RawQuery) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    respond(&s, pages::home::results(&s, &params), &params)
}

async fn suggestions(State(p): St, RawQuery(q): RawQuery) -> Response {
    let s = p.snapshot();
    axum::Json(pages::home::suggestions(&s, &Params::parse(q.as_deref()))).into_response()
}

async fn comparer(State(p): St, RawQuery(q): RawQuery) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    respond(&s, pages::compare::compare(&s, &params), &params)
}

async fn carte(State(p): St, RawQuery(q): RawQuery) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    respond(&s, pages::map_page::carte(&s, &params), &params)
}

async fn catalogue(State(p): St, RawQuery(q): RawQuery) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    respond(&s, pages::catalogue::index(&s, &params), &params)
}

async fn catalogue_dataset(
    State(p): St,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    respond(&s, pages::catalogue::dataset(&s, &name, &params), &params)
}

async fn dcat(State(p): St) -> Response {
    let s = p.snapshot();
    (
        [(header::CONTENT_TYPE, "application/ld+json")],
        serde_json::to_string_pretty(&pages::catalogue::dcat(&s, &p.public_url))
            .unwrap_or_default(),
    )
        .into_response()
}

async fn strate(
    State(p): St,
    Path((niveau, n)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    let outcome = match Level::from_slug(&niveau) {
        Some(level) => pages::strate_page::strate(&s, level, &n, &params),
        None => Outcome::NotFound(format!("Niveau inconnu « {niveau} ».")),
    };
    respond(&s, outcome, &params)
}

async fn fiche(
    State(p): St,
    Path((niveau, code)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let s = p.snapshot();
    let params = Params::parse(q.as_deref());
    let outcome = match Level::from_slug(&niveau) {
        Some(level) => pages::fiche::fiche(&s, level, &code, &params),
        None => Outcome::NotFound("Cette adresse ne correspond à aucune page du portail.".into()),
    };
    respond(&s, outcome, &params)
}

/// The release's own files, only those its catalog lists (and `latest.json`).
async fn fichier(State(p): St, Path(path): Path<String>) -> Response {
    let s = p.snapshot();
    let rel = format!("{}/", s.latest.release);
    let listed = path == "latest.json"
        || path.strip_prefix(&rel).is_some_and(|f| {
            f == "catalog.json"
                || s.catalog.datasets.iter().any(|d| {
                    d.files.iter().any(|x| x.path == f) || d.table_schema.as_deref() == Some(f)
                })
        });
    if !listed {
        return respond(
            &s,
            Outcome::NotFound("Ce fichier ne fait pas partie de la publication.".into()),
            &Params::default(),
        );
    }
    match p.root.get_stream(&path).await {
        Ok((size, stream)) => {
            let ct = if path.ends_with(".parquet") {
                "application/vnd.apache.parquet"
            } else {
                "application/json"
            };
            (
                [
                    (header::CONTENT_TYPE, ct.to_string()),
                    (header::CONTENT_LENGTH, size.to_string()),
                ],
                axum::body::Body::from_stream(stream),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!("{e}");
            respond(&s, Outcome::NotFound("Ce fichier n'est plus disponible : la publication a changé. Rechargez la page.".into()), &Params::default())
        }
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/portail.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/portail.js"),
    )
        .into_response()
}

async fn sante(State(p): St) -> Response {
    let s = p.snapshot();
    axum::Json(serde_json::json!({
        "release": s.latest.release,
        "published_at": s.latest.published_at,
        "collectivites": s.c.entities.len(),
    }))
    .into_response()
}

async fn not_found(State(p): St) -> Response {
    let s = p.snapshot();
    respond(
        &s,
        Outcome::NotFound("Cette adresse ne correspond à aucune page du portail.".into()),
        &Params::default(),
    )
}
