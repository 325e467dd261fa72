//! What is installed: the gateway's service for this profile — the systemd unit (user unit
//! first, then the system unit), the launchd plist or the Scheduled Task's launcher — what
//! it runs and with which environment, the config it resolves, and — only when something is
//! installed — its runtime through the supervisor. Shared by `gateway status`, `status` and
//! the doctor, so all say the same thing.

use super::runner;
use super::supervisor::{Platform, Supervisor, Target};
use super::systemctl::{self, UnitState};
use super::{xml_unescape, Names};
use crate::config::env::Env;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Inspection {
    pub platform: Platform,
    /// `openclaw-gateway[-<profile>].service`, `ai.openclaw.gateway`, `OpenClaw Gateway`.
    pub unit: String,
    /// Where `install` writes (the user unit without `--system`).
    pub user_path: PathBuf,
    /// The installed service file, if any.
    pub path: Option<PathBuf>,
    pub system: bool,
    pub text: String,
    /// `ExecStart`, split into arguments.
    pub command: Vec<String>,
    pub working_dir: Option<String>,
    pub environment: Vec<(String, String)>,
    /// The config file the unit's environment resolves.
    pub config_path: Option<PathBuf>,
    /// `None` when nothing is installed (the manager is not asked); `Err` when it could
    /// not be reached.
    pub runtime: Option<Result<UnitState, String>>,
    /// How the supervisor was reached (`dbus`, `systemctl`, `launchctl`, `schtasks`).
    pub via: Option<&'static str>,
    /// Why systemd was reached through `systemctl` rather than D-Bus.
    pub fallback: Option<String>,
    /// Both a user and a system unit of this gateway are installed (systemd): they bind
    /// the same port.
    pub dueling: Option<PathBuf>,
}

impl Inspection {
    pub fn installed(&self) -> bool {
        self.path.is_some()
    }

    /// `Environment=` values safe to show: secrets are redacted.
    pub fn shown_environment(&self) -> Vec<(String, String)> {
        self.environment
            .iter()
            .map(|(k, v)| {
                let secret = ["TOKEN", "PASSWORD", "SECRET", "KEY"]
                    .iter()
                    .any(|s| k.to_uppercase().contains(s));
                (k.clone(), if secret { "***".into() } else { v.clone() })
            })
            .collect()
    }
}

/// `Environment=` assignments of a unit (quoted or bare, `%%` unescaped).
pub fn unit_environment(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Environment="))
        .filter_map(|v| {
            let v = unquote(v.trim());
            let (k, val) = v.split_once('=')?;
            Some((k.to_string(), val.to_string()))
        })
        .collect()
}

fn unquote(v: &str) -> String {
    let v = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    };
    v.replace("%%", "%")
}

/// Split an `ExecStart=` value into arguments (double quotes group, `\` escapes).
pub fn split_exec(v: &str) -> Vec<String> {
    split_words(v, Quoting::Systemd)
}

/// How a quote is escaped inside double quotes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// systemd: `\` escapes the next character.
    Systemd,
    /// The task launcher: `\"` is a quote; other backslashes are path separators.
    Cmd,
}

/// Whitespace-separated words, double quotes grouping; `%%` is `%` in both syntaxes.
fn split_words(line: &str, quoting: Quoting) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted && quoting == Quoting::Systemd && c == '\\' {
            if let Some(next) = chars.next() {
                cur.push(next);
            }
        } else if quoting == Quoting::Cmd && c == '\\' && chars.peek() == Some(&'"') {
            chars.next();
            cur.push('"');
        } else if c == '"' {
            quoted = !quoted;
            any = true;
        } else if c.is_whitespace() && !quoted {
            if any || !cur.is_empty() {
                out.push(std::mem::take(&mut cur).replace("%%", "%"));
                any = false;
            }
        } else {
            cur.push(c);
        }
    }
    if any || !cur.is_empty() {
        out.push(cur.replace("%%", "%"));
    }
    out
}

