//! The one way configs are written: compare-and-swap on the hash of what was read (a
//! concurrent edit is never overwritten), a backup ring `openclaw.json.bak`, `.bak.1`…`.bak.4`
//! (mode 0600), `meta.lastTouchedVersion` / `meta.lastTouchedAt` stamped, then an atomic
//! rename.

use super::edit;
use super::write::atomic_write;
use serde_json::json;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const BACKUPS: u32 = 5;

#[derive(Debug, Error)]
pub enum WriteError {
    #[error(
        "{path} changed on disk since it was read; nothing was written (run the command again)"
    )]
    Conflict { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to write {path}: the new text does not parse ({why})")]
    Invalid { path: PathBuf, why: String },
    #[error("{0}")]
    Edit(#[from] edit::EditError),
}

/// The compare-and-swap token: the same hash [`super::load`] records as `LoadedConfig::hash`.
pub use super::load::hash;

pub fn backup_path(path: &Path, n: u32) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("openclaw.json");
    if n == 0 {
        path.with_file_name(format!("{name}.bak"))
    } else {
        path.with_file_name(format!("{name}.bak.{n}"))
    }
}

fn rotate_backups(path: &Path, current: &[u8]) -> std::io::Result<PathBuf> {
    for n in (0..BACKUPS - 1).rev() {
        let from = backup_path(path, n);
        if from.exists() {
            std::fs::rename(&from, backup_path(path, n + 1))?;
        }
    }
    let bak = backup_path(path, 0);
    atomic_write(&bak, current, 0o600)?;
    Ok(bak)
}

/// Stamp `meta.lastTouchedVersion` and `meta.lastTouchedAt` into `text`.
pub fn stamp(text: &str) -> Result<String, edit::EditError> {
    let t = edit::set(
        text,
        "meta.lastTouchedVersion",
        &json!(super::version::CURRENT),
    )?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    edit::set(&t, "meta.lastTouchedAt", &json!(now))
}

/// Write `new_text` to `path` if the file still hashes to `expected` (`None`: the file must
/// not exist). Returns the backup of the previous content, if there was one.
pub fn commit(
    path: &Path,
    expected: Option<&str>,
    new_text: &str,
) -> Result<Option<PathBuf>, WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let stamped = stamp(new_text)?;
    if let Err(e) = super::json5::parse(&stamped) {
        return Err(WriteError::Invalid {
            path: path.to_path_buf(),
            why: e.to_string(),
        });
    }
    let current = match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let current_hash = current.as_deref().map(hash);
    if current_hash.as_deref() != expected {
        return Err(WriteError::Conflict {
            path: path.to_path_buf(),
        });
    }
    let backup = match &current {
        Some(bytes) => Some(rotate_backups(path, bytes).map_err(io)?),
        None => None,
    };
    atomic_write(path, stamped.as_bytes(), 0o600).map_err(io)?;
    Ok(backup)
}

/// Restore `path` to exactly `bytes` (a rollback), with the same CAS rule.
pub fn restore(path: &Path, expected: &str, bytes: &[u8]) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let current = std::fs::read(path).map_err(io)?;
    if hash(&current) != expected {
        return Err(WriteError::Conflict {
            path: path.to_path_buf(),
        });
    }
    atomic_write(path, bytes, 0o600).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cas_backup_ring_and_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("openclaw.json");
        assert!(commit(&p, None, "{ gateway: { mode: 'local' } }")
            .unwrap()
            .is_none());
        let mut last = std::fs::read(&p).unwrap();
        let text = String::from_utf8(last.clone()).unwrap();
        assert!(text.contains(super::super::version::CURRENT) && text.contains("lastTouchedAt"));
        for i in 0..7 {
            let h = hash(&last);
            let next = format!("{{ gateway: {{ mode: 'local', port: {} }} }}", 20000 + i);
            let bak = commit(&p, Some(&h), &next).unwrap().unwrap();
            assert_eq!(std::fs::read(&bak).unwrap(), last);
            last = std::fs::read(&p).unwrap();
        }
        assert!(backup_path(&p, 4).exists());
        assert!(!backup_path(&p, 5).exists());
        let mode = std::fs::metadata(backup_path(&p, 0))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        // A concurrent edit is refused, and nothing is written.
        let stale = hash(b"something else");
        std::fs::write(&p, "{ edited: 'by hand' }").unwrap();
        assert!(matches!(
            commit(&p, Some(&stale), "{}"),
            Err(WriteError::Conflict { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{ edited: 'by hand' }"
        );
        assert!(matches!(
            commit(&p, Some(&hash(b"{ edited: 'by hand' }")), "{ broken"),
            Err(WriteError::Edit(_)) | Err(WriteError::Invalid { .. })
        ));
    }
}
