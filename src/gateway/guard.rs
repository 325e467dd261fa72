//! Connect-time guards in front of auth (spec 1.8, 1.9, 1.13 and the pre-auth budget):
//! the browser Origin check, the Control UI device-identity requirement off loopback, the
//! failed-auth rate limiter, and the per-IP budget of unauthenticated sockets.

use super::auth::Rejection;
use super::pairing::{host_name, is_loopback_ip, Ingress};
use crate::config::gateway::is_loopback_host;
use crate::config::LoadedConfig;
use crate::protocol::auth::{self as pauth, AuthFailure, ClientKind};
use crate::protocol::connect::ConnectParams;
use crate::protocol::error::{ErrorShape, INVALID_REQUEST};
use crate::protocol::{self, close};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub const ORIGIN_NOT_ALLOWED: &str = "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)";
pub const CONTROL_UI_NEEDS_IDENTITY: &str =
    "control ui requires device identity (use HTTPS or localhost secure context)";
pub const PREAUTH_BUDGET_EXCEEDED: &str = "Too many unauthenticated sockets";
pub const DEFAULT_PREAUTH_PER_IP: usize = 32;

fn policy(error: ErrorShape) -> Rejection {
    Rejection {
        close_reason: close::truncate_reason(&error.message),
        error,
        close_code: close::POLICY,
    }
}

/// A connection from this machine, not relayed: loopback socket, local `Host`, no
/// forwarding headers (upstream's `isLocalDirectRequest`).
pub fn is_local_client(peer: IpAddr, ingress: &Ingress) -> bool {
    is_loopback_ip(peer)
        && !ingress.proxied
        && ingress
            .host
            .as_deref()
            .is_none_or(|h| is_loopback_host(host_name(h)))
}

/// Control UI and webchat clients (browsers), not the terminal UI.
fn is_browser_ui(p: &ConnectParams) -> bool {
    p.client.id == "openclaw-control-ui"
        || p.client.id == "webchat-ui"
        || p.client.mode == "webchat"
}

/// A parsed `Origin`: `scheme://host[:port]` only.
struct Origin {
    origin: String,
    host: String,
    hostname: String,
}

fn parse_origin(raw: &str) -> Option<Origin> {
    let t = raw.trim();
    if t.is_empty() || t == "null" {
        return None;
    }
    let (scheme, rest) = t.split_once("://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '\\', '@'])
    {
        return None;
    }
    let host = rest.to_ascii_lowercase();
    let hostname = host_name(&host).to_string();
    Some(Origin {
        origin: format!("{}://{host}", scheme.to_ascii_lowercase()),
        host,
        hostname,
    })
}

fn is_trusted_same_origin_host(host: &str, local: bool) -> bool {
    let name = host_name(host);
    if is_loopback_host(name) {
        return local;
    }
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => name.ends_with(".local") || name.ends_with(".ts.net"),
    }
}

/// Upstream's `checkBrowserOrigin`: `Err` is the reason.
pub fn check_origin(
    origin: Option<&str>,
    host: Option<&str>,
    allowed: &[String],
    host_fallback: bool,
    local: bool,
) -> Result<&'static str, &'static str> {
    let Some(o) = origin.and_then(parse_origin) else {
        return Err("origin missing or invalid");
    };
    let allow: Vec<String> = allowed
        .iter()
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    if allow.iter().any(|a| a == "*" || *a == o.origin) {
        return Ok("allowlist");
    }
    let req_host = host.map(|h| h.trim().to_ascii_lowercase());
    if let Some(h) = &req_host {
        if host_fallback && *h == o.host {
            return Ok("host-header-fallback");
        }
        if *h == o.host && is_trusted_same_origin_host(h, local) {
            return Ok("private-same-origin");
        }
    }
    if local && is_loopback_host(&o.hostname) {
        return Ok("local-loopback");
    }
    Err("origin not allowed")
}

