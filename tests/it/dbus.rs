//! The service commands against systemd's D-Bus API: a real `dbus-daemon` (a private
//! session bus started by the test) hosting a test implementation of the subset of
//! `org.freedesktop.systemd1` the code calls. The manager's behaviour is modelled on
//! systemd's: `LoadUnit` answers for any name (`LoadState=not-found` without a unit file),
//! jobs finish with a `JobRemoved` signal carrying their result, errors carry systemd's
//! names. Every call the binary makes is recorded.

use crate::support::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath};

const T: Duration = Duration::from_secs(60);
const UNIT: &str = "openclaw-gateway.service";

/// A private bus: `dbus-daemon` with its own config on a socket in a temp dir.
struct TestBus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl TestBus {
    /// `None` (and a loud skip line) when `dbus-daemon` is not installed; `.ci/run`
    /// installs it.
    fn start() -> Option<TestBus> {
        if Command::new("dbus-daemon")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("DBUS SKIPPED: dbus-daemon is not installed (apt-get install dbus-daemon)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            // It says it cannot raise its fd limit when not privileged; nothing else.
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let address = line.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon said {line:?}");
        Some(TestBus {
            child,
            address,
            _dir: dir,
        })
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
struct UnitRuntime {
    active: &'static str,
    sub: &'static str,
    pid: u32,
    status: i32,
    /// 1 exited, 2 killed.
    code: i32,
    enabled: bool,
}

impl Default for UnitRuntime {
    fn default() -> Self {
        UnitRuntime {
            active: "inactive",
            sub: "dead",
            pid: 0,
            status: 0,
            code: 0,
            enabled: false,
        }
    }
}

#[derive(Default)]
struct State {
    unit_dir: PathBuf,
    units: HashMap<String, UnitRuntime>,
    calls: Vec<String>,
    /// Units whose start fails: (ExecMainStatus, ExecMainCode) of the failed process.
    fail_start: HashMap<String, (i32, i32)>,
    /// Methods refused with AccessDenied.
    deny: HashSet<String>,
    next_job: u32,
    next_pid: u32,
}

impl State {
    fn exists(&self, unit: &str) -> bool {
        self.unit_dir.join(unit).is_file()
    }
}

type Shared = Arc<Mutex<State>>;
/// `EnableUnitFiles`/`DisableUnitFiles` changes: (type, file, destination).
type Changes = Vec<(String, String, String)>;

/// The errors systemd answers with, under their real names.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop")]
enum SdError {
    #[zbus(error)]
    ZBus(zbus::Error),
    #[zbus(name = "systemd1.NoSuchUnit")]
    NoSuchUnit(String),
    #[zbus(name = "DBus.Error.AccessDenied")]
    AccessDenied(String),
    #[zbus(name = "DBus.Error.FileNotFound")]
    FileNotFound(String),
}

fn denied(name: &str) -> SdError {
    SdError::AccessDenied(format!("Access denied to {name} (test policy)"))
}

/// systemd's bus path escaping: every byte but `[A-Za-z0-9]` becomes `_xx`.
fn unit_path(unit: &str) -> OwnedObjectPath {
    let mut p = String::from("/org/freedesktop/systemd1/unit/");
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(b as char);
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    OwnedObjectPath::try_from(p).unwrap()
}

struct FakeManager {
    state: Shared,
}

/// A fresh main process: pids 4242, 4243, … in start order.
fn started(st: &mut State, rt: &mut UnitRuntime) {
    *rt = UnitRuntime {
        active: "active",
        sub: "running",
        pid: 4242 + st.next_pid,
        status: 0,
        code: 0,
        ..rt.clone()
    };
    st.next_pid += 1;
}

struct FakeUnit {
    name: String,
    state: Shared,
}

impl FakeUnit {
    fn rt(&self) -> UnitRuntime {
        self.state
            .lock()
            .unwrap()
            .units
            .get(&self.name)
            .cloned()
            .unwrap_or_default()
    }
}

#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl FakeUnit {
    #[zbus(property)]
    fn load_state(&self) -> String {
        let found = self.state.lock().unwrap().exists(&self.name);
        if found { "loaded" } else { "not-found" }.into()
    }
    #[zbus(property)]
    fn active_state(&self) -> String {
        self.rt().active.into()
    }
    #[zbus(property)]
    fn sub_state(&self) -> String {
        self.rt().sub.into()
    }
    #[zbus(property)]
    fn unit_file_state(&self) -> String {
        if self.rt().enabled {
            "enabled"
        } else {
            "disabled"
        }
        .into()
    }
}

struct FakeService {
    unit: FakeUnit,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Service")]
impl FakeService {
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> u32 {
        self.unit.rt().pid
    }
    #[zbus(property)]
    fn exec_main_status(&self) -> i32 {
        self.unit.rt().status
    }
    #[zbus(property)]
    fn exec_main_code(&self) -> i32 {
        self.unit.rt().code
    }
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> u32 {
        0
    }
}

impl FakeManager {
    fn record(&self, call: String) {
        self.state.lock().unwrap().calls.push(call);
    }

    fn check(&self, method: &str, unit: &str) -> Result<(), SdError> {
        let st = self.state.lock().unwrap();
        if st.deny.contains(method) {
            return Err(denied(method));
        }
        if !st.exists(unit) {
            return Err(SdError::NoSuchUnit(format!("Unit {unit} not found.")));
        }
        Ok(())
    }

    /// Queue a job: the state changes, then `JobRemoved` reports `result` a moment later.
    fn job(
        &self,
        unit: &str,
        emitter: &SignalEmitter<'_>,
        change: impl FnOnce(&mut State, &mut UnitRuntime) -> &'static str,
    ) -> OwnedObjectPath {
        let (id, result) = {
            let mut st = self.state.lock().unwrap();
            st.next_job += 1;
            let id = st.next_job;
            let mut rt = st.units.get(unit).cloned().unwrap_or_default();
            let result = change(&mut st, &mut rt);
            st.units.insert(unit.to_string(), rt);
            (id, result)
        };
        let job = OwnedObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{id}")).unwrap();
        let emitter = emitter.to_owned();
        let (unit, path) = (unit.to_string(), job.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = FakeManager::job_removed(&emitter, id, path.as_ref(), &unit, result).await;
        });
        job
    }
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl FakeManager {
    async fn load_unit(
        &self,
        name: String,
        #[zbus(object_server)] server: &zbus::ObjectServer,
    ) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("LoadUnit {name}"));
        let path = unit_path(&name);
        let unit = || FakeUnit {
            name: name.clone(),
            state: self.state.clone(),
        };
        server.at(&path, unit()).await?;
        server.at(&path, FakeService { unit: unit() }).await?;
        Ok(path)
    }

    async fn start_unit(
        &self,
        name: String,
        mode: String,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("StartUnit {name} {mode}"));
        self.check("StartUnit", &name)?;
        let fails = self.state.lock().unwrap().fail_start.get(&name).copied();
        Ok(self.job(&name, &emitter, |st, rt| {
            if let Some((status, code)) = fails {
                *rt = UnitRuntime {
                    active: "failed",
                    sub: "failed",
                    pid: 0,
                    status,
                    code,
                    ..rt.clone()
                };
                return "failed";
            }
            if rt.active != "active" {
                started(st, rt);
            }
            "done"
        }))
    }

