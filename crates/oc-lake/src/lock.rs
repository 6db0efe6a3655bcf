//! One refresh at a time per table: a lock object in the lake itself (`_locks/<table>.json`),
//! created with an atomic create-if-absent, so it works on a local folder and on S3 alike.
//! A lock left by a process that died (same host, process gone) is taken over. A create whose
//! answer was lost (the store wrote the lock, the client saw a 500 or a reset, the retry found
//! the object) is recognised as ours by its content.

use std::time::{Duration, Instant};

use chrono::Utc;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::store::{Lake, LakeError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub run_id: String,
    pub pid: u32,
    pub host: String,
    pub since: String,
}

pub struct TableLock {
    store: std::sync::Arc<dyn ObjectStore>,
    path: ObjPath,
    released: bool,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether the holder is known to be gone (only decidable on the same host).
fn is_stale(info: &LockInfo) -> bool {
    info.host == host() && !std::path::Path::new(&format!("/proc/{}", info.pid)).exists()
}

impl Lake {
    /// Takes the lock of `table`, waiting up to `wait` for a running refresh to finish.
    pub async fn lock(
        &self,
        table: &str,
        run_id: &str,
        wait: Duration,
    ) -> Result<TableLock, LakeError> {
        let (store, prefix) = crate::store::open_store(self.root(), self.storage_options())?;
        let store: std::sync::Arc<dyn ObjectStore> = store.into();
        let path = ObjPath::from(
            format!(
                "{}/_locks/{table}.json",
                prefix.as_ref().trim_end_matches('/')
            )
            .trim_start_matches('/'),
        );
        let me = LockInfo {
            run_id: run_id.to_string(),
            pid: std::process::id(),
            host: host(),
            since: Utc::now().to_rfc3339(),
        };
        let body = serde_json::to_vec(&me).expect("json");
        let deadline = Instant::now() + wait;
        loop {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match store
                .put_opts(&path, PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(_) => {
                    return Ok(TableLock {
                        store,
                        path,
                        released: false,
                    });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let holder: Option<LockInfo> = match store.get(&path).await {
                        Ok(r) => r
                            .bytes()
                            .await
                            .ok()
                            .and_then(|b| serde_json::from_slice(&b).ok()),
                        Err(object_store::Error::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    if holder.as_ref() == Some(&me) {
                        return Ok(TableLock {
                            store,
                            path,
                            released: false,
                        });
                    }
                    if let Some(h) = &holder
                        && is_stale(h)
                    {
                        tracing::warn!(
                            "taking over the lock of {table} left by run {} (process {} is gone)",
                            h.run_id,
                            h.pid
                        );
                        let _ = store.delete(&path).await;
                        continue;
                    }
                    if Instant::now() >= deadline {
                        let who = holder
                            .map(|h| {
                                format!(
                                    "run {} (process {} on {}, since {})",
                                    h.run_id, h.pid, h.host, h.since
                                )
                            })
                            .unwrap_or_else(|| "another run".into());
                        // the lock file as the user can name it: a local path, or a URL
                        let url = self.root().join(&format!("_locks/{table}.json"));
                        let shown = match url {
                            Ok(u) => u
                                .to_file_path()
                                .map_or_else(|()| u.to_string(), |p| p.display().to_string()),
                            Err(_) => path.to_string(),
                        };
                        return Err(LakeError::Locked {
                            table: table.to_string(),
                            message: format!(
                                "is being refreshed by {who}; wait for it to finish (or pass --wait SECONDS), or delete {shown} if that process is gone"
                            ),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl TableLock {
    pub async fn release(mut self) {
        self.released = true;
        let _ = self.store.delete(&self.path).await;
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        if !self.released {
            // Best effort when a run is abandoned without release (a panic): a later run takes
            // the lock over once this process is gone.
            let store = self.store.clone();
            let path = self.path.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = store.delete(&path).await;
                });
            }
        }
    }
}
