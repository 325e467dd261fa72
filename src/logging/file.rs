//! The logger: JSON lines to a daily file (`/tmp/openclaw/openclaw-YYYY-MM-DD.log` unless
//! `logging.file` is set), rotated at a size cap keeping 5 archives, and a human console on
//! stderr. Logging never fails the caller: a file error is reported once on the console.

use super::level::Level;
use super::record;
use chrono::{Local, NaiveDate};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default size at which the file rotates (upstream `logging.maxFileBytes`).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Rotated archives kept (`.1` … `.5`).
pub const ARCHIVES: u32 = 5;

/// Logger settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `logging.file`; `None` means the dated default.
    pub file: Option<PathBuf>,
    /// Directory of the dated default (`OPENCLAW_LOG_DIR`); `None` means `/tmp/openclaw`.
    pub dir: Option<PathBuf>,
    pub profile: Option<String>,
    pub file_level: Option<Level>,
    pub console_level: Option<Level>,
    pub max_file_bytes: u64,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            file: None,
            dir: None,
            profile: None,
            file_level: Some(Level::Info),
            console_level: Some(Level::Info),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

impl LogSettings {
    /// Settings from a config's `logging.*` keys (defaults when absent or unreadable).
    /// `OPENCLAW_LOG_LEVEL` overrides the file level.
    pub fn from_config(
        cfg: &crate::config::LoadedConfig,
        env: &crate::config::Env,
        profile: Option<&str>,
    ) -> Self {
        let level = |k: &str, d: Option<Level>| cfg.get_str(k).and_then(Level::parse).unwrap_or(d);
        LogSettings {
            file: cfg.get_str("logging.file").map(|f| env.expand_home(f)),
            dir: env
                .get(crate::config::env::LOG_DIR)
                .map(|d| env.expand_home(d)),
            profile: profile.map(str::to_string),
            file_level: env
                .get(crate::config::env::LOG_LEVEL)
                .and_then(Level::parse)
                .unwrap_or_else(|| level("logging.level", Some(Level::Info))),
            console_level: level("logging.consoleLevel", Some(Level::Info)),
            max_file_bytes: cfg
                .get("logging.maxFileBytes")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(DEFAULT_MAX_FILE_BYTES),
        }
    }

    /// The file these settings write today.
    pub fn current_file(&self) -> PathBuf {
        path_for(self, Local::now().date_naive())
    }
}

/// The default log directory: `/tmp/openclaw`, or `<tmp>/openclaw-<uid>` when that is not
/// ours to use.
pub fn default_dir() -> PathBuf {
    let shared = PathBuf::from("/tmp/openclaw");
    let uid = crate::os::proc::current_uid();
    match fs::metadata(&shared) {
        Ok(m) if std::os::unix::fs::MetadataExt::uid(&m) != uid => {
            std::env::temp_dir().join(format!("openclaw-{uid}"))
        }
        _ => shared,
    }
}

/// The dated default file for `date`.
pub fn default_file(dir: Option<&Path>, profile: Option<&str>, date: NaiveDate) -> PathBuf {
    let d = date.format("%Y-%m-%d");
    let name = match profile.filter(|p| *p != "default") {
        Some(p) => format!("openclaw-{p}-{d}.log"),
        None => format!("openclaw-{d}.log"),
    };
    dir.map(Path::to_path_buf)
        .unwrap_or_else(default_dir)
        .join(name)
}

struct Inner {
    settings: LogSettings,
    host: String,
    current: Option<(PathBuf, File, u64)>,
    current_date: Option<NaiveDate>,
    reported_error: bool,
}

/// Cheap to clone; all clones share one file handle.
#[derive(Clone)]
pub struct Logger {
    inner: Arc<Mutex<Inner>>,
}

impl Logger {
    pub fn new(settings: LogSettings) -> Self {
        Logger {
            inner: Arc::new(Mutex::new(Inner {
                settings,
                host: record::hostname(),
                current: None,
                current_date: None,
                reported_error: false,
            })),
        }
    }

    /// The file this logger writes now.
    pub fn file_path(&self) -> PathBuf {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        path_for(&inner.settings, Local::now().date_naive())
    }

