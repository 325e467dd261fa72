//! "Last gateway error": the newest line in the service's error log, its output log, or the
//! file log that explains a failed start (spec 3.5), else the newest error-level line.

use super::attribution::{self, Origin, Owner};
use crate::logging::record;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Lines that explain why a gateway is not serving, most specific first.
const PATTERNS: &[&str] = &[
    "refusing to bind gateway",
    "gateway auth mode",
    "gateway start blocked",
    "failed to bind gateway socket",
    "another gateway instance is already listening",
    "gateway already running",
    "openclaw config is invalid",
    "missing config.",
    "tailscale ",
];

/// How much of the end of each file is read.
const TAIL_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LastError {
    pub line: String,
    pub file: String,
    pub time: Option<String>,
}

fn tail_lines(path: &Path) -> Vec<String> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    lines
}

fn matches(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    PATTERNS.iter().any(|p| m.contains(p))
}

/// Find the last gateway error in `files` (searched in order; the first file with a hit wins).
/// Lines of a shared file count only when they are `owner`'s (`inspect::attribution`); the
/// service's own logs under `state_dir` are always the profile's.
pub fn find(files: &[PathBuf], owner: &Owner, state_dir: &Path) -> Option<LastError> {
    for file in files {
        let lines = tail_lines(file);
        let mut parsed: Vec<record::Parsed> = lines.iter().map(|l| record::parse_line(l)).collect();
        if !attribution::private_source(file, state_dir) {
            let marks: Vec<_> = parsed.iter().map(attribution::markers).collect();
            let times: Vec<Option<&str>> = parsed.iter().map(|p| p.time.as_deref()).collect();
            let origins = owner.clone().attribute(&marks, &times);
            let mut keep = origins.iter().map(|o| *o == Origin::Own);
            parsed.retain(|_| keep.next().unwrap_or(false));
        }
        let hit = parsed
            .iter()
            .rev()
            .find(|p| matches(&p.message))
            .or_else(|| {
                parsed
                    .iter()
                    .rev()
                    .find(|p| matches!(p.level.as_deref(), Some("ERROR" | "FATAL")))
            });
        if let Some(p) = hit {
            return Some(LastError {
                line: p.message.clone(),
                file: file.display().to_string(),
                time: p.time.clone(),
            });
        }
    }
    None
}

/// The files to search for a gateway whose state dir and file log are known.
pub fn candidate_files(state_dir: &Path, log_file: &Path) -> Vec<PathBuf> {
    vec![
        state_dir.join("logs").join("gateway.err.log"),
        state_dir.join("logs").join("gateway.log"),
        log_file.to_path_buf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_explaining_lines_then_errors() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        let now = chrono::Local::now();
        let lines = [
            record::render(crate::logging::Level::Error, "gateway", "Gateway start blocked: set gateway.mode=local (current: remote) or pass --allow-unconfigured.", "h", now),
            record::render(crate::logging::Level::Error, "gateway", "some later unrelated error", "h", now),
            record::render(crate::logging::Level::Info, "gateway", "ready", "h", now),
        ];
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        let mut me = Owner::new(Path::new("/p/openclaw.json"), Some(18789));
        me.pids.insert(std::process::id());
        let state = dir.path().join("state");
        let e = find(&[dir.path().join("missing.log"), log.clone()], &me, &state).unwrap();
        assert!(e.line.starts_with("Gateway start blocked"), "{e:?}");
        std::fs::write(&log, lines[1..].join("\n") + "\n").unwrap();
        assert_eq!(
            find(std::slice::from_ref(&log), &me, &state).unwrap().line,
            "some later unrelated error"
        );
        std::fs::write(&log, lines[2].clone() + "\n").unwrap();
        assert!(find(std::slice::from_ref(&log), &me, &state).is_none());
    }

    #[test]
    fn another_processes_error_is_not_this_gateways() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("shared.log");
        let now = chrono::Local::now();
        let mut me = Owner::new(Path::new("/p/openclaw.json"), Some(18789));
        me.pids.insert(1111);
        let lines = [
            record::render_for(
                1111,
                crate::logging::Level::Info,
                "gateway",
                "ready",
                "h",
                now,
            ),
            record::render_for(
                2222,
                crate::logging::Level::Error,
                "config",
                "OpenClaw config is invalid",
                "h",
                now,
            ),
        ];
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        assert!(find(std::slice::from_ref(&log), &me, &dir.path().join("state")).is_none());
        // The same line in the profile's own service log is its own.
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("logs")).unwrap();
        let err = state.join("logs").join("gateway.err.log");
        std::fs::write(&err, lines[1].clone() + "\n").unwrap();
        assert_eq!(
            find(&[err], &me, &state).unwrap().line,
            "OpenClaw config is invalid"
        );
    }
}
