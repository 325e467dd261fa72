//! `device.pair.*` RPCs (spec 8.2, upstream `server-methods/devices.ts`): list, approve,
//! reject and remove, with upstream's authorization (a paired-device session manages only
//! its own device unless it holds `operator.admin`; approving needs every scope the request
//! asks for) and messages.

use super::methods::Caller;
use super::state::Gateway;
use crate::protocol::error::{ErrorShape, UNAVAILABLE};
use crate::protocol::methods as m;
use crate::protocol::{close, scopes};
use crate::state::devices::{self, Denial, TokenDenial};
use serde_json::{json, Value};

const APPROVAL_DENIED: &str = "device pairing approval denied";
const REJECTION_DENIED: &str = "device pairing rejection denied";
const REMOVAL_DENIED: &str = "device pairing removal denied";
const ROTATION_DENIED: &str = "device token rotation denied";
const REVOCATION_DENIED: &str = "device token revocation denied";

fn store_error(e: std::io::Error) -> ErrorShape {
    ErrorShape::new(
        UNAVAILABLE,
        format!("device pairing store write failed: {e}"),
    )
}

fn string_param<'a>(params: &'a Value, key: &str, method: &str) -> Result<&'a str, ErrorShape> {
    params
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ErrorShape::invalid(format!(
                "invalid {method} params: {key} (non-empty string) required"
            ))
        })
}

fn requests_non_operator_role(r: &Value) -> bool {
    let mut roles = devices::paired_roles(r);
    roles.retain(|x| x != scopes::ROLE_OPERATOR);
    !roles.is_empty()
}

pub fn list(gw: &Gateway, caller: &Caller<'_>) -> Result<Value, ErrorShape> {
    let mut l = gw
        .devices
        .list(crate::util::now_ms())
        .map_err(store_error)?;
    let connected = gw.connected_devices();
    let own = caller.device_id.filter(|_| !caller.is_admin());
    for key in ["pending", "paired"] {
        if let Some(items) = l[key].as_array_mut() {
            if let Some(own) = own {
                items.retain(|e| e.get("deviceId").and_then(Value::as_str) == Some(own));
            }
            if key == "paired" {
                for e in items.iter_mut() {
                    let id = e
                        .get("deviceId")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let is_connected = connected.iter().any(|c| c == id);
                    *e = devices::redact_paired(e, Some(is_connected));
                }
            }
        }
    }
    Ok(l)
}

pub fn approve(gw: &Gateway, caller: &Caller<'_>, params: &Value) -> Result<Value, ErrorShape> {
    let request_id = string_param(params, "requestId", m::DEVICE_PAIR_APPROVE)?;
    let now = crate::util::now_ms();
    let store = &gw.devices;
    if !caller.is_admin() {
        let Some(pending) = store.pending(request_id).map_err(store_error)? else {
            return Err(ErrorShape::invalid(APPROVAL_DENIED));
        };
        let owner = pending.get("deviceId").and_then(Value::as_str);
        let why = if caller.device_id.is_some_and(|c| Some(c) != owner) {
            Some("device-ownership-mismatch")
        } else if requests_non_operator_role(&pending) {
            Some("role-management-requires-admin")
        } else {
            None
        };
        if let Some(why) = why {
            gw.logger.warn(
                "gateway/devices",
                format!("device pairing approval denied request={request_id} reason={why}"),
            );
            return Err(ErrorShape::invalid(APPROVAL_DENIED));
        }
    }
    let device = match store
        .approve(
            request_id,
            "operator",
            Some(caller.scopes),
            scopes::satisfies,
            now,
        )
        .map_err(store_error)?
    {
        Ok(d) => d,
        Err(Denial::UnknownRequest) => return Err(ErrorShape::invalid("unknown requestId")),
        Err(Denial::CallerMissingScope(s)) => {
            gw.logger.warn(
                "gateway/devices",
                format!("device pairing approval denied request={request_id} reason=caller-missing-scope scope={s}"),
            );
            return Err(ErrorShape::invalid(format!("missing scope: {s}")));
        }
    };
    let device_id = device["deviceId"].as_str().unwrap_or_default().to_string();
    gw.logger.info(
        "gateway/devices",
        format!(
            "device pairing approved device={device_id} role={}",
            device["role"].as_str().unwrap_or("unknown")
        ),
    );
    gw.broadcast(
        m::EV_DEVICE_PAIR_RESOLVED,
        &json!({"requestId": request_id, "deviceId": device_id, "decision": "approved", "ts": now}),
        true,
        false,
    );
    Ok(json!({"requestId": request_id, "device": devices::redact_paired(&device, None)}))
}

