//! The gateway's service unit (systemd on Linux): installed or not, what it runs and with
//! which config, whether it drifted from what this binary writes, its runtime state through
//! the manager (D-Bus or `systemctl`), lingering, and other gateway-like units (system
//! directories too with `doctor --deep`). A fact that cannot be established
//! (no manager, no unit) is marked unavailable with the reason, never guessed.

use super::{ProbeContext, ProbeOutput};
use crate::service::inspect::{self, inspect};
use crate::service::supervisor::{Platform, Target};
use crate::service::ServiceSpec;
use serde_json::{json, Value};

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let env = &ctx.env;
    let ins = match inspect(env) {
        Ok(i) => i,
        Err(why) => return ProbeOutput::skipped(why),
    };
    let systemd = ins.platform == Platform::Systemd;
    let mut out = ProbeOutput::ok(vec![("service.installed", json!(ins.installed()))]);
    let mut unavailable = |k: &'static str, why: &str| out.unavailable.push((k, why.to_string()));
    let found = inspect::extra_services(env, ctx.deep);
    let as_json = |s: &inspect::ExtraService| {
        json!({
            "unit": s.label, "scope": s.scope, "path": s.path, "detail": s.detail,
            "marker": s.marker, "legacy": s.legacy, "hints": s.hints(),
        })
    };
    let extra: Vec<Value> = found.iter().map(as_json).collect();
    // The legacy fix sets systemd user units aside; elsewhere they are reported only.
    let removable =
        |s: &&inspect::ExtraService| s.legacy && s.scope == "user" && s.platform == "linux";
    out.facts.push((
        "service.legacy_units",
        json!(found
            .iter()
            .filter(removable)
            .map(as_json)
            .collect::<Vec<_>>()),
    ));
    out.facts
        .push(("service.dueling", json!(ins.dueling.is_some())));
    out.facts.push((
        "service.other_units",
        json!(found
            .iter()
            .filter(|s| !removable(s))
            .map(as_json)
            .collect::<Vec<_>>()),
    ));

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
            let target = Target::new(env, ins.platform, system, &ctx.paths.state_dir);
            match target.render(&spec) {
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

    if let Some(via) = ins.via {
        facts.push(("service.manager", json!(via)));
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
            match s.exit_code() {
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
    if !systemd {
        unavailable(
            "service.linger_disabled",
            &format!("lingering is systemd's ({} here)", ins.platform.name()),
        );
    } else if system {
        unavailable(
            "service.linger_disabled",
            "system units do not need lingering",
        );
    } else {
        let user = inspect::linger_user(env);
        match inspect::linger(env, &user) {
            Ok(on) => facts.push(("service.linger_disabled", json!(!on))),
            Err(why) => unavailable("service.linger_disabled", &why),
        }
    }
    out.facts.extend(facts);
    out
}
