//! RPC methods: the registry and the handlers. Authorization happens before a handler runs
//! (see `conn`), inline or on the blocking pool as the method's [`Run`] says.

use super::state::Gateway;
use super::{agent, devices, health};
use crate::config::redact;
use crate::logging::tail;
use crate::protocol::error::{ErrorShape, UNAVAILABLE};
use crate::protocol::methods as m;
use crate::protocol::scopes;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a handler knows about its caller.
pub struct Caller<'a> {
    pub conn_id: &'a str,
    pub role: &'a str,
    pub scopes: &'a [String],
    /// The paired device the caller signed in as, if any.
    pub device_id: Option<&'a str>,
    /// Set by a method that revoked the caller's own credentials: the connection is closed
    /// with this code and reason once the reply is sent.
    pub close_after_reply: std::cell::Cell<Option<(u16, &'static str)>>,
}

impl Caller<'_> {
    pub fn is_admin(&self) -> bool {
        self.scopes.iter().any(|s| s == scopes::ADMIN)
    }
}

/// The params as an object value (`null` is `{}`).
fn object(params: &Value) -> Result<Value, ErrorShape> {
    params_obj(params).map(Value::Object)
}

fn params_obj(params: &Value) -> Result<Map<String, Value>, ErrorShape> {
    match params {
        Value::Null => Ok(Map::new()),
        Value::Object(o) => Ok(o.clone()),
        _ => Err(ErrorShape::invalid("invalid params: must be object")),
    }
}

/// A synchronous handler.
pub type SyncFn = fn(&Gateway, &Caller<'_>, &Value) -> Result<Value, ErrorShape>;

/// An async handler: owns what it needs, may send interim responses through [`Interim`]
/// (`agent`'s `accepted`) before its final one.
pub type AsyncFn = fn(
    Arc<Gateway>,
    OwnedCaller,
    Value,
    Interim,
) -> Pin<Box<dyn Future<Output = Result<Value, ErrorShape>> + Send>>;

/// A handler, and where it runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// On the connection's task: quick, touches only memory.
    Inline(SyncFn),
    /// On the blocking pool (file locks, fsync): the connection keeps reading meanwhile.
    Blocking(SyncFn),
    /// A task of its own (awaits other work: a model, another connection); the connection
    /// keeps reading meanwhile and the reply is sent when it completes.
    Async(AsyncFn),
}

/// One RPC method this gateway serves.
pub struct Method {
    pub name: &'static str,
    /// What the caller needs (it agrees with upstream's classification: a test checks).
    pub needs: Requirement,
    pub handler: Handler,
}

/// Sends a response for a request before its handler finishes (same id; the client's
/// `expectFinal` skips an `accepted` one and waits for the next).
#[derive(Clone)]
pub struct Interim {
    pub(crate) outlet: super::state::Outlet,
    pub(crate) id: String,
}

impl Interim {
    pub fn send(&self, payload: Value) {
        self.outlet
            .reply(crate::protocol::frame::response_ok(&self.id, payload));
    }
}

/// A caller that can move to another thread; [`OwnedCaller::caller`] lends it out.
pub struct OwnedCaller {
    pub conn_id: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub device_id: Option<String>,
}

impl OwnedCaller {
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            conn_id: &self.conn_id,
            role: &self.role,
            scopes: &self.scopes,
            device_id: self.device_id.as_deref(),
            close_after_reply: std::cell::Cell::new(None),
        }
    }
}

use scopes::{Requirement, ADMIN, PAIRING, READ, WRITE};