    pub fn set_console_level(&self, level: Option<Level>) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .settings
            .console_level = level;
    }

    /// Would a record at `level` go anywhere? Lets a hot path skip building the message.
    pub fn enabled(&self, level: Level) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let on = |min: Option<Level>| min.is_some_and(|min| level >= min);
        on(inner.settings.console_level) || on(inner.settings.file_level)
    }

    pub fn info(&self, subsystem: &str, message: impl AsRef<str>) {
        self.log(Level::Info, subsystem, message.as_ref());
    }
    pub fn warn(&self, subsystem: &str, message: impl AsRef<str>) {
        self.log(Level::Warn, subsystem, message.as_ref());
    }
    pub fn error(&self, subsystem: &str, message: impl AsRef<str>) {
        self.log(Level::Error, subsystem, message.as_ref());
    }
    pub fn debug(&self, subsystem: &str, message: impl AsRef<str>) {
        self.log(Level::Debug, subsystem, message.as_ref());
    }

    pub fn log(&self, level: Level, subsystem: &str, message: &str) {
        self.write(level, subsystem, message, true);
    }

    /// Write to the file only (the caller already told the console).
    pub fn file_only(&self, level: Level, subsystem: &str, message: &str) {
        self.write(level, subsystem, message, false);
    }

    fn write(&self, level: Level, subsystem: &str, message: &str, console: bool) {
        let now = Local::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if console && inner.settings.console_level.is_some_and(|min| level >= min) {
            eprintln!("{}", record::console_line(subsystem, message, now));
        }
        if inner.settings.file_level.is_none_or(|min| level < min) {
            return;
        }
        let line = record::render(level, subsystem, message, &inner.host, now);
        if let Err(e) = inner.write_line(&line, now.date_naive()) {
            if !inner.reported_error {
                inner.reported_error = true;
                let path = path_for(&inner.settings, now.date_naive());
                eprintln!(
                    "{} [logging] cannot write log file {}: {e}",
                    record::local_time(now),
                    path.display()
                );
            }
        }
    }
}

fn path_for(settings: &LogSettings, date: NaiveDate) -> PathBuf {
    settings
        .file
        .clone()
        .unwrap_or_else(|| default_file(settings.dir.as_deref(), settings.profile.as_deref(), date))
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Dated default logs older than this are removed when a new day's file is opened.
pub const PRUNE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Remove `openclaw-*.log` files (and their archives) in `dir` last modified before
/// `PRUNE_AFTER`, except `keep`. Returns what was removed.
pub fn prune_dated(dir: &Path, keep: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("openclaw-") && name.ends_with(".log")) || path == keep {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > PRUNE_AFTER);
        if old && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// `openclaw-2026-11-23.log` → `openclaw-2026-11-23.<n>.log`.
pub fn archive_path(path: &Path, n: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("openclaw");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("log");
    path.with_file_name(format!("{stem}.{n}.{ext}"))
}

impl Inner {
    fn write_line(&mut self, line: &str, date: NaiveDate) -> std::io::Result<()> {
        if self.current_date != Some(date) || self.current.is_none() {
            let path = path_for(&self.settings, date);
            let file = open_log(&path)?;
            if self.settings.file.is_none() {
                if let Some(dir) = path.parent() {
                    prune_dated(dir, &path);
                }
            }
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.current = Some((path, file, size));
            self.current_date = Some(date);
        }
        let needed = line.len() as u64 + 1;
        let max = self.settings.max_file_bytes;
        if let Some((path, _, size)) = &self.current {
            if *size > 0 && *size + needed > max {
                let path = path.clone();
                for n in (1..ARCHIVES).rev() {
                    let from = archive_path(&path, n);
                    if from.exists() {
                        fs::rename(&from, archive_path(&path, n + 1))?;
                    }
                }
                fs::rename(&path, archive_path(&path, 1))?;
                let file = open_log(&path)?;
                self.current = Some((path, file, 0));
            }
        }
        if let Some((_, file, size)) = &mut self.current {
            let mut buf = Vec::with_capacity(line.len() + 1);
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            file.write_all(&buf)?;
            *size += needed;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_only_old_dated_logs() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("openclaw-2026-01-01.log");
        let old_archive = dir.path().join("openclaw-2026-01-01.1.log");
        let fresh = dir.path().join("openclaw-2026-11-23.log");
        let other = dir.path().join("notes.txt");
        for p in [&old, &old_archive, &fresh, &other] {
            fs::write(p, "x").unwrap();
        }
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
        for p in [&old, &old_archive, &other] {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_days_ago)
                .unwrap();
        }
        let removed = prune_dated(dir.path(), &fresh);
        assert_eq!(removed.len(), 2);
        assert!(!old.exists() && !old_archive.exists());
        assert!(fresh.exists() && other.exists());
    }

    #[test]
    fn writes_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/gw.log");
        let log = Logger::new(LogSettings {
            file: Some(path.clone()),
            console_level: None,
            max_file_bytes: 2000,
            ..LogSettings::default()
        });
        for i in 0..20 {
            log.info("gateway", format!("line {i}"));
        }
        log.debug("gateway", "not written at info level");
        assert!(path.exists());
        assert!(archive_path(&path, 1).exists());
        assert!(!archive_path(&path, ARCHIVES + 1).exists());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("line 19"));
        assert!(!text.contains("not written"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
