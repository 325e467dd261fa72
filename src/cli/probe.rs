//! `openclaw gateway probe`: text, JSON, Nagios and Prometheus renderings of one probe.

use super::args::{ProbeArgs, ProbeFormat};
use super::context::Context;
use crate::client::probe::{self, ProbeRequest};
use crate::contract::probe::{ProbeReport, Target};
use std::fmt::Write;

pub fn run(args: ProbeArgs, ctx: Context) -> i32 {
    let format = if args.json {
        ProbeFormat::Json
    } else {
        args.format.unwrap_or(ProbeFormat::Text)
    };
    if format == ProbeFormat::Text {
        ctx.warn_config();
    }
    let report = super::block_on(async {
        let mut pre_warnings = Vec::new();
        let mut extra_targets = Vec::new();
        let ssh_target = args.ssh.clone().or_else(|| {
            ctx.config
                .get_str("gateway.remote.sshTarget")
                .map(str::to_string)
        });
        let tunnel = match ssh_target.as_deref() {
            Some(target) => {
                let remote_port = ctx
                    .config
                    .get("gateway.remote.remotePort")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(crate::config::gateway::DEFAULT_PORT);
                let identity = args.ssh_identity.clone().or_else(|| {
                    ctx.config
                        .get_str("gateway.remote.sshIdentity")
                        .map(|p| ctx.env.expand_home(p))
                });
                let strict =
                    ctx.config.get_str("gateway.remote.sshHostKeyPolicy") == Some("strict");
                match crate::client::ssh::Tunnel::open(
                    target,
                    identity.as_deref(),
                    remote_port,
                    strict,
                    ctx.env.get(crate::config::env::SSH_COMMAND),
                    args.target.timeout,
                )
                .await
                {
                    Ok(t) => {
                        extra_targets.push(t.target_spec(
                            &ctx.config,
                            &ctx.env,
                            args.target.token.as_deref(),
                            args.target.password.as_deref(),
                        ));
                        Some(t)
                    }
                    Err(e) => {
                        pre_warnings.push(crate::contract::probe::Warning {
                            code: "ssh_tunnel_failed".into(),
                            message: format!("SSH tunnel failed: {e}. {}", probe::SSH_FALLBACK),
                            target_ids: vec!["sshTunnel".into()],
                        });
                        None
                    }
                }
            }
            None => None,
        };
        let report = probe::run(ProbeRequest {
            url: args.target.url.clone(),
            token: args.target.token.clone(),
            password: args.target.password.clone(),
            port: args.port,
            timeout_ms: args.target.timeout,
            extra_targets,
            pre_warnings,
            ..ProbeRequest::new(&ctx.config, &ctx.env, &ctx.paths.state_dir)
        })
        .await;
        if let Some(t) = tunnel {
            t.close().await;
        }
        report
    });
    let out = match format {
        ProbeFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        ProbeFormat::Text => text(&report),
        ProbeFormat::Nagios => nagios(&report),
        ProbeFormat::Prometheus => prometheus(&report),
    };
    println!("{out}");
    report.exit_code()
}

fn header(t: &Target) -> &'static str {
    match (t.id.as_str(), t.active) {
        ("explicit", _) => "URL (explicit)",
        ("sshTunnel", _) => "Remote over SSH",
        ("configRemote", true) => "Remote (configured)",
        ("configRemote", false) => "Remote (configured, inactive)",
        _ => "Local loopback",
    }
}

/// `Connect: ok (3ms) · RPC: ok · Capability: admin-capable`
pub fn connect_line(t: &Target) -> String {
    let c = &t.connect;
    if !c.ok {
        return format!(
            "Connect: failed - {}",
            c.error.as_deref().unwrap_or("unknown error")
        );
    }
    let latency = c
        .latency_ms
        .map(|ms| format!(" ({ms}ms)"))
        .unwrap_or_default();
    if c.failed_step.as_deref().is_some_and(|s| s != "rpc") {
        return format!(
            "Connect: refused{latency} · Capability: {} - {}",
            t.auth.capability.human(),
            c.error.as_deref().unwrap_or("unknown error")
        );
    }
    let rpc = if c.rpc_ok {
        "ok".to_string()
    } else if c.scope_limited {
        format!("limited - {}", c.error.as_deref().unwrap_or(""))
    } else {
        format!("failed - {}", c.error.as_deref().unwrap_or(""))
    };
    format!(
        "Connect: ok{latency} · RPC: {rpc} · Capability: {}",
        t.auth.capability.human()
    )
}

/// The request id a v4 gateway put in its `pairing required` close reason.
fn pairing_request_id(t: &Target) -> Option<&str> {
    let reason = &t.connect.close.as_ref()?.reason;
    let id = reason.split("(requestId: ").nth(1)?.strip_suffix(')')?;
    Some(id)
}

fn hints(t: &Target) -> Vec<String> {
    let mut out = Vec::new();
    match t.connect.error_code.as_deref() {
        Some("AUTH_TOKEN_MISMATCH" | "AUTH_PASSWORD_MISMATCH") => out.push(format!(
            "hint: the credentials from {} do not match this gateway; pass --token with that gateway's gateway.auth.token",
            t.auth.credential_source.as_deref().unwrap_or("(none)")
        )),
        Some("AUTH_TOKEN_MISSING" | "AUTH_PASSWORD_MISSING") => out.push(
            "hint: no credentials for this target; pass --token (an explicit --url never uses stored credentials)".into(),
        ),
        Some("PAIRING_REQUIRED") => out.push(match pairing_request_id(t) {
            Some(id) => format!("hint: approve this device on the gateway host: openclaw devices approve {id}"),
            None => "hint: approve this device on the gateway host: openclaw devices list, then openclaw devices approve <requestId>".into(),
        }),
        _ => {}
    }
    if t.connect.scope_limited && !t.auth.device_identity {
        out.push(
            "hint: this probe could not sign with a device identity (identity/device.json in the state dir is missing or not writable); gateways grant no scopes to unsigned probe clients".into(),
        );
    } else if t.connect.scope_limited {
        out.push("hint: this device is paired with fewer scopes than operator.read; approve its scope upgrade on the gateway host (openclaw devices list)".into());
    }
    if !t.connect.ok && t.id == "localLoopback" {
        out.push("hint: start it with `openclaw gateway`, or inspect it with `openclaw gateway status --deep`".into());
    }
    out
}

