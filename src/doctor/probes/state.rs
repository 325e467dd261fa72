//! The state directory: permissions, pending pairing requests, cron failures.

use super::{ProbeContext, ProbeOutput};
use crate::state::store::{Store, StoreError};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

fn read_json(p: &std::path::Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// Where the pairing and cron state was read from.
struct StateRows {
    /// `devices/pending.json` shape: requests keyed by request id.
    pending: Value,
    /// `devices/paired.json` shape: devices keyed by device id.
    paired: Value,
    /// `identity/device-auth.json` shape (this CLI's cached tokens), if any.
    device_auth: Option<Value>,
    /// This host's own device id (`identity/device.json`, or the store's `primary` identity).
    own_device_id: Option<String>,
    /// `(channel, request)` DM pairing requests.
    dm: Vec<(String, Value)>,
    cron_jobs: Vec<Value>,
}

/// The state of a 2026.9.6+ installation, from its SQLite store (read-only).
fn from_store(store: &Store) -> Result<StateRows, StoreError> {
    let device_auth = store.device_auth_tokens()?;
    let identities = store.device_identity_ids()?;
    let own_device_id = identities
        .get("primary")
        .or_else(|| identities.values().next())
        .and_then(Value::as_str)
        .map(String::from);
    // The CLI's cache is the entry of its own identity.
    let device_auth = own_device_id
        .as_deref()
        .and_then(|id| device_auth.get(id).cloned())
        .or_else(|| device_auth.values().next().cloned());
    Ok(StateRows {
        pending: Value::Object(store.pending_devices()?),
        paired: Value::Object(store.paired_devices()?),
        device_auth,
        own_device_id,
        dm: store.dm_pairing_requests()?,
        cron_jobs: store.cron_jobs()?,
    })
}

/// The state of an older installation, from its JSON files.
fn from_legacy_files(dir: &std::path::Path) -> StateRows {
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
                dm.push((channel.to_string(), r));
            }
        }
    }
    StateRows {
        pending: read_json(&dir.join("devices").join("pending.json")).unwrap_or(Value::Null),
        paired: read_json(&dir.join("devices").join("paired.json")).unwrap_or(Value::Null),
        device_auth: read_json(&crate::state::device_auth::path(dir)),
        own_device_id: read_json(&dir.join("identity").join("device.json"))
            .and_then(|i| i["deviceId"].as_str().map(String::from)),
        dm,
        cron_jobs: read_json(&dir.join("cron").join("jobs.json"))
            .and_then(|v| v["jobs"].as_array().cloned())
            .unwrap_or_default(),
    }
}

/// `store` with what only `legacy` holds.
fn merge(mut store: StateRows, legacy: StateRows) -> StateRows {
    fn by_key(into: &mut Value, from: Value) {
        if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
            for (k, v) in from {
                into.entry(k).or_insert(v);
            }
        }
    }
    by_key(&mut store.pending, legacy.pending);
    by_key(&mut store.paired, legacy.paired);
    if store.device_auth.is_none() {
        store.device_auth = legacy.device_auth;
    }
    if store.own_device_id.is_none() {
        store.own_device_id = legacy.own_device_id;
    }
    for (channel, r) in legacy.dm {
        if !store
            .dm
            .iter()
            .any(|(c, s)| *c == channel && s["id"] == r["id"])
        {
            store.dm.push((channel, r));
        }
    }
    for job in legacy.cron_jobs {
        if !store.cron_jobs.iter().any(|j| j["id"] == job["id"]) {
            store.cron_jobs.push(job);
        }
    }
    store
}

