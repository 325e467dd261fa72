//! `openclaw gateway install|uninstall|start|stop|restart`: the gateway as a service of
//! this platform's supervisor ([`crate::service::supervisor`]): a systemd unit (user unit by
//! default, `--system` for a system unit) driven over D-Bus or `systemctl`, a launchd
//! LaunchAgent, or a Windows Scheduled Task. Every destructive action passes the
//! older-binary guard first.

use super::args::{ServiceArgs, ServiceInstallArgs, ServiceStopArgs};
use super::context::Context;
use crate::config::gateway as gwcfg;
use crate::config::guard;
use crate::contract::exit;
use crate::service::bus::Job;
use crate::service::supervisor::{Platform, Supervisor, Target};
use crate::service::systemctl::{self, UnitState};
use crate::service::ServiceSpec;
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
    platform: Option<&'static str>,
    /// `dbus`, `systemctl`, `launchctl` or `schtasks`, once the supervisor was reached.
    via: Option<&'static str>,
    /// Why `systemctl` rather than D-Bus.
    fallback: Option<String>,
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
            platform: None,
            via: None,
            fallback: None,
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
                    "platform": self.platform,
                    "manager": self.via,
                    "managerFallback": self.fallback,
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

/// This platform's service target, or `Err(report)` where there is no supervisor.
fn target(ctx: &Context, action: &'static str, system: bool) -> Result<(Target, Report), Report> {
    let platform = Platform::current(&ctx.env);
    let t = Target::new(
        &ctx.env,
        *platform.as_ref().unwrap_or(&Platform::Systemd),
        system,
        &ctx.paths.state_dir,
    );
    let mut r = Report::new(action, &t.name, t.path.clone(), t.scope);
    match platform {
        Ok(p) => {
            r.platform = Some(p.name());
            if system && p != Platform::Systemd {
                return Err(r.fail(format!(
                    "--system applies to systemd only; {} services are per user here.",
                    p.name()
                )));
            }
            Ok((t, r))
        }
        Err(why) => Err(r.fail(why)),
    }
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

/// The supervisor, or `Err(report)` with the spec's hints when it cannot be reached.
fn reachable(ctx: &Context, t: &Target, mut r: Report) -> Result<(Supervisor, Report), Report> {
    match Supervisor::connect(&ctx.env, t) {
        Ok(s) => {
            r.via = Some(s.via());
            r.fallback = s.fallback().map(String::from);
            Ok((s, r))
        }
        Err(why) => {
            r.lines.push(why);
            if t.platform == Platform::Systemd {
                r.hints.push(systemctl::UNAVAILABLE_HINT.into());
                r.hints.push(systemctl::CONTAINER_HINT.into());
            }
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

pub const TOKEN_GENERATED: &str =
    "No gateway token found. Auto-generated one and saving to config.";

/// Upstream's install-time token rule: with token auth in effect and no token configured,
/// `--token` (or a generated token) is saved to `gateway.auth.token` — the config, mode
/// 0600, never the unit file. A configured SecretRef must resolve; a token and a password
/// without `gateway.auth.mode` block the install.
fn install_token(ctx: &Context, flag: Option<&str>) -> Result<Vec<String>, String> {
    use crate::config::{edit, gateway::AuthMode, store};
    let flag = flag.map(str::trim).filter(|t| !t.is_empty());
    let auth = gwcfg::resolve_auth(&ctx.config, &ctx.env, None, None, None)?;
    if auth.mode != AuthMode::Token {
        return match flag {
            Some(_) => Err(format!(
                "--token needs token auth; gateway.auth.mode is {} in {}",
                auth.mode.as_str(),
                ctx.paths.config_path.display()
            )),
            None => Ok(Vec::new()),
        };
    }
    let path = &ctx.paths.config_path;
    let configured = ctx.config.get("gateway.auth.token").is_some();
    match (&auth.token, flag) {
        (Some((have, _)), Some(given)) if configured && have.expose() != given => {
            return Err(format!(
                "--token differs from gateway.auth.token in {}; change the configured token with `openclaw config set gateway.auth.token <token>` instead",
                path.display()
            ))
        }
        (Some(_), _) if configured => return Ok(Vec::new()),
        _ => {}
    }
    let mut lines = Vec::new();
    if flag.is_none() && auth.token.is_some() {
        // Only the shell's OPENCLAW_GATEWAY_TOKEN: the service does not inherit it.
        lines.push(format!(
            "OPENCLAW_GATEWAY_TOKEN is set in this shell only; the service does not see it. Saving it to gateway.auth.token in {}.",
            path.display()
        ));
    }
    let token = match (flag, &auth.token) {
        (Some(t), _) => t.to_string(),
        (None, Some((t, _))) => t.expose().to_string(),
        (None, None) => {
            lines.push(TOKEN_GENERATED.to_string());
            crate::config::secret::Secret::generate_hex(24)
                .map_err(|e| format!("cannot generate a token: {e}"))?
                .expose()
                .to_string()
        }
    };
    // Writing the config stamps this (older) version into it: the older-binary guard.
    guard::check_destructive(&ctx.config, &ctx.env, "save gateway.auth.token")
        .map_err(|lines| lines.join("\n"))?;
    let base = ctx.config.raw.clone().unwrap_or_else(|| "{}\n".into());
    let text = edit::set(&base, "gateway.auth.token", &serde_json::json!(token))
        .map_err(|e| format!("cannot edit {}: {e}", path.display()))?;
    if let Some(dir) = path.parent() {
        crate::config::write::ensure_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    store::commit(path, ctx.config.hash.as_deref(), &text).map_err(|e| e.to_string())?;
    lines.push(format!(
        "Saved gateway.auth.token to {} (the token is not printed).",
        path.display()
    ));
    Ok(lines)
}

/// A profile about to get a service needs a config its gateway starts on: a fresh profile
/// gets a complete one (`setup::local_config`); an existing config without `gateway.mode`
/// would make the service exit 78 on every start, so the install is refused.
fn prepare_config(
    args: &ServiceInstallArgs,
    ctx: Context,
) -> Result<(Context, Vec<String>), String> {
    let path = ctx.paths.config_path.clone();
    if ctx.config.exists {
        if ctx.config.get_str("gateway.mode").is_none() && ctx.config.is_valid() {
            let profile = ctx
                .paths
                .profile
                .as_deref()
                .map(|p| format!("--profile {p} "))
                .unwrap_or_default();
            return Err(format!(
                "{} has no gateway.mode, so the service would refuse to start (exit 78). Set it first: openclaw {profile}config set gateway.mode local",
                path.display()
            ));
        }
        return Ok((ctx, Vec::new()));
    }
    let (body, port, mut lines) =
        super::setup::local_config(&ctx, args.port, args.token.as_deref())?;
    for dir in [Some(ctx.paths.state_dir.as_path()), path.parent()]
        .into_iter()
        .flatten()
    {
        crate::config::write::ensure_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&body).unwrap_or_default() + "\n";
    crate::config::store::commit(&path, None, &text).map_err(|e| e.to_string())?;
    lines.push(format!(
        "Config written: {} (gateway.mode local, port {port}, token auth; the token is not printed)",
        path.display()
    ));
    Ok((Context::load(ctx.env), lines))
}

pub fn install(args: ServiceInstallArgs, ctx: Context) -> i32 {
    let json_out = args.service.json;
    let system = args.service.system;
    let (ctx, config_lines) = match prepare_config(&args, ctx) {
        Ok(x) => x,
        Err(why) => {
            if json_out {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "action": "install", "error": format!("Gateway install blocked: {why}")})
                );
            } else {
                eprintln!("Gateway install blocked: {why}");
            }
            return exit::FAILURE;
        }
    };
    let (t, r) = match target(&ctx, "install", system) {
        Ok(x) => x,
        Err(r) => return r.emit(json_out),
    };
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
    let mut r = r;
    r.lines.extend(config_lines);
    match install_token(&ctx, args.token.as_deref()) {
        Ok(lines) => r.lines.extend(lines),
        Err(why) => {
            return r
                .fail(format!("Gateway install blocked: {why}"))
                .emit(json_out)
        }
    }
    let (port, _) = gwcfg::resolve_port(args.port, &ctx.env, &ctx.config);
    let mut spec = ServiceSpec::gateway(&ctx.env, &binary, port, ctx.paths.state_dir.clone());
    if system {
        spec.system_user = Some(system_user(&ctx));
    }
    let text = match t.render(&spec) {
        Ok(t) => t,
        Err(e) => {
            return r
                .fail(format!("cannot render the {} file: {e}", t.platform.name()))
                .emit(json_out)
        }
    };
    let path = &t.path;
    match std::fs::read_to_string(path) {
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
                    "The installed service file {} differs from the one this binary writes{differs}; rewrite it with --force.",
                    path.display()
                ))
                .emit(json_out);
        }
        _ => {
            let dir = path.parent().unwrap_or(std::path::Path::new("/"));
            let written = std::fs::create_dir_all(dir)
                .and_then(|_| crate::config::write::atomic_write(path, text.as_bytes(), 0o644));
            if let Err(e) = written {
                return r
                    .fail(format!("cannot write {}: {e}", path.display()))
                    .emit(json_out);
            }
            r.changed = true;
            r.lines.push(format!("Wrote {}", path.display()));
        }
    }
    let (mut sup, mut r) = match reachable(&ctx, &t, r) {
        Ok(x) => x,
        Err(r) => return r.emit(json_out),
    };
    if let Err(e) = sup.activate(&t) {
        r.hints.push(t.logs_hint(&ctx.paths.state_dir));
        return r.fail(e).emit(json_out);
    }
    r.ok = true;
    r.lines.push(format!("Enabled and started {}", t.name));
    r.runtime = sup.runtime(&t).ok();
    r.emit(json_out)
}

