//! TLS for our listeners (the HTTP API, the portal and the Postgres protocol): a certificate
//! chain and its private key read from PEM files, served with rustls. A file that cannot be
//! used stops the start with its name and what to do: a server asked for TLS never falls back
//! to plain text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// Where the certificate chain and the key are (`--tls-cert`, `--tls-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "TLS certificate {path}: {reason} (give the server's certificate chain in PEM, `-----BEGIN CERTIFICATE-----`)"
    )]
    Cert { path: PathBuf, reason: String },
    #[error(
        "TLS key {path}: {reason} (give the certificate's private key in PEM: PKCS#8, PKCS#1 or SEC1, unencrypted)"
    )]
    Key { path: PathBuf, reason: String },
    #[error("TLS: the key {key} does not go with the certificate {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// The server's TLS set-up: the acceptor and the certificate chain as read (the Postgres
/// server binds SCRAM to it: SCRAM-SHA-256-PLUS).
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub cert_pem: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl TlsFiles {
    /// Reads both files and checks that they make a usable server configuration.
    pub fn load(&self) -> Result<Tls, TlsError> {
        let cert_err = |reason: String| TlsError::Cert {
            path: self.cert.clone(),
            reason,
        };
        let cert_pem = std::fs::read(&self.cert).map_err(|e| cert_err(e.to_string()))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cert_err(e.to_string()))?;
        if chain.is_empty() {
            return Err(cert_err("no certificate in the file".into()));
        }
        let key = read_key(&self.key)?;
        // ring explicitly: the tree also compiles aws-lc-rs (for other crates), and with two
        // providers rustls cannot pick one by itself.
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| cert_err(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| TlsError::Mismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                    reason: e.to_string(),
                })?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_pem: Arc::new(cert_pem),
        })
    }
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |reason: String| TlsError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => err("no private key in the file".into()),
        e => err(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/tls")
            .join(name)
    }

    #[test]
    fn a_certificate_and_its_key_load_and_mistakes_are_named() {
        let good = TlsFiles {
            cert: fixture("server.crt"),
            key: fixture("server.key"),
        };
        let tls = good.load().unwrap();
        assert!(tls.cert_pem.starts_with(b"-----BEGIN CERTIFICATE-----"));

        // Key and certificate swapped: each file is named with what it should hold.
        let swapped = TlsFiles {
            cert: good.key.clone(),
            key: good.cert.clone(),
        };
        let e = swapped.load().unwrap_err().to_string();
        assert!(
            e.contains("server.key") && e.contains("no certificate"),
            "{e}"
        );
        let e = TlsFiles {
            cert: good.cert.clone(),
            key: good.cert.clone(),
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(e.contains("TLS key") && e.contains("no private key"), "{e}");
        // A key that is not the certificate's.
        let e = TlsFiles {
            cert: good.cert.clone(),
            key: fixture("other.key"),
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not go with"), "{e}");
        let e = TlsFiles {
            cert: fixture("missing.crt"),
            key: good.key,
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing.crt"), "{e}");
    }
}
