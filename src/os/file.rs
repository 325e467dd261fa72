//! Opening files a user names.

use std::path::Path;

/// Open an input for reading, refusing anything but a regular file: a FIFO or a device
/// would block the command or never end. The open itself does not block (`O_NONBLOCK`).
pub fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let ft = f
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .file_type();
    if ft.is_file() {
        return Ok(f);
    }
    let what = if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(format!(
        "refusing {}: it is {what}, not a regular file",
        path.display()
    ))
}
