//! `openclaw status`: the first command of the runbook's ladder — is the gateway reachable,
//! with what auth, which config, which agents; `--deep` adds a fresh health summary.

use super::args::StatusArgs;
use super::context::Context;
use crate::client::probe::{self, ProbeRequest};
use crate::config::gateway as gwcfg;
use crate::config::paths;
use crate::contract::exit::probe as code;
use crate::contract::SCHEMA_VERSION;
use crate::logging::file::LogSettings;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::{json, Value};

pub fn gather(args: &StatusArgs, ctx: &Context) -> (Value, i32) {
    let cfg = &ctx.config;
    let remote = cfg.get_str("gateway.mode") == Some("remote");
    let (port, _) = gwcfg::resolve_port(None, &ctx.env, cfg);
    let report = super::block_on(probe::run(ProbeRequest {
        url: args.target.url.clone(),
        token: args.target.token.clone(),
        password: args.target.password.clone(),
        // Local mode: only the loopback gateway matters here.
        port: (args.target.url.is_none() && !remote).then_some(port),
        timeout_ms: args.target.timeout,
        fresh_health: args.deep,
        ..ProbeRequest::new(cfg, &ctx.env, &ctx.paths.state_dir)
    }));
    let (wanted, url_source) = match (&args.target.url, remote) {
        (Some(_), _) => ("explicit", "--url"),
        (None, true) => ("configRemote", "gateway.remote.url"),
        (None, false) => ("localLoopback", "local loopback"),
    };
    let t = report
        .targets
        .iter()
        .find(|t| t.id == wanted)
        .or_else(|| report.targets.iter().find(|t| t.id == "localLoopback"))
        .cloned();
    let url = t
        .as_ref()
        .map(|t| t.url.clone())
        .unwrap_or_else(|| format!("ws://127.0.0.1:{port}"));
    let url_source = if t.as_ref().is_some_and(|t| t.id == wanted) {
        url_source
    } else {
        "local loopback"
    };
    let health = if args.deep {
        t.as_ref()
            .and_then(|t| t.health.clone())
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let reachable = t.as_ref().is_some_and(|t| t.connect.ok);
    let rpc_ok = t.as_ref().is_some_and(|t| t.connect.rpc_ok);
    let log_file =
        LogSettings::from_config(cfg, &ctx.env, ctx.paths.profile.as_deref()).current_file();
    let agents = t
        .as_ref()
        .and_then(|t| t.health.as_ref())
        .map(|h| h["agents"].clone())
        .unwrap_or(Value::Null);
    let doc = json!({
        "schema_version": SCHEMA_VERSION,
        "gateway": {
            "mode": cfg.get_str("gateway.mode"),
            "url": url,
            "urlSource": url_source,
            "misconfigured": !cfg.is_valid() || cfg.get_str("gateway.mode").is_none(),
            "reachable": reachable,
            "rpcOk": rpc_ok,
            "connectLatencyMs": t.as_ref().and_then(|t| t.connect.latency_ms),
            "capability": t.as_ref().map(|t| t.auth.capability),
            "authMode": t.as_ref().and_then(|t| t.summary.as_ref()).and_then(|s| s["gateway"]["authMode"].as_str().map(str::to_string)),
            "credentialSource": t.as_ref().and_then(|t| t.auth.credential_source.clone()),
            "version": t.as_ref().and_then(|t| t.server.version.clone()),
            "self": t.as_ref().and_then(|t| t.self_.clone()),
            "error": t.as_ref().and_then(|t| t.connect.error.clone()),
            "errorCode": t.as_ref().and_then(|t| t.connect.error_code.clone()),
        },
        "gatewayService": service_summary(&ctx.env),
        "config": {
            "path": cfg.path.display().to_string(),
            "exists": cfg.exists,
            "valid": cfg.is_valid(),
            "issues": cfg.issues.iter().map(|i| i.render(&cfg.path)).collect::<Vec<_>>(),
        },
        "stateDir": ctx.paths.state_dir.display().to_string(),
        "logFile": log_file.display().to_string(),
        "os": {"platform": std::env::consts::OS, "arch": std::env::consts::ARCH},
        "cli": {"version": crate::config::version::CURRENT},
        "agents": agents,
        "health": health,
        "channels": channels_summary(cfg),
        "sessions": sessions_summary(&agents),
        "securityAudit": {
            "status": "not-available",
            "reason": "this build has no `openclaw security audit` yet; `openclaw doctor` checks auth, bind exposure and file permissions",
        },
    });
    let exit = if !reachable {
        code::UNREACHABLE
    } else if !rpc_ok {
        code::DEGRADED
    } else {
        code::HEALTHY
    };
    (doc, exit)
}

pub fn run(args: StatusArgs, ctx: Context) -> i32 {
    let (doc, exit) = gather(&args, &ctx);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return exit;
    }
    ctx.warn_config();
    let g = &doc["gateway"];
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let show = |p: &str| paths::display(std::path::Path::new(p), &ctx.env);
    let gateway_cell = if g["reachable"] == true && g["rpcOk"] == true {
        format!(
            "{} · {} ({}) · reachable ~{}ms · auth {} · {}",
            g["mode"].as_str().unwrap_or("unset"),
            s(&g["url"]),
            s(&g["urlSource"]),
            g["connectLatencyMs"],
            g["authMode"].as_str().unwrap_or("?"),
            g["version"]
                .as_str()
                .map(|v| format!("app {v}"))
                .unwrap_or_default()
        )
    } else if g["reachable"] == true {
        format!(
            "{} · {} ({}) · reachable, not usable ({})",
            g["mode"].as_str().unwrap_or("unset"),
            s(&g["url"]),
            s(&g["urlSource"]),
            s(&g["error"])
        )
    } else {
        format!(
            "{} · {} ({}) · unreachable ({})",
            g["mode"].as_str().unwrap_or("unset"),
            s(&g["url"]),
            s(&g["urlSource"]),
            s(&g["error"])
        )
    };
    let c = &doc["config"];
    let config_cell = format!(
        "{} ({})",
        show(&s(&c["path"])),
        if c["exists"] == false {
            "missing"
        } else if c["valid"] == true {
            "valid"
        } else {
            "invalid"
        }
    );
    let agents_cell = match doc["agents"].as_array() {
        Some(a) => a
            .iter()
            .map(|a| {
                let hb = &a["heartbeat"];
                format!(
                    "{}{} · heartbeat {}",
                    s(&a["agentId"]),
                    if a["isDefault"] == true {
                        " (default)"
                    } else {
                        ""
                    },
                    if hb["enabled"] == true {
                        s(&hb["every"])
                    } else {
                        "disabled".into()
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => "unknown (gateway not readable)".into(),
    };
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = terminal_width() {
        table.set_width(w);
    }
    table.add_row(vec!["Gateway".to_string(), gateway_cell]);
    table.add_row(vec![
        "Gateway service".to_string(),
        s(&doc["gatewayService"]["text"]),
    ]);
    table.add_row(vec!["Config".to_string(), config_cell]);
    table.add_row(vec!["State dir".to_string(), show(&s(&doc["stateDir"]))]);
    table.add_row(vec!["Log file".to_string(), show(&s(&doc["logFile"]))]);
    table.add_row(vec!["Agents".to_string(), agents_cell]);
    if let Some(h) = doc["health"].as_object() {
        let channels = h
            .get("channelOrder")
            .and_then(Value::as_array)
            .map(|a| a.len())
            .unwrap_or(0);
        table.add_row(vec![
            "Health".to_string(),
            format!(
                "ok={} · channels {channels}",
                h.get("ok").cloned().unwrap_or(Value::Null)
            ),
        ]);
    }
    println!("OpenClaw status");
    println!();
    println!("Overview");
    println!("{table}");
    match exit {
        code::UNREACHABLE => println!("hint: start the gateway with `openclaw gateway`, or inspect it with `openclaw gateway status`"),
        code::DEGRADED => println!("hint: `openclaw gateway probe` shows why the gateway refused this CLI"),
        _ => {}
    }
    println!();
    println!("Security audit");
    println!(
        "Not available in this build (no `openclaw security audit` yet). `openclaw doctor` checks auth, bind exposure and file permissions."
    );
    println!();
    println!("Channels");
    match doc["channels"].as_array().filter(|a| !a.is_empty()) {
        None => println!("No channels configured"),
        Some(list) => {
            for c in list {
                println!(
                    "{} · {}{} · not served: this build's gateway does not run channels yet",
                    s(&c["id"]),
                    if c["enabled"] == false {
                        "disabled"
                    } else {
                        "enabled"
                    },
                    c["accounts"]
                        .as_u64()
                        .map(|n| format!(" · {n} account(s)"))
                        .unwrap_or_default()
                );
            }
        }
    }
    println!();
    println!("Sessions");
    let sessions = &doc["sessions"];
    match sessions["count"].as_u64() {
        None => println!("unknown ({})", s(&sessions["reason"])),
        Some(0) => println!("No sessions"),
        Some(n) => println!("{n} stored"),
    }
    println!();
    println!("FAQ: https://docs.openclaw.ai/faq");
    println!("Troubleshooting: https://docs.openclaw.ai/troubleshooting");
    println!("Next steps:");
    println!("  Need to share?      openclaw doctor --bundle openclaw-support.tar.gz");
    println!("  Need to debug live? openclaw logs --follow");
    if exit != code::HEALTHY {
        println!("  Fix reachability first: openclaw gateway probe");
    }
    exit
}

/// Channels as the config declares them (`channels.<id>`); this build's gateway does not
/// run them yet, and says so rather than inventing a state.
fn channels_summary(cfg: &crate::config::LoadedConfig) -> Value {
    let Some(map) = cfg.get("channels").and_then(Value::as_object) else {
        return json!([]);
    };
    map.iter()
        .filter(|(_, v)| v.is_object())
        .map(|(id, v)| {
            json!({
                "id": id,
                "enabled": v.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                "accounts": v.get("accounts").and_then(Value::as_object).map(|a| a.len()),
                "served": false,
            })
        })
        .collect()
}

/// Stored sessions, from the gateway's health (per agent); unknown when it was not read.
fn sessions_summary(agents: &Value) -> Value {
    let Some(list) = agents.as_array() else {
        return json!({"count": null, "reason": "gateway not readable"});
    };
    let per_agent: Vec<Value> = list
        .iter()
        .map(|a| json!({"agentId": a["agentId"], "count": a["sessions"]["count"], "path": a["sessions"]["path"]}))
        .collect();
    let count: u64 = list
        .iter()
        .filter_map(|a| a["sessions"]["count"].as_u64())
        .sum();
    json!({"count": count, "agents": per_agent})
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

/// One line about the gateway service: `systemd user · running (pid …)`, `not installed`, or
/// why it could not be inspected.
fn service_summary(env: &crate::config::Env) -> Value {
    let ins = match crate::service::inspect::inspect(env) {
        Ok(i) => i,
        Err(detail) => {
            return json!({"status": "unknown", "detail": detail, "text": format!("unknown ({detail})")})
        }
    };
    let scope = if ins.system { "system" } else { "user" };
    let label = ins.platform.name();
    match &ins.runtime {
        None => json!({"status": "not-installed", "unit": ins.unit,
                       "text": format!("not installed (openclaw gateway install sets up {})", ins.unit)}),
        Some(Err(why)) => json!({"status": "unknown", "unit": ins.unit, "detail": why,
                                 "text": format!("{label} {scope} · {} · unknown ({why})", ins.unit)}),
        Some(Ok(u)) => {
            let line = crate::service::systemctl::runtime_line(u);
            json!({"status": if u.running() { "running" } else { "stopped" }, "unit": ins.unit,
                   "text": format!("{label} {scope} · {} · {line}", ins.unit)})
        }
    }
}