/// The service for this environment's profile on this platform (`Err` where the platform
/// has no supervisor).
pub fn inspect(env: &Env) -> Result<Inspection, String> {
    let platform = Platform::current(env)?;
    let state_dir = crate::config::paths::resolve(env).state_dir;
    let user = Target::new(env, platform, false, &state_dir);
    let system = Target::new(env, platform, true, &state_dir);
    let dueling = (platform == Platform::Systemd && user.path.exists() && system.path.exists())
        .then(|| system.path.clone());
    // The user unit when there is one (or nothing at all), else the system unit.
    let target = if system.path.exists() && !user.path.exists() {
        system
    } else {
        user.clone()
    };
    let path = target.path.exists().then(|| target.path.clone());
    let text = path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let parsed = match platform {
        Platform::Systemd => parse_unit(&text),
        Platform::Launchd => parse_plist(&text),
        Platform::Schtasks => parse_launcher(&text),
    };
    let config_path = path.as_ref().map(|_| {
        crate::config::paths::resolve(&Env::from_pairs(parsed.environment.clone())).config_path
    });
    let (mut via, mut fallback) = (None, None);
    let runtime = path.as_ref().map(|_| {
        Supervisor::connect(env, &target).and_then(|mut s| {
            via = Some(s.via());
            fallback = s.fallback().map(String::from);
            s.runtime(&target)
        })
    });
    Ok(Inspection {
        platform,
        command: parsed.command,
        working_dir: parsed.working_dir,
        unit: target.name.clone(),
        user_path: user.path,
        system: target.scope == "system",
        path,
        text,
        environment: parsed.environment,
        config_path,
        runtime,
        via,
        fallback,
        dueling,
    })
}

/// What a service file runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub command: Vec<String>,
    pub working_dir: Option<String>,
    pub environment: Vec<(String, String)>,
}

/// A systemd unit: `ExecStart=`, `WorkingDirectory=`, `Environment=`.
pub fn parse_unit(text: &str) -> Parsed {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(k).map(str::to_string))
    };
    Parsed {
        command: field("ExecStart=")
            .map(|v| split_exec(&v))
            .unwrap_or_default(),
        working_dir: field("WorkingDirectory=").map(|v| v.replace("%%", "%")),
        environment: unit_environment(text),
    }
}

/// The `<string>` values of a plist, in order, after `<key>{key}</key>` up to `end`.
fn plist_strings(text: &str, key: &str, end: &str) -> Vec<String> {
    let Some(start) = text.find(&format!("<key>{key}</key>")) else {
        return Vec::new();
    };
    let rest = &text[start + key.len() + 11..];
    let block = &rest[..rest.find(end).unwrap_or(rest.len())];
    block
        .split("<string>")
        .skip(1)
        .filter_map(|s| s.split_once("</string>").map(|(v, _)| xml_unescape(v)))
        .collect()
}

/// A LaunchAgent plist as this binary writes it: `ProgramArguments`, `WorkingDirectory`,
/// `EnvironmentVariables`.
pub fn parse_plist(text: &str) -> Parsed {
    let env_block = text
        .find("<key>EnvironmentVariables</key>")
        .map(|i| {
            let rest = &text[i..];
            &rest[..rest.find("</dict>").unwrap_or(rest.len())]
        })
        .unwrap_or("");
    let keys: Vec<String> = env_block
        .split("<key>")
        .skip(2)
        .filter_map(|s| s.split_once("</key>").map(|(k, _)| xml_unescape(k)))
        .collect();
    let values = plist_strings(env_block, "EnvironmentVariables", "</dict>");
    Parsed {
        command: plist_strings(text, "ProgramArguments", "</array>"),
        working_dir: plist_strings(text, "WorkingDirectory", "<key>")
            .into_iter()
            .next(),
        environment: keys.into_iter().zip(values).collect(),
    }
}

/// Split a launcher line as [`super::schtasks::cmd_quote`] wrote it.
fn split_cmd(line: &str) -> Vec<String> {
    split_words(line, Quoting::Cmd)
        .into_iter()
        .map(|w| w.replace("^!", "!"))
        .collect()
}

