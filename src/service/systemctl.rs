//! Driving systemd through `systemctl` (`--user` unless `--system`): availability, unit
//! state, and the lifecycle verbs. `OPENCLAW_SYSTEMCTL` names another binary (a wrapper,
//! or the recorded runner the tests use). Every call is bounded by a timeout.

use crate::config::env::Env;
use std::path::PathBuf;
use std::time::Duration;

pub const UNAVAILABLE_HINT: &str = "systemd user services are unavailable; install/enable systemd or run the gateway under your supervisor.";
pub const CONTAINER_HINT: &str =
    "If you're in a container, run the gateway in the foreground instead of `openclaw gateway`.";
const TIMEOUT: Duration = Duration::from_secs(15);

pub use super::runner::Output;

#[derive(Debug, Clone)]
pub struct Systemctl {
    program: String,
    system: bool,
    /// Under `sudo`, the invoking user's manager (`--machine <user>@ --user`).
    machine: Option<String>,
}

/// A unit's state from `systemctl show`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitState {
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub main_pid: Option<u32>,
    pub exec_main_status: Option<i32>,
    /// `exited`, `killed`, `dumped` (from ExecMainCode 1, 2, 3).
    pub exec_main_code: Option<String>,
    pub n_restarts: Option<u32>,
    pub unit_file_state: String,
}

impl UnitState {
    pub fn missing(&self) -> bool {
        self.load_state == "not-found"
    }
    pub fn running(&self) -> bool {
        self.active_state == "active"
    }

    /// The last exit as a shell reports it: the status when the process exited, 128 + the
    /// signal when it was killed (so a SIGTERM stop is 143 either way).
    pub fn exit_code(&self) -> Option<i32> {
        match (self.exec_main_status?, self.exec_main_code.as_deref()) {
            (sig, Some("killed" | "dumped")) => Some(128 + sig),
            (n, _) => Some(n),
        }
    }
}

pub const SHOW_PROPERTIES: &str =
    "LoadState,ActiveState,SubState,MainPID,ExecMainStatus,ExecMainCode,NRestarts,UnitFileState";

/// Parse `Key=Value` lines of `systemctl show`.
pub fn parse_show(text: &str) -> UnitState {
    let mut s = UnitState::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "LoadState" => s.load_state = v.into(),
            "ActiveState" => s.active_state = v.into(),
            "SubState" => s.sub_state = v.into(),
            "MainPID" => s.main_pid = v.parse().ok().filter(|p| *p > 0),
            "ExecMainStatus" => s.exec_main_status = v.parse().ok(),
            "ExecMainCode" => {
                s.exec_main_code = match v {
                    "1" => Some("exited".into()),
                    "2" => Some("killed".into()),
                    "3" => Some("dumped".into()),
                    _ => None,
                }
            }
            "NRestarts" => s.n_restarts = v.parse().ok(),
            "UnitFileState" => s.unit_file_state = v.into(),
            _ => {}
        }
    }
    s
}

/// The invoking user when running as root under `sudo` (their user manager is the one meant).
pub fn sudo_user(env: &Env) -> Option<String> {
    if crate::os::proc::current_euid() != 0 {
        return None;
    }
    env.get("SUDO_USER")
        .map(str::trim)
        .filter(|u| !u.is_empty() && *u != "root")
        .map(String::from)
}

impl Systemctl {
    pub fn new(env: &Env, system: bool) -> Self {
        Systemctl {
            program: env
                .get("OPENCLAW_SYSTEMCTL")
                .unwrap_or("systemctl")
                .to_string(),
            system,
            machine: sudo_user(env).filter(|_| !system),
        }
    }

    pub fn scope(&self) -> &'static str {
        if self.system {
            "system"
        } else {
            "user"
        }
    }

    /// Run `systemctl [--user] <args>` with a timeout.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut argv: Vec<String> = vec![self.program.clone()];
        match (&self.machine, self.system) {
            (_, true) => {}
            (Some(user), false) => {
                argv.extend(["--machine".into(), format!("{user}@"), "--user".into()])
            }
            (None, false) => argv.push("--user".into()),
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        super::runner::run(&argv, TIMEOUT)
    }

    /// `Err(reason)` when the service manager cannot be reached (no user session, a
    /// container without systemd).
    pub fn available(&self) -> Result<(), String> {
        let o = self.run(&["show-environment"]);
        if o.ok {
            Ok(())
        } else {
            Err(format!(
                "systemctl --{} unavailable: {}",
                self.scope(),
                o.reason()
            ))
        }
    }

    pub fn show(&self, unit: &str) -> Result<UnitState, String> {
        let o = self.run(&["show", unit, "--no-page", "--property", SHOW_PROPERTIES]);
        if o.ok {
            Ok(parse_show(&o.stdout))
        } else {
            Err(o.reason())
        }
    }
}

