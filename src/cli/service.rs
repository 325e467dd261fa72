//! `openclaw gateway install|uninstall|start|stop|restart`: the gateway as a systemd
//! service (user unit by default, `--system` for a system unit), through `systemctl`.
//! Every destructive action passes the older-binary guard first.

use super::args::{ServiceArgs, ServiceInstallArgs, ServiceStopArgs};
use super::context::Context;
use crate::config::gateway as gwcfg;
use crate::config::guard;
use crate::contract::exit;
use crate::service::systemctl::{self, Systemctl, UnitState};
use crate::service::{systemd, Names, ServiceSpec};
use serde_json::json;
use std::path::PathBuf;

pub const STOP_NEEDS_FORCE: &str = "This stops the operator's running gateway service. Use an isolated dev gateway (openclaw gateway run --dev, or --profile <name> with a free port) for testing, or re-run with --force if you really mean it.";

/// What a service command did, for people and for `--json`.
struct Report {
    action: &'static str,
    ok: bool,
    unit: String,
    path: PathBuf,
    scope: &'static str,
    lines: Vec<String>,
    hints: Vec<String>,
    changed: bool,
    runtime: Option<UnitState>,
}

impl Report {
    fn new(action: &'static str, unit: &str, path: PathBuf, scope: &'static str) -> Self {
        Report {
            action,
            ok: false,
            unit: unit.to_string(),
            path,
            scope,
            lines: Vec::new(),
            hints: Vec::new(),
            changed: false,
            runtime: None,
        }
    }

    fn fail(mut self, line: impl Into<String>) -> Self {
        self.ok = false;
        self.lines.push(line.into());
        self
    }

    fn emit(self, json_out: bool) -> i32 {
        if json_out {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "ok": self.ok,
                    "action": self.action,
                    "unit": self.unit,
                    "path": self.path.display().to_string(),
                    "scope": self.scope,
                    "changed": self.changed,
                    "runtime": self.runtime,
                    "messages": self.lines,
                    "hints": self.hints,
                }))
                .unwrap_or_default()
            );
        } else {
            for l in &self.lines {
                if self.ok {
                    println!("{l}");
                } else {
                    eprintln!("{l}");
                }
            }
            if let Some(r) = &self.runtime {
                println!("Runtime: {}", systemctl::runtime_line(r));
            }
            for h in &self.hints {
                eprintln!("hint: {h}");
            }
        }
        if self.ok {
            exit::OK
        } else {
            exit::FAILURE
        }
    }
}

fn unit_path(ctx: &Context, system: bool) -> (String, PathBuf) {
    let unit = format!("{}.service", Names::for_env(&ctx.env).systemd_unit);
    let path = systemctl::unit_dir(&ctx.env, system).join(&unit);
    (unit, path)
}

/// Platforms whose supervisor this build does not drive yet.
fn unsupported(r: Report) -> Option<Report> {
    if cfg!(target_os = "linux") {
        return None;
    }
    Some(r.fail(format!(
        "Service management on {} is not implemented by this build yet; run the gateway in the foreground (`openclaw gateway`).",
        std::env::consts::OS
    )))
}

fn guarded(ctx: &Context, verb: &str, action: &str, mut r: Report) -> Result<Report, Report> {
    match guard::check_service_action(&ctx.config, &ctx.env, verb, action) {
        Ok(()) => Ok(r),
        Err(lines) => {
            r.lines = lines;
            Err(r)
        }
    }
}

/// `Err(report)` with the spec's hints when systemctl cannot reach its manager.
fn reachable(sc: &Systemctl, mut r: Report) -> Result<Report, Report> {
    match sc.available() {
        Ok(()) => Ok(r),
        Err(why) => {
            r.lines.push(why);
            r.hints.push(systemctl::UNAVAILABLE_HINT.into());
            r.hints.push(systemctl::CONTAINER_HINT.into());
            Err(r)
        }
    }
}

fn system_user(ctx: &Context) -> String {
    ctx.env
        .get("SUDO_USER")
        .or_else(|| ctx.env.get("USER"))
        .map(String::from)
        .unwrap_or_else(|| crate::os::proc::user_name(crate::os::proc::current_uid()))
}

