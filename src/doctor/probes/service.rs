//! The gateway's service unit (systemd on Linux): installed or not, what it runs and with
//! which config, whether it drifted from what this binary writes, its runtime state through
//! `systemctl`, lingering, and other gateway-like units. A fact that cannot be established
//! (no manager, no unit) is marked unavailable with the reason, never guessed.

use super::{ProbeContext, ProbeOutput};
use crate::service::inspect::inspect;
use crate::service::systemctl;
use crate::service::{systemd, ServiceSpec};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Files in the unit dirs that look like gateway services but are not this profile's unit.
fn extra_units(dirs: &[PathBuf], ours: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path == ours || !name.ends_with(".service") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let gatewayish = text.lines().any(|l| {
                let l = l.to_lowercase();
                (l.contains("openclaw") || l.contains("clawdbot")) && l.contains("gateway")
            });
            if !gatewayish {
                continue;
            }
            // Another profile's gateway unit written by OpenClaw is "ours", not extra.
            let marked = text.contains("OPENCLAW_SERVICE_MARKER=openclaw")
                && text.contains("OPENCLAW_SERVICE_KIND=gateway");
            if marked || name.starts_with("openclaw-gateway") {
                continue;
            }
            let user = dir.starts_with(Path::new("/etc"))
                || dir.starts_with(Path::new("/usr"))
                || dir.starts_with(Path::new("/lib"));
            out.push(json!({
                "path": path.display().to_string(),
                "unit": name,
                "hint": format!(
                    "systemctl {}disable --now {name} && rm {}",
                    if user { "" } else { "--user " },
                    path.display()
                ),
            }));
        }
    }
    out
}

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    if !cfg!(target_os = "linux") {
        return ProbeOutput::skipped(format!(
            "service inspection on {} is not implemented by this build",
            std::env::consts::OS
        ));
    }
    let env = &ctx.env;
    let ins = inspect(env);
    let mut out = ProbeOutput::ok(vec![("service.installed", json!(ins.installed()))]);
    let mut unavailable = |k: &'static str, why: &str| out.unavailable.push((k, why.to_string()));
    let extra = extra_units(
        &[systemctl::unit_dir(env, false)],
        ins.path.as_deref().unwrap_or(Path::new("")),
    );

    let (Some(path), Some(service_config)) = (&ins.path, &ins.config_path) else {
        let why = format!(
            "no gateway service is installed ({} does not exist)",
            ins.user_path.display()
        );
        for k in [
            "service.runtime",
            "service.exit_code",
            "service.config_path",
            "service.config_path_differs",
            "service.metadata_drift",
            "service.linger_disabled",
        ] {
            unavailable(k, &why);
        }
        out.facts.push(("service.extra_units", json!(extra)));
        return out;
    };
    let (text, system) = (&ins.text, ins.system);
    let mut facts = vec![
        ("service.unit_path", json!(path.display().to_string())),
        ("service.extra_units", json!(extra)),
        (
            "service.config_path",
            json!(service_config.display().to_string()),
        ),
        (
            "service.config_path_differs",
            json!(*service_config != ctx.paths.config_path),
        ),
    ];

    // What this binary would write now.
    match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(bin) => {
            let mut spec = ServiceSpec::gateway(env, &bin, ctx.port, ctx.paths.state_dir.clone());
            if system {
                spec.system_user = text
                    .lines()
                    .find_map(|l| l.strip_prefix("User="))
                    .map(String::from);
            }
            match systemd::render(&spec) {
                Ok(expected) => {
                    let drift = expected
                        .lines()
                        .zip(text.lines())
                        .find(|(a, b)| a != b)
                        .map(|(new, old)| format!("installed `{old}`, this binary writes `{new}`"))
                        .or_else(|| {
                            (expected.lines().count() != text.lines().count()).then(|| {
                                "the unit has other lines than this binary writes".to_string()
                            })
                        });
                    facts.push(("service.metadata_drift", json!(drift.is_some())));
                    if let Some(d) = drift {
                        facts.push(("service.drift", json!(d)));
                    }
                }
                Err(e) => unavailable("service.metadata_drift", &e.to_string()),
            }
        }
        Err(e) => unavailable(
            "service.metadata_drift",
            &format!("cannot locate this binary: {e}"),
        ),
    }

    // Runtime, through the manager.
    match ins
        .runtime
        .clone()
        .unwrap_or_else(|| Err("not inspected".into()))
    {
        Ok(s) => {
            let runtime = if s.missing() {
                "not-loaded"
            } else if s.running() {
                "running"
            } else {
                "stopped"
            };
            facts.push(("service.runtime", json!(runtime)));
            match s.exec_main_status {
                Some(code) if !s.running() => facts.push(("service.exit_code", json!(code))),
                _ => unavailable("service.exit_code", "the service is running (no last exit)"),
            }
        }
        Err(why) => {
            unavailable("service.runtime", &why);
            unavailable("service.exit_code", &why);
        }
    }

    // A user unit only runs without a login session when lingering is on.
    if system {
        unavailable(
            "service.linger_disabled",
            "system units do not need lingering",
        );
    } else {
        let uid = crate::os::proc::current_uid();
        match std::process::Command::new("loginctl")
            .args(["show-user", &uid.to_string(), "--property", "Linger"])
            .output()
        {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                facts.push(("service.linger_disabled", json!(text.trim() == "Linger=no")));
            }
            Ok(o) => unavailable(
                "service.linger_disabled",
                &format!(
                    "loginctl show-user {uid}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            ),
            Err(e) => unavailable("service.linger_disabled", &format!("loginctl: {e}")),
        }
    }
    out.facts.extend(facts);
    out
}
