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
                dm.push(json!({"channel": channel, "id": r["id"], "code": r["code"]}));
            }
        }
    }
    f.push(("state.pending_dm_pairing", json!(dm)));
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
