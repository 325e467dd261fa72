//! Config hot reload: the file is watched with inotify (with a slow polling fallback) and
//! compared by content hash (a change must read the same twice, so half-written files are
//! not loaded) and each change is applied per `gateway.reload.mode`:
//! `hybrid` (default: safe and auth changes in place, restart in process for port/bind/TLS),
//! `hot` (in place only), `restart` (restart for any change), `off`. An invalid config never
//! replaces the running one; the file is restored from last-known-good (see `config::lkg`).
//! Each config that loads cleanly is promoted to last-known-good unless it looks clobbered.

use super::state::{Gateway, RuntimeConfig};
use crate::config::gateway as gwcfg;
use crate::config::{self, lkg, Env};
use crate::protocol::close;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Keys whose change needs a new listener.
const RESTART_KEYS: &[&str] = &[
    "gateway.port",
    "gateway.bind",
    "gateway.customBindHost",
    "gateway.tls",
    "gateway.mode",
];

/// What the serve loop should do after a change.
#[derive(Debug, PartialEq)]
pub enum Decision {
    Restart(Vec<String>),
    Applied(Vec<String>),
    Ignored(String),
}

fn hash_of(path: &PathBuf) -> Option<String> {
    std::fs::read(path).ok().map(|b| config::store::hash(&b))
}

/// How often the file is re-read when inotify is watching it anyway (network filesystems
/// and files changed behind a symlink do not raise inotify events).
const FALLBACK_POLL: Duration = Duration::from_secs(5);

/// Watch `path`; signal when its content differs from `loaded_hash` (the bytes the running
/// config came from, so an edit made while the gateway was starting is not missed) and has
/// read the same twice, `every` apart (the debounce). inotify on the file's directory wakes
/// the watcher at once; without inotify the file is polled every `every`.
pub fn spawn_watcher(
    tasks: &tokio_util::task::TaskTracker,
    path: PathBuf,
    loaded_hash: Option<String>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(4);
    tasks.spawn(async move {
        let mut inotify = crate::os::inotify::FileWatch::new(&path).ok();
        let mut applied = loaded_hash;
        // A change made before the watch existed is caught by this first read.
        let first = hash_of(&path);
        let mut pending: Option<Option<String>> = (first != applied).then_some(first);
        loop {
            let idle = if inotify.is_some() && pending.is_none() {
                FALLBACK_POLL
            } else {
                every
            };
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                ev = async {
                    match inotify.as_mut() {
                        Some(w) => w.changed().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if ev.is_err() {
                        inotify = None;
                    }
                    // Let the writer finish before the first read.
                    tokio::time::sleep(every).await;
                }
                _ = shutdown.changed() => return,
            }
            let now = hash_of(&path);
            if now == applied {
                pending = None;
                continue;
            }
            if pending.as_ref() == Some(&now) {
                applied = now;
                pending = None;
                if tx.send(()).await.is_err() {
                    return;
                }
            } else {
                pending = Some(now);
            }
        }
    });
    rx
}

/// Dotted paths (two levels under `gateway`, one elsewhere) whose values differ.
fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (a, b) = (o.get(k), n.get(k));
        if a == b || k == "meta" {
            continue;
        }
        match (
            k.as_str(),
            a.and_then(Value::as_object),
            b.and_then(Value::as_object),
        ) {
            ("gateway", Some(ga), Some(gb)) => {
                let mut gk: Vec<&String> = ga.keys().chain(gb.keys()).collect();
                gk.sort();
                gk.dedup();
                for g in gk {
                    if ga.get(g) != gb.get(g) {
                        out.push(format!("gateway.{g}"));
                    }
                }
            }
            _ => out.push(k.clone()),
        }
    }
    out
}

/// An invalid config never replaces the running one. The file is restored from
/// last-known-good when there is a copy (the rejected file is kept as `.clobbered.<ts>`)
/// and a `Config recovery warning` system event is raised.
fn on_invalid(gw: &Arc<Gateway>, loaded: &config::LoadedConfig, env: &Env) -> Decision {
    let path = &loaded.path;
    let cur = gw.config();
    let why = loaded
        .errors()
        .next()
        .map(|i| i.render(path))
        .unwrap_or_default();
    if let (Some(base), Some(now)) = (
        lkg::baseline(path, &cur.state_dir, env),
        lkg::Fingerprint::of_loaded(loaded),
    ) {
        let reasons = lkg::suspicious(&base, &now);
        if !reasons.is_empty() {
            gw.logger.warn("config", lkg::anomaly_line(path, &reasons));
        }
    }
    gw.logger.warn(
        "reload",
        format!("config reload skipped (invalid config): {why}"),
    );
    match lkg::recover(loaded, &cur.state_dir, env, "reload-invalid-config") {
        Ok(r) => {
            // The event is queued before the log lines, so whoever reacts to them finds it.
            gw.push_system_event(serde_json::json!({
                "text": lkg::recovery_event(path, &r.clobbered),
                "ts": crate::util::now_ms(),
            }));
            gw.logger.warn("reload", lkg::RESTORED_AT_RELOAD);
            gw.logger.warn(
                "config",
                lkg::auto_restored_line(path, "reload-invalid-config", &r.why),
            );
            gw.logger.warn(
                "config",
                format!("the rejected config is kept as {}", r.clobbered.display()),
            );
            Decision::Ignored("invalid config (restored from last-known-good)".into())
        }
        Err(None) => Decision::Ignored("invalid config".into()),
        Err(Some(e)) => {
            gw.logger.warn(
                "config",
                format!("last-known-good restore not possible: {e}"),
            );
            Decision::Ignored("invalid config".into())
        }
    }
}