pub fn uninstall(args: ServiceArgs, ctx: Context) -> i32 {
    let (t, r) = match target(&ctx, "uninstall", args.system) {
        Ok(x) => x,
        Err(r) => return r.emit(args.json),
    };
    let mut r = match guarded(&ctx, "uninstall", "uninstall the gateway service", r) {
        Ok(r) => r,
        Err(r) => return r.emit(args.json),
    };
    let path = &t.path;
    if !path.exists() {
        r.ok = true;
        r.lines.push(format!(
            "Gateway service not installed ({} does not exist).",
            path.display()
        ));
        return r.emit(args.json);
    }
    // Stop and unregister what the supervisor knows; a supervisor out of reach does not
    // keep the file from going (it is what `install` wrote).
    let mut sup = match Supervisor::connect(&ctx.env, &t) {
        Ok(mut s) => {
            r.via = Some(s.via());
            r.lines.extend(s.deactivate(&t));
            Some(s)
        }
        Err(why) => {
            r.lines
                .push(format!("{why}; removing the service file only"));
            None
        }
    };
    if let Err(e) = std::fs::remove_file(path) {
        return r
            .fail(format!("cannot remove {}: {e}", path.display()))
            .emit(args.json);
    }
    if let Some(Err(e)) = sup.as_mut().map(|s| s.forget()) {
        r.lines.push(e);
    }
    r.ok = true;
    r.changed = true;
    r.lines.push(format!("Removed {}", path.display()));
    r.emit(args.json)
}