/// Where unit files go: `/etc/systemd/system` (`OPENCLAW_SYSTEMD_SYSTEM_DIR` for an
/// image or chroot being prepared, and the tests), or `$XDG_CONFIG_HOME/systemd/user`
/// (`~/.config/systemd/user`).
pub fn unit_dir(env: &Env, system: bool) -> PathBuf {
    if system {
        return PathBuf::from(
            env.get("OPENCLAW_SYSTEMD_SYSTEM_DIR")
                .filter(|d| !d.trim().is_empty())
                .unwrap_or("/etc/systemd/system"),
        );
    }
    match env.get("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x).join("systemd/user"),
        None => env.home().join(".config/systemd/user"),
    }
}

/// The `Runtime:` line of `gateway status` (spec 3.5). Exit 143 is a normal SIGTERM stop.
pub fn runtime_line(s: &UnitState) -> String {
    let exit = match (s.exit_code(), s.exec_main_code.as_deref()) {
        (Some(143), _) => Some("last exit 143 (normal SIGTERM stop)".to_string()),
        (Some(n), Some(code)) if n != 0 => Some(format!("last exit {n}, reason {code}")),
        (Some(n), _) if n != 0 => Some(format!("last exit {n}")),
        _ => None,
    };
    let mut parts = Vec::new();
    if let Some(pid) = s.main_pid {
        parts.push(format!("pid {pid}"));
    }
    parts.push(format!("state {}", s.active_state));
    parts.push(format!("sub {}", s.sub_state));
    if let Some(e) = exit {
        parts.push(e);
    }
    if let Some(n) = s.n_restarts.filter(|n| *n > 0) {
        parts.push(format!("restarts {n}"));
    }
    let word = if s.missing() {
        "not installed"
    } else if s.running() {
        "running"
    } else {
        "stopped"
    };
    format!("{word} ({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_sudo_the_invoking_users_manager_is_addressed() {
        let env = Env::from_pairs([("OPENCLAW_SYSTEMCTL", "echo"), ("SUDO_USER", "oc")]);
        let user = Systemctl::new(&env, false)
            .run(&["show-environment"])
            .stdout;
        if crate::os::proc::current_euid() == 0 {
            assert_eq!(user, "--machine oc@ --user show-environment\n");
        } else {
            assert_eq!(user, "--user show-environment\n");
        }
        // A system unit is the system manager's, sudo or not.
        let system = Systemctl::new(&env, true).run(&["daemon-reload"]).stdout;
        assert_eq!(system, "daemon-reload\n");
    }

    #[test]
    fn show_output_and_runtime_lines() {
        let s = parse_show("LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nExecMainStatus=0\nExecMainCode=0\nNRestarts=2\nUnitFileState=enabled\n");
        assert!(s.running() && !s.missing());
        assert_eq!(
            runtime_line(&s),
            "running (pid 4242, state active, sub running, restarts 2)"
        );
        let s = parse_show("LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nExecMainStatus=78\nExecMainCode=1\n");
        assert_eq!(
            runtime_line(&s),
            "stopped (state failed, sub failed, last exit 78, reason exited)"
        );
        let s = parse_show("LoadState=loaded\nActiveState=inactive\nSubState=dead\nExecMainStatus=143\nExecMainCode=1\n");
        assert_eq!(
            runtime_line(&s),
            "stopped (state inactive, sub dead, last exit 143 (normal SIGTERM stop))"
        );
        assert!(parse_show("LoadState=not-found\n").missing());
        // Killed by a signal: reported as 128 + signal.
        let s = parse_show("LoadState=loaded\nActiveState=failed\nSubState=failed\nExecMainStatus=9\nExecMainCode=2\n");
        assert_eq!(s.exit_code(), Some(137));
        assert_eq!(
            runtime_line(&s),
            "stopped (state failed, sub failed, last exit 137, reason killed)"
        );
        let s = parse_show("LoadState=loaded\nActiveState=inactive\nSubState=dead\nExecMainStatus=15\nExecMainCode=2\n");
        assert_eq!(
            runtime_line(&s),
            "stopped (state inactive, sub dead, last exit 143 (normal SIGTERM stop))"
        );
    }
}
