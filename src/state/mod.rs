//! Files under the state dir, one store per file type, each written atomically.

pub mod device_auth;
pub mod devices;
pub mod dm_pairing;
pub mod identity;
pub mod store;

use crate::config::write::ensure_private_dir;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An exclusive `flock` held until drop.
pub(crate) struct DirLock(std::fs::File);

impl DirLock {
    pub(crate) fn take(dir: &Path) -> std::io::Result<DirLock> {
        ensure_private_dir(dir)?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(".lock"))?;
        // SAFETY: flock on a descriptor this File owns.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(DirLock(f))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor taken in `take`; closing would release it too.
        unsafe {
            libc::flock(std::os::fd::AsRawFd::as_raw_fd(&self.0), libc::LOCK_UN);
        }
    }
}