/// `start` and `restart`.
/// How long `gateway restart` waits for a foreground gateway to answer again.
const FOREGROUND_RESTART_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `gateway restart` with no service installed, as upstream's unmanaged restart: the one
/// verified gateway listening on the configured port, which must hold this config's lock,
/// is sent SIGUSR1 (an in-process restart; this gateway's lock has no owner id, so upstream
/// signals too), then waited for until `/readyz` answers 200. `Err(report)` when no gateway
/// listens there (the caller reports the missing service).
fn foreground_restart(ctx: &Context, mut r: Report) -> Result<Report, Report> {
    let (port, _) = crate::config::gateway::resolve_port(None, &ctx.env, &ctx.config);
    let mut pids: Vec<u32> = crate::os::proc::listeners_on_port(port)
        .into_iter()
        .filter(|l| l.gateway_like)
        .filter_map(|l| l.pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let pid = match pids.as_slice() {
        [] => return Err(r),
        [pid] => *pid,
        many => {
            let list: Vec<String> = many.iter().map(u32::to_string).collect();
            return Ok(r.fail(format!(
                "multiple gateway processes are listening on port {port}: {}; use \"openclaw gateway status --deep\" before retrying restart",
                list.join(", ")
            )));
        }
    };
    if crate::gateway::lock::owner(&ctx.paths.config_path) != Some(pid) {
        return Ok(r.fail(format!(
            "gateway lock identity does not match the verified listener on port {port}; use \"openclaw gateway status --deep\" before retrying restart"
        )));
    }
    if !crate::config::gateway::restart_allowed(&ctx.config) {
        return Ok(r.fail(
            "Gateway restart is disabled in the running gateway config (commands.restart=false)",
        ));
    }
    if let Err(e) = crate::os::proc::signal(pid, libc::SIGUSR1) {
        return Ok(r.fail(format!(
            "Gateway restart failed: cannot signal pid {pid}: {e}"
        )));
    }
    r.lines.push(format!(
        "Gateway restart request sent to foreground process on port {port}: {pid}."
    ));
    r.changed = true;
    // Wait to see it go (draining answers 503, then the port closes for the rebind; a fast
    // restart may be missed, hence the bound), then for it to answer again.
    let gone_by = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while readyz(port) && std::time::Instant::now() < gone_by {
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let deadline = std::time::Instant::now() + FOREGROUND_RESTART_WAIT;
    loop {
        if readyz(port) {
            r.ok = true;
            r.lines
                .push(format!("Gateway is back on port {port} (pid {pid})."));
            return Ok(r);
        }
        if std::time::Instant::now() > deadline {
            r.hints.push("openclaw gateway status".into());
            return Ok(r.fail(format!(
                "Gateway restart timed out after {}s waiting for health checks.",
                FOREGROUND_RESTART_WAIT.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `GET /readyz` on the loopback port answers 200.
fn readyz(port: u16) -> bool {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_millis(500);
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        timeout,
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

pub fn lifecycle(verb: &'static str, args: ServiceArgs, ctx: Context) -> i32 {
    run_verb(verb, args, ctx)
}

pub fn stop(args: ServiceStopArgs, ctx: Context) -> i32 {
    if !args.force {
        return match target(&ctx, "stop", args.service.system) {
            Ok((_, r)) | Err(r) => r.fail(STOP_NEEDS_FORCE).emit(args.service.json),
        };
    }
    run_verb("stop", args.service, ctx)
}

fn run_verb(verb: &'static str, args: ServiceArgs, ctx: Context) -> i32 {
    let (t, r) = match target(&ctx, verb, args.system) {
        Ok(x) => x,
        Err(r) => return r.emit(args.json),
    };
    // No service installed: a gateway running in a terminal is restarted in process.
    let r = if verb == "restart" && !args.system && !t.path.exists() {
        match foreground_restart(&ctx, r) {
            Ok(done) => return done.emit(args.json),
            Err(r) => r,
        }
    } else {
        r
    };
    let r = match guarded(&ctx, verb, &format!("{verb} the gateway service"), r) {
        Ok(r) => r,
        Err(r) => return r.emit(args.json),
    };
    let (mut sup, mut r) = match reachable(&ctx, &t, r) {
        Ok(x) => x,
        Err(r) => return r.emit(args.json),
    };
    match sup.runtime(&t) {
        Ok(s) if s.missing() => {
            r.hints.push("openclaw gateway install".into());
            return r
                .fail(format!("Gateway service {} is not installed.", t.name))
                .emit(args.json);
        }
        Ok(_) => {}
        Err(e) => return r.fail(e).emit(args.json),
    }
    let job = match verb {
        "start" => Job::Start,
        "stop" => Job::Stop,
        _ => Job::Restart,
    };
    if let Err(e) = sup.job(job, &t) {
        r.hints.push(t.logs_hint(&ctx.paths.state_dir));
        r.runtime = sup.runtime(&t).ok();
        return r.fail(e).emit(args.json);
    }
    r.ok = true;
    r.changed = true;
    r.lines.push(format!(
        "{} {}",
        match job {
            Job::Start => "Started",
            Job::Stop => "Stopped",
            Job::Restart => "Restarted",
        },
        t.name
    ));
    r.runtime = sup.runtime(&t).ok();
    r.emit(args.json)
}
