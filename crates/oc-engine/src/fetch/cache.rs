//! The cache of remote sources: one file per URL (named by the URL's sha256) and a JSON note
//! of what the server said (ETag, Last-Modified, Content-Type). A download goes to a
//! temporary file renamed over the copy, so a failed one leaves the previous copy intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Meta {
    pub url: String,
    pub etag: Option<String>,
    /// As the server sent it (an HTTP date); older caches hold RFC 3339.
    pub last_modified: Option<String>,
    /// The server's `Content-Type` (a web page's charset is in it).
    #[serde(default)]
    pub content_type: Option<String>,
    /// When the copy was last fetched or revalidated (RFC 3339).
    #[serde(default)]
    pub checked_at: Option<String>,
    /// The server's `Cache-Control: max-age`, in seconds.
    #[serde(default)]
    pub server_max_age: Option<u64>,
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

    /// Whether the copy is still current without asking: checked less than `max_age` ago (the
    /// pipeline's, or the server's `Cache-Control: max-age` if longer).
    pub fn is_fresh(
        &self,
        max_age: std::time::Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let age = max_age.as_secs().max(self.server_max_age.unwrap_or(0));
        if age == 0 {
            return false;
        }
        self.checked_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| {
                let elapsed = now - t.to_utc();
                elapsed >= chrono::TimeDelta::zero()
                    && elapsed < chrono::TimeDelta::seconds(age.min(i64::MAX as u64) as i64)
            })
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
        self.note(meta)
    }

    /// Writes the note alone (a revalidated copy).
    pub fn note(&self, meta: &Meta) -> std::io::Result<()> {
        std::fs::write(&self.meta, serde_json::to_vec(meta).expect("json"))
    }

    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::Meta;
    use std::time::Duration;

    #[test]
    fn a_copy_is_fresh_within_max_age_only() {
        let now = chrono::Utc::now();
        let checked = |secs_ago: i64| Meta {
            checked_at: Some((now - chrono::TimeDelta::seconds(secs_ago)).to_rfc3339()),
            ..Default::default()
        };
        let hour = Duration::from_secs(3600);
        assert!(checked(10).is_fresh(hour, now));
        assert!(!checked(4000).is_fresh(hour, now));
        // no max_age: always revalidated, unless the server said how long the copy holds
        assert!(!checked(10).is_fresh(Duration::ZERO, now));
        let server = Meta {
            server_max_age: Some(60),
            ..checked(10)
        };
        assert!(server.is_fresh(Duration::ZERO, now));
        // a clock set back does not make a copy fresh forever
        assert!(!checked(-100).is_fresh(hour, now));
        assert!(!Meta::default().is_fresh(hour, now));
    }
}
