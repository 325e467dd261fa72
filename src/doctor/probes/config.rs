//! Config and environment facts.

use super::{ProbeContext, ProbeOutput};
use crate::config::gateway::{self as gwcfg, AuthMode, BindMode};
use crate::config::load::IssueKind;
use crate::config::schema::BIND_ALIASES;
use crate::config::secret::{PLACEHOLDER_PASSWORD, PLACEHOLDER_TOKEN};
use crate::config::{env, version};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

fn siblings(path: &std::path::Path, marker: &str) -> Vec<String> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{name}.{marker}.");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let cfg = &ctx.config;
    let mut f: Vec<(&'static str, Value)> = vec![
        ("config.path", json!(cfg.path.display().to_string())),
        ("config.exists", json!(cfg.exists)),
        ("config.valid", json!(cfg.is_valid())),
        (
            "config.errors",
            json!(cfg
                .errors()
                .map(|i| i.render(&cfg.path))
                .collect::<Vec<_>>()),
        ),
        (
            "config.clobbered_files",
            json!(siblings(&cfg.path, "clobbered")),
        ),
        (
            "config.rejected_files",
            json!(siblings(&cfg.path, "rejected")),
        ),
        (
            "config.last_good",
            json!(Some(crate::config::lkg::last_good_path(&cfg.path))
                .filter(|p| p.exists())
                .map(|p| p.display().to_string())),
        ),
        (
            "config.suspicious",
            json!(match (
                crate::config::lkg::baseline(&cfg.path, &ctx.paths.state_dir, &ctx.env),
                crate::config::lkg::Fingerprint::of_loaded(cfg),
            ) {
                (Some(base), Some(now)) => crate::config::lkg::suspicious(&base, &now),
                _ => Vec::new(),
            }),
        ),
    ];
    if !cfg.exists {
        return ProbeOutput::ok(f);
    }
    let mode = cfg.get_str("gateway.mode");
    f.push(("config.gateway_mode", json!(mode)));
    f.push(("config.mode_remote", json!(mode == Some("remote"))));
    f.push((
        "config.remote_url",
        json!(cfg.get_str("gateway.remote.url")),
    ));
    let bind = cfg.get_str("gateway.bind");
    f.push(("config.bind", json!(bind)));
    f.push((
        "config.bind_alias",
        json!(bind.is_some_and(|b| BIND_ALIASES.iter().any(|(a, _)| *a == b))),
    ));
    f.push((
        "config.legacy_gateway_token",
        json!(cfg
            .issues
            .iter()
            .any(|i| i.kind == IssueKind::Legacy && i.path == "gateway.token")),
    ));
    if let Some(v) = cfg.last_touched_version() {
        f.push(("config.last_touched_version", json!(v)));
        f.push((
            "config.newer_than_binary",
            json!(version::is_newer_than_current(v)),
        ));
    } else {
        f.push(("config.newer_than_binary", json!(false)));
    }
    let mut unresolved = Vec::new();
    let mut auth_error = None;
    let auth = gwcfg::resolve_auth(cfg, &ctx.env, None, None, None);
    let auth_resolved = auth.is_ok();
    match auth {
        Ok(auth) => {
            f.push(("config.auth_mode", json!(auth.mode.as_str())));
            f.push((
                "config.token_mode_without_token",
                json!(auth.mode == AuthMode::Token && auth.token.is_none()),
            ));
            let placeholder = auth
                .token
                .as_ref()
                .is_some_and(|(t, _)| t.expose() == PLACEHOLDER_TOKEN)
                || auth
                    .password
                    .as_ref()
                    .is_some_and(|(p, _)| p.expose() == PLACEHOLDER_PASSWORD);
            f.push(("config.placeholder_secret", json!(placeholder)));
            let has_secret = match auth.mode {
                AuthMode::None => false,
                AuthMode::Token => auth.token.is_some(),
                AuthMode::Password => auth.password.is_some(),
                AuthMode::TrustedProxy => true,
            };
            let bind_mode = bind.and_then(BindMode::parse).unwrap_or(BindMode::Loopback);
            let tailnet = crate::os::ifaddr::tailnet_ipv4().map(|i| i.to_string());
            let host = gwcfg::bind_host(
                bind_mode,
                cfg.get_str("gateway.customBindHost"),
                tailnet.as_deref(),
            );
            f.push((
                "config.non_loopback_bind_without_auth",
                json!(!gwcfg::is_loopback_host(&host) && !has_secret),
            ));
        }
        Err(e) => auth_error = Some(e),
    }
    for key in [
        "gateway.auth.token",
        "gateway.auth.password",
        "gateway.remote.token",
        "gateway.remote.password",
    ] {
        // What resolve_auth resolved is not resolved again (an exec provider would run twice).
        if auth_resolved && key.starts_with("gateway.auth.") {
            continue;
        }
        if let Some(v) = cfg.get(key) {
            if let Err(why) = crate::config::secrets::resolve_input(cfg, v, &ctx.env) {
                unresolved.push(format!("{key}: {why}"));
            }
        }
    }
    // resolve_auth's error repeats a keyed one unless it is about something else.
    if let Some(e) =
        auth_error.filter(|e| !unresolved.iter().any(|u: &String| u.ends_with(e.as_str())))
    {
        unresolved.push(e);
    }
    f.push(("config.unresolved_secret_refs", json!(unresolved)));
    if let Ok(m) = std::fs::metadata(&cfg.path) {
        f.push((
            "config.file_mode_too_open",
            json!(m.permissions().mode() & 0o077 != 0),
        ));
    }
    ProbeOutput::ok(f)
}

pub fn probe_env(ctx: &ProbeContext) -> ProbeOutput {
    let mut legacy: Vec<&str> = ctx
        .env
        .keys()
        .filter(|k| k.starts_with("CLAWDBOT_") || k.starts_with("MOLTBOT_"))
        .collect();
    legacy.sort_unstable();
    let env_token = ctx.env.get(env::GATEWAY_TOKEN);
    let cfg_token = ctx.config.get_str("gateway.auth.token");
    let resolution: serde_json::Map<String, Value> = [
        env::STATE_DIR,
        env::CONFIG_PATH,
        env::HOME,
        env::PROFILE,
        env::GATEWAY_PORT,
        env::GATEWAY_URL,
        env::LOG_DIR,
        env::ALLOW_MULTI_GATEWAY,
        env::ALLOW_OLDER_BINARY,
    ]
    .iter()
    .filter_map(|k| ctx.env.get(k).map(|v| (k.to_string(), json!(v))))
    .chain(
        [env::GATEWAY_TOKEN, env::GATEWAY_PASSWORD]
            .iter()
            .filter(|k| ctx.env.get(k).is_some())
            .map(|k| (k.to_string(), json!("(set)"))),
    )
    .collect();
    ProbeOutput::ok(vec![
        ("env.resolution", Value::Object(resolution)),
        ("env.legacy_vars", json!(legacy)),
        (
            "env.token_overrides_differ",
            json!(matches!((env_token, cfg_token), (Some(e), Some(c)) if e != c)),
        ),
        (
            "env.url_override",
            json!(ctx.env.get(env::GATEWAY_URL).is_some()),
        ),
    ])
}
