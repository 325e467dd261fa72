//! A minimal inotify watch on one file, through its directory so atomic renames (write to a
//! temp file, rename over) are seen. Events for other names in the directory are ignored.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct FileWatch {
    fd: AsyncFd<OwnedFd>,
    name: OsString,
}

const MASK: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MODIFY
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_ATTRIB;

impl FileWatch {
    /// Watch `file` (which need not exist yet); must be called inside a tokio runtime.
    pub fn new(file: &Path) -> io::Result<FileWatch> {
        let name = file
            .file_name()
            .ok_or_else(|| io::Error::other("no file name"))?
            .to_os_string();
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let dir = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: plain syscalls; the returned fd is checked and owned below.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `dir` is a valid NUL-terminated path; `fd` is an inotify descriptor.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), dir.as_ptr(), MASK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd owns a valid descriptor that is neither replaced nor closed
        // while the AsyncFd holds it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(FileWatch { fd, name })
    }

    /// Wait until an event names the file (or the queue overflowed, or the directory went
    /// away: then the caller should check the file anyway).
    pub async fn changed(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let mut guard = self.fd.readable().await?;
            let read = guard.try_io(|fd| {
                // SAFETY: reading into a local buffer of the stated length.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            let n = match read {
                Ok(r) => r?,
                Err(_would_block) => continue,
            };
            if self.names_file(&buf[..n]) {
                return Ok(());
            }
        }
    }

    fn names_file(&self, mut events: &[u8]) -> bool {
        const HDR: usize = std::mem::size_of::<libc::inotify_event>();
        let mut hit = false;
        while events.len() >= HDR {
            // SAFETY: at least HDR bytes remain; read_unaligned copes with the byte buffer.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(events.as_ptr().cast()) };
            let end = (HDR + ev.len as usize).min(events.len());
            let raw_name = &events[HDR..end];
            let name = raw_name.split(|b| *b == 0).next().unwrap_or_default();
            if ev.mask & (libc::IN_Q_OVERFLOW | libc::IN_IGNORED | libc::IN_DELETE_SELF) != 0
                || name == self.name.as_bytes()
            {
                hit = true;
            }
            events = &events[end..];
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn fired(w: &mut FileWatch, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), w.changed())
            .await
            .is_ok()
    }

    async fn drain(w: &mut FileWatch) {
        while fired(w, 100).await {}
    }

    #[tokio::test]
    async fn sees_writes_and_renames_of_the_file_only() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("openclaw.json");
        let mut w = FileWatch::new(&file).unwrap();
        std::fs::write(d.path().join("other.bak"), "x").unwrap();
        assert!(!fired(&mut w, 300).await, "other names are ignored");
        std::fs::write(&file, "{}").unwrap();
        assert!(fired(&mut w, 2000).await);
        drain(&mut w).await;
        let tmp = d.path().join(".openclaw.json.tmp");
        std::fs::write(&tmp, "{ a: 1 }").unwrap();
        assert!(!fired(&mut w, 300).await, "the temp file is not the config");
        std::fs::rename(&tmp, &file).unwrap();
        assert!(
            fired(&mut w, 2000).await,
            "an atomic rename over the file is seen"
        );
    }
}