/// The Origin and Control UI identity checks, before any credential is looked at.
pub fn browser_checks(
    p: &ConnectParams,
    peer: IpAddr,
    ingress: &Ingress,
    cfg: &LoadedConfig,
) -> Result<(), Rejection> {
    let ui = is_browser_ui(p);
    let local = is_local_client(peer, ingress);
    if ingress.origin.is_some() || ui {
        let allowed = crate::util::string_list(cfg.get("gateway.controlUi.allowedOrigins"));
        let fallback = cfg
            .get("gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback")
            .and_then(Value::as_bool)
            == Some(true);
        if let Err(reason) = check_origin(
            ingress.origin.as_deref(),
            ingress.host.as_deref(),
            &allowed,
            fallback,
            local,
        ) {
            return Err(policy(
                ErrorShape::new(INVALID_REQUEST, ORIGIN_NOT_ALLOWED).with_details(
                    json!({"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED", "reason": reason}),
                ),
            ));
        }
    }
    let device_auth_disabled = cfg
        .get("gateway.controlUi.dangerouslyDisableDeviceAuth")
        .and_then(Value::as_bool)
        == Some(true);
    if ui && p.device.is_none() && !local && !device_auth_disabled {
        return Err(policy(
            ErrorShape::new(INVALID_REQUEST, CONTROL_UI_NEEDS_IDENTITY)
                .with_details(json!({"code": "CONTROL_UI_DEVICE_IDENTITY_REQUIRED"})),
        ));
    }
    Ok(())
}

/// `NOT_PAIRED` `device identity required`: a role that needs a signed device came without.
pub fn device_identity_required() -> Rejection {
    policy(
        ErrorShape::new(
            crate::protocol::error::NOT_PAIRED,
            "device identity required",
        )
        .with_details(json!({"code": "DEVICE_IDENTITY_REQUIRED"})),
    )
}

/// A limiter's settings (`gateway.auth.rateLimit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePolicy {
    pub max_attempts: usize,
    pub window_ms: u64,
    pub lockout_ms: u64,
    pub exempt_loopback: bool,
}

impl Default for RatePolicy {
    fn default() -> Self {
        RatePolicy {
            max_attempts: 10,
            window_ms: 60_000,
            lockout_ms: 300_000,
            exempt_loopback: true,
        }
    }
}

impl RatePolicy {
    /// The general limiter's policy, when `gateway.auth.rateLimit` is configured.
    pub fn from_config(cfg: &LoadedConfig) -> Option<RatePolicy> {
        let rl = cfg.get("gateway.auth.rateLimit")?.as_object()?;
        let d = RatePolicy::default();
        let n = |k: &str| rl.get(k).and_then(Value::as_u64);
        Some(RatePolicy {
            max_attempts: n("maxAttempts").map_or(d.max_attempts, |v| v.max(1) as usize),
            window_ms: n("windowMs").unwrap_or(d.window_ms),
            lockout_ms: n("lockoutMs").unwrap_or(d.lockout_ms),
            exempt_loopback: rl
                .get("exemptLoopback")
                .and_then(Value::as_bool)
                .unwrap_or(d.exempt_loopback),
        })
    }
}

#[derive(Debug, Default)]
struct Entry {
    attempts: VecDeque<u64>,
    locked_until: Option<u64>,
}

/// Upstream's sliding-window failed-auth limiter, keyed by `{scope}:{client}`.
#[derive(Debug, Default)]
pub struct RateLimiter {
    entries: Mutex<HashMap<String, Entry>>,
}

/// At most this many keys are tracked; older unlocked ones are dropped first.
const MAX_ENTRIES: usize = 10_000;

impl RateLimiter {
    fn exempt(policy: &RatePolicy, client: &str) -> bool {
        policy.exempt_loopback && client.parse::<IpAddr>().is_ok_and(is_loopback_ip)
    }