/// Handle one detected change. In-place changes are applied to `gw` here.
pub fn on_change(gw: &Arc<Gateway>, env: &Env, flags: &super::GatewayOptions) -> Decision {
    let cur = gw.config();
    let path = cur.loaded.path.clone();
    let loaded = config::load(&path, env);
    if !loaded.is_valid() {
        return on_invalid(gw, &loaded, env);
    }
    match lkg::promote(&loaded, &cur.state_dir, env) {
        Ok(lkg::Promotion::Skipped(reasons)) => {
            gw.logger.warn("config", lkg::anomaly_line(&path, &reasons));
            gw.logger.warn("config", lkg::PROMOTION_SKIPPED);
            // A config that lost gateway.mode would stop this gateway at its restart: keep
            // running on the current config until the file is fixed.
            if reasons
                .iter()
                .any(|r| r.starts_with("gateway-mode-missing"))
            {
                gw.logger.warn(
                    "reload",
                    format!(
                        "config reload skipped (suspicious config: {}); the gateway keeps its running config. Check {} and `openclaw config validate`",
                        reasons.join(", "),
                        path.display()
                    ),
                );
                return Decision::Ignored("suspicious config".into());
            }
        }
        Ok(_) => {}
        Err(e) => gw.logger.warn(
            "config",
            format!("cannot record the last-known-good config: {e}"),
        ),
    }
    let mode = loaded
        .get_str("gateway.reload.mode")
        .unwrap_or("hybrid")
        .to_string();
    let changed = changed_keys(&cur.loaded.value, &loaded.value);
    if changed.is_empty() {
        return Decision::Ignored("no effective change".into());
    }
    if mode == "off" {
        gw.logger.info(
            "reload",
            format!(
                "config changed ({}); gateway.reload.mode=off, restart to apply",
                changed.join(", ")
            ),
        );
        return Decision::Ignored("reload off".into());
    }
    let needs_restart: Vec<String> = changed
        .iter()
        .filter(|k| RESTART_KEYS.iter().any(|r| k.starts_with(r)))
        .cloned()
        .collect();
    if mode == "restart" || (mode == "hybrid" && !needs_restart.is_empty()) {
        gw.logger.info(
            "reload",
            format!(
                "config reload: restarting in process (changed: {})",
                changed.join(", ")
            ),
        );
        return Decision::Restart(changed);
    }
    if !needs_restart.is_empty() {
        gw.logger.warn(
            "reload",
            format!(
                "config reload: {} need a restart; not applied (gateway.reload.mode=hot)",
                needs_restart.join(", ")
            ),
        );
    }
    // In place: auth (closing affected sockets) and everything else that is read live.
    let auth = match gwcfg::resolve_auth(
        &loaded,
        env,
        flags.auth,
        flags.token.as_deref(),
        flags.password.as_deref(),
    ) {
        Ok(a) => a,
        Err(e) => {
            gw.logger.warn(
                "reload",
                format!("config reload skipped (invalid config): {e}"),
            );
            return Decision::Ignored("auth does not resolve".into());
        }
    };
    let secret = |a: &gwcfg::AuthSettings| {
        (
            a.mode,
            a.token.as_ref().map(|t| t.0.expose().to_string()),
            a.password.as_ref().map(|p| p.0.expose().to_string()),
        )
    };
    let auth_changed = secret(&auth) != secret(&cur.auth);
    let next = RuntimeConfig {
        loaded,
        auth,
        ..(*cur).clone()
    };
    *gw.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    if auth_changed {
        gw.close_all(close::CREDENTIALS_REVOKED, close::REASON_AUTH_CHANGED);
        gw.logger.info(
            "reload",
            "gateway auth changed: connected clients were closed (4001) and must reconnect",
        );
    }
    gw.logger.info(
        "reload",
        format!(
            "config reload: applied in place (changed: {})",
            changed.join(", ")
        ),
    );
    Decision::Applied(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_keys_are_listed_under_gateway_and_top_level() {
        let a = json!({"gateway": {"port": 1, "auth": {"token": "a"}}, "logging": {"level": "info"}, "meta": {"x": 1}});
        let b = json!({"gateway": {"port": 2, "auth": {"token": "a"}}, "logging": {"level": "debug"}, "meta": {"x": 2}});
        assert_eq!(changed_keys(&a, &b), vec!["gateway.port", "logging"]);
    }
}