    async fn stop_unit(
        &self,
        name: String,
        mode: String,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("StopUnit {name} {mode}"));
        self.check("StopUnit", &name)?;
        Ok(self.job(&name, &emitter, |_, rt| {
            if rt.active == "active" {
                // SIGTERM: the main process was killed by signal 15.
                *rt = UnitRuntime {
                    active: "inactive",
                    sub: "dead",
                    pid: 0,
                    status: 15,
                    code: 2,
                    ..rt.clone()
                };
            }
            "done"
        }))
    }

    async fn restart_unit(
        &self,
        name: String,
        mode: String,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<OwnedObjectPath, SdError> {
        self.record(format!("RestartUnit {name} {mode}"));
        self.check("RestartUnit", &name)?;
        Ok(self.job(&name, &emitter, |st, rt| {
            started(st, rt);
            "done"
        }))
    }

    fn reload(&self) -> Result<(), SdError> {
        self.record("Reload".into());
        if self.state.lock().unwrap().deny.contains("Reload") {
            return Err(denied("Reload"));
        }
        Ok(())
    }

    fn subscribe(&self) {
        self.record("Subscribe".into());
    }

    fn enable_unit_files(
        &self,
        files: Vec<String>,
        runtime: bool,
        force: bool,
    ) -> Result<(bool, Changes), SdError> {
        self.record(format!(
            "EnableUnitFiles {} {runtime} {force}",
            files.join(",")
        ));
        let mut st = self.state.lock().unwrap();
        let mut changes = Vec::new();
        for f in &files {
            if !st.exists(f) {
                return Err(SdError::FileNotFound(format!(
                    "Unit file {f} does not exist."
                )));
            }
            st.units.entry(f.clone()).or_default().enabled = true;
            changes.push((
                "symlink".to_string(),
                format!("default.target.wants/{f}"),
                st.unit_dir.join(f).display().to_string(),
            ));
        }
        Ok((true, changes))
    }

    fn disable_unit_files(&self, files: Vec<String>, runtime: bool) -> Changes {
        self.record(format!("DisableUnitFiles {} {runtime}", files.join(",")));
        let mut st = self.state.lock().unwrap();
        files
            .iter()
            .map(|f| {
                st.units.entry(f.clone()).or_default().enabled = false;
                (
                    "unlink".to_string(),
                    format!("default.target.wants/{f}"),
                    String::new(),
                )
            })
            .collect()
    }

    #[zbus(property)]
    fn version(&self) -> String {
        "252 (openclaw test manager)".into()
    }

    #[zbus(signal)]
    async fn job_removed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        job: ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;
}