    fn refresh(policy: &RatePolicy, e: &mut Entry, now: u64) {
        if e.locked_until.is_some_and(|t| now >= t) {
            e.locked_until = None;
            e.attempts.clear();
        }
        while e
            .attempts
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= policy.window_ms)
        {
            e.attempts.pop_front();
        }
    }

    /// `Some(retry_after_ms)` while `{scope, client}` is locked out.
    pub fn check(&self, policy: &RatePolicy, scope: &str, client: &str, now: u64) -> Option<u64> {
        if Self::exempt(policy, client) {
            return None;
        }
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = map.get_mut(&format!("{scope}:{client}"))?;
        Self::refresh(policy, e, now);
        if e.locked_until.is_none() && e.attempts.len() >= policy.max_attempts {
            e.locked_until = Some(now + policy.lockout_ms);
        }
        e.locked_until.filter(|t| now < *t).map(|t| t - now)
    }

    pub fn record_failure(&self, policy: &RatePolicy, scope: &str, client: &str, now: u64) {
        if Self::exempt(policy, client) {
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.locked_until.is_some_and(|t| now < t));
        }
        let e = map.entry(format!("{scope}:{client}")).or_default();
        if e.locked_until.is_some_and(|t| now < t) {
            return;
        }
        Self::refresh(policy, e, now);
        e.attempts.push_back(now);
        if e.attempts.len() >= policy.max_attempts {
            e.locked_until = Some(now + policy.lockout_ms);
        }
    }

    pub fn reset(&self, scope: &str, client: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("{scope}:{client}"));
    }
}

/// Which limiter and key a connect is counted under: browsers (an Origin header) always
/// go through the browser limiter, which never exempts loopback and keys loopback browsers
/// by their origin; everyone else through the general one when it is configured.
pub struct RateTarget {
    pub policy: RatePolicy,
    pub browser: bool,
    pub client: String,
}

pub fn rate_target(peer: IpAddr, ingress: &Ingress, cfg: &LoadedConfig) -> Option<RateTarget> {
    let ip = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
        v4 => v4,
    }
    .to_string();
    match &ingress.origin {
        Some(origin) => Some(RateTarget {
            policy: RatePolicy {
                exempt_loopback: false,
                ..RatePolicy::default()
            },
            browser: true,
            client: if is_loopback_ip(peer) {
                match parse_origin(origin) {
                    Some(o) => format!("browser-origin:{}", o.origin),
                    None => "198.18.0.1".into(),
                }
            } else {
                ip
            },
        }),
        None => RatePolicy::from_config(cfg).map(|policy| RateTarget {
            policy,
            browser: false,
            client: ip,
        }),
    }
}

/// The counter scope for the credential a connect presents.
pub fn rate_scope(p: &ConnectParams) -> &'static str {
    let shared = p.auth.token.as_deref().is_some_and(|t| !t.is_empty())
        || p.auth.password.as_deref().is_some_and(|t| !t.is_empty());
    if !shared
        && p.auth
            .device_token
            .as_deref()
            .is_some_and(|t| !t.is_empty())
    {
        "device-token"
    } else {
        "shared-secret"
    }
}

/// The refusal while locked out.
pub fn rate_limited(p: &ConnectParams, retry_after_ms: u64) -> Rejection {
    let proto =
        protocol::negotiate(p.min_protocol, p.max_protocol).unwrap_or(protocol::PROTOCOL_VERSION);
    let kind = ClientKind::of(&p.client.id, &p.client.mode);
    policy(pauth::error_shape(
        AuthFailure::RateLimited,
        kind,
        proto,
        false,
        Some(retry_after_ms),
    ))
}

/// Whether a refusal is a wrong credential (the only kind the limiter counts).
pub fn is_wrong_credential(r: &Rejection) -> bool {
    matches!(
        r.error.detail_code(),
        Some("AUTH_TOKEN_MISMATCH" | "AUTH_PASSWORD_MISMATCH" | "AUTH_DEVICE_TOKEN_MISMATCH")
    )
}

