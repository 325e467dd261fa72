//! `openclaw gateway status`: the installed service (unit, command, environment, the config
//! it resolves, runtime through the manager), local facts (config, log file, port listeners,
//! last error) and a connectivity probe, for people or as JSON. Nothing here is guessed: what
//! could not be inspected says so.

use super::args::GatewayStatusArgs;
use super::context::Context;
use crate::client::probe::{self, ProbeRequest};
use crate::config::gateway::{self as gwcfg, BindMode};
use crate::config::paths;
use crate::contract::probe::Target;
use crate::contract::{exit, SCHEMA_VERSION};
use crate::inspect::last_error;
use crate::logging::file::LogSettings;
use crate::os::proc;
use serde_json::{json, Value};

pub const WARM_UP: &str = "Warm-up: launch agents can take a few seconds. Try again shortly.";
pub const WARM_UP_NOT: &str = "Gateway process is running and owns the gateway port, so this is not a warm-up delay. Check the probe credentials/config, or restart the gateway and inspect its logs if it stays unresponsive.";
pub const RECOMMENDATION: &str = "Recommendation: run a single gateway per machine for most setups. One gateway supports multiple agents (see docs: /gateway#multiple-gateways-same-host).";
pub const RECOMMENDATION_MULTI: &str = "If you need multiple gateways (e.g., a rescue bot on the same host), isolate ports + config/state (see docs: /gateway#multiple-gateways-same-host).";
pub const TROUBLESHOOTING_URL: &str = "https://docs.openclaw.ai/troubleshooting";
pub const ROOT_CAUSE_CONFIG: &str = "Root cause: CLI and service are using different config paths (likely a profile/state-dir mismatch).";
pub const FIX_CONFIG: &str = "Fix: rerun `openclaw gateway install --force` from the same --profile / OPENCLAW_STATE_DIR you expect.";

/// The `service` part of the document (upstream's DaemonStatus shape, plus `installed`).
/// `service.runtime.inspectionFailure`: upstream's record of a runtime that could not be read.
fn inspection_failure(detail: &str) -> Value {
    json!({"code": "service-runtime-inspection-failed", "detail": detail})
}

/// The config a service would run with: `{path, exists, valid}`.
fn config_summary(path: &std::path::Path, env: &crate::config::Env) -> Value {
    let loaded = crate::config::load(path, env);
    json!({"path": path.display().to_string(), "exists": loaded.exists, "valid": loaded.exists && loaded.is_valid()})
}

/// The service block, the service's config and whether it differs from the CLI's.
/// `targetRole` is upstream's: `target` when the service manager answered and no `--url`
/// redirects the probe (the service is what the probe reads), else `diagnostic-only`.
fn service_doc(ctx: &Context, url_override: bool) -> (Value, Value, Value) {
    let ins = match crate::service::inspect::inspect(&ctx.env) {
        Ok(i) => i,
        Err(detail) => {
            return (
                json!({"label": Value::Null, "inspected": false, "targetRole": "diagnostic-only",
                       "runtime": {"status": "unknown", "detail": detail, "inspectionFailure": inspection_failure(&detail)}}),
                config_summary(&ctx.paths.config_path, &ctx.env),
                json!(false),
            )
        }
    };
    let runtime = match &ins.runtime {
        None => json!({"status": "unknown", "detail": "no gateway service installed"}),
        Some(Err(why)) => {
            json!({"status": "unknown", "detail": why, "inspectionFailure": inspection_failure(why)})
        }
        Some(Ok(u)) => json!({
            "status": if u.missing() { "unknown" } else if u.running() { "running" } else { "stopped" },
            "state": u.active_state, "subState": u.sub_state, "pid": u.main_pid,
            "lastExitStatus": u.exec_main_status, "lastExitReason": u.exec_main_code,
            "missingUnit": u.missing(),
            "line": crate::service::systemctl::runtime_line(u),
        }),
    };
    let manager_answered = !matches!(&ins.runtime, Some(Err(_)));
    let loaded = matches!(&ins.runtime, Some(Ok(u)) if !u.missing());
    let enabled = matches!(&ins.runtime, Some(Ok(u)) if u.unit_file_state == "enabled");
    let service = json!({
        "label": ins.platform.name(),
        "scope": if ins.system { "system" } else { "user" },
        "unit": ins.unit,
        "inspected": true,
        "installed": ins.installed(),
        "loaded": loaded,
        "loadedText": if enabled { "enabled" } else { "loaded" },
        "notLoadedText": if ins.installed() { "not loaded" } else { "not installed" },
        "targetRole": if manager_answered && !url_override { "target" } else { "diagnostic-only" },
        "command": ins.path.as_ref().map(|p| json!({
            "programArguments": ins.command,
            "workingDirectory": ins.working_dir,
            "environment": ins.shown_environment().into_iter().map(|(k, v)| (k, Value::String(v))).collect::<serde_json::Map<String, Value>>(),
            "sourcePath": p.display().to_string(),
        })),
        "runtime": runtime,
        "manager": ins.via,
        "managerFallback": ins.fallback,
    });
    // Without an installed service, the service would run with the CLI's config.
    let daemon_path = ins
        .config_path
        .clone()
        .unwrap_or_else(|| ctx.paths.config_path.clone());
    let daemon = config_summary(&daemon_path, &ctx.env);
    let mismatch = json!(daemon_path != ctx.paths.config_path);
    (service, daemon, mismatch)
}