/// Undo `set "K=V"` escaping: `^^`, `^!`, `^"`, `%%`.
fn unescape_set(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('^', Some(&n)) if n == '^' || n == '!' || n == '"' => {
                out.push(n);
                chars.next();
            }
            ('%', Some('%')) => {
                out.push('%');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The Scheduled Task's `gateway.cmd`: `set "K=V"` lines, `cd /d DIR`, then the command.
pub fn parse_launcher(text: &str) -> Parsed {
    let mut p = Parsed::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if let Some(kv) = line
            .strip_prefix("set \"")
            .and_then(|r| r.strip_suffix('"'))
        {
            if let Some((k, v)) = kv.split_once('=') {
                p.environment.push((unescape_set(k), unescape_set(v)));
            }
        } else if let Some(dir) = line.strip_prefix("cd /d ") {
            p.working_dir = split_cmd(dir).into_iter().next();
        } else if !(lower.starts_with("rem ") || lower.starts_with("@echo")) {
            p.command = split_cmd(line.trim_end_matches("< NUL").trim_end());
        }
    }
    p
}

/// A unit that looks like a gateway but is not this profile's (upstream's
/// `findExtraGatewayServices`: best effort, from the files alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtraService {
    /// `linux`, `darwin` or `win32`, as upstream names them.
    pub platform: &'static str,
    /// The unit file name (`clawdbot-gateway.service`) or the launchd label.
    pub label: String,
    /// `unit: <path>`, `unit backup: <path>` or `plist: <path>`.
    pub detail: String,
    /// `user` or `system`.
    pub scope: &'static str,
    /// `openclaw` (written by OpenClaw) or `clawdbot` (legacy).
    pub marker: String,
    pub legacy: bool,
    pub path: String,
}

impl ExtraService {
    /// Upstream's `renderGatewayServiceCleanupHints`: what to run to look at a unit
    /// (Linux), or to boot a job out and remove its plist (macOS).
    pub fn hints(&self) -> Vec<String> {
        if self.platform == "win32" {
            let plain = self
                .label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_. ()\\/-".contains(c));
            return if plain && !self.label.is_empty() {
                vec![format!("schtasks /Delete /TN \"{}\" /F", self.label)]
            } else {
                Vec::new()
            };
        }
        if self.platform == "darwin" {
            let system = self.scope == "system" && self.path.starts_with("/Library/LaunchDaemons/");
            let (ctl, domain, rm) = if system {
                ("sudo launchctl", "system", "sudo rm")
            } else if self.scope == "system" {
                ("launchctl", "gui/$UID", "sudo rm")
            } else {
                ("launchctl", "gui/$UID", "rm")
            };
            return vec![
                format!("{ctl} bootout {domain}/{}", shell_quote(&self.label)),
                format!("{rm} {}", shell_quote(&self.path)),
            ];
        }
        let unit = shell_quote(&self.label);
        vec![
            format!("systemctl --{} status -- {unit}", self.scope),
            format!("systemctl --{} cat -- {unit}", self.scope),
        ]
    }

    /// `Inspection hint:` on Linux (look first), `Cleanup hint:` elsewhere, as upstream.
    pub fn hint_label(&self) -> &'static str {
        if self.platform == "linux" {
            "Inspection hint:"
        } else {
            "Cleanup hint:"
        }
    }
}

/// Upstream's `quotePosixCleanupArgument`.
pub fn shell_quote(v: &str) -> String {
    let safe = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// The system unit directories `--deep` scans.
pub const SYSTEM_UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

const MARKERS: [&str; 2] = ["openclaw", "clawdbot"];
const LEGACY_UNITS: [&str; 1] = ["clawdbot-gateway"];

/// A unit written by OpenClaw's installer: both markers, or named `openclaw-gateway*`.
fn has_service_marker(lower: &str) -> bool {
    lower.contains("openclaw_service_marker")
        && lower.contains("openclaw_service_kind")
        && lower.contains("openclaw")
        && lower.contains("gateway")
}

/// The marker of the first line that runs a gateway: an `ExecStart=` with a `gateway`
/// argument, or a bare line (comment lines and other assignments do not count).
pub fn marker_line_with_gateway(text: &str) -> Option<&'static str> {
    let joined = text.replace("\\\n", " ");
    for line in joined.lines() {
        let l = line.trim().to_lowercase();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(eq) = l.find('=').filter(|i| *i > 0) {
            let runs_gateway = l[..eq].trim() == "execstart"
                && split_exec(l[eq + 1..].trim())
                    .iter()
                    .any(|a| a == "gateway" || a.split_whitespace().any(|w| w == "gateway"));
            if !runs_gateway {
                continue;
            }
        }
        if !l.contains("gateway") {
            continue;
        }
        if let Some(m) = MARKERS.iter().find(|m| l.contains(*m)) {
            return Some(m);
        }
    }
    None
}

