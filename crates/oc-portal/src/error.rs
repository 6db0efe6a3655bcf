//! Why a release could not be loaded. The portal then keeps serving the release it has (or,
//! at start, refuses to start and says why).

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("release location {location}: {message}")]
    Location { location: String, message: String },
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: {message}")]
    Format { file: String, message: String },
    #[error(
        "{file}: {found} bytes or a different sha256 than the {expected} bytes catalog.json lists (release still being copied?)"
    )]
    Incomplete {
        file: String,
        expected: u64,
        found: u64,
    },
    #[error("the release has no dataset {0}: publish it (`publish: true` in catalog.yaml)")]
    Missing(String),
    #[error("{dataset}: column {column}: {message}")]
    Column {
        dataset: String,
        column: String,
        message: String,
    },
}

/// Why the portal could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Tls(#[from] oc_http::tls::TlsError),
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: String, error: std::io::Error },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error(
        "listening on {0}, every address of the machine: give --public-url (the address readers use, https://…) for the links of the DCAT feed"
    )]
    PublicUrl(String),
}
