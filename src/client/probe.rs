//! The gateway probe: which targets to try, one connect + four read RPCs per target (in
//! parallel), and the verdict (reachability, capability, primary target, warnings).
//! Used by `gateway probe`, `gateway status`, `status`, `health` and the doctor.

use super::credentials::{self, Credentials};
use super::{is_pairing_required, probe_scopes, ConnectError, ConnectOptions};
use crate::config::env::Env;
use crate::config::gateway as gwcfg;
use crate::config::LoadedConfig;
use crate::contract::probe::*;
use crate::contract::SCHEMA_VERSION;
use crate::state::identity::DeviceIdentity;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

pub const DEFAULT_TIMEOUT_MS: u64 = 3000;
/// How many read diagnostics a probe runs (health, status, system-presence, config.get).
const DIAGNOSTICS: usize = 4;
pub const MIN_TIMEOUT_MS: u64 = 250;

pub const SCOPE_LIMITED: &str = "Read-probe diagnostics are limited by gateway scopes (missing operator.read). Connection succeeded, but read-only status calls are incomplete. Hint: pair device identity or use credentials with operator.read.";
pub const DETAIL_FAILED_PREFIX: &str =
    "Gateway accepted the WebSocket connection, but follow-up read diagnostics failed: ";
pub const NO_GATEWAY: &str = "No gateway answered any probe. Run `openclaw gateway status --deep --require-rpc` to inspect service state, config paths, listener owners, and logs; include `ss -ltnp` or `lsof -nP -iTCP:<port> -sTCP:LISTEN` for the configured port when filing a report.";
pub const SSH_FALLBACK: &str = "SSH tunnel failed to start; falling back to direct probes.";

/// One address to probe, with the credentials it may use.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub id: &'static str,
    pub url: String,
    pub active: bool,
    pub credentials: Credentials,
    pub tunnel: Option<Tunnel>,
}

/// Inputs of a probe run.
pub struct ProbeRequest<'a> {
    pub config: &'a LoadedConfig,
    pub env: &'a Env,
    pub state_dir: &'a Path,
    pub url: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub port: Option<u16>,
    pub timeout_ms: u64,
    /// Extra targets (an SSH tunnel) and warnings gathered before probing.
    pub extra_targets: Vec<TargetSpec>,
    pub pre_warnings: Vec<Warning>,
    /// Run the four read RPCs after connecting (`gateway status` only connects).
    pub read_diagnostics: bool,
    /// Ask for a fresh health summary (`health {probe: true}`) instead of the cached one.
    pub fresh_health: bool,
    /// Further read calls made on the same connection after the four diagnostics; their
    /// results land in `Target::extra_reads` and do not count toward `rpcOk`.
    pub extra_reads: Vec<(&'static str, Value)>,
    /// Create the CLI's device identity when there is none (so a gateway pairs it). Off for
    /// every read command (probe, status, gateway status, the doctor): they read with the
    /// identity that exists, or none, and pair nothing on the gateway they read.
    pub create_identity: bool,
}

fn ws_url(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("ws://[{host}]:{port}")
    } else {
        format!("ws://{host}:{port}")
    }
}

impl<'a> ProbeRequest<'a> {
    /// A read probe of this installation's targets with the default budget; callers set
    /// only what differs.
    pub fn new(config: &'a LoadedConfig, env: &'a Env, state_dir: &'a Path) -> Self {
        ProbeRequest {
            config,
            env,
            state_dir,
            url: None,
            token: None,
            password: None,
            port: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            extra_targets: Vec::new(),
            pre_warnings: Vec::new(),
            read_diagnostics: true,
            fresh_health: false,
            extra_reads: Vec::new(),
            create_identity: false,
        }
    }
}