pub fn install(args: ServiceInstallArgs, ctx: Context) -> i32 {
    let json_out = args.service.json;
    let system = args.service.system;
    let (unit, path) = unit_path(&ctx, system);
    let sc = Systemctl::new(&ctx.env, system);
    let r = Report::new("install", &unit, path.clone(), sc.scope());
    if let Some(r) = unsupported(r) {
        return r.emit(json_out);
    }
    let r = Report::new("install", &unit, path.clone(), sc.scope());
    let r = if args.force {
        match guarded(&ctx, "install", "reinstall the gateway service", r) {
            Ok(r) => r,
            Err(r) => return r.emit(json_out),
        }
    } else {
        r
    };
    let binary = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(b) => b,
        Err(e) => {
            return r
                .fail(format!("cannot locate this binary: {e}"))
                .emit(json_out)
        }
    };
    let (port, _) = gwcfg::resolve_port(args.port, &ctx.env, &ctx.config);
    let mut spec = ServiceSpec::gateway(&ctx.env, &binary, port, ctx.paths.state_dir.clone());
    if system {
        spec.system_user = Some(system_user(&ctx));
    }
    let text = match systemd::render(&spec) {
        Ok(t) => t,
        Err(e) => {
            return r
                .fail(format!("cannot render the unit: {e}"))
                .emit(json_out)
        }
    };
    let mut r = r;
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing == text => {
            r.lines.push(format!(
                "Gateway service already installed and current: {}",
                path.display()
            ));
        }
        Ok(existing) if !args.force => {
            let differs = text
                .lines()
                .zip(existing.lines())
                .find(|(a, b)| a != b)
                .map(|(new, old)| format!(" (installed: `{old}`, this binary: `{new}`)"))
                .unwrap_or_default();
            r.hints.push("openclaw gateway install --force".to_string());
            return r
                .fail(format!(
                    "The installed unit {} differs from the one this binary writes{differs}; rewrite it with --force.",
                    path.display()
                ))
                .emit(json_out);
        }
        _ => {
            let dir = path.parent().unwrap_or(std::path::Path::new("/"));
            let written = std::fs::create_dir_all(dir)
                .and_then(|_| crate::config::write::atomic_write(&path, text.as_bytes(), 0o644));
            if let Err(e) = written {
                return r
                    .fail(format!("cannot write {}: {e}", path.display()))
                    .emit(json_out);
            }
            r.changed = true;
            r.lines.push(format!("Wrote {}", path.display()));
        }
    }
    let mut r = match reachable(&sc, r) {
        Ok(r) => r,
        Err(r) => return r.emit(json_out),
    };
    for args in [
        vec!["daemon-reload"],
        vec!["enable", "--now", unit.as_str()],
    ] {
        let o = sc.run(&args);
        if !o.ok {
            return r
                .fail(format!(
                    "systemctl --{} {} failed: {}",
                    sc.scope(),
                    args.join(" "),
                    o.reason()
                ))
                .emit(json_out);
        }
    }
    r.ok = true;
    r.lines.push(format!("Enabled and started {unit}"));
    r.runtime = sc.show(&unit).ok();
    r.emit(json_out)
}

pub fn uninstall(args: ServiceArgs, ctx: Context) -> i32 {
    let (unit, path) = unit_path(&ctx, args.system);
    let sc = Systemctl::new(&ctx.env, args.system);
    let r = Report::new("uninstall", &unit, path.clone(), sc.scope());
    if let Some(r) = unsupported(r) {
        return r.emit(args.json);
    }
    let r = Report::new("uninstall", &unit, path.clone(), sc.scope());
    let mut r = match guarded(&ctx, "uninstall", "uninstall the gateway service", r) {
        Ok(r) => r,
        Err(r) => return r.emit(args.json),
    };
    if !path.exists() {
        r.ok = true;
        r.lines.push(format!(
            "Gateway service not installed ({} does not exist).",
            path.display()
        ));
        return r.emit(args.json);
    }
    if sc.available().is_ok() {
        let o = sc.run(&["disable", "--now", &unit]);
        if !o.ok {
            r.lines.push(format!(
                "systemctl --{} disable --now {unit}: {}",
                sc.scope(),
                o.reason()
            ));
        }
    }
    if let Err(e) = std::fs::remove_file(&path) {
        return r
            .fail(format!("cannot remove {}: {e}", path.display()))
            .emit(args.json);
    }
    if sc.available().is_ok() {
        sc.run(&["daemon-reload"]);
    }
    r.ok = true;
    r.changed = true;
    r.lines.push(format!("Removed {}", path.display()));
    r.emit(args.json)
}

/// `start` and `restart`.
pub fn lifecycle(verb: &'static str, args: ServiceArgs, ctx: Context) -> i32 {
    run_verb(verb, args, ctx)
}

pub fn stop(args: ServiceStopArgs, ctx: Context) -> i32 {
    if !args.force {
        let (unit, path) = unit_path(&ctx, args.service.system);
        return Report::new(
            "stop",
            &unit,
            path,
            if args.service.system {
                "system"
            } else {
                "user"
            },
        )
        .fail(STOP_NEEDS_FORCE)
        .emit(args.service.json);
    }
    run_verb("stop", args.service, ctx)
}

fn run_verb(verb: &'static str, args: ServiceArgs, ctx: Context) -> i32 {
    let (unit, path) = unit_path(&ctx, args.system);
    let sc = Systemctl::new(&ctx.env, args.system);
    let r = Report::new(verb, &unit, path.clone(), sc.scope());
    if let Some(r) = unsupported(r) {
        return r.emit(args.json);
    }
    let r = Report::new(verb, &unit, path, sc.scope());
    let r = match guarded(&ctx, verb, &format!("{verb} the gateway service"), r) {
        Ok(r) => r,
        Err(r) => return r.emit(args.json),
    };
    let mut r = match reachable(&sc, r) {
        Ok(r) => r,
        Err(r) => return r.emit(args.json),
    };
    match sc.show(&unit) {
        Ok(s) if s.missing() => {
            r.hints.push("openclaw gateway install".into());
            return r
                .fail(format!("Gateway service {unit} is not installed."))
                .emit(args.json);
        }
        Ok(_) => {}
        Err(e) => {
            return r
                .fail(format!("systemctl --{} show {unit}: {e}", sc.scope()))
                .emit(args.json)
        }
    }
    let o = sc.run(&[verb, &unit]);
    if !o.ok {
        r.hints
            .push(format!("journalctl --{} -u {unit} -n 50", sc.scope()));
        return r
            .fail(format!(
                "systemctl --{} {verb} {unit} failed: {}",
                sc.scope(),
                o.reason()
            ))
            .emit(args.json);
    }
    r.ok = true;
    r.changed = true;
    r.lines.push(format!(
        "{} {unit}",
        match verb {
            "start" => "Started",
            "stop" => "Stopped",
            _ => "Restarted",
        }
    ));
    r.runtime = sc.show(&unit).ok();
    r.emit(args.json)
}
