//! The client's cache of device tokens a gateway issued to this CLI's device identity:
//! `<state>/identity/device-auth.json`, upstream's shape
//! `{version: 1, deviceId, tokens: {<role>: {token, role, scopes, updatedAtMs}}}`, mode 0600.
//! A cache for another device id (the identity was replaced) is ignored and overwritten.
//!
//! Where the state dir has the SQLite store (2026.9.6+, or this build's gateway ran there),
//! the cache is the store's `device_auth_tokens` rows (one per device and role), as the
//! real CLI keeps it; a token only the legacy file holds is still used.

use crate::config::secret::Secret;
use crate::config::write::{atomic_write, ensure_private_dir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("identity").join("device-auth.json")
}

/// A cached token and the scopes it was issued for.
#[derive(Debug, Clone)]
pub struct Stored {
    pub token: Secret,
    pub scopes: Vec<String>,
}

fn read(state_dir: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path(state_dir)).ok()?).ok()
}

/// The state dir keeps its state in the SQLite store.
fn store_backed(state_dir: &Path) -> bool {
    super::store::path(state_dir).is_file()
}

/// The store's cache entry of `device_id`, in the file's shape.
fn read_store(state_dir: &Path, device_id: &str) -> Option<Value> {
    super::store::with_shared(state_dir, |s| s.device_auth_tokens())
        .ok()?
        .remove(device_id)
}

pub fn load(state_dir: &Path, device_id: &str, role: &str) -> Option<Stored> {
    let from_file = || read(state_dir).filter(|v| v["tokens"][role]["token"].is_string());
    let v = if store_backed(state_dir) {
        read_store(state_dir, device_id)
            .filter(|v| v["tokens"][role]["token"].is_string())
            .or_else(from_file)?
    } else {
        from_file()?
    };
    if v["deviceId"].as_str() != Some(device_id) {
        return None;
    }
    let t = &v["tokens"][role];
    Some(Stored {
        token: Secret::new(t["token"].as_str().filter(|s| !s.is_empty())?),
        scopes: t["scopes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn write(state_dir: &Path, v: &Value) -> std::io::Result<()> {
    let p = path(state_dir);
    if let Some(dir) = p.parent() {
        ensure_private_dir(dir)?;
    }
    let mut body = serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?;
    body.push(b'\n');
    atomic_write(&p, &body, 0o600)
}

pub fn save(
    state_dir: &Path,
    device_id: &str,
    role: &str,
    token: &str,
    scopes: &[String],
) -> std::io::Result<()> {
    if store_backed(state_dir) {
        // Unchanged (the usual case: the gateway handed back the cached token): no write.
        if read_store(state_dir, device_id).is_some_and(|v| {
            v["tokens"][role]["token"].as_str() == Some(token)
                && v["tokens"][role]["scopes"] == json!(scopes)
        }) {
            return Ok(());
        }
        let scopes = serde_json::to_string(scopes).map_err(std::io::Error::other)?;
        let now = crate::util::now_ms() as i64;
        return in_store(state_dir, |tx| {
            tx.execute(
                "INSERT INTO device_auth_tokens (device_id, role, token, scopes_json, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id, role) DO UPDATE SET \
                 token = excluded.token, scopes_json = excluded.scopes_json, updated_at_ms = excluded.updated_at_ms \
                 WHERE token != excluded.token OR scopes_json != excluded.scopes_json",
                rusqlite::params![device_id, role, token, scopes, now],
            )
            .map(|_| ())
        });
    }
    let mut v = read(state_dir)
        .filter(|v| v["deviceId"].as_str() == Some(device_id) && v["tokens"].is_object())
        .unwrap_or_else(|| json!({"version": 1, "deviceId": device_id, "tokens": {}}));
    if v["tokens"][role]["token"].as_str() == Some(token)
        && v["tokens"][role]["scopes"] == json!(scopes)
    {
        return Ok(());
    }
    v["tokens"][role] = json!({
        "token": token, "role": role, "scopes": scopes, "updatedAtMs": crate::util::now_ms(),
    });
    write(state_dir, &v)
}

/// A write to the store's cache rows.
fn in_store(
    state_dir: &Path,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
) -> std::io::Result<()> {
    super::store::with_shared(state_dir, |s| s.write(f))
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Drop a token the gateway no longer accepts.
pub fn forget(state_dir: &Path, device_id: &str, role: &str) -> std::io::Result<()> {
    if store_backed(state_dir) {
        in_store(state_dir, |tx| {
            tx.execute(
                "DELETE FROM device_auth_tokens WHERE device_id = ?1 AND role = ?2",
                [device_id, role],
            )
            .map(|_| ())
        })?;
    }
    let Some(mut v) = read(state_dir) else {
        return Ok(());
    };
    if v["deviceId"].as_str() != Some(device_id) {
        return Ok(());
    }
    if let Some(t) = v["tokens"].as_object_mut() {
        if t.remove(role).is_some() {
            return write(state_dir, &v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_forget() {
        let d = tempfile::tempdir().unwrap();
        assert!(load(d.path(), "dev", "operator").is_none());
        save(
            d.path(),
            "dev",
            "operator",
            "tok",
            &["operator.read".into()],
        )
        .unwrap();
        let s = load(d.path(), "dev", "operator").unwrap();
        assert_eq!(s.token.expose(), "tok");
        assert_eq!(s.scopes, vec!["operator.read".to_string()]);
        assert!(load(d.path(), "other-device", "operator").is_none());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(d.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        forget(d.path(), "dev", "operator").unwrap();
        assert!(load(d.path(), "dev", "operator").is_none());
    }
}
