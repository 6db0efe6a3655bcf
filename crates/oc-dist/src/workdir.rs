//! An executor's work folder (shuffle and spill files). Ballista removes the job folders in it
//! when the executor stops, but a killed executor (SIGKILL, the OOM killer, a power cut) left
//! them behind for good, and without `--work-dir` Ballista named a fresh temporary folder at
//! each start, so nobody would ever find them again. Here the folder is the same for an
//! executor's restarts (one per bind address by default), a lock held while the executor runs
//! tells a leftover from a live executor's files (the OS releases it even on SIGKILL), and the
//! leftovers are removed when the next executor claims the folder.

use std::fs::{File, TryLockError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::DistError;

const LOCK_FILE: &str = ".opencoll-executor.lock";

/// A claimed work folder: no other executor uses it while this value lives.
#[derive(Debug)]
pub struct WorkDir {
    pub path: PathBuf,
    /// Whether the folder was named by us (then it is removed when the executor stops).
    pub default: bool,
    _lock: File,
}

/// The folder of an executor bound to `bind` when none is given: under the system's temporary
/// folder, the same at each restart on that address.
pub fn default_for(bind: SocketAddr) -> PathBuf {
    let name = format!("opencoll-executor-{}-{}", bind.ip(), bind.port()).replace(':', "_");
    std::env::temp_dir().join(name)
}

/// Claims `given` (or the default folder of `bind`): creates it, locks it, and removes the job
/// folders a killed executor left in it. Files of its own (not folders) are kept, as Ballista's
/// clean-up does. Fails when another running executor holds it.
pub fn claim(given: Option<&Path>, bind: SocketAddr) -> Result<WorkDir, DistError> {
    let (path, default) = match given {
        Some(p) => (p.to_path_buf(), false),
        None => (default_for(bind), true),
    };
    let context = |e: std::io::Error| {
        DistError::Cluster(format!(
            "cannot use the work folder {}: {e}; give another one with --work-dir",
            path.display()
        ))
    };
    std::fs::create_dir_all(&path).map_err(context)?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(LOCK_FILE))
        .map_err(context)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(DistError::Cluster(format!(
                "the work folder {} is used by another running executor; give this one another \
                 --work-dir (or another --bind address)",
                path.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(context(e)),
    }
    for entry in std::fs::read_dir(&path).map_err(context)? {
        let entry = entry.map_err(context)?;
        if entry.file_type().map_err(context)?.is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(context)?;
        }
    }
    Ok(WorkDir {
        path,
        default,
        _lock: lock,
    })
}

impl WorkDir {
    /// After a clean stop: the default folder is removed (its job folders are gone already).
    pub fn release(self) {
        if self.default {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_executors_job_folders_are_removed_by_the_next_and_a_live_ones_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let bind: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        // what a killed executor leaves: a job's stage folders and their shuffle files
        std::fs::create_dir_all(work.join("job-1/2/0")).unwrap();
        std::fs::write(work.join("job-1/2/0/data.arrow"), b"shuffle").unwrap();
        std::fs::write(work.join("notes.txt"), b"kept").unwrap();
        let claimed = claim(Some(&work), bind).unwrap();
        assert!(!work.join("job-1").exists());
        assert_eq!(std::fs::read(work.join("notes.txt")).unwrap(), b"kept");
        assert!(!claimed.default);
        // a second executor on the same folder while the first runs: refused, nothing removed
        std::fs::create_dir_all(work.join("job-2/1")).unwrap();
        let err = claim(Some(&work), bind).unwrap_err().to_string();
        assert!(
            err.contains("used by another running executor") && err.contains("--work-dir"),
            "{err}"
        );
        assert!(work.join("job-2/1").is_dir());
        // once the first has stopped, the folder is free again
        claimed.release();
        assert!(work.is_dir(), "a given folder is the user's: kept");
        claim(Some(&work), bind).unwrap();
        assert!(!work.join("job-2").exists());
        // a file where the folder should be: an error that names it
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let err = claim(Some(&file), bind).unwrap_err().to_string();
        assert!(
            err.contains("cannot use the work folder") && err.contains("file"),
            "{err}"
        );
    }

    #[test]
    fn the_default_folder_is_the_same_for_each_restart_on_an_address_and_removed_after_a_clean_stop()
     {
        let v4: SocketAddr = "0.0.0.0:50999".parse().unwrap();
        let v6: SocketAddr = "[::1]:50999".parse().unwrap();
        assert_eq!(default_for(v4), default_for(v4));
        assert_ne!(default_for(v4), default_for(v6));
        assert!(
            !default_for(v6)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .contains(':')
        );
        let claimed = claim(None, v6).unwrap();
        assert!(claimed.default && claimed.path == default_for(v6));
        let path = claimed.path.clone();
        claimed.release();
        assert!(!path.exists());
    }
}