/// The files of `dir` whose names end in `suffix`, sorted by name (none when unreadable).
fn files_ending(dir: &Path, suffix: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| n.ends_with(suffix))
        .collect();
    out.sort();
    out
}

fn scan_dir(dir: &Path, scope: &'static str, ours: &str, out: &mut Vec<ExtraService>) {
    for (name, path) in files_ending(dir, ".service") {
        let Some(stem) = name.strip_suffix(".service") else {
            continue;
        };
        if scope == "user" && name == ours {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let lower = text.to_lowercase();
        let marker = if has_service_marker(&lower) {
            "openclaw"
        } else {
            match marker_line_with_gateway(&text) {
                Some(m) => m,
                None => continue,
            }
        };
        // Another profile's gateway, written by OpenClaw, is not "extra".
        let managed = has_service_marker(&lower)
            || (stem.starts_with("openclaw-gateway") && lower.contains("gateway"));
        if marker == "openclaw" && managed {
            continue;
        }
        out.push(ExtraService {
            platform: "linux",
            label: name.clone(),
            detail: format!("unit: {}", path.display()),
            scope,
            marker: marker.to_string(),
            legacy: marker != "openclaw",
            path: path.display().to_string(),
        });
    }
}

/// Gateway-like services other than this profile's, on this platform: systemd units (the
/// user unit directory and legacy `.bak` backups; the system directories with `deep`) or
/// launchd plists (`~/Library/LaunchAgents`; `/Library/LaunchAgents` and
/// `/Library/LaunchDaemons` with `deep`). Scheduled Tasks are not scanned.
pub fn extra_services(env: &Env, deep: bool) -> Vec<ExtraService> {
    match Platform::current(env) {
        Ok(Platform::Systemd) => extra_services_in(env, deep, &SYSTEM_UNIT_DIRS.map(PathBuf::from)),
        Ok(Platform::Launchd) => extra_launchd_in(
            env,
            deep,
            &[
                PathBuf::from("/Library/LaunchAgents"),
                PathBuf::from("/Library/LaunchDaemons"),
            ],
        ),
        Ok(Platform::Schtasks) if deep => {
            let program = env
                .get("OPENCLAW_SCHTASKS")
                .unwrap_or("schtasks")
                .to_string();
            let mut runner = runner::System {
                timeout: std::time::Duration::from_secs(30),
            };
            extra_tasks(env, &program, &mut runner)
        }
        _ => Vec::new(),
    }
}

/// `TaskName:` and `Task To Run:` of each task in `schtasks /Query /FO LIST /V`.
pub fn parse_task_list(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.trim().to_lowercase().as_str() {
            "taskname" => out.push((v.to_string(), None)),
            "task to run" => {
                if let Some(last) = out.last_mut() {
                    last.1 = Some(v.to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// Upstream's `--deep` Scheduled Task scan: every task whose name or command mentions
/// `openclaw`/`clawdbot`, except this profile's and other profiles' gateway tasks.
pub fn extra_tasks(env: &Env, program: &str, runner: &mut dyn runner::Runner) -> Vec<ExtraService> {
    let argv = [program, "/Query", "/FO", "LIST", "/V"].map(String::from);
    let o = runner.run(&argv);
    if !o.ok {
        return Vec::new();
    }
    let ours = Names::for_env(env).windows_task.to_lowercase();
    let mut out = Vec::new();
    for (name, run) in parse_task_list(&o.stdout) {
        let lower = name.trim_start_matches('\\').to_lowercase();
        let profile_task = lower
            .strip_prefix("openclaw gateway (")
            .is_some_and(|r| r.len() > 1 && r.ends_with(')'));
        if lower == ours || lower == "openclaw gateway" || profile_task {
            continue;
        }
        let command = run.clone().unwrap_or_default().to_lowercase();
        let Some(marker) = MARKERS
            .iter()
            .find(|m| lower.contains(*m) || command.contains(*m))
        else {
            continue;
        };
        out.push(ExtraService {
            platform: "win32",
            detail: match &run {
                Some(r) => format!("task: {name}, run: {r}"),
                None => name.clone(),
            },
            scope: "system",
            marker: marker.to_string(),
            legacy: *marker != "openclaw",
            path: String::new(),
            label: name,
        });
    }
    out
}

/// Upstream's `scanLaunchdDir` over XML plists (a binary plist cannot be read without
/// `plutil` and is passed over).
fn scan_launchd_dir(
    dir: &Path,
    scope: &'static str,
    ours: &str,
    include_managed: bool,
    out: &mut Vec<ExtraService>,
) {
    for (file, path) in files_ending(dir, ".plist") {
        let Some(from_name) = file.strip_suffix(".plist") else {
            continue;
        };
        if !include_managed && from_name == ours {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let label = plist_strings(&text, "Label", "<key>")
            .into_iter()
            .next()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| from_name.to_string());
        let args = plist_strings(&text, "ProgramArguments", "</array>");
        let program = plist_strings(&text, "Program", "<key>");
        let execution = args
            .iter()
            .any(|a| {
                let a = a.to_lowercase();
                a == "gateway" || a.split_whitespace().any(|w| w == "gateway")
            })
            .then(|| {
                let launch = program
                    .iter()
                    .chain(&args)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
                    .to_lowercase();
                MARKERS.iter().find(|m| launch.contains(*m)).copied()
            })
            .flatten();
        let env_block = text
            .find("<key>EnvironmentVariables</key>")
            .map(|i| &text[i..])
            .map(|r| &r[..r.find("</dict>").unwrap_or(r.len())])
            .unwrap_or("");
        let service_marker = has_service_marker(&env_block.to_lowercase());
        let legacy_label = from_name.to_lowercase().contains("clawdbot")
            || label.to_lowercase().contains("clawdbot");
        let marker = if label == ours || service_marker {
            "openclaw"
        } else if let Some(m) = execution {
            m
        } else if legacy_label {
            "clawdbot"
        } else {
            continue;
        };
        if !include_managed
            && (label == ours
                || (marker == "openclaw"
                    && (service_marker
                        || (execution == Some("openclaw") && label.starts_with("ai.openclaw.")))))
        {
            continue;
        }
        out.push(ExtraService {
            platform: "darwin",
            detail: format!("plist: {}", path.display()),
            scope,
            marker: marker.to_string(),
            legacy: marker != "openclaw" || label.to_lowercase().contains("clawdbot"),
            path: path.display().to_string(),
            label,
        });
    }
}

/// The launchd scan with the system directories given (`[LaunchAgents, LaunchDaemons]`;
/// tests point them elsewhere). LaunchDaemons are listed even when OpenClaw wrote them:
/// a root job beside the user's agent runs a second gateway.
pub fn extra_launchd_in(env: &Env, deep: bool, system_dirs: &[PathBuf]) -> Vec<ExtraService> {
    let ours = Names::for_env(env).launchd_label;
    let mut out = Vec::new();
    scan_launchd_dir(
        &env.home().join("Library/LaunchAgents"),
        "user",
        &ours,
        false,
        &mut out,
    );
    if deep {
        for (i, dir) in system_dirs.iter().enumerate() {
            scan_launchd_dir(dir, "system", &ours, i > 0, &mut out);
        }
    }
    out
}

/// [`extra_services`] with the system directories given (tests point them elsewhere).
pub fn extra_services_in(env: &Env, deep: bool, system_dirs: &[PathBuf]) -> Vec<ExtraService> {
    let ours = format!("{}.service", Names::for_env(env).systemd_unit);
    let user_dir = systemctl::unit_dir(env, false);
    let mut out = Vec::new();
    scan_dir(&user_dir, "user", &ours, &mut out);
    for name in LEGACY_UNITS {
        let label = format!("{name}.service");
        let backup = user_dir.join(format!("{label}.bak"));
        if !out.iter().any(|s| s.label == label) && backup.is_file() {
            out.push(ExtraService {
                platform: "linux",
                detail: format!("unit backup: {}", backup.display()),
                label,
                scope: "user",
                marker: "clawdbot".into(),
                legacy: true,
                path: backup.display().to_string(),
            });
        }
    }
    if deep {
        for dir in system_dirs {
            scan_dir(dir, "system", "", &mut out);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert((s.label.clone(), s.detail.clone(), s.scope)));
    out
}

/// `loginctl` (or `OPENCLAW_LOGINCTL`).
fn loginctl(env: &Env) -> String {
    env.get("OPENCLAW_LOGINCTL")
        .unwrap_or("loginctl")
        .to_string()
}

/// The user whose lingering matters: the `sudo` caller, else this process's user.
pub fn linger_user(env: &Env) -> String {
    systemctl::sudo_user(env)
        .unwrap_or_else(|| crate::os::proc::user_name(crate::os::proc::current_uid()))
}

/// Whether systemd keeps `user`'s manager running without a login session
/// (`loginctl show-user <user> --property Linger`).
pub fn linger(env: &Env, user: &str) -> Result<bool, String> {
    let argv = [
        loginctl(env),
        "show-user".into(),
        user.to_string(),
        "--property".into(),
        "Linger".into(),
    ];
    let o = runner::run(&argv, std::time::Duration::from_secs(10));
    if !o.ok {
        return Err(format!("loginctl show-user {user}: {}", o.reason()));
    }
    match o
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Linger="))
    {
        Some("yes") => Ok(true),
        Some("no") => Ok(false),
        other => Err(format!(
            "loginctl show-user {user}: unexpected answer {:?}",
            other.unwrap_or(o.stdout.trim())
        )),
    }
}

/// `loginctl enable-linger <user>` (polkit lets a user do it for themselves on most
/// systems); `Err` carries the command to run with privileges.
pub fn enable_linger(env: &Env, user: &str) -> Result<(), String> {
    set_linger(env, user, "enable-linger")
}

/// `loginctl disable-linger <user>` (undo of [`enable_linger`]).
pub fn disable_linger(env: &Env, user: &str) -> Result<(), String> {
    set_linger(env, user, "disable-linger")
}

fn set_linger(env: &Env, user: &str, verb: &str) -> Result<(), String> {
    let argv = [loginctl(env), verb.into(), user.to_string()];
    let o = runner::run(&argv, std::time::Duration::from_secs(30));
    if o.ok {
        Ok(())
    } else {
        Err(format!(
            "loginctl {verb} {user} failed: {}; run `sudo loginctl {verb} {}`",
            o.reason(),
            shell_quote(user)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launchd_jobs_are_found_like_upstream_finds_them() {
        let plist = |label: &str, args: &[&str], env: &str| {
            let args: String = args
                .iter()
                .map(|a| format!("<string>{a}</string>"))
                .collect();
            format!("<?xml version=\"1.0\"?>\n<plist><dict><key>Label</key><string>{label}</string><key>ProgramArguments</key><array>{args}</array>{env}</dict></plist>\n")
        };
        let marked = "<key>EnvironmentVariables</key><dict><key>OPENCLAW_SERVICE_MARKER</key><string>openclaw</string><key>OPENCLAW_SERVICE_KIND</key><string>gateway</string></dict>";
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let agents = home.join("Library/LaunchAgents");
        let (sys_agents, daemons) = (dir.path().join("LA"), dir.path().join("LD"));
        for d in [&agents, &sys_agents, &daemons] {
            std::fs::create_dir_all(d).unwrap();
        }
        let write =
            |d: &Path, name: &str, text: String| std::fs::write(d.join(name), text).unwrap();
        write(
            &agents,
            "ai.openclaw.gateway.plist",
            plist(
                "ai.openclaw.gateway",
                &["/usr/local/bin/openclaw", "gateway"],
                marked,
            ),
        );
        write(
            &agents,
            "ai.openclaw.work.plist",
            plist(
                "ai.openclaw.work",
                &["/usr/local/bin/openclaw", "gateway"],
                marked,
            ),
        );
        write(
            &agents,
            "com.clawdbot.gateway.plist",
            plist(
                "com.clawdbot.gateway",
                &["/opt/clawdbot/bin/clawdbot", "gateway"],
                "",
            ),
        );
        write(
            &agents,
            "com.example.fork.plist",
            plist(
                "com.example.fork",
                &["/opt/openclaw/bin/openclaw", "gateway"],
                "",
            ),
        );
        write(
            &agents,
            "com.example.other.plist",
            plist("com.example.other", &["/usr/bin/true"], ""),
        );
        write(&agents, "binary.plist", "bplist00\u{1}".into());
        write(
            &daemons,
            "ai.openclaw.gateway.plist",
            plist(
                "ai.openclaw.gateway",
                &["/usr/local/bin/openclaw", "gateway"],
                marked,
            ),
        );
        let env = Env::from_pairs([("HOME", home.to_str().unwrap())]);
        let found = extra_launchd_in(&env, false, &[sys_agents.clone(), daemons.clone()]);
        let labels: Vec<_> = found.iter().map(|s| (s.label.as_str(), s.legacy)).collect();
        // Ours and another profile's agent are not extra; the fork and the legacy job are.
        assert_eq!(
            labels,
            [("com.clawdbot.gateway", true), ("com.example.fork", false)]
        );
        assert_eq!(
            found[0].hints(),
            [
                "launchctl bootout gui/$UID/com.clawdbot.gateway".to_string(),
                format!("rm {}", agents.join("com.clawdbot.gateway.plist").display()),
            ]
        );
        assert_eq!(found[0].hint_label(), "Cleanup hint:");
        // --deep: a root LaunchDaemon of OpenClaw's beside the agent is listed.
        let found = extra_launchd_in(&env, true, &[sys_agents, daemons.clone()]);
        let d = found.last().unwrap();
        assert_eq!(
            (d.label.as_str(), d.scope),
            ("ai.openclaw.gateway", "system")
        );
        assert_eq!(
            d.detail,
            format!(
                "plist: {}",
                daemons.join("ai.openclaw.gateway.plist").display()
            )
        );
    }

    #[test]
    fn gateway_like_units_are_found_like_upstream_finds_them() {
        assert_eq!(
            marker_line_with_gateway(
                "[Service]\nExecStart=/usr/bin/node /opt/clawdbot/dist/index.js gateway --port 1\n"
            ),
            Some("clawdbot")
        );
        // A comment or another assignment that mentions both does not count.
        assert_eq!(
            marker_line_with_gateway(
                "# openclaw gateway\nDescription=openclaw gateway\nExecStart=/usr/bin/true\n"
            ),
            None
        );
        // ExecStart continued over two lines.
        assert_eq!(
            marker_line_with_gateway("ExecStart=/usr/bin/openclaw \\\n  gateway --port 2\n"),
            Some("openclaw")
        );
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let user = home.join(".config/systemd/user");
        let sys = dir.path().join("etc-systemd");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::write(user.join("clawdbot-gateway.service.bak"), "x").unwrap();
        std::fs::write(
            sys.join("openclaw-gateway.service"),
            "[Service]\nExecStart=/usr/bin/openclaw gateway\nEnvironment=OPENCLAW_SERVICE_MARKER=openclaw\nEnvironment=OPENCLAW_SERVICE_KIND=gateway\n",
        )
        .unwrap();
        std::fs::write(
            sys.join("my gateway.service"),
            "[Service]\nExecStart=/srv/openclaw/bin/openclaw gateway --port 9\n",
        )
        .unwrap();
        let env = Env::from_pairs([("HOME", home.to_str().unwrap())]);
        let found = extra_services_in(&env, false, std::slice::from_ref(&sys));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "clawdbot-gateway.service");
        assert!(found[0].detail.starts_with("unit backup: "));
        let found = extra_services_in(&env, true, std::slice::from_ref(&sys));
        let labels: Vec<_> = found.iter().map(|s| (s.label.as_str(), s.scope)).collect();
        // The marked system unit is OpenClaw's own: not extra (upstream skips it too).
        assert_eq!(
            labels,
            [
                ("clawdbot-gateway.service", "user"),
                ("my gateway.service", "system")
            ]
        );
        assert_eq!(
            found[1].hints(),
            [
                "systemctl --system status -- 'my gateway.service'",
                "systemctl --system cat -- 'my gateway.service'"
            ]
        );
    }

    #[test]
    fn environment_and_exec_lines_are_parsed() {
        let text = "[Service]\nExecStart=/usr/bin/openclaw gateway \"--name\" \"a b\" 100%%\nEnvironment=HOME=/h\nEnvironment=\"OPENCLAW_STATE_DIR=/srv/open claw\"\nEnvironment=P=100%%\n";
        assert_eq!(
            unit_environment(text),
            vec![
                ("HOME".to_string(), "/h".to_string()),
                (
                    "OPENCLAW_STATE_DIR".to_string(),
                    "/srv/open claw".to_string()
                ),
                ("P".to_string(), "100%".to_string()),
            ]
        );
        let exec = text
            .lines()
            .nth(1)
            .unwrap()
            .strip_prefix("ExecStart=")
            .unwrap();
        assert_eq!(
            split_exec(exec),
            ["/usr/bin/openclaw", "gateway", "--name", "a b", "100%"]
        );
    }
}