/// The bus plus the test manager serving on it (from its own thread and runtime).
struct Systemd {
    bus: TestBus,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Systemd {
    /// `None` when no `dbus-daemon` is installed.
    fn start(p: &Profile) -> Option<Systemd> {
        let bus = TestBus::start()?;
        let state: Shared = Arc::new(Mutex::new(State {
            unit_dir: p.path().join("home/.config/systemd/user"),
            ..State::default()
        }));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (address, shared) = (bus.address.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let conn = zbus::connection::Builder::address(address.as_str())
                    .unwrap()
                    .name("org.freedesktop.systemd1")
                    .unwrap()
                    .serve_at("/org/freedesktop/systemd1", FakeManager { state: shared })
                    .unwrap()
                    .build()
                    .await
                    .unwrap();
                ready_tx.send(()).unwrap();
                let _ = stopped.await;
                drop(conn);
            });
        });
        ready_rx.recv_timeout(T).expect("test manager on the bus");
        Some(Systemd {
            bus,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn cmd(&self, p: &Profile, args: &[&str]) -> Command {
        let mut c = p.command();
        c.env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            // Were the bus to fail, the fallback must not find a real systemctl.
            .env("OPENCLAW_SYSTEMCTL", "/nonexistent/systemctl")
            .env("OPENCLAW_LOGINCTL", "/nonexistent/loginctl")
            .args(args);
        c
    }

    /// The calls recorded since the last `take_calls`.
    fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().calls)
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json(out: &str, err: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

fn unit_file(p: &Profile) -> PathBuf {
    p.path().join("home/.config/systemd/user").join(UNIT)
}

#[test]
fn install_inspect_and_lifecycle_go_over_dbus() {
    let p = Profile::local_token();
    let Some(sd) = Systemd::start(&p) else { return };

    let (code, out, err) = run(sd.cmd(&p, &["gateway", "install", "--json"]), T);
    assert_eq!(code, 0, "{out} {err}");
    let v = json(&out, &err);
    assert_eq!(v["manager"], "dbus", "{v:#}");
    assert_eq!(v["changed"], true);
    assert_eq!(v["runtime"]["activeState"], "active");
    assert_eq!(v["runtime"]["mainPid"], 4242);
    assert_eq!(v["runtime"]["unitFileState"], "enabled");
    assert!(unit_file(&p).is_file());
    assert_eq!(
        sd.take_calls(),
        [
            "Reload".to_string(),
            format!("EnableUnitFiles {UNIT} false false"),
            "Reload".into(),
            "Subscribe".into(),
            format!("StartUnit {UNIT} replace"),
            format!("LoadUnit {UNIT}"),
        ]
    );

    // gateway status and the doctor read the runtime from the bus.
    let (code, out, err) = run(
        sd.cmd(&p, &["gateway", "status", "--no-probe", "--json"]),
        T,
    );
    assert_eq!(code, 0, "{err}");
    let v = json(&out, &err);
    assert_eq!(v["service"]["manager"], "dbus");
    assert_eq!(v["service"]["runtime"]["status"], "running");
    assert_eq!(v["service"]["runtime"]["pid"], 4242);
    assert_eq!(v["service"]["loadedText"], "enabled");
    let (_, out, _) = run(sd.cmd(&p, &["gateway", "status", "--no-probe"]), T);
    assert!(
        out.contains("Runtime: running (pid 4242, state active, sub running)"),
        "{out}"
    );
    let (_, out, err) = run(sd.cmd(&p, &["doctor", "--json"]), T);
    let v = json(&out, &err);
    assert_eq!(v["facts"]["service.manager"], "dbus", "{:#}", v["facts"]);
    assert_eq!(v["facts"]["service.runtime"], "running");
    sd.take_calls();

    // Stop: a SIGTERM stop reads as the normal 143.
    let (code, out, err) = run(sd.cmd(&p, &["gateway", "stop", "--force"]), T);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("Stopped {UNIT}")), "{out}");
    assert!(
        out.contains(
            "Runtime: stopped (state inactive, sub dead, last exit 143 (normal SIGTERM stop))"
        ),
        "{out}"
    );
    let (_, out, err) = run(sd.cmd(&p, &["doctor", "--json"]), T);
    let v = json(&out, &err);
    assert_eq!(v["facts"]["service.runtime"], "stopped");
    assert_eq!(v["facts"]["service.exit_code"], 143);
    assert_eq!(finding(&v, "service.sigterm-exit")["status"], "warn");

    let (code, out, err) = run(sd.cmd(&p, &["gateway", "start"]), T);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Runtime: running (pid 4243, "), "{out}");
    let (code, out, err) = run(sd.cmd(&p, &["gateway", "restart", "--json"]), T);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out, &err)["runtime"]["mainPid"], 4244);
    let calls = sd.take_calls();
    for c in [
        format!("StopUnit {UNIT} replace"),
        format!("StartUnit {UNIT} replace"),
        format!("RestartUnit {UNIT} replace"),
    ] {
        assert!(calls.contains(&c), "{c} not in {calls:?}");
    }

    // Uninstall: stop, disable, remove the file, reload.
    let (code, out, err) = run(sd.cmd(&p, &["gateway", "uninstall"]), T);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Removed "), "{out}");
    assert!(!unit_file(&p).exists());
    let calls = sd.take_calls();
    assert!(
        calls.ends_with(&[
            "Subscribe".into(),
            format!("StopUnit {UNIT} replace"),
            format!("DisableUnitFiles {UNIT} false"),
            "Reload".into(),
            "Reload".into(),
        ]),
        "{calls:?}"
    );
    // Not installed any more: the manager answers not-found and nothing is started.
    let (code, _, err) = run(sd.cmd(&p, &["gateway", "start"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("Gateway service {UNIT} is not installed.")),
        "{err}"
    );
    assert!(!sd.take_calls().iter().any(|c| c.starts_with("StartUnit")));
}

