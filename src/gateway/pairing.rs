//! Device pairing at connect (spec 1.10, upstream `message-handler.ts` and
//! `node-connect-reconcile.ts`): where the client is (locality), whether a local client is
//! approved silently, and the `NOT_PAIRED` refusal otherwise. Approvals by an operator
//! happen over `device.pair.*` (see `methods`).

use super::auth::{Granted, Rejection};
use super::state::Gateway;
use crate::config::gateway::is_loopback_host;
use crate::protocol::auth::ClientKind;
use crate::protocol::connect::ConnectParams;
use crate::protocol::error::{ErrorShape, NOT_PAIRED, UNAVAILABLE};
use crate::protocol::methods as m;
use crate::protocol::{close, scopes};
use crate::state::devices::{self, Claim, Reason};
use serde_json::{json, Value};
use std::net::IpAddr;

/// What the HTTP upgrade request said about where the client is.
#[derive(Debug, Clone, Default)]
pub struct Ingress {
    pub host: Option<String>,
    pub origin: Option<String>,
    /// Any forwarding header (X-Forwarded-For, X-Real-IP, Forwarded, X-Forwarded-Host).
    pub proxied: bool,
}

impl Ingress {
    pub fn from_headers(headers: &hyper::header::HeaderMap) -> Self {
        let h = |n: &str| {
            headers
                .get(n)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Ingress {
            host: h("host"),
            origin: h("origin"),
            proxied: [
                "x-forwarded-for",
                "x-real-ip",
                "forwarded",
                "x-forwarded-host",
            ]
            .iter()
            .any(|n| h(n).is_some()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    DirectLocal,
    CliContainerLocal,
    SharedSecretLoopbackLocal,
    Remote,
}

/// The host part of a `Host` header (`[::1]:18789` → `::1`).
pub(crate) fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn is_private_or_loopback_host(host: &str) -> bool {
    let h = host_name(host);
    if is_loopback_host(h) {
        return true;
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_private() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

pub(crate) fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn shared_secret(method: &str) -> bool {
    matches!(method, "token" | "password")
}

/// Where a client is, for the pairing policy.
pub fn locality(peer: IpAddr, ingress: &Ingress, p: &ConnectParams, method: &str) -> Locality {
    let loopback = is_loopback_ip(peer);
    let host_local = ingress
        .host
        .as_deref()
        .is_none_or(|h| is_loopback_host(host_name(h)));
    if loopback && !ingress.proxied && host_local {
        return Locality::DirectLocal;
    }
    let host_private = ingress
        .host
        .as_deref()
        .is_none_or(is_private_or_loopback_host);
    if shared_secret(method)
        && !ingress.proxied
        && ingress.origin.is_none()
        && loopback
        && host_private
    {
        return if p.client.id == "cli" && p.client.mode == "cli" {
            Locality::CliContainerLocal
        } else {
            Locality::SharedSecretLoopbackLocal
        };
    }
    Locality::Remote
}

/// Upstream's `shouldAllowSilentLocalPairing`.
pub fn silent_allowed(
    loc: Locality,
    has_origin: bool,
    kind: ClientKind,
    reason: Reason,
    method: &str,
    auto_approve_local: bool,
) -> bool {
    let ui = kind == ClientKind::ControlUi;
    if loc == Locality::Remote || (has_origin && !ui) {
        return false;
    }
    if reason == Reason::MetadataUpgrade {
        return !has_origin
            && !ui
            && matches!(
                loc,
                Locality::CliContainerLocal | Locality::SharedSecretLoopbackLocal
            );
    }
    if !auto_approve_local {
        return false;
    }
    if reason == Reason::ScopeUpgrade {
        return matches!(method, "none" | "token" | "password");
    }
    true
}

/// A local backend client authenticated with the shared secret skips pairing entirely.
fn skips_pairing(p: &ConnectParams, loc: Locality, has_origin: bool, method: &str) -> bool {
    p.client.id == "gateway-client"
        && p.client.mode == "backend"
        && matches!(
            loc,
            Locality::DirectLocal | Locality::SharedSecretLoopbackLocal
        )
        && !has_origin
        && (method == "none" || shared_secret(method))
}

/// The refusal sent when approval is pending: v3 keeps the short form; v4 names the
/// requirement and the request id.
pub fn not_paired(
    protocol: u32,
    reason: Reason,
    request_id: &str,
    device_id: &str,
    role: &str,
    scopes: &[String],
    approved: Option<&Value>,
) -> Rejection {
    if protocol < 4 {
        let error = ErrorShape::new(NOT_PAIRED, "pairing required").with_details(json!({
            "code": "PAIRING_REQUIRED", "requestId": request_id, "reason": reason.as_str(),
        }));
        return Rejection {
            error,
            close_code: close::POLICY,
            close_reason: "pairing required".into(),
        };
    }
    let message = format!("pairing required: {}", reason.requirement());
    let mut details = json!({
        "code": "PAIRING_REQUIRED",
        "reason": reason.as_str(),
        "requestId": request_id,
        "remediationHint": reason.remediation_hint(),
        "deviceId": device_id,
        "requestedRole": role,
        "requestedScopes": scopes,
    });
    if let Some(p) = approved {
        let roles = devices::paired_roles(p);
        let granted = devices::paired_scopes(p);
        if !roles.is_empty() {
            details["approvedRoles"] = json!(roles);
        }
        if !granted.is_empty() {
            details["approvedScopes"] = json!(granted);
        }
    }
    Rejection {
        close_reason: close::truncate_reason(&format!("{message} (requestId: {request_id})")),
        error: ErrorShape::new(NOT_PAIRED, message).with_details(details),
        close_code: close::POLICY,
    }
}

pub(crate) fn store_failure(e: std::io::Error) -> Rejection {
    let error = ErrorShape::new(
        UNAVAILABLE,
        format!("device pairing store unavailable: {e}"),
    );
    Rejection {
        close_reason: close::truncate_reason(&error.message),
        error,
        close_code: 1011,
    }
}

/// Decide whether a signed device may proceed. Creates the pending request (and
/// approves it at once when the local policy allows) as a side effect.
pub fn gate(
    gw: &Gateway,
    p: &ConnectParams,
    granted: &Granted,
    peer: IpAddr,
    ingress: &Ingress,
    conn_id: &str,
) -> Result<(), Rejection> {
    let Some(d) = &p.device else { return Ok(()) };
    let loc = locality(peer, ingress, p, granted.method);
    let has_origin = ingress.origin.is_some();
    if skips_pairing(p, loc, has_origin, granted.method) {
        return Ok(());
    }
    let remote_ip = peer.to_string();
    let claim = Claim {
        device_id: &d.id,
        public_key: &d.public_key,
        role: &granted.role,
        scopes: &granted.scopes,
        client_id: &p.client.id,
        client_mode: &p.client.mode,
        display_name: p.client.display_name.as_deref(),
        platform: &p.client.platform,
        device_family: p.client.device_family.as_deref(),
        remote_ip: &remote_ip,
    };
    let cfg = gw.config();
    let auto_approve_local = cfg
        .loaded
        .get("gateway.nodes.pairing.autoApproveLocal")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let now = crate::util::now_ms();
    let store = &gw.devices;
    let paired = store.paired(&d.id).map_err(store_failure);
    for w in store.take_warnings() {
        gw.logger.warn("devices", w);
    }
    let paired = paired?;
    let Some(reason) = devices::requirement(paired.as_ref(), &claim, scopes::satisfies) else {
        return Ok(());
    };
    let same_key = paired
        .as_ref()
        .filter(|e| e.get("publicKey").and_then(Value::as_str) == Some(d.public_key.as_str()));
    if matches!(reason, Reason::RoleUpgrade | Reason::ScopeUpgrade) {
        let from = same_key.map(|e| (devices::paired_roles(e), devices::paired_scopes(e)));
        let (roles_from, scopes_from) = from.unwrap_or_default();
        gw.logger.warn(
            "gateway/ws",
            format!(
                "security audit: device access upgrade requested reason={} device={} ip={remote_ip} auth={} roleFrom={} roleTo={} scopesFrom={} scopesTo={} client={} conn={conn_id}",
                reason.as_str(),
                d.id,
                granted.method,
                roles_from.join(","),
                granted.role,
                scopes_from.join(","),
                granted.scopes.join(","),
                p.client.id,
            ),
        );
    }
    // An already-paired node asking for something new always needs an operator.
    let node_upgrade = paired.is_some() && granted.role != scopes::ROLE_OPERATOR;
    let silent = !node_upgrade
        && silent_allowed(
            loc,
            has_origin,
            ClientKind::of(&p.client.id, &p.client.mode),
            reason,
            granted.method,
            auto_approve_local,
        );
    if silent {
        // Request and approval in one locked step: two connects of the same device at once
        // (the probe's targets run in parallel) must not approve the same request twice.
        let Some(request_id) = store
            .pair_silently(&claim, reason, scopes::satisfies, now)
            .map_err(store_failure)?
        else {
            return Ok(()); // paired by a concurrent connect in the meantime
        };
        gw.logger.info(
            "gateway/ws",
            format!(
                "device pairing auto-approved device={} role={}",
                d.id, granted.role
            ),
        );
        gw.broadcast(
            m::EV_DEVICE_PAIR_RESOLVED,
            &json!({"requestId": request_id, "deviceId": d.id, "decision": "approved", "ts": now}),
            true,
            false,
        );
        return Ok(());
    }
    let (request, created) = store
        .request(&claim, reason, false, now)
        .map_err(store_failure)?;
    let request_id = request["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if created {
        gw.broadcast(m::EV_DEVICE_PAIR_REQUESTED, &request, true, false);
    }
    gw.logger.warn(
        "gateway/ws",
        format!(
            "device pairing required device={} reason={} requestId={request_id} ip={remote_ip} client={} conn={conn_id}; approve with: openclaw devices approve {request_id}",
            d.id,
            reason.as_str(),
            p.client.id
        ),
    );
    Err(not_paired(
        granted.protocol,
        reason,
        &request_id,
        &d.id,
        &granted.role,
        &granted.scopes,
        same_key,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_private_hosts() {
        assert_eq!(host_name("127.0.0.1:18789"), "127.0.0.1");
        assert_eq!(host_name("[::1]:18789"), "::1");
        assert_eq!(host_name("localhost"), "localhost");
        assert!(is_private_or_loopback_host("192.168.1.4:18789"));
        assert!(is_private_or_loopback_host("[fd00::1]:1"));
        assert!(!is_private_or_loopback_host("gateway.example.com"));
        assert!(!is_private_or_loopback_host("8.8.8.8"));
    }

    #[test]
    fn silent_policy_follows_upstream() {
        use ClientKind::*;
        use Locality::*;
        use Reason::*;
        // (locality, origin header, client kind, reason, auth method, autoApproveLocal) → silent
        let cases = [
            ((DirectLocal, false, Cli, NotPaired, "token", true), true),
            ((Remote, false, Cli, NotPaired, "token", true), false),
            ((DirectLocal, true, Other, NotPaired, "token", true), false),
            (
                (DirectLocal, true, ControlUi, NotPaired, "token", true),
                true,
            ),
            ((DirectLocal, false, Cli, NotPaired, "token", false), false),
            ((DirectLocal, false, Cli, ScopeUpgrade, "token", true), true),
            (
                (DirectLocal, false, Cli, ScopeUpgrade, "device-token", true),
                false,
            ),
            (
                (DirectLocal, false, Cli, MetadataUpgrade, "token", true),
                false,
            ),
            (
                (
                    CliContainerLocal,
                    false,
                    Cli,
                    MetadataUpgrade,
                    "token",
                    true,
                ),
                true,
            ),
        ];
        for ((loc, origin, kind, reason, method, auto), want) in cases {
            assert_eq!(
                silent_allowed(loc, origin, kind, reason, method, auto),
                want,
                "{loc:?} {origin} {kind:?} {reason:?} {method} {auto}"
            );
        }
    }

    #[test]
    fn v3_and_v4_refusals() {
        let s = vec!["operator.read".to_string()];
        let r = not_paired(3, Reason::NotPaired, "r1", "dev", "operator", &s, None);
        assert_eq!(r.error.message, "pairing required");
        assert_eq!(r.close_reason, "pairing required");
        let r = not_paired(4, Reason::ScopeUpgrade, "r1", "dev", "operator", &s, None);
        assert_eq!(
            r.error.message,
            "pairing required: device is asking for more scopes than currently approved"
        );
        assert_eq!(
            r.close_reason,
            "pairing required: device is asking for more scopes than currently approved (requestId: r1)"
        );
        assert_eq!(r.close_code, 1008);
    }
}