pub fn reject(gw: &Gateway, caller: &Caller<'_>, params: &Value) -> Result<Value, ErrorShape> {
    let request_id = string_param(params, "requestId", m::DEVICE_PAIR_REJECT)?;
    let store = &gw.devices;
    if let (Some(own), false) = (caller.device_id, caller.is_admin()) {
        let pending = store.pending(request_id).map_err(store_error)?;
        let owner = pending
            .as_ref()
            .and_then(|p| p.get("deviceId"))
            .and_then(Value::as_str);
        if owner != Some(own) {
            return Err(ErrorShape::invalid(REJECTION_DENIED));
        }
    }
    let Some(rejected) = store.reject(request_id).map_err(store_error)? else {
        return Err(ErrorShape::invalid("unknown requestId"));
    };
    let device_id = rejected["deviceId"].as_str().unwrap_or_default();
    gw.logger.info(
        "gateway/devices",
        format!("device pairing rejected request={request_id} device={device_id}"),
    );
    gw.broadcast(
        m::EV_DEVICE_PAIR_RESOLVED,
        &json!({"requestId": request_id, "deviceId": device_id, "decision": "rejected", "ts": crate::util::now_ms()}),
        true,
        false,
    );
    Ok(rejected)
}

pub fn remove(gw: &Gateway, caller: &Caller<'_>, params: &Value) -> Result<Value, ErrorShape> {
    let device_id = string_param(params, "deviceId", m::DEVICE_PAIR_REMOVE)?;
    let store = &gw.devices;
    if let (Some(own), false) = (caller.device_id, caller.is_admin()) {
        let node = store
            .paired(device_id)
            .map_err(store_error)?
            .is_some_and(|p| requests_non_operator_role(&p));
        if own != device_id || node {
            gw.logger.warn(
                "gateway/devices",
                format!(
                    "device pairing removal denied device={device_id} reason={}",
                    if node {
                        "role-management-requires-admin"
                    } else {
                        "device-ownership-mismatch"
                    }
                ),
            );
            return Err(ErrorShape::invalid(REMOVAL_DENIED));
        }
    }
    let Some(removed) = store.remove(device_id).map_err(store_error)? else {
        return Err(ErrorShape::invalid("unknown deviceId"));
    };
    gw.logger.info(
        "gateway/devices",
        format!("device pairing removed device={device_id}"),
    );
    gw.close_device(
        device_id,
        Some(caller.conn_id),
        close::CREDENTIALS_REVOKED,
        close::REASON_DEVICE_REMOVED,
    );
    if caller.device_id == Some(device_id) {
        caller.close_after_reply.set(Some((
            close::CREDENTIALS_REVOKED,
            close::REASON_DEVICE_REMOVED,
        )));
    }
    Ok(removed)
}

/// Upstream's cross-device rule for token management: a paired-device session manages
/// only its own device, and non-operator roles need `operator.admin`.
fn token_management_denied(
    caller: &Caller<'_>,
    device_id: &str,
    role: &str,
) -> Option<&'static str> {
    if caller.is_admin() {
        return None;
    }
    if caller.device_id.is_some_and(|own| own != device_id) {
        Some("device-ownership-mismatch")
    } else if role != scopes::ROLE_OPERATOR {
        Some("role-management-requires-admin")
    } else {
        None
    }
}

fn token_denied(
    gw: &Gateway,
    what: &str,
    device_id: &str,
    role: &str,
    why: &str,
    scope: Option<&str>,
) {
    let suffix = scope.map(|s| format!(" scope={s}")).unwrap_or_default();
    gw.logger.warn(
        "gateway/devices",
        format!("device token {what} denied device={device_id} role={role} reason={why}{suffix}"),
    );
}

