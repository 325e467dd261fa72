//! systemd's D-Bus API (`org.freedesktop.systemd1`) through `zbus`: the subset the service
//! commands and inspection need — load a unit and read its state (`LoadState`,
//! `ActiveState`, `SubState`, `UnitFileState`, `MainPID`, `ExecMainStatus`, `ExecMainCode`,
//! `NRestarts`), `Reload` (daemon-reload), `EnableUnitFiles`/`DisableUnitFiles`, and
//! `StartUnit`/`StopUnit`/`RestartUnit`, each waited for through its `JobRemoved` signal
//! as `systemctl` waits for it.
//!
//! The user manager is on the session bus (`DBUS_SESSION_BUS_ADDRESS`, else
//! `$XDG_RUNTIME_DIR/bus`, else `/run/user/<uid>/bus`); the system manager on the system bus
//! (`DBUS_SYSTEM_BUS_ADDRESS`, else `/run/dbus/system_bus_socket`). The callers are
//! synchronous, so a [`Bus`] owns a small current-thread runtime; every call is bounded.

use super::systemctl::UnitState;
use crate::config::env::Env;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

/// A method call's bound (systemd answers in milliseconds; a hung bus must not hang us).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a start/stop/restart job may take (the unit's own start timeout is 30 s).
pub const JOB_TIMEOUT: Duration = Duration::from_secs(90);

pub const DESTINATION: &str = "org.freedesktop.systemd1";
pub const MANAGER_PATH: &str = "/org/freedesktop/systemd1";

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1",
    gen_blocking = false
)]
pub trait Systemd1Manager {
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reload(&self) -> zbus::Result<()>;
    fn subscribe(&self) -> zbus::Result<()>;
    fn enable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
        force: bool,
    ) -> zbus::Result<(bool, Vec<(String, String, String)>)>;
    fn disable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
    ) -> zbus::Result<Vec<(String, String, String)>>;
    #[zbus(signal)]
    fn job_removed(&self, id: u32, job: OwnedObjectPath, unit: String, result: String);
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

/// The lifecycle jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Start,
    Stop,
    Restart,
}

impl Job {
    pub fn verb(self) -> &'static str {
        match self {
            Job::Start => "start",
            Job::Stop => "stop",
            Job::Restart => "restart",
        }
    }
}

/// What a finished job's result means, worded as `systemctl` words it.
pub fn job_failure(job: Job, unit: &str, result: &str) -> Option<String> {
    let why = match result {
        "done" | "skipped" => return None,
        "canceled" => "the job was canceled",
        "timeout" => "a timeout was exceeded",
        "failed" if job == Job::Stop => "the stop operation failed",
        "failed" => "the control process exited with error code",
        "dependency" => "a dependency job failed",
        "invalid" => "the job is not applicable to the unit's type",
        "unsupported" => "the operation is not supported",
        other => return Some(format!("Job for {unit} finished with result {other}.")),
    };
    Some(format!("Job for {unit} failed because {why}."))
}

/// The bus address for a scope, from the environment the command runs with.
pub fn address(env: &Env, system: bool) -> String {
    if system {
        return env
            .get("DBUS_SYSTEM_BUS_ADDRESS")
            .filter(|a| !a.trim().is_empty())
            .map(String::from)
            .unwrap_or_else(|| "unix:path=/run/dbus/system_bus_socket".into());
    }
    if let Some(a) = env
        .get("DBUS_SESSION_BUS_ADDRESS")
        .filter(|a| !a.trim().is_empty())
    {
        return a.to_string();
    }
    let runtime = env
        .get("XDG_RUNTIME_DIR")
        .filter(|d| !d.trim().is_empty())
        .map(String::from)
        .unwrap_or_else(|| format!("/run/user/{}", crate::os::proc::current_uid()));
    format!("unix:path={runtime}/bus")
}

/// A connection to one systemd manager over D-Bus.
pub struct Bus {
    /// Both `Some` until dropped.
    rt: Option<tokio::runtime::Runtime>,
    live: Option<Live>,
    address: String,
}

/// What must be created and dropped inside the runtime (zbus spawns on both).
struct Live {
    conn: zbus::Connection,
    manager: Systemd1ManagerProxy<'static>,
}