#[test]
fn failed_jobs_and_refusals_are_reported_with_the_manager_words() {
    let p = Profile::local_token();
    let Some(sd) = Systemd::start(&p) else { return };
    assert_eq!(run(sd.cmd(&p, &["gateway", "install"]), T).0, 0);

    // The control process exits 1: the job result is "failed".
    sd.state
        .lock()
        .unwrap()
        .fail_start
        .insert(UNIT.into(), (1, 1));
    assert_eq!(run(sd.cmd(&p, &["gateway", "stop", "--force"]), T).0, 0);
    let (code, out, err) = run(sd.cmd(&p, &["gateway", "start"]), T);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains(&format!(
            "Job for {UNIT} failed because the control process exited with error code."
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("hint: journalctl --user -u {UNIT} -n 50")),
        "{err}"
    );
    assert!(
        out.contains("Runtime: stopped (state failed, sub failed, last exit 1, reason exited)"),
        "{out}"
    );
    let (_, out, _) = run(sd.cmd(&p, &["gateway", "status", "--no-probe"]), T);
    assert!(
        out.contains("Runtime: stopped (state failed, sub failed, last exit 1, reason exited)\nService is loaded but not running (likely exited immediately)."),
        "{out}"
    );
    let (_, out, err) = run(sd.cmd(&p, &["doctor", "--json"]), T);
    let v = json(&out, &err);
    assert_eq!(v["facts"]["service.exit_code"], 1, "{:#}", v["facts"]);

    // A refused method: the D-Bus error name and message reach the operator.
    sd.state.lock().unwrap().deny.insert("RestartUnit".into());
    let (code, _, err) = run(sd.cmd(&p, &["gateway", "restart"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "RestartUnit {UNIT}: org.freedesktop.DBus.Error.AccessDenied: Access denied to RestartUnit (test policy)"
        )),
        "{err}"
    );

    // A crash: killed by SIGSEGV with a core dump reads as 139, reason dumped.
    sd.state
        .lock()
        .unwrap()
        .fail_start
        .insert(UNIT.into(), (11, 3));
    let (code, out, _) = run(sd.cmd(&p, &["gateway", "start"]), T);
    assert_eq!(code, 1);
    assert!(
        out.contains("Runtime: stopped (state failed, sub failed, last exit 139, reason dumped)"),
        "{out}"
    );

    // A unit file that vanished between write and enable: systemd's own message.
    sd.state.lock().unwrap().unit_dir = p.path().join("elsewhere");
    let (code, _, err) = run(sd.cmd(&p, &["gateway", "install", "--force"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "EnableUnitFiles {UNIT}: org.freedesktop.DBus.Error.FileNotFound: Unit file {UNIT} does not exist."
        )),
        "{err}"
    );
    // The file is there but the manager does not know the unit (not reloaded, another
    // manager): gateway status says so.
    let (_, out, _) = run(sd.cmd(&p, &["gateway", "status", "--no-probe"]), T);
    assert!(out.contains("Service unit not found."), "{out}");
    let (_, out, err) = run(sd.cmd(&p, &["doctor", "--json"]), T);
    assert_eq!(json(&out, &err)["facts"]["service.runtime"], "not-loaded");
}

