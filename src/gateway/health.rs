//! The HealthSummary (spec 1.17), cached and refreshed, and the `status` payload.

use super::state::Gateway;
use crate::protocol::HEALTH_REFRESH_INTERVAL_MS;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Parse `30m`, `1h`, `45s`, `0m` into milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn heartbeat_block(gw: &Gateway) -> Value {
    let cfg = gw.config();
    let every_ms = parse_duration_ms(cfg.heartbeat_every()).unwrap_or(0);
    let enabled = every_ms > 0
        && gw
            .heartbeats_enabled
            .load(std::sync::atomic::Ordering::SeqCst);
    json!({"enabled": enabled, "every": cfg.heartbeat_every(), "everyMs": every_ms})
}

/// Build a fresh summary from the runtime's own state.
pub fn compute(gw: &Gateway) -> Value {
    let started = Instant::now();
    let cfg = gw.config();
    let sessions_path = cfg.state_dir.join("agents").join("main").join("sessions");
    let sessions = json!({"path": sessions_path.display().to_string(), "count": 0, "recent": []});
    let every_ms = parse_duration_ms(cfg.heartbeat_every()).unwrap_or(0);
    json!({
        "ok": true,
        "ts": crate::util::now_ms(),
        "durationMs": started.elapsed().as_millis() as u64,
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": every_ms / 1000,
        "defaultAgentId": "main",
        "agents": [{
            "agentId": "main",
            "isDefault": true,
            "heartbeat": heartbeat_block(gw),
            "sessions": sessions,
        }],
        "sessions": sessions,
        "configReload": {"hotReloadStatus": "off"},
    })
}

/// The cached summary if fresh, else a new one (which is cached and broadcast).
pub fn get(gw: &Gateway, force: bool) -> Value {
    {
        let cache = gw.health_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, v)) = cache.as_ref() {
            if !force && at.elapsed() < Duration::from_millis(HEALTH_REFRESH_INTERVAL_MS) {
                return v.clone();
            }
        }
    }
    refresh(gw)
}

/// Recompute, cache, bump `stateVersion.health`, broadcast a `health` event.
pub fn refresh(gw: &Gateway) -> Value {
    let v = compute(gw);
    *gw.health_cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), v.clone()));
    gw.bump_health_version();
    gw.broadcast(crate::protocol::methods::EV_HEALTH, &v, true, true);
    v
}

/// The `status` payload. Paths and process details only for admin callers.
pub fn status(gw: &Gateway, admin: bool) -> Value {
    let cfg = gw.config();
    let queued: Vec<Value> = gw
        .system_events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    let mut v = json!({
        "runtimeVersion": env!("CARGO_PKG_VERSION"),
        "heartbeat": {
            "defaultAgentId": "main",
            "agents": [ { "agentId": "main" } ],
        },
        "channelSummary": [],
        "queuedSystemEvents": queued,
        "sessions": {"count": 0, "recent": []},
        "gateway": {
            "uptimeMs": gw.uptime_ms(),
            "connections": gw.client_count(),
            "authMode": cfg.auth_mode().as_str(),
            "bind": cfg.bind_mode,
            "port": cfg.port,
        },
    });
    if let Some(agent) = v["heartbeat"]["agents"].get_mut(0) {
        let hb = heartbeat_block(gw);
        agent["enabled"] = hb["enabled"].clone();
        agent["every"] = hb["every"].clone();
        agent["everyMs"] = hb["everyMs"].clone();
    }
    if admin {
        v["gateway"]["pid"] = json!(std::process::id());
        v["gateway"]["bindHost"] = json!(cfg.bind_host);
        v["gateway"]["configPath"] = json!(cfg.loaded.path.display().to_string());
        v["gateway"]["stateDir"] = json!(cfg.state_dir.display().to_string());
        v["gateway"]["logFile"] = json!(cfg.log_file.display().to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("0m"), Some(0));
        assert_eq!(parse_duration_ms("x"), None);
    }
}
