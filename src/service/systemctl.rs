//! Driving systemd through `systemctl` (`--user` unless `--system`): availability, unit
//! state, and the lifecycle verbs. `OPENCLAW_SYSTEMCTL` names another binary (a wrapper,
//! or the recorded runner the tests use). Every call is bounded by a timeout.

use crate::config::env::Env;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const UNAVAILABLE_HINT: &str = "systemd user services are unavailable; install/enable systemd or run the gateway under your supervisor.";
pub const CONTAINER_HINT: &str =
    "If you're in a container, run the gateway in the foreground instead of `openclaw gateway`.";
const TIMEOUT: Duration = Duration::from_secs(15);

/// One `systemctl` invocation's result.
#[derive(Debug, Clone)]
pub struct Output {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The most useful line of a failure.
    pub fn reason(&self) -> String {
        let s = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        s.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string()
    }
}

#[derive(Debug, Clone)]
pub struct Systemctl {
    program: String,
    system: bool,
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

impl Systemctl {
    pub fn new(env: &Env, system: bool) -> Self {
        Systemctl {
            program: env
                .get("OPENCLAW_SYSTEMCTL")
                .unwrap_or("systemctl")
                .to_string(),
            system,
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
        let mut cmd = Command::new(&self.program);
        if !self.system {
            cmd.arg("--user");
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Output {
                    ok: false,
                    code: None,
                    stdout: String::new(),
                    stderr: format!("{}: {e}", self.program),
                }
            }
        };
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let started = Instant::now();
        match rx.recv_timeout(TIMEOUT) {
            Ok(Ok(o)) => Output {
                ok: o.status.success(),
                code: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Ok(Err(e)) => Output {
                ok: false,
                code: None,
                stdout: String::new(),
                stderr: format!("{}: {e}", self.program),
            },
            Err(_) => {
                // SAFETY: kill(2) on the child we spawned and have not reaped.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
                Output {
                    ok: false,
                    code: None,
                    stdout: String::new(),
                    stderr: format!(
                        "{} did not answer within {}s",
                        self.program,
                        started.elapsed().as_secs()
                    ),
                }
            }
        }
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

/// Where unit files go: `/etc/systemd/system`, or `$XDG_CONFIG_HOME/systemd/user`
/// (`~/.config/systemd/user`).
pub fn unit_dir(env: &Env, system: bool) -> PathBuf {
    if system {
        return PathBuf::from("/etc/systemd/system");
    }
    match env.get("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x).join("systemd/user"),
        None => env.home().join(".config/systemd/user"),
    }
}

/// The `Runtime:` line of `gateway status` (spec 3.5). Exit 143 is a normal SIGTERM stop.
pub fn runtime_line(s: &UnitState) -> String {
    let exit = match (s.exec_main_status, s.exec_main_code.as_deref()) {
        (Some(143), _) | (Some(15), Some("killed")) => {
            Some("last exit 143 (normal SIGTERM stop)".to_string())
        }
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
    }
}
