//! The live gateway, through the same probe engine as `gateway probe`.

use super::{ProbeContext, ProbeOutput};
use crate::client::probe::{self, ProbeRequest};
use crate::contract::probe::Capability;
use serde_json::json;

pub async fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let remote = ctx.config.get_str("gateway.mode") == Some("remote");
    let report = probe::run(ProbeRequest {
        url: ctx.url.clone(),
        token: ctx.token.clone(),
        password: ctx.password.clone(),
        port: (ctx.url.is_none() && !remote).then_some(ctx.port),
        timeout_ms: ctx.timeout.as_millis() as u64,
        // On the probe's own connection: the gateway's log tail and its last heartbeat.
        extra_reads: vec![
            ("logs.tail", json!({"limit": 2000, "maxBytes": 1_000_000})),
            ("last-heartbeat", json!({})),
        ],
        // Read-only: never create the CLI's identity (`doctor` writes nothing without --fix).
        create_identity: false,
        ..ProbeRequest::new(&ctx.config, &ctx.env, &ctx.paths.state_dir)
    })
    .await;
    let wanted = if ctx.url.is_some() {
        "explicit"
    } else if remote {
        "configRemote"
    } else {
        "localLoopback"
    };
    let Some(t) = report
        .targets
        .iter()
        .find(|t| t.id == wanted)
        .or_else(|| report.targets.first())
    else {
        return ProbeOutput::skipped("no gateway target to probe");
    };
    let c = &t.connect;
    let warnings: Vec<&str> = report.warnings.iter().map(|w| w.code.as_str()).collect();
    // Read only when the diagnostics succeeded (read access).
    let (tail, heartbeat) = match (c.rpc_ok, t.extra_reads.as_slice()) {
        (true, [tail, heartbeat]) => (tail.as_ref(), heartbeat.clone().unwrap_or_default()),
        _ => (None, serde_json::Value::Null),
    };
    let lines = tail
        .and_then(|tail| tail["lines"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
        .map(crate::logging::record::parse_line)
        .filter(|p| super::logs::recent(p, ctx.log_window_secs))
        .map(|p| crate::doctor::facts::LogLine::own(p.message, p.time, "logs.tail".into()))
        .collect();
    let mut out = ProbeOutput::ok(vec![
        ("gateway.last_heartbeat_status", heartbeat["status"].clone()),
        ("gateway.last_heartbeat_reason", heartbeat["reason"].clone()),
        ("gateway.url", json!(t.url)),
        ("gateway.reachable", json!(c.ok)),
        ("gateway.rpc_ok", json!(c.rpc_ok)),
        ("gateway.error", json!(c.error)),
        ("gateway.error_code", json!(c.error_code)),
        ("gateway.failed_step", json!(c.failed_step)),
        (
            "gateway.close_code",
            json!(c.close.as_ref().map(|x| x.code)),
        ),
        (
            "gateway.close_reason",
            json!(c.close.as_ref().map(|x| x.reason.clone())),
        ),
        ("gateway.capability", json!(t.auth.capability)),
        ("gateway.scope_limited", json!(c.scope_limited)),
        (
            "gateway.pairing_required",
            json!(t.auth.capability == Capability::PairingPending),
        ),
        ("gateway.version", json!(t.server.version)),
        ("gateway.warnings", json!(warnings)),
        (
            "gateway.multiple_gateways",
            json!(warnings.contains(&"multiple_gateways")),
        ),
        (
            "gateway.explicit_url_without_credentials",
            json!(
                t.id == "explicit"
                    && t.auth.credential_source.is_none()
                    && c.error_code
                        .as_deref()
                        .is_some_and(|e| e.ends_with("_MISSING"))
            ),
        ),
    ]);
    out.lines = lines;
    out
}