/// Every method this gateway serves: the one list that `hello-ok.features.methods`, the
/// role and scope check, and dispatch all read.
pub const METHODS: &[Method] = &[
    Method {
        name: m::HEALTH,
        needs: Requirement::Authenticated,
        handler: Handler::Inline(health_method),
    },
    Method {
        name: m::STATUS,
        needs: Requirement::Scope(READ),
        handler: Handler::Inline(|gw, c, _| Ok(health::status(gw, c.is_admin()))),
    },
    Method {
        name: m::SYSTEM_PRESENCE,
        needs: Requirement::Scope(READ),
        handler: Handler::Inline(|gw, _, _| Ok(Value::Array(gw.presence_list()))),
    },
    Method {
        name: m::SYSTEM_EVENT,
        needs: Requirement::Scope(ADMIN),
        handler: Handler::Inline(|gw, _, p| system_event(gw, p)),
    },
    Method {
        name: m::LOGS_TAIL,
        needs: Requirement::Scope(READ),
        // Reads up to 1 MB of the log file: never on an async worker.
        handler: Handler::Blocking(|gw, _, p| logs_tail(gw, p)),
    },
    Method {
        name: m::CONFIG_GET,
        needs: Requirement::Scope(READ),
        handler: Handler::Inline(|gw, _, _| Ok(config_get(gw))),
    },
    Method {
        name: m::LAST_HEARTBEAT,
        needs: Requirement::Scope(READ),
        handler: Handler::Inline(last_heartbeat_method),
    },
    Method {
        name: m::SET_HEARTBEATS,
        needs: Requirement::Scope(ADMIN),
        handler: Handler::Inline(set_heartbeats_method),
    },
    Method {
        name: m::GATEWAY_IDENTITY_GET,
        needs: Requirement::Scope(READ),
        handler: Handler::Inline(identity_method),
    },
    pairing_store(m::DEVICE_PAIR_LIST, |gw, c, _| devices::list(gw, c)),
    pairing_store(m::DEVICE_PAIR_APPROVE, |gw, c, p| {
        devices::approve(gw, c, &object(p)?)
    }),
    pairing_store(m::DEVICE_PAIR_REJECT, |gw, c, p| {
        devices::reject(gw, c, &object(p)?)
    }),
    pairing_store(m::DEVICE_PAIR_REMOVE, |gw, c, p| {
        devices::remove(gw, c, &object(p)?)
    }),
    pairing_store(m::DEVICE_TOKEN_ROTATE, |gw, c, p| {
        devices::rotate(gw, c, &object(p)?)
    }),
    pairing_store(m::DEVICE_TOKEN_REVOKE, |gw, c, p| {
        devices::revoke(gw, c, &object(p)?)
    }),
    Method {
        name: m::GATEWAY_RESTART_REQUEST,
        needs: Requirement::Scope(ADMIN),
        handler: Handler::Inline(restart_request),
    },
    Method {
        name: m::AGENT,
        needs: Requirement::Scope(WRITE),
        handler: Handler::Async(|gw, _, p, interim| {
            Box::pin(async move { agent::agent_method(gw, object(&p)?, interim).await })
        }),
    },
    Method {
        name: m::AGENT_WAIT,
        needs: Requirement::Scope(WRITE),
        handler: Handler::Async(|gw, _, p, _| {
            Box::pin(async move { agent::agent_wait_method(gw, object(&p)?).await })
        }),
    },
    Method {
        name: m::CHAT_SEND,
        needs: Requirement::Scope(WRITE),
        handler: Handler::Async(|gw, _, p, _| {
            Box::pin(async move { agent::chat_send(&gw, &object(&p)?) })
        }),
    },
    Method {
        name: m::CHAT_HISTORY,
        needs: Requirement::Scope(READ),
        handler: Handler::Async(|gw, _, p, _| {
            Box::pin(async move { agent::chat_history(gw, object(&p)?).await })
        }),
    },
    Method {
        name: m::CHAT_ABORT,
        needs: Requirement::Scope(WRITE),
        handler: Handler::Inline(|gw, _, p| agent::chat_abort(gw, &object(p)?)),
    },
    Method {
        name: m::MODELS_LIST,
        needs: Requirement::Scope(READ),
        handler: Handler::Inline(|gw, _, _| Ok(agent::models_list(gw))),
    },
];

/// A `device.pair.*` / `device.token.*` method: `operator.pairing`, on the blocking pool
/// (the store's write transaction may wait for another process).
const fn pairing_store(name: &'static str, handler: SyncFn) -> Method {
    Method {
        name,
        needs: Requirement::Scope(PAIRING),
        handler: Handler::Blocking(handler),
    }
}

/// The method named `name`, if this gateway serves it.
pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// The names advertised in `hello-ok.features.methods`.
pub fn names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// What calling `name` requires: the registry's word for a served method, upstream's
/// classification (spec 1.14) for any other, so an unserved method is refused with the
/// same scope error upstream gives before `unknown method`.
pub fn requirement(name: &str) -> Requirement {
    find(name).map_or_else(|| scopes::requirement(name), |m| m.needs)
}

