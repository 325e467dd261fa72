//! The state directory: permissions, pending pairing requests, cron failures.

use super::{ProbeContext, ProbeOutput};
use crate::state::store::{SchemaInfo, Store, StoreError};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

fn read_json(p: &std::path::Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// Where the pairing and cron state was read from. It is also the support bundle's
/// `state.json` (token values replaced by fingerprints), which triage evaluates offline.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StateRows {
    /// `devices/pending.json` shape: requests keyed by request id.
    pub pending: Value,
    /// `devices/paired.json` shape: devices keyed by device id.
    pub paired: Value,
    /// `identity/device-auth.json` shape (this CLI's cached tokens), if any.
    pub device_auth: Option<Value>,
    /// This host's own device id (`identity/device.json`, or the store's `primary` identity).
    pub own_device_id: Option<String>,
    /// `(channel, request)` DM pairing requests.
    pub dm: Vec<(String, Value)>,
    pub cron_jobs: Vec<Value>,
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
pub const STATE_FACTS: [&str; 5] = [
    "state.pending_devices",
    "state.pending_dm_pairing",
    "state.device_auth_stale",
    "state.device_scope_drift",
    "state.cron_errors",
];

/// The state rows of a state dir and the schema of the store they came from (`None`: no
/// store, an older installation's legacy files). Until this build's own gateway wrote the
/// store, a state dir it served may hold requests in the legacy files beside it: those
/// count too (the store wins for a key both hold).
fn gather(dir: &std::path::Path) -> Result<(Option<SchemaInfo>, StateRows), StoreError> {
    match Store::open_read_only(dir) {
        Ok(s) => Ok((
            Some(s.schema().clone()),
            merge(from_store(&s)?, from_legacy_files(dir)),
        )),
        Err(StoreError::Missing(_)) => Ok((None, from_legacy_files(dir))),
        Err(e) => Err(e),
    }
}

/// The facts of a store that was read.
fn store_facts(path: &std::path::Path, schema: &SchemaInfo) -> Vec<(&'static str, Value)> {
    vec![
        (
            "state.store",
            json!({
                "path": path.display().to_string(), "present": true, "readable": true,
                "schemaVersion": schema.version, "appVersion": schema.app_version,
                "newerThanThisBuild": schema.newer_than_this_build(),
                "warning": schema.newer_warning(),
            }),
        ),
        ("state.store_newer_schema", json!(schema.newer_warning())),
        ("state.store_error", Value::Null),
    ]
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
    // 2026.9.6 keeps this state in SQLite; older installations in JSON files. A store that
    // exists but cannot be read leaves the facts unknown, with the reason: never a false
    // all-clear from the legacy files it replaced.
    let store_path = crate::state::store::path(dir);
    let rows = match gather(dir) {
        Ok((Some(schema), rows)) => {
            f.extend(store_facts(&store_path, &schema));
            rows
        }
        Ok((None, rows)) => {
            f.push((
                "state.store",
                json!({"path": store_path.display().to_string(), "present": false,
                       "source": "legacy JSON files"}),
            ));
            f.push(("state.store_newer_schema", Value::Null));
            f.push(("state.store_error", Value::Null));
            rows
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
    f.extend(evaluate(&rows, crate::util::now_ms()));
    ProbeOutput::ok(f)
}

/// The state as the support bundle carries it: the rows the doctor reads, every token value
/// replaced by a fingerprint (equal tokens stay equal, none leaves the host), and where they
/// came from.
pub fn export(state_dir: &std::path::Path) -> Value {
    let (source, rows) = match gather(state_dir) {
        Ok((Some(schema), rows)) => (
            json!({"store": crate::state::store::path(state_dir).display().to_string(),
                   "schemaVersion": schema.version, "appVersion": schema.app_version}),
            rows,
        ),
        Ok((None, rows)) => (json!("legacy JSON files"), rows),
        Err(e) => return json!({"error": e.to_string()}),
    };
    let mut v = serde_json::to_value(rows).unwrap_or(Value::Null);
    fingerprint_tokens(&mut v);
    json!({"source": source, "exportedAtMs": crate::util::now_ms(), "rows": v})
}

/// Replace the value of every `token` field with `sha256:<first 16 hex>`.
fn fingerprint_tokens(v: &mut Value) {
    use sha2::Digest;
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match x {
                    Value::String(t) if k == "token" => {
                        *x = json!(format!(
                            "sha256:{}",
                            &hex::encode(sha2::Sha256::digest(t.as_bytes()))[..16]
                        ));
                    }
                    _ => fingerprint_tokens(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(fingerprint_tokens),
        _ => {}
    }
}

/// The state facts from a bundle's `state.json`; `Err` with the reason the state could not
/// be read where the bundle was made (or the file is not a state export).
pub fn facts_from_export(v: &Value) -> Result<Vec<(&'static str, Value)>, String> {
    if let Some(e) = v["error"].as_str() {
        return Err(format!(
            "the state store could not be read where the bundle was made: {e}"
        ));
    }
    let rows: StateRows = serde_json::from_value(v["rows"].clone())
        .map_err(|e| format!("state.json is not a state export: {e}"))?;
    let at = v["exportedAtMs"]
        .as_u64()
        .unwrap_or_else(crate::util::now_ms);
    Ok(evaluate(&rows, at))
}

/// The state facts from a copy of a store file (a user's `openclaw.sqlite`).
pub fn facts_from_store_file(file: &std::path::Path) -> Result<Vec<(&'static str, Value)>, String> {
    let store = Store::open_file_read_only(file).map_err(|e| e.to_string())?;
    let rows = from_store(&store).map_err(|e| e.to_string())?;
    // A copy says nothing of when it was taken: the file's modification time is the best
    // witness (a copy keeps it with `cp -p`, and is at least as new as its rows otherwise).
    let at = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(crate::util::now_ms, |d| d.as_millis() as u64)
        .min(crate::util::now_ms());
    let mut facts = evaluate(&rows, at);
    facts.extend(store_facts(file, store.schema()));
    Ok(facts)
}

/// The pairing and cron facts, whatever the source.
/// `now`: the time the rows were read (a bundle's export time offline, so a request that was
/// live when the bundle was made still counts when support reads it days later).
fn evaluate(rows: &StateRows, now: u64) -> Vec<(&'static str, Value)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_is_judged_at_the_time_it_was_made() {
        let day_ago = crate::util::now_ms() - 86_400_000;
        let export = json!({
            "source": "legacy JSON files",
            "exportedAtMs": day_ago + 60_000,
            "rows": {"pending": {"r1": {"requestId": "r1", "ts": day_ago}}},
        });
        let facts = facts_from_export(&export).unwrap();
        let pending = &facts
            .iter()
            .find(|(k, _)| *k == "state.pending_devices")
            .unwrap()
            .1;
        assert_eq!(pending[0]["approve"], "openclaw devices approve r1");
        // Judged now, the same request has expired.
        let rows: StateRows = serde_json::from_value(export["rows"].clone()).unwrap();
        let now = evaluate(&rows, crate::util::now_ms());
        assert_eq!(now[0].1, json!([]));
        assert!(facts_from_export(&json!({"source": "x", "error": "busy"}))
            .unwrap_err()
            .contains("busy"));
    }

    #[test]
    fn token_values_become_fingerprints() {
        let mut v = json!({"paired": {"d": {"tokens": {"operator": {"token": "secret-a"}}}},
                           "deviceAuth": {"tokens": {"operator": {"token": "secret-a"}}}});
        fingerprint_tokens(&mut v);
        let a = &v["paired"]["d"]["tokens"]["operator"]["token"];
        assert!(a.as_str().unwrap().starts_with("sha256:"));
        assert_eq!(a, &v["deviceAuth"]["tokens"]["operator"]["token"]);
        assert!(!v.to_string().contains("secret-a"));
    }
}