#[test]
fn the_doctor_reinstalls_a_drifted_unit_over_dbus() {
    let p = Profile::local_token();
    p.private_config();
    let Some(sd) = Systemd::start(&p) else { return };
    assert_eq!(run(sd.cmd(&p, &["gateway", "install"]), T).0, 0);
    let good = std::fs::read_to_string(unit_file(&p)).unwrap();
    std::fs::write(
        unit_file(&p),
        good.replacen(" --port 18789", " --port 1", 1),
    )
    .unwrap();
    sd.take_calls();
    let (_, out, err) = run(sd.cmd(&p, &["doctor", "--fix", "--yes", "--json"]), T);
    let v = json(&out, &err);
    let fix = fix_of(&v, "reinstall-service");
    assert_eq!(fix["status"], "applied", "{fix:#}");
    assert_eq!(std::fs::read_to_string(unit_file(&p)).unwrap(), good);
    let calls = sd.take_calls();
    assert!(
        calls
            .windows(3)
            .any(|w| w[0] == "Reload" && w[2] == format!("RestartUnit {UNIT} replace")),
        "{calls:?}"
    );
}

#[test]
fn a_bus_without_systemd_falls_back_to_systemctl_or_says_why() {
    let p = Profile::local_token();
    let Some(bus) = TestBus::start() else { return };
    let dir = p.path().join("fake-systemctl");
    std::fs::create_dir_all(&dir).unwrap();
    let systemctl = dir.join("systemctl");
    std::fs::write(
        &systemctl,
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\ncase \"$2\" in show) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=7\\n' ;; esac\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &systemctl,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let cmd = |args: &[&str], transport: Option<&str>| {
        let mut c = p.command();
        c.env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("OPENCLAW_SYSTEMCTL", &systemctl)
            .args(args);
        if let Some(t) = transport {
            c.env("OPENCLAW_SYSTEMD_TRANSPORT", t);
        }
        c
    };
    // Nobody owns org.freedesktop.systemd1 on this bus: systemctl does the work.
    let (code, out, err) = run(cmd(&["gateway", "install", "--json"], None), T);
    assert_eq!(code, 0, "{out} {err}");
    let v = json(&out, &err);
    assert_eq!(v["manager"], "systemctl");
    assert!(
        v["managerFallback"]
            .as_str()
            .is_some_and(|f| f.contains("org.freedesktop.DBus.Error.ServiceUnknown")),
        "{v:#}"
    );
    assert_eq!(v["runtime"]["mainPid"], 7);
    let calls = std::fs::read_to_string(dir.join("calls")).unwrap();
    assert!(
        calls.contains(&format!("--user enable {UNIT}\n--user start {UNIT}\n")),
        "{calls}"
    );
    // D-Bus only: the reason names the bus and the missing service.
    let (code, _, err) = run(cmd(&["gateway", "restart"], Some("dbus")), T);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "systemd over D-Bus unavailable: org.freedesktop.systemd1 on {}: org.freedesktop.DBus.Error.ServiceUnknown",
            bus.address
        )),
        "{err}"
    );
    assert!(err.contains("hint: systemd user services are unavailable; install/enable systemd or run the gateway under your supervisor."), "{err}");
}

/// The command with no bus to reach (nothing here needs a manager).
fn no_bus(p: &Profile, args: &[&str]) -> Command {
    let mut c = p.command();
    c.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("OPENCLAW_SYSTEMCTL", "/nonexistent/systemctl")
        .args(args);
    c
}

