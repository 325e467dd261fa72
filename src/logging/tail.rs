//! Cursor-based reading of the log file, the engine of `logs.tail` and `openclaw logs`.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const DEFAULT_LIMIT: usize = 200;
pub const MAX_LIMIT: usize = 5000;
pub const DEFAULT_MAX_BYTES: u64 = 250_000;
pub const MAX_MAX_BYTES: u64 = 1_000_000;

/// The `logs.tail` result shape (read back by `openclaw logs`, from this gateway or the real
/// one, which may add fields).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TailResult {
    pub file: String,
    pub cursor: u64,
    pub size: u64,
    pub lines: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

/// Read lines after `cursor` (or the last `max_bytes` when no cursor), at most `limit` lines.
/// A cursor beyond the end (the file was rotated or truncated) resets to the tail.
pub fn tail(
    path: &Path,
    cursor: Option<u64>,
    limit: usize,
    max_bytes: u64,
) -> std::io::Result<TailResult> {
    let file_name = path.display().to_string();
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(TailResult {
                file: file_name,
                cursor: 0,
                size: 0,
                lines: Vec::new(),
                truncated: false,
                reset: cursor.is_some_and(|c| c > 0),
            })
        }
        Err(e) => return Err(e),
    };
    let size = f.metadata()?.len();
    let limit = limit.clamp(1, MAX_LIMIT);
    let max_bytes = max_bytes.clamp(1, MAX_MAX_BYTES);
    let mut reset = false;
    let (start, from_tail) = match cursor {
        Some(c) if c <= size => (c, false),
        Some(_) => {
            reset = true;
            (size.saturating_sub(max_bytes), true)
        }
        None => (size.saturating_sub(max_bytes), true),
    };
    let end = if from_tail {
        size
    } else {
        size.min(start + max_bytes)
    };
    f.seek(SeekFrom::Start(start))?;
    let mut buf = vec![0u8; (end - start) as usize];
    f.read_exact(&mut buf)?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    let mut consumed = end;
    // Starting mid-file from the tail: drop the partial first line.
    if from_tail && start > 0 {
        match text.find('\n') {
            Some(i) => text = text[i + 1..].to_string(),
            None => text.clear(),
        }
    }
    // Reading forward: stop at the last complete line so the cursor never splits one.
    let mut truncated = end < size;
    if !text.ends_with('\n') && !text.is_empty() {
        if let Some(i) = text.rfind('\n') {
            consumed -= (text.len() - i - 1) as u64;
            text.truncate(i + 1);
            truncated = true;
        } else if end < size {
            consumed = start;
            text.clear();
        }
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() > limit {
        truncated = true;
        lines.drain(..lines.len() - limit);
    }
    Ok(TailResult {
        file: file_name,
        cursor: consumed,
        size,
        lines,
        truncated,
        reset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn cursor_follow_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let mut f = File::create(&p).unwrap();
        writeln!(f, "a\nb\nc").unwrap();
        let r = tail(&p, None, 2, 1000).unwrap();
        assert_eq!(r.lines, vec!["b", "c"]);
        assert!(r.truncated);
        writeln!(f, "d").unwrap();
        let r2 = tail(&p, Some(r.cursor), 10, 1000).unwrap();
        assert_eq!(r2.lines, vec!["d"]);
        let r3 = tail(&p, Some(10_000), 10, 1000).unwrap();
        assert!(r3.reset);
        let missing = tail(&dir.path().join("none"), None, 10, 10).unwrap();
        assert!(missing.lines.is_empty());
    }
}