fn probe_note(mode: BindMode, host: &str) -> String {
    if gwcfg::is_loopback_host(host) {
        "Loopback-only gateway; only local clients can connect.".into()
    } else {
        format!(
            "Gateway binds {host} (bind={}); clients on that network can connect with the gateway's credentials.",
            mode.as_str()
        )
    }
}

/// Everything `gateway status` shows, as one JSON document.
pub fn gather(args: &GatewayStatusArgs, ctx: &Context) -> (Value, Option<Target>) {
    let cfg = &ctx.config;
    let (port, port_source) = gwcfg::resolve_port(None, &ctx.env, cfg);
    let mode = cfg
        .get_str("gateway.bind")
        .and_then(BindMode::parse)
        .unwrap_or(BindMode::Loopback);
    let tailnet = crate::os::ifaddr::tailnet_ipv4().map(|i| i.to_string());
    let host = gwcfg::bind_host(
        mode,
        cfg.get_str("gateway.customBindHost"),
        tailnet.as_deref(),
    );
    let log_file =
        LogSettings::from_config(cfg, &ctx.env, ctx.paths.profile.as_deref()).current_file();
    let probe_url = args
        .target
        .url
        .clone()
        .unwrap_or_else(|| format!("ws://127.0.0.1:{port}"));
    let dashboard = if cfg.get("gateway.controlUi.enabled") == Some(&Value::Bool(false)) {
        Value::Null
    } else {
        json!(format!("http://127.0.0.1:{port}/"))
    };
    let listeners = proc::listeners_on_port(port);
    let read = args.deep || args.require_rpc;
    let target = if args.no_probe {
        None
    } else {
        let report = super::block_on(probe::run(ProbeRequest {
            url: args.target.url.clone(),
            token: args.target.token.clone(),
            password: args.target.password.clone(),
            port: args.target.url.is_none().then_some(port),
            timeout_ms: args.target.timeout,
            read_diagnostics: read,
            ..ProbeRequest::new(cfg, &ctx.env, &ctx.paths.state_dir)
        }));
        report.targets.into_iter().next()
    };
    let rpc = target.as_ref().map(|t| {
        json!({
            "ok": t.connect.ok && t.connect.failed_step.is_none(),
            "kind": if read { "read" } else { "connect" },
            "gatewayReached": t.connect.ok,
            "capability": t.auth.capability,
            "auth": t.auth,
            "server": t.server,
            "readOk": if read { json!(t.connect.rpc_ok) } else { Value::Null },
            "error": t.connect.error,
            "errorCode": t.connect.error_code,
            "failedStep": t.connect.failed_step,
            "latencyMs": t.connect.latency_ms,
            "version": t.server.version,
            "url": t.url,
        })
    });
    let probe_failed = target
        .as_ref()
        .is_some_and(|t| !t.connect.ok || t.connect.failed_step.is_some());
    // Something holds the port but no gateway answered on it: a conflict, not an auth problem.
    let port_conflict = !listeners.is_empty() && target.as_ref().is_some_and(|t| !t.connect.ok);
    let last_error = if probe_failed || args.no_probe {
        last_error::find(
            &last_error::candidate_files(&ctx.paths.state_dir, &log_file),
            &crate::inspect::attribution::Owner::observed(&cfg.path, port, &listeners),
            &ctx.paths.state_dir,
        )
    } else {
        None
    };
    let mut hints: Vec<String> = Vec::new();
    if port_conflict {
        hints.extend(
            crate::gateway::listen::port_in_use_lines(port, &listeners)
                .into_iter()
                .filter_map(|l| l.strip_prefix("- ").map(str::to_string))
                .filter(|l| !l.starts_with("pid ")),
        );
    }
    let (service, daemon, mismatch) = service_doc(ctx, args.target.url.is_some());
    let extra: Vec<Value> = crate::service::inspect::extra_services(&ctx.env, args.deep)
        .into_iter()
        .map(|e| {
            let mut v = serde_json::to_value(&e).unwrap_or_default();
            v["hints"] = json!(e.hints());
            v["hintLabel"] = json!(e.hint_label());
            v
        })
        .collect();
    let doc = json!({
        "schema_version": SCHEMA_VERSION,
        "cli": {
            "version": crate::config::version::CURRENT,
            "entrypoint": std::env::current_exe().ok().map(|p| p.display().to_string()),
        },
        "logFile": log_file.display().to_string(),
        "service": service,
        "config": {
            "cli": {
                "path": cfg.path.display().to_string(),
                "exists": cfg.exists,
                "valid": cfg.is_valid(),
                "issues": cfg.issues.iter().map(|i| i.render(&cfg.path)).collect::<Vec<_>>(),
            },
            "daemon": daemon,
            "mismatch": mismatch,
        },
        "gateway": {
            "mode": cfg.get_str("gateway.mode"),
            "bindMode": mode.as_str(),
            "bindHost": host,
            "port": port,
            "portSource": port_source.as_str(),
            "probeUrl": probe_url,
            "dashboardUrl": dashboard,
            "controlUiLinks": if dashboard.is_null() { Value::Null } else { json!({"httpUrl": dashboard, "wsUrl": probe_url}) },
            "probeNote": probe_note(mode, &host),
            "version": target.as_ref().and_then(|t| t.server.version.clone()),
        },
        "port": {
            "port": port,
            "status": if listeners.is_empty() { "free" } else { "busy" },
            "conflict": port_conflict,
            "listeners": listeners,
            "hints": hints,
        },
        "rpc": rpc,
        "extraServices": extra,
        "lastError": last_error,
        "clients": if args.deep {
            target.as_ref().and_then(|t| t.summary.as_ref()).map(|s| s["gateway"]["connections"].clone())
        } else {
            None
        },
    });
    (doc, target)
}

