//! The cache of remote sources: one file per URL (named by the URL's sha256) and a JSON note
//! of what the server said (ETag, Last-Modified, Content-Type). A download goes to a
//! temporary file renamed over the copy, so a failed one leaves the previous copy intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct Meta {
    pub url: String,
    pub etag: Option<String>,
    /// As the server sent it (an HTTP date); older caches hold RFC 3339.
    pub last_modified: Option<String>,
    /// The server's `Content-Type` (a web page's charset is in it).
    #[serde(default)]
    pub content_type: Option<String>,
}

impl Meta {
    /// `Last-Modified` as an HTTP date, whichever way it was stored.
    pub fn last_modified_http(&self) -> Option<String> {
        let t = self.last_modified.as_deref()?;
        match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(d) => Some(d.to_utc().format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
            Err(_) => Some(t.to_string()),
        }
    }

    pub fn last_modified_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let t = self.last_modified.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(t)
            .or_else(|_| chrono::DateTime::parse_from_rfc2822(t))
            .ok()
            .map(|d| d.to_utc())
    }
}

/// Where one URL is cached.
pub(super) struct Entry {
    pub data: PathBuf,
    meta: PathBuf,
    tmp: PathBuf,
}

impl Entry {
    pub fn of(dir: &Path, url: &str) -> Entry {
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        Entry {
            data: dir.join(&key),
            meta: dir.join(format!("{key}.json")),
            // per process and task, so that concurrent runs never write the same file
            tmp: dir.join(format!(
                "{key}.part-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            )),
        }
    }

    /// The note of the cached copy, if there is a copy.
    pub fn meta(&self) -> Option<Meta> {
        std::fs::read(&self.meta)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|_| self.data.is_file())
    }

    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Moves the finished download over the copy and writes its note.
    pub fn commit(&self, meta: &Meta) -> std::io::Result<()> {
        std::fs::rename(&self.tmp, &self.data)?;
        std::fs::write(&self.meta, serde_json::to_vec(meta).expect("json"))
    }

    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}
