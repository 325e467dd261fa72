//! Single instance per config path: `<tmp>/openclaw-<uid>/gateway.<sha256(config)[0..8]>.lock`
//! created with O_EXCL, holding `{pid, createdAt, configPath, startTime}`; stale owners removed.

use crate::logging::Logger;
use crate::os::proc;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const LOCK_TIMEOUT: Duration = Duration::from_millis(5000);
const POLL: Duration = Duration::from_millis(100);
const UNKNOWN_OWNER_STALE_MS: u64 = 30_000;

pub fn lock_dir() -> PathBuf {
    std::env::temp_dir().join(format!("openclaw-{}", proc::current_uid()))
}

pub fn lock_path(config_path: &Path) -> PathBuf {
    let digest = hex::encode(Sha256::digest(config_path.to_string_lossy().as_bytes()));
    lock_dir().join(format!("gateway.{}.lock", &digest[..8]))
}

/// Held lock; removed on drop.
#[derive(Debug)]
pub struct GatewayLock {
    path: PathBuf,
}

impl Drop for GatewayLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    AlreadyRunning { pid: u32 },
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::AlreadyRunning { pid } => write!(
                f,
                "gateway already running (pid {pid}); lock timeout after {}ms",
                LOCK_TIMEOUT.as_millis()
            ),
            LockError::Io(p, e) => write!(f, "cannot create gateway lock {}: {e}", p.display()),
        }
    }
}

fn looks_like_gateway(pid: u32) -> Option<bool> {
    let argv = proc::process_argv(pid);
    (!argv.is_empty())
        .then(|| proc::is_gateway_argv(&proc::process_comm(pid).unwrap_or_default(), &argv))
}

/// The pid of the live gateway holding the lock on `config_path`, if one does.
pub fn owner(config_path: &Path) -> Option<u32> {
    live_owner(&lock_path(config_path))
}

/// Inspect an existing lock: `Some(pid)` when a live gateway owns it.
fn live_owner(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let pid = v
        .get("pid")
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())?;
    if !proc::is_alive(pid) {
        return None;
    }
    if let Some(start) = v.get("startTime").and_then(Value::as_u64) {
        if proc::process_start_ticks(pid) != Some(start) {
            return None; // pid reused by another process
        }
    }
    match looks_like_gateway(pid) {
        Some(true) => Some(pid),
        Some(false) => None,
        None => {
            let created = v.get("createdAt").and_then(Value::as_u64).unwrap_or(0);
            (crate::util::now_ms().saturating_sub(created) < UNKNOWN_OWNER_STALE_MS).then_some(pid)
        }
    }
}

pub async fn acquire(config_path: &Path, logger: &Logger) -> Result<GatewayLock, LockError> {
    let dir = lock_dir();
    crate::config::write::ensure_private_dir(&dir).map_err(|e| LockError::Io(dir.clone(), e))?;
    let path = lock_path(config_path);
    let started = Instant::now();
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                let me = std::process::id();
                let body = json!({
                    "pid": me,
                    "createdAt": crate::util::now_ms(),
                    "configPath": config_path.display().to_string(),
                    "startTime": proc::process_start_ticks(me),
                });
                f.write_all(body.to_string().as_bytes())
                    .map_err(|e| LockError::Io(path.clone(), e))?;
                return Ok(GatewayLock { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match live_owner(&path) {
                None => {
                    logger.warn(
                        "gateway",
                        format!("removing stale gateway lock {}", path.display()),
                    );
                    let _ = std::fs::remove_file(&path);
                }
                Some(pid) if started.elapsed() >= LOCK_TIMEOUT => {
                    return Err(LockError::AlreadyRunning { pid });
                }
                Some(_) => tokio::time::sleep(POLL).await,
            },
            Err(e) => return Err(LockError::Io(path, e)),
        }
    }
}