/// The targets in primary order: explicit, sshTunnel, configRemote, localLoopback.
pub fn plan_targets(req: &ProbeRequest<'_>) -> Vec<TargetSpec> {
    let cfg = req.config;
    let remote_mode = cfg.get_str("gateway.mode") == Some("remote");
    let flags = credentials::explicit(req.token.as_deref(), req.password.as_deref());
    let (port, _) = gwcfg::resolve_port(req.port, req.env, cfg);
    let loopback = ws_url("127.0.0.1", port);
    let mut out = Vec::new();
    if let Some(url) = &req.url {
        out.push(TargetSpec {
            id: "explicit",
            url: url.clone(),
            active: true,
            // An explicit URL never falls back to stored credentials.
            credentials: flags.clone(),
            tunnel: None,
        });
    }
    // With an explicit URL, --token/--password belong to it alone: the other targets use
    // their configured credentials (a flag sent to them would be refused and misreported).
    let (token, password) = if req.url.is_some() {
        (None, None)
    } else {
        (req.token.as_deref(), req.password.as_deref())
    };
    if req.port.is_none() {
        out.extend(req.extra_targets.iter().cloned());
        if let Some(url) = cfg.get_str("gateway.remote.url").filter(|u| !u.is_empty()) {
            out.push(TargetSpec {
                id: "configRemote",
                url: url.to_string(),
                active: remote_mode,
                credentials: credentials::resolve(cfg, req.env, token, password, true),
                tunnel: None,
            });
        }
    }
    out.push(TargetSpec {
        id: "localLoopback",
        url: loopback,
        active: !remote_mode,
        credentials: credentials::resolve(cfg, req.env, token, password, false),
        tunnel: None,
    });
    // The same URL twice is one gateway: keep the first (highest-priority) entry.
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.url.trim_end_matches('/').to_string()));
    out
}

fn compact_config(v: &Value) -> Value {
    json!({
        "path": v["path"], "exists": v["exists"], "valid": v["valid"], "hash": v["hash"],
        "issues": v["issues"].as_array().map(|a| a.len()).unwrap_or(0),
    })
}

fn target_credential_source(spec: &TargetSpec) -> Option<String> {
    spec.credentials
        .token_source
        .clone()
        .or_else(|| spec.credentials.password_source.clone())
}

/// A target before its probe ran: nothing known yet.
fn unprobed(spec: &TargetSpec, credential_source: Option<String>, device_identity: bool) -> Target {
    Target {
        id: spec.id.to_string(),
        kind: spec.id.to_string(),
        url: spec.url.clone(),
        active: spec.active,
        tunnel: spec.tunnel.clone(),
        connect: Connect {
            ok: false,
            rpc_ok: false,
            scope_limited: false,
            latency_ms: None,
            error: None,
            failed_step: None,
            error_code: None,
            close: None,
        },
        auth: TargetAuth {
            role: None,
            scopes: Vec::new(),
            capability: Capability::Unknown,
            credential_source,
            device_identity,
            rejected_credential: None,
        },
        server: Server {
            version: None,
            conn_id: None,
            protocol: None,
        },
        self_: None,
        config: None,
        health: None,
        summary: None,
        presence: None,
        extra_reads: Vec::new(),
    }
}