#[test]
fn deep_status_lists_other_gateway_like_units() {
    let p = Profile::local_token();
    let user_dir = p.path().join("home/.config/systemd/user");
    std::fs::create_dir_all(&user_dir).unwrap();
    // A legacy unit, another profile's unit (ours, not extra) and an unrelated unit.
    std::fs::write(
        user_dir.join("clawdbot-gateway.service"),
        "[Service]\nExecStart=/usr/bin/clawdbot gateway --port 18789\n",
    )
    .unwrap();
    std::fs::write(
        user_dir.join("openclaw-gateway-work.service"),
        "[Service]\nExecStart=/usr/bin/openclaw gateway\nEnvironment=OPENCLAW_SERVICE_MARKER=openclaw\nEnvironment=OPENCLAW_SERVICE_KIND=gateway\n",
    )
    .unwrap();
    std::fs::write(
        user_dir.join("notes.service"),
        "[Service]\n# openclaw gateway notes\nExecStart=/usr/bin/true\n",
    )
    .unwrap();
    let (code, out, err) = run(no_bus(&p, &["gateway", "status", "--no-probe"]), T);
    assert_eq!(code, 0, "{err}");
    let path = user_dir.join("clawdbot-gateway.service");
    assert!(
        out.contains(&format!(
            "Other gateway-like services detected (best effort):\n- clawdbot-gateway.service (user, unit: {})\nInspection hint: systemctl --user status -- clawdbot-gateway.service\nInspection hint: systemctl --user cat -- clawdbot-gateway.service\n",
            path.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("Recommendation: run a single gateway per machine for most setups. One gateway supports multiple agents (see docs: /gateway#multiple-gateways-same-host).\nIf you need multiple gateways (e.g., a rescue bot on the same host), isolate ports + config/state (see docs: /gateway#multiple-gateways-same-host).\n"),
        "{out}"
    );
    assert!(!out.contains("openclaw-gateway-work"), "{out}");
    assert!(!out.contains("notes.service"), "{out}");
    let (_, out, err) = run(
        no_bus(&p, &["gateway", "status", "--no-probe", "--deep", "--json"]),
        T,
    );
    let v = json(&out, &err);
    let extra = v["extraServices"].as_array().unwrap();
    assert_eq!(extra[0]["label"], "clawdbot-gateway.service");
    assert_eq!(extra[0]["marker"], "clawdbot");
    assert_eq!(extra[0]["legacy"], true);
    // --deep adds the system directories; every entry found there is scoped `system`.
    assert!(
        extra[1..].iter().all(|e| e["scope"] == "system"),
        "{extra:?}"
    );
    let (_, out, err) = run(no_bus(&p, &["doctor", "--json"]), T);
    let v = json(&out, &err);
    // The legacy unit is this user's and removable: its own check, not a duplicate.
    assert_eq!(finding(&v, "service.legacy-units")["status"], "warn");
    assert_eq!(finding(&v, "service.duplicate-units")["status"], "ok");
}

#[test]
fn a_running_service_without_its_port_reads_as_warm_up_or_not_listening() {
    let p = Profile::local_token();
    let Some(sd) = Systemd::start(&p) else { return };
    assert_eq!(run(sd.cmd(&p, &["gateway", "install"]), T).0, 0);
    // The manager says running, nothing listens on the port (the fake runs no process).
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = sd.cmd(&p, &["gateway", "status"]);
    c.env("OPENCLAW_GATEWAY_PORT", free.to_string());
    let (_, out, _) = run(c, T);
    assert!(
        out.contains("Runtime: running (pid 4242, state active, sub running)\nWarm-up: launch agents can take a few seconds. Try again shortly.\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Gateway port {free} is not listening (service appears running).\nLogs: journalctl --user -u {UNIT} -n 200 --no-pager\n"
        )),
        "{out}"
    );

    // A gateway owns the port but the probe's credentials are wrong: not a warm-up.
    let gw = Gateway::start(&p, &[], &[]);
    let mut c = sd.cmd(&p, &["gateway", "status", "--token", "wrong-token"]);
    c.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string());
    let (_, out, _) = run(c, T);
    assert!(
        out.contains("Gateway process is running and owns the gateway port, so this is not a warm-up delay. Check the probe credentials/config, or restart the gateway and inspect its logs if it stays unresponsive."),
        "{out}"
    );
    assert!(!out.contains("is not listening"), "{out}");
}
