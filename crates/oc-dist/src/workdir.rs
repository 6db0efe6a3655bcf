//! An executor's work folder (shuffle and spill files). Ballista removes the job folders in it
//! when the executor stops, but a killed executor (SIGKILL, the OOM killer, a power cut) left
//! them behind for good, and without `--work-dir` Ballista named a fresh temporary folder at
//! each start, so nobody would ever find them again. Here the folder is the same for an
//! executor's restarts (one per bind address by default), a lock held while the executor runs
//! tells a leftover from a live executor's files (the OS releases it even on SIGKILL), and the
//! leftovers are removed when the next executor claims the folder.
//!
//! Since Ballista removes every folder in its work folder, a folder that is not empty is only
//! taken when an executor made it (it holds the lock file): `--work-dir /var/tmp` by mistake
//! is refused rather than emptied.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
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

/// The folder of an executor bound to `bind` when none is given: in the user's cache folder
/// (`$XDG_CACHE_HOME/opencoll`, `~/.cache/opencoll`), not in the shared temporary folder where
/// another user could create it first; the same at each restart on that address.
pub fn default_for(bind: SocketAddr) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let name = format!("executor-{}-{}", bind.ip(), bind.port()).replace(':', "_");
    cache.join("opencoll").join(name)
}

/// Claims `given` (or the default folder of `bind`): creates it (readable by its owner only),
/// locks it, and removes the job folders a killed executor left in it. Files of its own (not
/// folders) are kept, as Ballista's clean-up does. Fails when another running executor holds
/// it, or when it holds files and no executor made it.
pub fn claim(given: Option<&Path>, bind: SocketAddr) -> Result<WorkDir, DistError> {
    let (path, default) = match given {
        Some(p) => (p.to_path_buf(), false),
        None => (default_for(bind), true),
    };
    let context = |what: &Path, e: std::io::Error| {
        DistError::Cluster(format!(
            "cannot use the work folder {} ({}: {e}); give another one with --work-dir",
            path.display(),
            what.display()
        ))
    };
    create_private(&path).map_err(|e| context(&path, e))?;
    let lock_path = path.join(LOCK_FILE);
    let ours = lock_path.is_file();
    if !ours
        && std::fs::read_dir(&path)
            .map_err(|e| context(&path, e))?
            .next()
            .is_some()
    {
        return Err(DistError::Cluster(format!(
            "the work folder {} is not empty and no executor made it: an executor removes the \
             folders in its work folder, so give it an empty or new folder with --work-dir",
            path.display()
        )));
    }
    let mut lock = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|e| context(&lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            return Err(DistError::Cluster(format!(
                "the work folder {} is used by another running executor{holder}; give this one \
                 another folder with --work-dir",
                path.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(context(&lock_path, e)),
    }
    // which process holds it, for the message above
    let _ = lock
        .set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| writeln!(lock, "{}", std::process::id()));
    for entry in std::fs::read_dir(&path).map_err(|e| context(&path, e))? {
        let entry = entry.map_err(|e| context(&path, e))?;
        let left = entry.path();
        if entry.file_type().map_err(|e| context(&left, e))?.is_dir() {
            std::fs::remove_dir_all(&left).map_err(|e| context(&left, e))?;
        }
    }
    Ok(WorkDir {
        path,
        default,
        _lock: lock,
    })
}

/// Creates `path` and its missing parents, readable by the user only where the OS has modes
/// (shuffle files hold query results).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
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
        let first = claim(Some(&work), bind).unwrap();
        assert!(!first.default);
        // what a killed executor leaves: a job's stage folders and their shuffle files
        std::fs::create_dir_all(work.join("job-1/2/0")).unwrap();
        std::fs::write(work.join("job-1/2/0/data.arrow"), b"shuffle").unwrap();
        std::fs::write(work.join("notes.txt"), b"kept").unwrap();
        // a second executor on the same folder while the first runs: refused, nothing removed
        let err = claim(Some(&work), bind).unwrap_err().to_string();
        assert!(
            err.contains("used by another running executor")
                && err.contains(&format!("(process {})", std::process::id()))
                && err.contains("--work-dir"),
            "{err}"
        );
        assert!(work.join("job-1/2/0/data.arrow").is_file());
        // the first one killed (its lock released without any clean-up): the next one removes
        // the job folders and keeps the files
        drop(first);
        let next = claim(Some(&work), bind).unwrap();
        assert!(!work.join("job-1").exists());
        assert_eq!(std::fs::read(work.join("notes.txt")).unwrap(), b"kept");
        next.release();
        assert!(work.is_dir(), "a given folder is the user's: kept");
    }

    #[test]
    fn a_folder_no_executor_made_is_not_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let bind: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        std::fs::create_dir_all(dir.path().join("photos/2026")).unwrap();
        let err = claim(Some(dir.path()), bind).unwrap_err().to_string();
        assert!(
            err.contains("is not empty and no executor made it")
                && err.contains("an empty or new folder"),
            "{err}"
        );
        assert!(dir.path().join("photos/2026").is_dir());
        assert!(!dir.path().join(LOCK_FILE).exists());
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
    fn the_default_folder_is_private_the_same_at_each_restart_and_removed_after_a_clean_stop() {
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
        assert!(
            !default_for(v6).starts_with(std::env::temp_dir())
                || std::env::var_os("HOME").is_none()
        );
        let claimed = claim(None, v6).unwrap();
        assert!(claimed.default && claimed.path == default_for(v6));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&claimed.path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        }
        let path = claimed.path.clone();
        claimed.release();
        assert!(!path.exists());
    }
}