pub fn run(args: GatewayStatusArgs, ctx: Context) -> i32 {
    if !args.json {
        ctx.warn_config();
    }
    let (doc, target) = gather(&args, &ctx);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{}", human(&doc, &ctx));
    }
    let read_ok = target.as_ref().is_some_and(|t| t.connect.rpc_ok);
    if args.require_rpc && !read_ok {
        exit::FAILURE
    } else {
        exit::OK
    }
}

fn human(d: &Value, ctx: &Context) -> String {
    let mut out = Vec::<String>::new();
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let show = |p: &str| paths::display(std::path::Path::new(p), &ctx.env);
    let svc = &d["service"];
    out.push(
        match (svc["inspected"].as_bool(), svc["installed"].as_bool()) {
            (Some(true), Some(true)) => format!(
                "Service: {} {} ({})",
                s(&svc["label"]),
                s(&svc["scope"]),
                if svc["loaded"] == true {
                    s(&svc["loadedText"])
                } else {
                    s(&svc["notLoadedText"])
                }
            ),
            (Some(true), _) => format!(
                "Service: {} ({})",
                s(&svc["label"]),
                s(&svc["notLoadedText"])
            ),
            _ => format!("Service: unknown ({})", s(&svc["runtime"]["detail"])),
        },
    );
    out.push(format!("File logs: {}", show(&s(&d["logFile"]))));
    if let Some(cmd) = svc["command"].as_object() {
        let args: Vec<String> = cmd["programArguments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        out.push(format!("Command: {}", args.join(" ")));
        out.push(format!("Service file: {}", show(&s(&cmd["sourcePath"]))));
        if let Some(w) = cmd["workingDirectory"].as_str() {
            out.push(format!("Working dir: {}", show(w)));
        }
        let env: Vec<String> = cmd["environment"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("OPENCLAW_"))
            .map(|(k, v)| format!("{k}={}", s(v)))
            .collect();
        if !env.is_empty() {
            out.push(format!("Service env: {}", env.join(" ")));
        }
    }
    let c = &d["config"]["cli"];
    let mut cfg_line = format!("Config (cli): {}", show(&s(&c["path"])));
    if c["exists"] == false {
        cfg_line.push_str(" (missing)");
    } else if c["valid"] == false {
        cfg_line.push_str(" (invalid)");
    }
    out.push(cfg_line);
    match d["config"]["daemon"]["path"].as_str() {
        Some(p) => {
            let mut line = format!("Config (service): {}", show(p));
            if d["config"]["daemon"]["exists"] == false {
                line.push_str(" (missing)");
            }
            out.push(line);
        }
        None => out.push("Config (service): none (no gateway service installed)".into()),
    }
    if d["config"]["mismatch"] == true {
        out.push(ROOT_CAUSE_CONFIG.into());
        out.push(FIX_CONFIG.into());
    }
    out.push(String::new());
    let g = &d["gateway"];
    out.push(format!(
        "Gateway: bind={} ({}), port={} ({})",
        s(&g["bindMode"]),
        s(&g["bindHost"]),
        g["port"],
        s(&g["portSource"])
    ));
    out.push(format!("Probe target: {}", s(&g["probeUrl"])));
    out.push(format!(
        "Dashboard: {}",
        g["dashboardUrl"].as_str().unwrap_or("disabled")
    ));
    out.push(format!("Probe note: {}", s(&g["probeNote"])));
    out.push(String::new());
    out.push(format!(
        "CLI version: {} ({})",
        s(&d["cli"]["version"]),
        s(&d["cli"]["entrypoint"])
    ));
    if let Some(v) = g["version"].as_str() {
        out.push(format!("Gateway version: {v}"));
    }
    out.push(String::new());
    let rt = &svc["runtime"];
    match rt["line"].as_str() {
        Some(line) => out.push(format!("Runtime: {line}")),
        None => out.push(format!("Runtime: unknown ({})", s(&rt["detail"]))),
    }
    if svc["label"] == "systemd"
        && rt["detail"]
            .as_str()
            .is_some_and(|d| d.contains("unavailable"))
    {
        out.push(format!(
            "systemd {} services unavailable.",
            s(&svc["scope"])
        ));
    } else if rt["missingUnit"] == true {
        out.push("Service unit not found.".into());
    } else if rt["status"] == "stopped" {
        out.push("Service is loaded but not running (likely exited immediately).".into());
    }
    let rpc = &d["rpc"];
    let port = &d["port"];
    let listeners = port["listeners"].as_array().cloned().unwrap_or_default();
    let service_running = svc["installed"] == true && rt["status"] == "running";
    if service_running && !rpc.is_null() && rpc["ok"] != true {
        let owned =
            rpc["gatewayReached"] == true && listeners.iter().any(|l| l["gatewayLike"] == true);
        out.push(if owned {
            WARM_UP_NOT.to_string()
        } else {
            WARM_UP.to_string()
        });
    }
    if rpc.is_null() {
        out.push("Connectivity probe: skipped (--no-probe)".into());
    } else {
        let ok = rpc["ok"] == true;
        out.push(format!(
            "Connectivity probe: {}",
            if ok { "ok" } else { "failed" }
        ));
        if !ok {
            out.push(format!("  {}", s(&rpc["error"])));
        }
        out.push(format!(
            "Capability: {}",
            serde_json::from_value::<crate::contract::probe::Capability>(rpc["capability"].clone())
                .map(|c| c.human())
                .unwrap_or("unknown")
        ));
        if rpc["kind"] == "read" {
            if rpc["readOk"] == true {
                out.push("Read probe: ok".into());
            } else {
                out.push(format!("Read probe: failed - {}", s(&rpc["error"])));
            }
        }
        if let Some(n) = d["clients"].as_u64() {
            out.push(format!("Established clients: {n} (including this probe)"));
        }
    }
    if let Some(e) = d["lastError"].as_object() {
        out.push(format!(
            "Last gateway error: {}",
            e["line"].as_str().unwrap_or("")
        ));
        out.push(format!(
            "  Logs: {}",
            show(e["file"].as_str().unwrap_or(""))
        ));
    }
    if port["conflict"] == true {
        out.push(format!("Port {} is already in use.", port["port"]));
        for l in &listeners {
            out.push(format!(
                "- pid {} {}: {} ({})",
                l["pid"]
                    .as_u64()
                    .map(|p| p.to_string())
                    .unwrap_or("?".into()),
                l["user"].as_str().unwrap_or("?"),
                proc::display_command(
                    l["commandLine"]
                        .as_str()
                        .or(l["command"].as_str())
                        .unwrap_or("?")
                ),
                s(&l["address"])
            ));
        }
        for h in port["hints"].as_array().into_iter().flatten() {
            out.push(format!("- {}", s(h)));
        }
    }
    if !listeners.is_empty() {
        let addrs: Vec<String> = listeners.iter().map(|l| s(&l["address"])).collect();
        out.push(format!("Listening: {}", addrs.join(", ")));
    }
    if service_running && port["status"] == "free" {
        out.push(format!(
            "Gateway port {} is not listening (service appears running).",
            port["port"]
        ));
        out.push(match s(&svc["label"]).as_str() {
            "systemd" => format!(
                "Logs: journalctl --{} -u {} -n 200 --no-pager",
                s(&svc["scope"]),
                crate::service::inspect::shell_quote(&s(&svc["unit"]))
            ),
            _ => format!(
                "Logs (stdout and stderr): {}",
                show(
                    &ctx.paths
                        .state_dir
                        .join("logs/gateway.log")
                        .display()
                        .to_string()
                )
            ),
        });
    }
    if rpc["gatewayReached"] == false && port["conflict"] != true {
        out.push(
            "hint: start the gateway with `openclaw gateway`, then rerun `openclaw gateway status`"
                .into(),
        );
    } else if rpc["errorCode"]
        .as_str()
        .is_some_and(|c| c.starts_with("AUTH_"))
    {
        out.push("hint: the CLI's credentials do not match the gateway's; check gateway.auth.token in the config above, or pass --token".into());
    }
    let extra = d["extraServices"].as_array().cloned().unwrap_or_default();
    if !extra.is_empty() {
        out.push("Other gateway-like services detected (best effort):".into());
        for e in &extra {
            out.push(format!(
                "- {} ({}, {})",
                s(&e["label"]),
                s(&e["scope"]),
                s(&e["detail"])
            ));
        }
        for e in &extra {
            for h in e["hints"].as_array().into_iter().flatten() {
                out.push(format!("{} {}", s(&e["hintLabel"]), s(h)));
            }
        }
        out.push(RECOMMENDATION.into());
        out.push(RECOMMENDATION_MULTI.into());
    }
    out.push("Troubles: run openclaw status".into());
    out.push(format!("Troubleshooting: {TROUBLESHOOTING_URL}"));
    out.join("\n") + "\n"
}