fn health_method(gw: &Gateway, _: &Caller<'_>, params: &Value) -> Result<Value, ErrorShape> {
    let p = params_obj(params)?;
    let probe = p.get("probe").and_then(Value::as_bool).unwrap_or(false);
    Ok(health::get(gw, probe))
}

fn last_heartbeat_method(gw: &Gateway, _: &Caller<'_>, _: &Value) -> Result<Value, ErrorShape> {
    Ok(gw
        .last_heartbeat
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or(Value::Null))
}

fn set_heartbeats_method(
    gw: &Gateway,
    caller: &Caller<'_>,
    params: &Value,
) -> Result<Value, ErrorShape> {
    let enabled = params_obj(params)?
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            ErrorShape::invalid("invalid set-heartbeats params: enabled (boolean) required")
        })?;
    gw.heartbeats_enabled
        .store(enabled, std::sync::atomic::Ordering::SeqCst);
    gw.logger.info(
        "heartbeat",
        format!(
            "heartbeats {} by conn={}",
            if enabled { "enabled" } else { "disabled" },
            caller.conn_id
        ),
    );
    Ok(json!({"ok": true, "enabled": enabled}))
}

fn identity_method(gw: &Gateway, _: &Caller<'_>, _: &Value) -> Result<Value, ErrorShape> {
    match (&gw.gateway_device_id, &gw.gateway_public_key) {
        (Some(id), Some(key)) => Ok(json!({"deviceId": id, "publicKey": key})),
        _ => Err(ErrorShape::new(
            UNAVAILABLE,
            "gateway identity unavailable (state dir not writable)",
        )),
    }
}

/// `gateway.restart.request` (v4): an in-process restart, as SIGUSR1 does, answered with
/// upstream's shapes. Untargeted: `{ok, status, preflight, restart}`; targeted at this
/// process (`target: {pid, port, ownerId?}`): `{ok, status, pid}`. This gateway has no
/// active work that defers a restart, so the preflight is always safe.
fn restart_request(gw: &Gateway, caller: &Caller<'_>, params: &Value) -> Result<Value, ErrorShape> {
    let p = params
        .as_object()
        .ok_or_else(|| ErrorShape::invalid("invalid gateway.restart.request params"))?;
    let reason = p
        .get("reason")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(200).collect::<String>());
    let target = match p.get("target") {
        None | Some(Value::Null) => None,
        Some(Value::Object(t)) => {
            let pid = t.get("pid").and_then(Value::as_u64);
            let port = t.get("port").and_then(Value::as_u64);
            match (pid, port) {
                (Some(pid), Some(port)) => Some((pid, port)),
                _ => return Err(ErrorShape::invalid("invalid targeted gateway restart")),
            }
        }
        Some(_) => return Err(ErrorShape::invalid("invalid targeted gateway restart")),
    };
    let cfg = gw.config();
    if !cfg.restart_allowed() {
        return Err(ErrorShape::new(
            UNAVAILABLE,
            "Gateway restart is disabled in the running gateway config (commands.restart=false)",
        ));
    }
    let pid = std::process::id();
    if let Some((want_pid, want_port)) = target {
        if want_pid != u64::from(pid) || want_port != u64::from(cfg.port) {
            return Err(ErrorShape::invalid(
                "target gateway no longer owns the active lock",
            ));
        }
    }
    let coalesced = !gw.request_restart();
    let status = if coalesced { "coalesced" } else { "scheduled" };
    gw.logger.info(
        "gateway",
        format!(
            "restart requested by conn={} reason={}",
            caller.conn_id,
            crate::util::log_safe(reason.as_deref().unwrap_or("unspecified"), 200)
        ),
    );
    if target.is_some() {
        return Ok(json!({"ok": true, "status": status, "pid": pid}));
    }
    Ok(json!({
        "ok": true,
        "status": status,
        "preflight": {
            "safe": true,
            "counts": {
                "queueSize": 0, "pendingReplies": 0, "embeddedRuns": 0, "cronRuns": 0,
                "backgroundExecSessions": 0, "rootRequests": 0, "activeTasks": 0, "totalActive": 0,
            },
            "blockers": [],
            "summary": "safe to restart now",
        },
        "restart": {
            "ok": true,
            "pid": pid,
            "reason": reason,
            "mode": "signal",
            "cooldownMsApplied": 0,
            "delayMs": 0,
            "coalesced": coalesced,
        },
    }))
}