/// The facts that come from the pairing and cron state.
const STATE_FACTS: [&str; 5] = [
    "state.pending_devices",
    "state.pending_dm_pairing",
    "state.device_auth_stale",
    "state.device_scope_drift",
    "state.cron_errors",
];

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
    // 2026.9.6 keeps this state in SQLite; older installations in JSON files. A store that
    // exists but cannot be read leaves the facts unknown, with the reason: never a false
    // all-clear from the legacy files it replaced.
    let store_path = crate::state::store::path(dir);
    let rows = match Store::open_read_only(dir).and_then(|s| {
        let rows = from_store(&s)?;
        Ok((s.schema().clone(), rows))
    }) {
        Ok((schema, rows)) => {
            f.push((
                "state.store",
                json!({
                    "path": store_path.display().to_string(), "present": true, "readable": true,
                    "schemaVersion": schema.version, "appVersion": schema.app_version,
                    "newerThanThisBuild": schema.newer_than_this_build(),
                    "warning": schema.newer_warning(),
                }),
            ));
            f.push(("state.store_newer_schema", json!(schema.newer_warning())));
            f.push(("state.store_error", Value::Null));
            // Until this build's own gateway writes the store, a state dir it served has its
            // requests in the legacy files beside the store: those count too (the store wins
            // for a key both hold, as upstream's one-time import left the files in place).
            merge(rows, from_legacy_files(dir))
        }
        Err(StoreError::Missing(_)) => {
            f.push((
                "state.store",
                json!({"path": store_path.display().to_string(), "present": false,
                       "source": "legacy JSON files"}),
            ));
            f.push(("state.store_newer_schema", Value::Null));
            f.push(("state.store_error", Value::Null));
            from_legacy_files(dir)
        }
        Err(e) => {
            let reason = e.to_string();
            f.push((
                "state.store",
                json!({"path": store_path.display().to_string(), "present": true,
                       "readable": false, "error": reason}),
            ));
            f.push(("state.store_newer_schema", Value::Null));
            f.push(("state.store_error", json!(reason)));
            let mut out = ProbeOutput::ok(f);
            out.unavailable = STATE_FACTS
                .iter()
                .map(|k| (*k, format!("the state store cannot be read: {reason}")))
                .collect();
            return out;
        }
    };
    f.extend(evaluate(&rows));
    ProbeOutput::ok(f)
}

/// The pairing and cron facts, whatever the source.
fn evaluate(rows: &StateRows) -> Vec<(&'static str, Value)> {
    let now = crate::util::now_ms();
    // Expired device requests no longer count (5 minutes, upstream's TTL).
    let live = |r: &Value| {
        r["ts"]
            .as_u64()
            .is_some_and(|ts| now.saturating_sub(ts) < crate::state::devices::PENDING_TTL_MS)
    };
    let pending: Vec<Value> = rows
        .pending
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|r| live(r))
        .map(|r| json!({
            "requestId": r["requestId"], "deviceId": r["deviceId"], "role": r["role"],
            "scopes": r["scopes"], "reason": r["reason"], "clientId": r["clientId"],
            "remoteIp": r["remoteIp"],
            "approve": format!("openclaw devices approve {}", r["requestId"].as_str().unwrap_or("<requestId>")),
        }))
        .collect();
    // DM requests older than an hour are gone for the channel too.
    let dm: Vec<Value> = rows
        .dm
        .iter()
        .filter(|(_, r)| {
            r["createdAt"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis().max(0) as u64)
                .is_some_and(|t| now.saturating_sub(t) <= crate::state::dm_pairing::PENDING_TTL_MS)
        })
        .map(|(channel, r)| json!({
            "channel": channel, "id": r["id"], "code": r["code"],
            "account": r["meta"]["accountId"],
            "approve": format!("openclaw pairing approve {channel} {}", r["code"].as_str().unwrap_or("<code>")),
        }))
        .collect();
    let failing: Vec<Value> = rows
        .cron_jobs
        .iter()
        .filter(|j| j["state"]["lastStatus"] == "error" || j["state"]["lastRunStatus"] == "error")
        .map(|j| json!({"id": j["id"], "name": j["name"], "lastError": j["state"]["lastError"]}))
        .collect();
    vec![
        ("state.pending_devices", json!(pending)),
        ("state.pending_dm_pairing", json!(dm)),
        (
            "state.device_auth_stale",
            json!(stale_device_auth(
                rows.device_auth.as_ref(),
                rows.own_device_id.as_deref(),
                &rows.paired
            )),
        ),
        ("state.device_scope_drift", json!(scope_drift(&rows.paired))),
        ("state.cron_errors", json!(failing)),
    ]
}

/// This CLI's cached device tokens (`identity/device-auth.json`) that will be refused: cached
/// for another identity, or revoked / replaced in this host's pairing store.
fn stale_device_auth(cache: Option<&Value>, own: Option<&str>, paired: &Value) -> Vec<Value> {
    let Some(cache) = cache else {
        return Vec::new();
    };
    let cached_for = cache["deviceId"].as_str().unwrap_or_default();
    let own = own.unwrap_or_default();
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