impl Drop for Bus {
    fn drop(&mut self) {
        // Dropping a runtime blocks; inside the doctor's runtime that is not allowed.
        if let Some(rt) = self.rt.take() {
            {
                let _inside = rt.enter();
                self.live.take();
            }
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("address", &self.address)
            .finish()
    }
}

/// A D-Bus error as one line: `org.freedesktop.systemd1.NoSuchUnit: Unit x not found.`
fn describe(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, msg, _) => match msg {
            Some(m) if !m.is_empty() => format!("{}: {m}", name.as_str()),
            _ => name.as_str().to_string(),
        },
        zbus::Error::FDO(fdo) => fdo.to_string(),
        other => other.to_string(),
    }
}

/// Run `f` on the bus's runtime. Inside another runtime (the doctor's), the current thread
/// may not block, so a scoped thread does.
fn block<F>(rt: &tokio::runtime::Runtime, f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(f);
    }
    std::thread::scope(|s| match s.spawn(|| rt.block_on(f)).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

async fn bounded<T>(
    what: &str,
    f: impl std::future::Future<Output = zbus::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", describe(&e))),
        Err(_) => Err(format!(
            "{what}: no answer within {}s",
            CALL_TIMEOUT.as_secs()
        )),
    }
}

fn prop_str(props: &HashMap<String, OwnedValue>, k: &str) -> String {
    props
        .get(k)
        .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
        .unwrap_or_default()
}

fn prop_u32(props: &HashMap<String, OwnedValue>, k: &str) -> Option<u32> {
    props.get(k).and_then(|v| u32::try_from(v).ok())
}

fn prop_i32(props: &HashMap<String, OwnedValue>, k: &str) -> Option<i32> {
    props.get(k).and_then(|v| i32::try_from(v).ok())
}

/// Map the `Unit` and `Service` interfaces' properties onto [`UnitState`].
pub fn unit_state(
    unit: &HashMap<String, OwnedValue>,
    service: &HashMap<String, OwnedValue>,
) -> UnitState {
    UnitState {
        load_state: prop_str(unit, "LoadState"),
        active_state: prop_str(unit, "ActiveState"),
        sub_state: prop_str(unit, "SubState"),
        unit_file_state: prop_str(unit, "UnitFileState"),
        main_pid: prop_u32(service, "MainPID").filter(|p| *p > 0),
        exec_main_status: prop_i32(service, "ExecMainStatus"),
        exec_main_code: prop_i32(service, "ExecMainCode").and_then(|c| match c {
            1 => Some("exited".to_string()),
            2 => Some("killed".to_string()),
            3 => Some("dumped".to_string()),
            _ => None,
        }),
        n_restarts: prop_u32(service, "NRestarts"),
    }
}