fn system_event(gw: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let p = params_obj(params)?;
    let text = p
        .get("text")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if text.is_empty() {
        return Err(ErrorShape::invalid("text required"));
    }
    let ts = crate::util::now_ms();
    gw.push_system_event(json!({"text": text, "ts": ts}));
    let key = ["instanceId", "deviceId", "host"].iter().find_map(|k| {
        p.get(*k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    if let Some(key) = key {
        let mut entry = Map::new();
        for k in [
            "host",
            "ip",
            "version",
            "platform",
            "deviceFamily",
            "modelIdentifier",
            "mode",
            "deviceId",
            "instanceId",
            "reason",
            "tags",
            "lastInputSeconds",
        ] {
            if let Some(v) = p.get(k) {
                entry.insert(k.to_string(), v.clone());
            }
        }
        entry.insert("text".into(), json!(text));
        entry.insert("ts".into(), json!(ts));
        gw.upsert_presence(format!("event:{key}"), Value::Object(entry));
        gw.broadcast_presence();
    }
    Ok(json!({"ok": true}))
}

fn logs_tail(gw: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let p = params_obj(params)?;
    let int = |k: &str, lo: u64, hi: u64| -> Result<Option<u64>, ErrorShape> {
        match p.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= lo && n <= hi => Ok(Some(n)),
                _ => Err(ErrorShape::invalid(format!(
                    "invalid logs.tail params: {k} must be an integer between {lo} and {hi}"
                ))),
            },
        }
    };
    let cursor = int("cursor", 0, u64::MAX)?;
    let limit =
        int("limit", 1, tail::MAX_LIMIT as u64)?.unwrap_or(tail::DEFAULT_LIMIT as u64) as usize;
    let max_bytes = int("maxBytes", 1, tail::MAX_MAX_BYTES)?.unwrap_or(tail::DEFAULT_MAX_BYTES);
    let file = gw.config().log_file.clone();
    let r = tail::tail(&file, cursor, limit, max_bytes)
        .map_err(|e| ErrorShape::new(UNAVAILABLE, format!("log read failed: {e}")))?;
    serde_json::to_value(r)
        .map_err(|e| ErrorShape::new(UNAVAILABLE, format!("log read failed: {e}")))
}

fn config_get(gw: &Gateway) -> Value {
    let cfg = gw.config();
    let loaded = &cfg.loaded;
    let mut parsed = loaded
        .document
        .as_ref()
        .map(|d| d.value.clone())
        .unwrap_or(Value::Null);
    let mut resolved = loaded.value.clone();
    let mut secrets = Vec::new();
    redact::redact_value(&mut parsed, &mut secrets);
    redact::redact_value(&mut resolved, &mut secrets);
    for s in [&cfg.auth.token, &cfg.auth.password].into_iter().flatten() {
        secrets.push(s.0.expose().to_string());
    }
    let raw = loaded.raw.as_ref().map(|r| redact::scrub_text(r, &secrets));
    let issues: Vec<Value> = loaded
        .errors()
        .map(|i| json!({"path": i.path, "message": i.message, "line": i.line, "column": i.column}))
        .collect();
    let warnings: Vec<Value> = loaded
        .warnings()
        .map(|i| json!({"path": i.path, "message": i.message}))
        .collect();
    let legacy: Vec<Value> = loaded
        .issues
        .iter()
        .filter(|i| i.kind == crate::config::load::IssueKind::Legacy)
        .map(|i| json!({"path": i.path, "message": i.message}))
        .collect();
    json!({
        "path": loaded.path.display().to_string(),
        "exists": loaded.exists,
        "raw": raw,
        "parsed": parsed,
        "sourceConfig": parsed,
        "resolved": resolved,
        "valid": loaded.is_valid(),
        "runtimeConfig": resolved,
        "config": resolved,
        "hash": loaded.hash,
        "issues": issues,
        "warnings": warnings,
        "legacyIssues": legacy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_agrees_with_upstreams_scope_classification() {
        for m in METHODS {
            assert_eq!(m.needs, scopes::requirement(m.name), "{}", m.name);
        }
        let mut names = names();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a method is registered twice");
        assert!(find("made.up").is_none());
        assert_eq!(requirement("made.up"), Requirement::Scope(ADMIN));
    }
}
