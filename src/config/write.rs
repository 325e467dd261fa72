//! Crash-safe file writes: temp file in the same directory, fsync, rename, fsync the
//! directory. A reader sees the old file or the new one, never a torn one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Write `contents` to `path` atomically with file mode `mode`.
pub fn atomic_write(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut suffix = [0u8; 6];
    getrandom::getrandom(&mut suffix).map_err(std::io::Error::other)?;
    // The writer's pid is in the name, so a later write can tell an orphan (its writer was
    // killed between create and rename) from a write in progress.
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        hex::encode(suffix)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        remove_orphans(dir, name);
    }
    result
}

/// Remove temp files of earlier writes of `name` whose writer is gone (they hold a full
/// copy of the file, secrets included). A name without a pid (older builds) counts as an
/// orphan once it is a minute old; a live writer finishes in milliseconds.
fn remove_orphans(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let orphan = match rest.split_once('-') {
            Some((pid, _)) if pid.bytes().all(|b| b.is_ascii_digit()) => match pid.parse::<i32>() {
                Ok(pid) if pid as u32 == std::process::id() => false,
                Ok(pid) => !crate::os::proc::is_alive(pid as u32),
                Err(_) => true,
            },
            _ => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60)),
        };
        if orphan {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Create a directory (and parents) with mode 0700 for the last component.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphaned_temp_files_are_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("openclaw.json");
        // A writer that died: a pid that no longer runs.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let orphan = dir.path().join(format!(".openclaw.json.tmp-{dead}-abcdef"));
        fs::write(&orphan, "{ token: 'secret' }").unwrap();
        // An older build's name, old enough; and one from a live writer (this process' parent).
        let legacy = dir.path().join(".openclaw.json.tmp-a1b2c3d4e5f6");
        fs::write(&legacy, "{}").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&legacy)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let live = dir.path().join(format!(
            ".openclaw.json.tmp-{}-000000",
            std::os::unix::process::parent_id()
        ));
        fs::write(&live, "{}").unwrap();
        let other = dir.path().join(".other.json.tmp-1-000000");
        fs::write(&other, "{}").unwrap();
        atomic_write(&p, b"{}", 0o600).unwrap();
        assert!(!orphan.exists() && !legacy.exists());
        assert!(live.exists(), "a write in progress is left alone");
        assert!(
            other.exists(),
            "another file's temp files are its own business"
        );
    }

    #[test]
    fn writes_with_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        atomic_write(&p, b"one", 0o600).unwrap();
        atomic_write(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