/// Log a store refusal and return upstream's generic denial message.
fn token_refusal(
    gw: &Gateway,
    what: &str,
    device_id: &str,
    role: &str,
    d: &TokenDenial,
) -> ErrorShape {
    let scope = match d {
        TokenDenial::CallerMissingScope(s) => Some(s.as_str()),
        _ => None,
    };
    token_denied(gw, what, device_id, role, d.reason(), scope);
    ErrorShape::invalid(if what == "rotation" {
        ROTATION_DENIED
    } else {
        REVOCATION_DENIED
    })
}

pub fn rotate(gw: &Gateway, caller: &Caller<'_>, params: &Value) -> Result<Value, ErrorShape> {
    let device_id = string_param(params, "deviceId", m::DEVICE_TOKEN_ROTATE)?;
    let role = string_param(params, "role", m::DEVICE_TOKEN_ROTATE)?;
    let requested: Option<Vec<String>> = match params.get("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ErrorShape::invalid(
                        "invalid device.token.rotate params: scopes must be strings",
                    )
                })?,
        ),
        Some(_) => {
            return Err(ErrorShape::invalid(
                "invalid device.token.rotate params: scopes must be an array",
            ))
        }
    };
    if let Some(why) = token_management_denied(caller, device_id, role) {
        token_denied(gw, "rotation", device_id, role, why, None);
        return Err(ErrorShape::invalid(ROTATION_DENIED));
    }
    let caller_scopes = (role == scopes::ROLE_OPERATOR).then_some(caller.scopes);
    let entry = gw
        .devices
        .rotate_token(
            device_id,
            role,
            requested.as_deref(),
            caller_scopes,
            scopes::satisfies,
            crate::util::now_ms(),
        )
        .map_err(store_error)?
        .map_err(|d| token_refusal(gw, "rotation", device_id, role, &d))?;
    gw.logger.info(
        "gateway/devices",
        format!(
            "device token rotated device={device_id} role={role} scopes={}",
            devices::paired_scopes(&json!({"scopes": entry["scopes"]})).join(",")
        ),
    );
    close_role(gw, caller, device_id, role);
    // The new token travels in-band only to the device itself.
    let in_band = caller.device_id == Some(device_id);
    let mut out = json!({
        "deviceId": device_id,
        "role": role,
        "scopes": entry["scopes"],
        "rotatedAtMs": entry["rotatedAtMs"],
        "tokenDelivery": if in_band { "in-band" } else { "withheld-cross-device" },
    });
    if in_band {
        out["token"] = entry["token"].clone();
    }
    Ok(out)
}

pub fn revoke(gw: &Gateway, caller: &Caller<'_>, params: &Value) -> Result<Value, ErrorShape> {
    let device_id = string_param(params, "deviceId", m::DEVICE_TOKEN_REVOKE)?;
    let role = string_param(params, "role", m::DEVICE_TOKEN_REVOKE)?;
    if let Some(why) = token_management_denied(caller, device_id, role) {
        token_denied(gw, "revocation", device_id, role, why, None);
        return Err(ErrorShape::invalid(REVOCATION_DENIED));
    }
    let caller_scopes = (role == scopes::ROLE_OPERATOR).then_some(caller.scopes);
    let entry = gw
        .devices
        .revoke_token(
            device_id,
            role,
            caller_scopes,
            scopes::satisfies,
            crate::util::now_ms(),
        )
        .map_err(store_error)?
        .map_err(|d| token_refusal(gw, "revocation", device_id, role, &d))?;
    gw.logger.info(
        "gateway/devices",
        format!("device token revoked device={device_id} role={role}"),
    );
    close_role(gw, caller, device_id, role);
    Ok(json!({"deviceId": device_id, "role": role, "revokedAtMs": entry["revokedAtMs"]}))
}

/// After a token change the device's sessions in that role reconnect (upstream closes them
/// with 4001 `device removed`); the caller's own closes after its reply.
fn close_role(gw: &Gateway, caller: &Caller<'_>, device_id: &str, role: &str) {
    gw.close_device_role(
        device_id,
        Some(role),
        Some(caller.conn_id),
        close::CREDENTIALS_REVOKED,
        close::REASON_DEVICE_REMOVED,
    );
    if caller.device_id == Some(device_id) && caller.role == role {
        caller.close_after_reply.set(Some((
            close::CREDENTIALS_REVOKED,
            close::REASON_DEVICE_REMOVED,
        )));
    }
}