/// The per-IP budget of sockets that have not finished the handshake.
#[derive(Debug, Default)]
pub struct PreauthBudget {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one slot of the budget until dropped (the handshake finished or the socket ended).
pub struct PreauthSlot {
    budget: Arc<super::state::Gateway>,
    ip: IpAddr,
}

impl Drop for PreauthSlot {
    fn drop(&mut self) {
        let mut m = self
            .budget
            .preauth
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl PreauthBudget {
    /// A slot for `ip`, or `None` when it already holds `max` unauthenticated sockets.
    pub fn acquire(gw: &Arc<super::state::Gateway>, ip: IpAddr, max: usize) -> Option<PreauthSlot> {
        let mut m = gw.preauth.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PreauthSlot {
            budget: gw.clone(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (origin, Host, allowlist, host fallback, local client, outcome)
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        &'a [String],
        bool,
        bool,
        Result<&'static str, &'static str>,
    );

    #[test]
    fn origins_follow_upstream_rules() {
        let none: Vec<String> = vec![];
        let ui = vec!["https://ui.example".to_string()];
        let any = vec!["*".to_string()];
        let gw = Some("127.0.0.1:18789");
        // (origin, Host, allowlist, host fallback, local client) → outcome
        let cases: [Case; 10] = [
            (
                None,
                None,
                &none,
                false,
                true,
                Err("origin missing or invalid"),
            ),
            (
                Some("null"),
                None,
                &none,
                false,
                true,
                Err("origin missing or invalid"),
            ),
            (
                Some("http://a/b"),
                None,
                &none,
                false,
                true,
                Err("origin missing or invalid"),
            ),
            (
                Some("http://localhost:5173"),
                gw,
                &none,
                false,
                true,
                Ok("local-loopback"),
            ),
            (
                Some("http://localhost:5173"),
                gw,
                &none,
                false,
                false,
                Err("origin not allowed"),
            ),
            (
                Some("https://UI.example"),
                None,
                &ui,
                false,
                false,
                Ok("allowlist"),
            ),
            (
                Some("https://x.example"),
                None,
                &any,
                false,
                false,
                Ok("allowlist"),
            ),
            (
                Some("http://gw.example:8080"),
                Some("gw.example:8080"),
                &none,
                true,
                false,
                Ok("host-header-fallback"),
            ),
            (
                Some("http://192.168.1.5:18789"),
                Some("192.168.1.5:18789"),
                &none,
                false,
                false,
                Ok("private-same-origin"),
            ),
            (
                Some("http://evil.example"),
                gw,
                &none,
                false,
                true,
                Err("origin not allowed"),
            ),
        ];
        for (origin, host, allow, fallback, local, want) in cases {
            assert_eq!(
                check_origin(origin, host, allow, fallback, local),
                want,
                "{origin:?} {host:?} {fallback} {local}"
            );
        }
    }

    #[test]
    fn limiter_locks_after_max_failures_and_expires() {
        let p = RatePolicy {
            max_attempts: 2,
            window_ms: 1_000,
            lockout_ms: 500,
            exempt_loopback: true,
        };
        let l = RateLimiter::default();
        l.record_failure(&p, "shared-secret", "203.0.113.9", 0);
        assert_eq!(l.check(&p, "shared-secret", "203.0.113.9", 1), None);
        l.record_failure(&p, "shared-secret", "203.0.113.9", 10);
        assert_eq!(l.check(&p, "shared-secret", "203.0.113.9", 20), Some(490));
        assert_eq!(
            l.check(&p, "device-token", "203.0.113.9", 20),
            None,
            "scopes are separate"
        );
        assert_eq!(
            l.check(&p, "shared-secret", "203.0.113.9", 510),
            None,
            "lockout expired"
        );
        // Loopback is exempt unless the policy says otherwise.
        for t in 0..5 {
            l.record_failure(&p, "shared-secret", "127.0.0.1", t);
        }
        assert_eq!(l.check(&p, "shared-secret", "127.0.0.1", 6), None);
        // Old failures leave the window.
        l.record_failure(&p, "shared-secret", "198.51.100.1", 0);
        l.record_failure(&p, "shared-secret", "198.51.100.1", 1_500);
        assert_eq!(l.check(&p, "shared-secret", "198.51.100.1", 1_501), None);
        l.reset("shared-secret", "198.51.100.1");
    }
}
