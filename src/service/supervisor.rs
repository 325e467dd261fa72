//! The gateway's supervisor on this platform, behind one interface for the service
//! commands: systemd ([`Manager`]: D-Bus or `systemctl`), launchd (`launchctl`) or the
//! Windows Task Scheduler (`schtasks`). Which file is written where, how it is activated,
//! how a lifecycle job runs and how the runtime is read.
//!
//! The platform is this build's target; `OPENCLAW_SERVICE_PLATFORM` (`systemd`, `launchd`,
//! `schtasks`) picks another, with `OPENCLAW_LAUNCHCTL` / `OPENCLAW_SCHTASKS` naming the
//! programs, so the launchd and schtasks paths run end to end anywhere (the tests point
//! them at recorders).

use super::bus::Job;
use super::manager::Manager;
use super::runner;
use super::systemctl::{self, UnitState};
use super::{launchd, schtasks, systemd, LineBreak, Names, ServiceSpec};
use crate::config::env::Env;
use std::path::PathBuf;
use std::time::Duration;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Systemd,
    Launchd,
    Schtasks,
}

impl Platform {
    /// This build's supervisor, or the one `OPENCLAW_SERVICE_PLATFORM` names; `Err` on a
    /// platform without one.
    pub fn current(env: &Env) -> Result<Platform, String> {
        match env.get("OPENCLAW_SERVICE_PLATFORM").map(str::trim) {
            Some("systemd") => return Ok(Platform::Systemd),
            Some("launchd") => return Ok(Platform::Launchd),
            Some("schtasks") => return Ok(Platform::Schtasks),
            Some(other) if !other.is_empty() => {
                return Err(format!(
                    "OPENCLAW_SERVICE_PLATFORM={other:?} is not one of systemd, launchd, schtasks"
                ))
            }
            _ => {}
        }
        if cfg!(target_os = "linux") {
            Ok(Platform::Systemd)
        } else if cfg!(target_os = "macos") {
            Ok(Platform::Launchd)
        } else if cfg!(windows) {
            Ok(Platform::Schtasks)
        } else {
            Err(format!(
                "Service management on {} is not supported; run the gateway in the foreground (`openclaw gateway`).",
                std::env::consts::OS
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::Systemd => "systemd",
            Platform::Launchd => "launchd",
            Platform::Schtasks => "schtasks",
        }
    }
}

/// What a service is called and where its file lives.
#[derive(Debug, Clone)]
pub struct Target {
    pub platform: Platform,
    /// `openclaw-gateway.service`, `ai.openclaw.gateway`, `OpenClaw Gateway`.
    pub name: String,
    /// The unit, plist or launcher file.
    pub path: PathBuf,
    /// `user` or `system` (systemd `--system`; launchd and schtasks are per user here).
    pub scope: &'static str,
}

impl Target {
    pub fn new(env: &Env, platform: Platform, system: bool, state_dir: &std::path::Path) -> Self {
        let names = Names::for_env(env);
        let (name, path) = match platform {
            Platform::Systemd => {
                let unit = format!("{}.service", names.systemd_unit);
                let path = systemctl::unit_dir(env, system).join(&unit);
                (unit, path)
            }
            Platform::Launchd => (
                names.launchd_label.clone(),
                launchd::plist_path(&env.home(), &names.launchd_label),
            ),
            Platform::Schtasks => (names.windows_task.clone(), state_dir.join("gateway.cmd")),
        };
        Target {
            platform,
            name,
            path,
            scope: if system && platform == Platform::Systemd {
                "system"
            } else {
                "user"
            },
        }
    }

    /// The file's text for this platform.
    pub fn render(&self, spec: &ServiceSpec) -> Result<String, LineBreak> {
        match self.platform {
            Platform::Systemd => systemd::render(spec),
            Platform::Launchd => launchd::render(spec),
            Platform::Schtasks => schtasks::launcher(spec),
        }
    }

    /// Where to read what the service did.
    pub fn logs_hint(&self, state_dir: &std::path::Path) -> String {
        match self.platform {
            Platform::Systemd => format!("journalctl --{} -u {} -n 50", self.scope, self.name),
            Platform::Launchd | Platform::Schtasks => {
                format!(
                    "tail -n 50 {}",
                    state_dir.join("logs/gateway.err.log").display()
                )
            }
        }
    }
}

/// A reached supervisor.
pub enum Supervisor {
    Systemd(Manager),
    Launchd(launchd::Launchctl<runner::System>),
    Schtasks(schtasks::Schtasks<runner::System>),
}

impl Supervisor {
    /// Reach the target's supervisor. For systemd this checks that the manager answers;
    /// `launchctl` and `schtasks` are only found on PATH.
    pub fn connect(env: &Env, target: &Target) -> Result<Supervisor, String> {
        let program = |var: &str, default: &str| -> Result<String, String> {
            let p = env.get(var).unwrap_or(default).to_string();
            let found = if p.contains('/') || p.contains('\\') {
                std::path::Path::new(&p).is_file()
            } else {
                env.get("PATH")
                    .unwrap_or_default()
                    .split(if cfg!(windows) { ';' } else { ':' })
                    .any(|d| std::path::Path::new(d).join(&p).is_file())
            };
            if found {
                Ok(p)
            } else {
                Err(format!(
                    "{p} not found (is this {}?)",
                    target.platform.name()
                ))
            }
        };
        let runner = runner::System {
            timeout: COMMAND_TIMEOUT,
        };
        match target.platform {
            Platform::Systemd => {
                Manager::connect(env, target.scope == "system").map(Supervisor::Systemd)
            }
            Platform::Launchd => Ok(Supervisor::Launchd(launchd::Launchctl {
                runner,
                program: program("OPENCLAW_LAUNCHCTL", "launchctl")?,
                uid: crate::os::proc::current_uid(),
                label: target.name.clone(),
                plist: target.path.clone(),
            })),
            Platform::Schtasks => Ok(Supervisor::Schtasks(schtasks::Schtasks {
                runner,
                program: program("OPENCLAW_SCHTASKS", "schtasks")?,
                task: target.name.clone(),
                launcher: target.path.clone(),
                description: super::description(env),
                user: schtasks::task_user(env),
            })),
        }
    }

    /// `dbus`, `systemctl`, `launchctl` or `schtasks`.
    pub fn via(&self) -> &'static str {
        match self {
            Supervisor::Systemd(m) => m.via(),
            Supervisor::Launchd(_) => "launchctl",
            Supervisor::Schtasks(_) => "schtasks",
        }
    }

    /// Why systemd is driven through `systemctl` rather than D-Bus, when it is.
    pub fn fallback(&self) -> Option<&str> {
        match self {
            Supervisor::Systemd(m) => m.fallback.as_deref(),
            _ => None,
        }
    }

    /// The service's state (`missing()` when the supervisor does not know it).
    pub fn runtime(&mut self, target: &Target) -> Result<UnitState, String> {
        match self {
            Supervisor::Systemd(m) => m.show(&target.name),
            Supervisor::Launchd(l) => l.runtime(),
            Supervisor::Schtasks(s) => s.runtime(),
        }
    }

    /// After the file was written: load it, enable it, start it.
    pub fn activate(&mut self, target: &Target) -> Result<(), String> {
        match self {
            Supervisor::Systemd(m) => m
                .reload()
                .and_then(|_| m.enable(&target.name))
                .and_then(|_| m.job(Job::Start, &target.name)),
            Supervisor::Launchd(l) => l.install(),
            Supervisor::Schtasks(s) => s.install(),
        }
    }

    pub fn job(&mut self, job: Job, target: &Target) -> Result<(), String> {
        match (self, job) {
            (Supervisor::Systemd(m), _) => m.job(job, &target.name),
            (Supervisor::Launchd(l), Job::Start) => l.start(),
            (Supervisor::Launchd(l), Job::Stop) => l.stop(),
            (Supervisor::Launchd(l), Job::Restart) => l.restart(),
            (Supervisor::Schtasks(s), Job::Start) => s.start(),
            (Supervisor::Schtasks(s), Job::Stop) => s.stop(),
            (Supervisor::Schtasks(s), Job::Restart) => s.restart(),
        }
    }

    /// Before the file goes: stop and unregister. Returns what failed (uninstall goes on).
    pub fn deactivate(&mut self, target: &Target) -> Vec<String> {
        let result = match self {
            Supervisor::Systemd(m) => {
                let loaded = m.show(&target.name).map(|s| !s.missing()).unwrap_or(false);
                if !loaded {
                    return Vec::new();
                }
                return [m.job(Job::Stop, &target.name), m.disable(&target.name)]
                    .into_iter()
                    .filter_map(Result::err)
                    .collect();
            }
            Supervisor::Launchd(l) => l.stop(),
            Supervisor::Schtasks(s) => s.remove(),
        };
        result.err().into_iter().collect()
    }

    /// After the service file was rewritten (`restart`) or removed: have the supervisor
    /// pick the change up — systemd reloads and restarts, launchd boots the job out and
    /// in again, the Scheduled Task restarts (or goes, with its launcher).
    pub fn file_changed(&mut self, target: &Target, restart: bool) -> Result<(), String> {
        match self {
            Supervisor::Systemd(m) => {
                m.reload()?;
                if restart {
                    m.job(Job::Restart, &target.name)
                } else {
                    Ok(())
                }
            }
            Supervisor::Launchd(l) if restart => l.install(),
            Supervisor::Launchd(l) => l.stop(),
            Supervisor::Schtasks(s) if restart => s.restart(),
            Supervisor::Schtasks(s) => s.remove(),
        }
    }

    /// What [`Supervisor::file_changed`] runs, for `doctor --fix --dry-run`.
    pub fn describe_file_change(target: &Target, via: &str) -> Vec<String> {
        match target.platform {
            Platform::Systemd => {
                let how = if via == "dbus" { " (over D-Bus)" } else { "" };
                vec![
                    format!("systemctl --{} daemon-reload{how}", target.scope),
                    format!("systemctl --{} restart {}{how}", target.scope, target.name),
                ]
            }
            Platform::Launchd => vec![
                format!("launchctl bootout gui/$UID/{}", target.name),
                format!("launchctl bootstrap gui/$UID {}", target.path.display()),
            ],
            Platform::Schtasks => vec![
                format!("schtasks /End /TN \"{}\"", target.name),
                format!("schtasks /Run /TN \"{}\"", target.name),
            ],
        }
    }

    /// After the file went: systemd re-reads its unit files.
    pub fn forget(&mut self) -> Result<(), String> {
        match self {
            Supervisor::Systemd(m) => m.reload(),
            _ => Ok(()),
        }
    }
}