async fn probe_one(
    spec: &TargetSpec,
    identity: Option<&DeviceIdentity>,
    state_dir: &std::path::Path,
    budget: Duration,
    reads: &[(&'static str, Value)],
) -> Target {
    let started = Instant::now();
    // Without a device identity, a shared secret reads as upstream's own CLI reads (its
    // health and logs): the backend client, which a gateway serves without pairing.
    let (client_id, mode) = if identity.is_none() && !spec.credentials.is_empty() {
        ("gateway-client", "backend")
    } else {
        ("cli", "probe")
    };
    let opts = ConnectOptions {
        url: spec.url.clone(),
        token: spec.credentials.token.clone(),
        password: spec.credentials.password.clone(),
        device_token: None,
        client_id,
        mode,
        scopes: probe_scopes(),
        identity,
        timeout: budget,
    };
    let credential_source = spec
        .credentials
        .token_source
        .clone()
        .or_else(|| spec.credentials.password_source.clone());
    let mut target = unprobed(spec, credential_source, identity.is_some());
    let mut conn = match super::connect_with_device_auth(&opts, state_dir).await {
        Ok(c) => c,
        Err(e) => {
            target.connect.ok = e.transport_ok();
            target.connect.error = Some(e.to_string());
            target.connect.failed_step = Some(
                match &e {
                    ConnectError::Open(_) => "open",
                    ConnectError::Timeout(s) => s.as_str(),
                    // The gateway refused the handshake (auth, pairing, protocol, policy).
                    ConnectError::Rejected { .. } | ConnectError::Closed { .. } => "connect",
                    ConnectError::Protocol(_) => "hello",
                }
                .to_string(),
            );
            target.connect.error_code = e.detail_code().map(str::to_string);
            target.connect.close = e.close().map(|(code, reason)| Close { code, reason });
            if e.transport_ok() {
                target.connect.latency_ms = Some(started.elapsed().as_millis() as u64);
            }
            if is_pairing_required(&e) {
                target.auth.capability = Capability::PairingPending;
            }
            return target;
        }
    };
    target.connect.ok = true;
    target.connect.latency_ms = Some(conn.connect_ms);
    match &conn.auth {
        super::AuthUsed::AsGiven => {}
        super::AuthUsed::DeviceToken => {
            target.auth.credential_source = Some("device-token".into());
        }
        super::AuthUsed::DeviceTokenAfterRejection(e) => {
            target.auth.credential_source = Some("device-token".into());
            target.auth.rejected_credential = Some(RejectedCredential {
                source: target_credential_source(spec),
                error: e.message.clone(),
                error_code: e.detail_code().map(str::to_string),
            });
        }
    }
    target.auth.role = Some(conn.role.clone());
    target.auth.scopes = conn.scopes.clone();
    target.auth.capability = Capability::from_scopes(&conn.scopes);
    target.server = Server {
        version: Some(conn.hello.server.version.clone()).filter(|v| !v.is_empty()),
        conn_id: Some(conn.hello.server.conn_id.clone()).filter(|v| !v.is_empty()),
        protocol: Some(conn.protocol),
    };
    if reads.is_empty() {
        target.connect.rpc_ok = true;
        conn.close().await;
        return target;
    }
    let remaining = budget
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(50));
    let mut results = conn.call_many(reads, remaining).await;
    conn.close().await;
    target.extra_reads = results
        .split_off(DIAGNOSTICS.min(results.len()))
        .into_iter()
        .map(Result::ok)
        .collect();
    let mut first_error = None;
    let mut scope_limited = false;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(v) => match i {
                0 => target.health = Some(v),
                1 => target.summary = Some(v),
                2 => {
                    target.self_ = v
                        .as_array()
                        .and_then(|a| a.iter().find(|e| e["reason"] == "self").cloned());
                    target.presence = Some(v);
                }
                _ => target.config = Some(compact_config(&v)),
            },
            Err(e) => {
                scope_limited |= e.is_missing_scope();
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    target.connect.scope_limited = scope_limited;
    target.connect.rpc_ok = first_error.is_none();
    if let Some(e) = first_error {
        target.connect.error = Some(e);
        target.connect.failed_step = Some("rpc".into());
    }
    target
}

/// The gateway's identity for dedupe: its `self` presence instance, else its URL.
fn identity_key(t: &Target) -> Option<String> {
    t.self_
        .as_ref()
        .and_then(|s| s["instanceId"].as_str())
        .map(str::to_string)
}

/// What a reachable target's reads say: limited by scopes, or failed.
fn read_warnings(reachable: &[&Target], read_diagnostics: bool) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for t in reachable {
        if let Some(r) = &t.auth.rejected_credential {
            warnings.push(Warning {
                code: "auth_token_rejected".into(),
                message: format!(
                    "The gateway refused the shared secret from {} ({}); the probe authenticated with this CLI's paired device token instead. Fix or remove that credential: anything else using it is refused.",
                    r.source.as_deref().unwrap_or("the command line"),
                    r.error_code.as_deref().unwrap_or(&r.error),
                ),
                target_ids: vec![t.id.clone()],
            });
        }
        if t.connect.failed_step.as_deref() == Some("connect") {
            // Refused at connect: reported as refused (the target's error and close), not
            // as failed reads.
            warnings.push(Warning {
                code: "connect_refused".into(),
                message: format!(
                    "The gateway refused the connection: {}",
                    t.connect.error.as_deref().unwrap_or("unknown error")
                ),
                target_ids: vec![t.id.clone()],
            });
        } else if t.connect.scope_limited {
            warnings.push(Warning {
                code: "probe_scope_limited".into(),
                message: SCOPE_LIMITED.into(),
                target_ids: vec![t.id.clone()],
            });
        } else if !t.connect.rpc_ok && read_diagnostics {
            warnings.push(Warning {
                code: "probe_detail_failed".into(),
                message: format!(
                    "{DETAIL_FAILED_PREFIX}{}",
                    t.connect.error.as_deref().unwrap_or("unknown error")
                ),
                target_ids: vec![t.id.clone()],
            });
        }
    }
    warnings
}

/// Run the probe. Never fails: problems are in the report.
pub async fn run(req: ProbeRequest<'_>) -> ProbeReport {
    let started = Instant::now();
    let timeout_ms = req.timeout_ms.max(MIN_TIMEOUT_MS);
    let specs = plan_targets(&req);
    let (port, _) = gwcfg::resolve_port(req.port, req.env, req.config);
    let tailnet = crate::os::ifaddr::tailnet_ipv4().map(|ip| ip.to_string());
    let has_creds = specs.iter().any(|s| !s.credentials.is_empty());
    let identity = super::cli_identity(req.state_dir, has_creds && req.create_identity);
    let budget = Duration::from_millis(timeout_ms);
    // The read diagnostics (results in this order), then the caller's extra reads.
    let reads: Vec<(&'static str, Value)> = if req.read_diagnostics {
        let health = if req.fresh_health {
            json!({"probe": true})
        } else {
            json!({})
        };
        [
            ("health", health),
            ("status", json!({})),
            ("system-presence", json!({})),
            ("config.get", json!({})),
        ]
        .into_iter()
        .chain(req.extra_reads.iter().cloned())
        .collect()
    } else {
        Vec::new()
    };
    let targets: Vec<Target> = futures_util::future::join_all(
        specs
            .iter()
            .map(|s| probe_one(s, identity.as_ref(), req.state_dir, budget, &reads)),
    )
    .await;

    let mut warnings = req.pre_warnings;
    for s in &specs {
        for (key, why) in &s.credentials.unresolved {
            warnings.push(Warning {
                code: "auth_secretref_unresolved".into(),
                message: format!("{key} is an unresolved SecretRef in this command path: {why}"),
                target_ids: vec![s.id.to_string()],
            });
        }
    }
    let reachable: Vec<&Target> = targets.iter().filter(|t| t.connect.ok).collect();
    let primary = reachable.first().map(|t| t.id.clone());
    warnings.extend(read_warnings(&reachable, req.read_diagnostics));
    let mut identities: Vec<(String, String)> = reachable
        .iter()
        .filter_map(|t| identity_key(t).map(|k| (k, t.id.clone())))
        .collect();
    identities.sort();
    identities.dedup_by(|a, b| a.0 == b.0);
    if identities.len() > 1 {
        let urls: Vec<&str> = reachable.iter().map(|t| t.url.as_str()).collect();
        warnings.push(Warning {
            code: "multiple_gateways".into(),
            message: format!(
                "Unconventional setup: multiple reachable gateways detected ({}). Usually this means an intentional multi-gateway setup or stale/duplicate listeners; run a single gateway per machine for most setups.",
                urls.join(", ")
            ),
            target_ids: identities.into_iter().map(|(_, id)| id).collect(),
        });
    }
    if reachable.is_empty() {
        warnings.push(Warning {
            code: "no_gateway_reachable".into(),
            message: NO_GATEWAY.into(),
            target_ids: targets.iter().map(|t| t.id.clone()).collect(),
        });
    }
    let primary_target = primary
        .as_ref()
        .and_then(|id| targets.iter().find(|t| &t.id == id));
    let capability = primary_target
        .map(|t| t.auth.capability)
        .unwrap_or(Capability::Unknown);
    let ok = !reachable.is_empty();
    let degraded =
        ok && (primary_target.is_some_and(|t| !t.connect.rpc_ok) || !warnings.is_empty());
    ProbeReport {
        schema_version: SCHEMA_VERSION,
        ok,
        degraded,
        capability,
        ts: crate::util::now_ms(),
        duration_ms: started.elapsed().as_millis() as u64,
        timeout_ms,
        primary_target_id: primary,
        warnings,
        network: Network {
            local_loopback_url: ws_url("127.0.0.1", port),
            local_tailnet_url: tailnet.as_ref().map(|ip| ws_url(ip, port)),
            tailnet_ipv4: tailnet,
        },
        discovery: Discovery {
            status: "skipped".into(),
            reason: "mDNS/Bonjour discovery is not performed by this build (no multicast leaves the host)".into(),
            count: 0,
            beacons: Vec::new(),
        },
        targets,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_from_str;

    fn req<'a>(
        cfg: &'a LoadedConfig,
        env: &'a Env,
        url: Option<&str>,
        port: Option<u16>,
    ) -> ProbeRequest<'a> {
        ProbeRequest {
            url: url.map(str::to_string),
            port,
            timeout_ms: 1000,
            ..ProbeRequest::new(cfg, env, Path::new("/nonexistent"))
        }
    }

    #[test]
    fn a_scope_limited_read_warns_with_upstreams_text() {
        let env = Env::default();
        let cfg = load_from_str(Path::new("/c.json"), "{}", &env);
        let spec = &plan_targets(&req(&cfg, &env, None, Some(20000)))[0];
        let mut t = unprobed(spec, None, false);
        t.connect.ok = true;
        t.connect.scope_limited = true;
        let w = read_warnings(&[&t], true);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].code, "probe_scope_limited");
        assert_eq!(w[0].message, SCOPE_LIMITED);
        assert!(SCOPE_LIMITED.starts_with(
            "Read-probe diagnostics are limited by gateway scopes (missing operator.read)"
        ));
        t.connect.scope_limited = false;
        t.connect.error = Some("boom".into());
        let w = read_warnings(&[&t], true);
        assert_eq!(w[0].code, "probe_detail_failed");
        assert_eq!(
            w[0].message,
            "Gateway accepted the WebSocket connection, but follow-up read diagnostics failed: boom"
        );
        assert!(read_warnings(&[&t], false).is_empty());
    }

    #[test]
    fn target_order_dedupe_and_credentials() {
        let env = Env::default();
        let cfg = load_from_str(
            Path::new("/c.json"),
            r#"{"gateway": {"mode": "remote", "port": 20000, "auth": {"token": "local"},
                "remote": {"url": "ws://127.0.0.1:21000", "token": "remote"}}}"#,
            &env,
        );
        let t = plan_targets(&req(&cfg, &env, Some("ws://127.0.0.1:20000"), None));
        let ids: Vec<&str> = t.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            vec!["explicit", "configRemote"],
            "loopback equals the explicit URL"
        );
        assert!(
            t[0].credentials.is_empty(),
            "an explicit URL never uses stored credentials"
        );
        assert_eq!(t[1].credentials.token.as_ref().unwrap().expose(), "remote");
        assert!(t[1].active);
        let t = plan_targets(&req(&cfg, &env, None, Some(20001)));
        assert_eq!(t.len(), 1, "--port restricts to loopback");
        assert_eq!(t[0].url, "ws://127.0.0.1:20001");
        assert!(!t[0].active, "remote mode: loopback is inactive");
    }
}
