//! The state directory: permissions, pending pairing requests, cron failures.

use super::{ProbeContext, ProbeOutput};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

fn read_json(p: &std::path::Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let dir = &ctx.paths.state_dir;
    let meta = std::fs::metadata(dir);
    let mut f = vec![
        ("state.dir", json!(dir.display().to_string())),
        ("state.dir_exists", json!(meta.is_ok())),
    ];
    let Ok(meta) = meta else {
        return ProbeOutput::ok(f);
    };
    f.push((
        "state.dir_mode_too_open",
        json!(meta.permissions().mode() & 0o077 != 0),
    ));
    // devices/pending.json: object keyed by requestId; expired requests no longer count.
    let now = crate::util::now_ms();
    let live = |r: &Value| {
        r["ts"]
            .as_u64()
            .is_some_and(|ts| now.saturating_sub(ts) < crate::state::devices::PENDING_TTL_MS)
    };
    let pending: Vec<Value> = read_json(&dir.join("devices").join("pending.json"))
        .and_then(|v| v.as_object().cloned())
        .map(|m| {
            m.values()
                .filter(|r| live(r))
                .map(|r| json!({
                    "requestId": r["requestId"], "deviceId": r["deviceId"], "role": r["role"],
                    "scopes": r["scopes"], "reason": r["reason"], "clientId": r["clientId"],
                    "remoteIp": r["remoteIp"],
                    "approve": format!("openclaw devices approve {}", r["requestId"].as_str().unwrap_or("<requestId>")),
                }))
                .collect()
        })
        .unwrap_or_default();
    f.push(("state.pending_devices", json!(pending)));
    // credentials/<channel>-pairing.json: {version, requests: [...]}.
    let mut dm = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("credentials")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(channel) = name.strip_suffix("-pairing.json") else {
                continue;
            };
            for r in read_json(&e.path())
                .and_then(|v| v["requests"].as_array().cloned())
                .unwrap_or_default()
            {
                // Requests older than an hour are gone for the channel too.
                let created = r["createdAt"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp_millis().max(0) as u64);
                if !created.is_some_and(|t| {
                    now.saturating_sub(t) <= crate::state::dm_pairing::PENDING_TTL_MS
                }) {
                    continue;
                }
                dm.push(json!({
                    "channel": channel, "id": r["id"], "code": r["code"],
                    "account": r["meta"]["accountId"],
                    "approve": format!("openclaw pairing approve {channel} {}", r["code"].as_str().unwrap_or("<code>")),
                }));
            }
        }
    }
    f.push(("state.pending_dm_pairing", json!(dm)));
    let paired = read_json(&dir.join("devices").join("paired.json")).unwrap_or(Value::Null);
    f.push((
        "state.device_auth_stale",
        json!(stale_device_auth(dir, &paired)),
    ));
    f.push(("state.device_scope_drift", json!(scope_drift(&paired))));
    let jobs = read_json(&dir.join("cron").join("jobs.json"))
        .and_then(|v| v["jobs"].as_array().cloned())
        .unwrap_or_default();
    let failing: Vec<Value> = jobs
        .iter()
        .filter(|j| j["state"]["lastStatus"] == "error" || j["state"]["lastRunStatus"] == "error")
        .map(|j| json!({"id": j["id"], "name": j["name"], "lastError": j["state"]["lastError"]}))
        .collect();
    f.push(("state.cron_errors", json!(failing)));
    ProbeOutput::ok(f)
}

/// This CLI's cached device tokens (`identity/device-auth.json`) that will be refused: cached
/// for another identity, or revoked / replaced in this host's pairing store.
fn stale_device_auth(dir: &std::path::Path, paired: &Value) -> Vec<Value> {
    let Some(cache) = read_json(&crate::state::device_auth::path(dir)) else {
        return Vec::new();
    };
    let cached_for = cache["deviceId"].as_str().unwrap_or_default();
    let identity = read_json(&dir.join("identity").join("device.json"));
    let own = identity
        .as_ref()
        .and_then(|i| i["deviceId"].as_str())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (role, t) in cache["tokens"].as_object().into_iter().flatten() {
        let reason = if !own.is_empty() && cached_for != own {
            Some("cached for another device identity (the identity was replaced)")
        } else {
            match paired.get(cached_for).map(|d| &d["tokens"][role]) {
                Some(e) if e["revokedAtMs"].is_u64() => Some("revoked on this host's gateway"),
                Some(e) if e["token"].is_string() && e["token"] != t["token"] => {
                    Some("replaced (rotated) on this host's gateway")
                }
                _ => None,
            }
        };
        if let Some(reason) = reason {
            out.push(json!({
                "deviceId": cached_for, "role": role, "reason": reason,
                "fix": format!("openclaw devices rotate --device {cached_for} --role {role}"),
            }));
        }
    }
    out
}

/// Paired devices whose token carries scopes beyond the approved ones (the gateway refuses
/// such tokens; rotate to re-issue within the approval).
fn scope_drift(paired: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for (id, d) in paired.as_object().into_iter().flatten() {
        let approved = crate::state::devices::paired_scopes(d);
        for (role, t) in d["tokens"].as_object().into_iter().flatten() {
            let extra: Vec<&str> = t["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|s| !crate::protocol::scopes::satisfies(&approved, s))
                .collect();
            if !extra.is_empty() && t["revokedAtMs"].is_null() {
                out.push(json!({
                    "deviceId": id, "role": role, "beyondApproval": extra,
                    "fix": format!("openclaw devices rotate --device {id} --role {role}"),
                }));
            }
        }
    }
    out
}