pub fn text(r: &ProbeReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Gateway Status");
    let _ = writeln!(s, "Reachable: {}", if r.ok { "yes" } else { "no" });
    let _ = writeln!(s, "Capability: {}", r.capability.human());
    let _ = writeln!(s, "Probe budget: {}ms", r.timeout_ms);
    if !r.warnings.is_empty() {
        let _ = writeln!(s, "\nWarning:");
        for w in &r.warnings {
            let _ = writeln!(s, "- {}", w.message);
        }
    }
    let _ = writeln!(s, "\nTargets");
    for t in &r.targets {
        let _ = writeln!(s, "{} {}", header(t), t.url);
        let _ = writeln!(s, "  {}", connect_line(t));
        if let Some(me) = &t.self_ {
            let _ = writeln!(
                s,
                "  Gateway: {} · {} · app {}",
                me["host"].as_str().unwrap_or("?"),
                me["platform"].as_str().unwrap_or("?"),
                me["version"].as_str().unwrap_or("?")
            );
        }
        for h in hints(t) {
            let _ = writeln!(s, "  {h}");
        }
    }
    s.trim_end().to_string()
}

fn state_word(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "WARNING",
        2 => "CRITICAL",
        _ => "UNKNOWN",
    }
}

/// One status line plus perfdata (Nagios plugin guidelines).
pub fn nagios(r: &ProbeReport) -> String {
    let code = r.exit_code();
    let summary = if let Some(e) = &r.error {
        format!("probe could not run: {e}")
    } else {
        match r.primary() {
            Some(t) => {
                let mut s = format!(
                    "{} {} - {}",
                    header(t).to_lowercase(),
                    t.url,
                    connect_line(t)
                );
                if let Some(w) = r.warnings.first() {
                    let _ = write!(s, "; {}", w.message);
                }
                s
            }
            None => format!(
                "no gateway reachable ({})",
                r.targets
                    .iter()
                    .map(|t| format!("{}: {}", t.url, t.connect.error.as_deref().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    };
    let mut perf = format!("duration={:.3}s;;;0", r.duration_ms as f64 / 1000.0);
    for t in &r.targets {
        if let Some(ms) = t.connect.latency_ms {
            let _ = write!(perf, " latency_{}={:.3}s;;;0", t.id, ms as f64 / 1000.0);
        }
    }
    let _ = write!(
        perf,
        " reachable_targets={};;;0",
        r.targets.iter().filter(|t| t.connect.ok).count()
    );
    format!(
        "OPENCLAW {} - {} | {}",
        state_word(code),
        summary.replace('|', "/"),
        perf
    )
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition.
/// One gauge: its HELP and TYPE lines, then `name{labels} value` per sample.
fn gauge(
    s: &mut String,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let _ = writeln!(s, "# HELP {name} {help}");
    let _ = writeln!(s, "# TYPE {name} gauge");
    for (labels, value) in samples {
        let labels = if labels.is_empty() {
            labels
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(s, "{name}{labels} {value}");
    }
}

pub fn prometheus(r: &ProbeReport) -> String {
    let mut s = String::new();
    let primary = r.primary();
    let secs = |ms: u64| format!("{:.6}", ms as f64 / 1000.0);
    let one = |v: String| [(String::new(), v)];
    gauge(
        &mut s,
        "openclaw_probe_success",
        "1 when a gateway answered and its read diagnostics succeeded.",
        [(
            format!("reason=\"{}\"", r.failure_reason()),
            u8::from(r.exit_code() == 0).to_string(),
        )],
    );
    gauge(
        &mut s,
        "openclaw_probe_reachable",
        "1 when at least one target accepted the connection.",
        one(u8::from(r.ok).to_string()),
    );
    gauge(
        &mut s,
        "openclaw_probe_duration_seconds",
        "Wall time of the whole probe.",
        one(secs(r.duration_ms)),
    );
    gauge(
        &mut s,
        "openclaw_probe_warnings",
        "Number of probe warnings.",
        one(r.warnings.len().to_string()),
    );
    gauge(
        &mut s,
        "openclaw_probe_target_up",
        "1 when the target accepted the connection.",
        r.targets.iter().map(|t| {
            (
                format!(
                    "target=\"{}\",url=\"{}\",primary=\"{}\"",
                    t.id,
                    label(&t.url),
                    primary.is_some_and(|p| p.id == t.id)
                ),
                u8::from(t.connect.ok).to_string(),
            )
        }),
    );
    gauge(
        &mut s,
        "openclaw_probe_target_rpc_ok",
        "1 when every read diagnostic succeeded.",
        r.targets.iter().map(|t| {
            (
                format!("target=\"{}\"", t.id),
                u8::from(t.connect.rpc_ok).to_string(),
            )
        }),
    );
    gauge(
        &mut s,
        "openclaw_probe_target_connect_latency_seconds",
        "Time to hello-ok (or to the refusal).",
        r.targets.iter().filter_map(|t| {
            let ms = t.connect.latency_ms?;
            Some((format!("target=\"{}\"", t.id), secs(ms)))
        }),
    );
    s.trim_end().to_string()
}