impl Bus {
    /// Connect to the scope's bus and check that a systemd manager answers on it.
    pub fn connect(env: &Env, system: bool) -> Result<Bus, String> {
        let address = address(env, system);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the D-Bus runtime: {e}"))?;
        let connected = block(&rt, async {
            let builder = zbus::connection::Builder::address(address.as_str())
                .map_err(|e| format!("bad D-Bus address {address}: {e}"))?
                .method_timeout(CALL_TIMEOUT);
            let conn = match tokio::time::timeout(CALL_TIMEOUT, builder.build()).await {
                Ok(Ok(c)) => c,
                // zbus names the address in its error.
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err(format!("{address} did not answer")),
            };
            let manager = Systemd1ManagerProxy::builder(&conn)
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await
                .map_err(|e| describe(&e))?;
            bounded(&format!("{DESTINATION} on {address}"), manager.version()).await?;
            Ok(Live { conn, manager })
        });
        let live = match connected {
            Ok(c) => c,
            Err(e) => {
                rt.shutdown_background();
                return Err(e);
            }
        };
        Ok(Bus {
            rt: Some(rt),
            live: Some(live),
            address,
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    fn live(&self) -> &Live {
        self.live.as_ref().expect("the connection lives until drop")
    }

    /// The unit's state; `LoadState=not-found` when no such unit file exists.
    pub fn show(&self, unit: &str) -> Result<UnitState, String> {
        let m = &self.live().manager;
        block(self.rt(), async {
            let path = bounded(&format!("LoadUnit {unit}"), m.load_unit(unit)).await?;
            let props = zbus::fdo::PropertiesProxy::builder(&self.live().conn)
                .destination(DESTINATION)
                .and_then(|b| b.path(path.clone()))
                .map_err(|e| describe(&e))?
                .build()
                .await
                .map_err(|e| describe(&e))?;
            let iface = |n: &'static str| {
                zbus::names::InterfaceName::try_from(n).expect("static interface name")
            };
            let unit_props = bounded(&format!("properties of {unit}"), async {
                props
                    .get_all(iface("org.freedesktop.systemd1.Unit"))
                    .await
                    .map_err(zbus::Error::from)
            })
            .await?;
            // A unit that is not found has no Service interface; its state says so.
            let service_props = props
                .get_all(iface("org.freedesktop.systemd1.Service"))
                .await
                .unwrap_or_default();
            Ok(unit_state(&unit_props, &service_props))
        })
    }

    /// `systemctl daemon-reload`.
    pub fn reload(&self) -> Result<(), String> {
        let m = &self.live().manager;
        block(self.rt(), bounded("Reload (daemon-reload)", m.reload()))
    }

    /// `systemctl enable <unit>`: the unit file is linked into its `WantedBy=` target, then
    /// the manager reloads when links changed (as `systemctl` does).
    pub fn enable(&self, unit: &str) -> Result<(), String> {
        let m = &self.live().manager;
        let (_, changes) = block(
            self.rt(),
            bounded(
                &format!("EnableUnitFiles {unit}"),
                m.enable_unit_files(&[unit], false, false),
            ),
        )?;
        if changes.is_empty() {
            return Ok(());
        }
        self.reload()
    }

    /// `systemctl disable <unit>` (and the reload that follows a change).
    pub fn disable(&self, unit: &str) -> Result<(), String> {
        let m = &self.live().manager;
        let changes = block(
            self.rt(),
            bounded(
                &format!("DisableUnitFiles {unit}"),
                m.disable_unit_files(&[unit], false),
            ),
        )?;
        if changes.is_empty() {
            return Ok(());
        }
        self.reload()
    }

    /// Queue a start/stop/restart job (mode `replace`) and wait for its `JobRemoved`.
    pub fn job(&self, job: Job, unit: &str) -> Result<(), String> {
        let m = &self.live().manager;
        block(self.rt(), async {
            // Listen before queueing, so a job that finishes at once is not missed.
            let mut removed = m
                .receive_job_removed()
                .await
                .map_err(|e| format!("cannot watch JobRemoved: {}", describe(&e)))?;
            bounded("Subscribe", m.subscribe()).await?;
            let what = format!("{}Unit {unit}", capitalised(job.verb()));
            let path = match job {
                Job::Start => bounded(&what, m.start_unit(unit, "replace")).await?,
                Job::Stop => bounded(&what, m.stop_unit(unit, "replace")).await?,
                Job::Restart => bounded(&what, m.restart_unit(unit, "replace")).await?,
            };
            let wait = async {
                while let Some(sig) = removed.next().await {
                    let Ok(a) = sig.args() else { continue };
                    if a.job.as_str() == path.as_str() {
                        return Some(a.result.clone());
                    }
                }
                None
            };
            match tokio::time::timeout(JOB_TIMEOUT, wait).await {
                Ok(Some(result)) => match job_failure(job, unit, &result) {
                    None => Ok(()),
                    Some(why) => Err(why),
                },
                Ok(None) => Err(format!(
                    "the bus closed before the {} job for {unit} finished",
                    job.verb()
                )),
                Err(_) => Err(format!(
                    "the {} job for {unit} ({}) did not finish within {}s",
                    job.verb(),
                    path.as_str(),
                    JOB_TIMEOUT.as_secs()
                )),
            }
        })
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_results_are_worded_like_systemctl() {
        assert_eq!(job_failure(Job::Start, "u.service", "done"), None);
        assert_eq!(
            job_failure(Job::Start, "u.service", "failed").unwrap(),
            "Job for u.service failed because the control process exited with error code."
        );
        assert_eq!(
            job_failure(Job::Restart, "u.service", "timeout").unwrap(),
            "Job for u.service failed because a timeout was exceeded."
        );
        assert!(job_failure(Job::Stop, "u.service", "weird")
            .unwrap()
            .contains("result weird"));
    }

    #[test]
    fn bus_addresses_follow_the_environment() {
        let env = Env::from_pairs([("XDG_RUNTIME_DIR", "/run/user/1000")]);
        assert_eq!(address(&env, false), "unix:path=/run/user/1000/bus");
        let env = Env::from_pairs([
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/tmp/b"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ]);
        assert_eq!(address(&env, false), "unix:path=/tmp/b");
        assert_eq!(address(&env, true), "unix:path=/run/dbus/system_bus_socket");
    }
}
