//! Service unit rendering: golden files for systemd, launchd and schtasks (regenerate with
//! `OPENCLAW_UPDATE_GOLDEN=1 cargo test --test it service`), and `systemd-analyze verify`
//! on the generated units when systemd is installed.

use openclaw::config::env::Env;
use openclaw::service::{inspect, launchd, runner, schtasks, systemctl, systemd, ServiceSpec};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn spec(env: &[(&str, &str)], binary: &Path) -> ServiceSpec {
    let mut pairs = vec![("HOME", "/home/oc")];
    pairs.extend_from_slice(env);
    let env = Env::from_pairs(pairs);
    ServiceSpec::gateway(&env, binary, 18789, PathBuf::from("/home/oc/.openclaw"))
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/service")
        .join(name);
    if std::env::var_os("OPENCLAW_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "fixtures/service/{name} differs (OPENCLAW_UPDATE_GOLDEN=1 to accept):\n{actual}"
    );
}

#[test]
fn units_match_their_golden_files() {
    let bin = Path::new("/usr/local/bin/openclaw");
    let default = spec(&[], bin);
    golden(
        "openclaw-gateway.service",
        &systemd::render(&default).unwrap(),
    );
    golden(
        "ai.openclaw.gateway.plist",
        &launchd::render(&default).unwrap(),
    );
    golden("gateway.cmd", &schtasks::launcher(&default).unwrap());
    golden(
        "openclaw-gateway.task.xml",
        &schtasks::task_xml(
            &default.description,
            "C:\\Users\\oc\\.openclaw\\gateway.cmd",
            Some("OC-PC\\oc"),
        ),
    );
    let work = spec(
        &[
            ("OPENCLAW_PROFILE", "work"),
            ("OPENCLAW_STATE_DIR", "/srv/open claw/state"),
        ],
        bin,
    );
    golden(
        "openclaw-gateway-work.service",
        &systemd::render(&work).unwrap(),
    );
    let mut system = default.clone();
    system.system_user = Some("openclaw".into());
    golden(
        "openclaw-gateway.system.service",
        &systemd::render(&system).unwrap(),
    );
}

#[test]
fn the_unit_carries_the_markers_and_refuses_line_breaks() {
    let s = spec(&[], Path::new("/usr/local/bin/openclaw"));
    let unit = systemd::render(&s).unwrap();
    for line in [
        "Type=notify",
        "RestartPreventExitStatus=78",
        "SuccessExitStatus=0 143",
        "Environment=OPENCLAW_SERVICE_MARKER=openclaw",
        "Environment=OPENCLAW_SERVICE_KIND=gateway",
        "Environment=OPENCLAW_SYSTEMD_UNIT=openclaw-gateway.service",
        "ExecStart=/usr/local/bin/openclaw gateway --port 18789",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    let mut bad = s.clone();
    bad.environment
        .push(("X".into(), "a\nExecStartPre=/bin/sh".into()));
    assert!(systemd::render(&bad).is_err());
    assert_eq!(
        launchd::plist_path(Path::new("/Users/oc"), "ai.openclaw.gateway"),
        PathBuf::from("/Users/oc/Library/LaunchAgents/ai.openclaw.gateway.plist")
    );
}

/// `launchctl`'s answers, as macOS words them.
fn launchctl_print(pid: u32) -> runner::Output {
    runner::Output {
        ok: true,
        code: Some(0),
        stdout: format!("gui/501/ai.openclaw.gateway = {{\n\tactive count = 1\n\tpath = /Users/oc/Library/LaunchAgents/ai.openclaw.gateway.plist\n\tstate = running\n\tprogram = /usr/local/bin/openclaw\n\tpid = {pid}\n\tlast exit code = 0\n}}\n"),
        stderr: String::new(),
    }
}

fn failed(code: i32, stderr: &str) -> runner::Output {
    runner::Output {
        ok: false,
        code: Some(code),
        stdout: String::new(),
        stderr: stderr.into(),
    }
}

/// The default profile's LaunchAgent for uid 501, driven through `rec`.
fn agent(rec: runner::Recorder, plist: &Path) -> launchd::Launchctl<runner::Recorder> {
    launchd::Launchctl {
        runner: rec,
        program: "launchctl".into(),
        uid: 501,
        label: "ai.openclaw.gateway".into(),
        plist: plist.to_path_buf(),
    }
}

/// The default profile's Scheduled Task, driven through `rec`.
fn task(rec: runner::Recorder, launcher: &Path) -> schtasks::Schtasks<runner::Recorder> {
    schtasks::Schtasks {
        runner: rec,
        program: "schtasks".into(),
        task: "OpenClaw Gateway".into(),
        launcher: launcher.to_path_buf(),
        description: "OpenClaw Gateway".into(),
        user: None,
    }
}

#[test]
fn launchctl_is_driven_like_upstream_drives_it() {
    let dir = tempfile::tempdir().unwrap();
    let plist = dir.path().join("ai.openclaw.gateway.plist");
    let not_loaded = failed(
        113,
        "Could not find service \"ai.openclaw.gateway\" in domain for port",
    );
    let rec = runner::Recorder::default().answer(
        &["launchctl", "print", "gui/501/ai.openclaw.gateway"],
        not_loaded.clone(),
    );
    let mut l = agent(rec, &plist);
    // Not loaded, no plist: not installed.
    assert!(l.runtime().unwrap().missing());
    // Install of a job that is not loaded: enable + bootstrap (RunAtLoad starts it).
    l.install().unwrap();
    // Stop of a job that is not loaded is not an error.
    l.stop().unwrap();
    std::fs::write(&plist, "x").unwrap();
    let s = l.runtime().unwrap();
    assert!(!s.missing() && !s.running(), "{s:?}");
    assert_eq!(
        systemctl::runtime_line(&s),
        "stopped (state inactive, sub not loaded)"
    );
    assert_eq!(
        l.runner.lines(),
        [
            "launchctl print gui/501/ai.openclaw.gateway",
            "launchctl print gui/501/ai.openclaw.gateway",
            "launchctl enable gui/501/ai.openclaw.gateway",
            &format!("launchctl bootstrap gui/501 {}", plist.display()),
            "launchctl bootout gui/501/ai.openclaw.gateway",
            "launchctl print gui/501/ai.openclaw.gateway",
        ]
    );

    // Loaded and running: restart is kickstart -k, a reinstall boots the old one out first.
    let rec = runner::Recorder::default()
        .answer(&["launchctl", "print"], launchctl_print(4321))
        .answer(
            &["launchctl", "bootstrap"],
            failed(5, "Bootstrap failed: 5: Input/output error"),
        );
    let mut l = agent(rec, &plist);
    let s = l.runtime().unwrap();
    assert_eq!(
        systemctl::runtime_line(&s),
        "running (pid 4321, state active, sub running)"
    );
    l.restart().unwrap();
    l.start().unwrap();
    assert_eq!(
        l.install().unwrap_err(),
        "launchctl bootstrap failed: Bootstrap failed: 5: Input/output error"
    );
    assert_eq!(
        l.runner.lines()[1..],
        [
            "launchctl print gui/501/ai.openclaw.gateway",
            "launchctl kickstart -k gui/501/ai.openclaw.gateway",
            "launchctl print gui/501/ai.openclaw.gateway",
            "launchctl kickstart gui/501/ai.openclaw.gateway",
            "launchctl print gui/501/ai.openclaw.gateway",
            "launchctl bootout gui/501/ai.openclaw.gateway",
            "launchctl enable gui/501/ai.openclaw.gateway",
            &format!("launchctl bootstrap gui/501 {}", plist.display()),
        ]
    );
}

#[test]
fn schtasks_is_driven_like_upstream_drives_it() {
    let launcher = Path::new("C:\\Users\\oc\\.openclaw\\gateway.cmd");
    let query = "Folder: \\\r\nHostName:                             OC-PC\r\nTaskName:                             \\OpenClaw Gateway\r\nStatus:                               Running\r\nLast Run Time:                        12/2/2026 7:00:00 AM\r\nLast Result:                          0\r\nScheduled Task State:                 Enabled\r\n";
    let rec = runner::Recorder::default()
        .answer(
            &["schtasks", "/Query"],
            runner::Output {
                ok: true,
                code: Some(0),
                stdout: query.into(),
                stderr: String::new(),
            },
        )
        .answer(
            &["schtasks", "/End"],
            failed(1, "ERROR: The task is not running."),
        );
    let mut s = task(rec, launcher);
    s.install().unwrap();
    let st = s.runtime().unwrap();
    assert_eq!(st.unit_file_state, "enabled");
    assert_eq!(
        systemctl::runtime_line(&st),
        "running (state active, sub running)"
    );
    s.restart().unwrap();
    s.remove().unwrap();
    // The definition goes in as XML from a private temp file, removed afterwards.
    let create = &s.runner.calls[0];
    assert_eq!(
        create[..6],
        [
            "schtasks",
            "/Create",
            "/F",
            "/TN",
            "OpenClaw Gateway",
            "/XML"
        ]
    );
    assert!(create[6].ends_with("task.xml") && !Path::new(&create[6]).exists());
    assert_eq!(
        s.runner.lines()[1..],
        [
            "schtasks /Run /TN OpenClaw Gateway",
            "schtasks /Query /V /FO LIST /TN OpenClaw Gateway",
            "schtasks /End /TN OpenClaw Gateway",
            "schtasks /Run /TN OpenClaw Gateway",
            "schtasks /End /TN OpenClaw Gateway",
            "schtasks /Delete /F /TN OpenClaw Gateway",
        ]
    );
    // A task that is not registered, and a failed last run.
    let rec = runner::Recorder::default().answer(
        &["schtasks", "/Query"],
        failed(1, "ERROR: The system cannot find the file specified."),
    );
    let mut s = task(rec, launcher);
    assert!(s.runtime().unwrap().missing());
    let st = schtasks::parse_query("Status: Ready\r\nLast Result: 0x1\r\n");
    assert_eq!(
        systemctl::runtime_line(&st),
        "stopped (state inactive, sub ready, last exit 1, reason exited)"
    );
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SYSTEMD SKIPPED: systemd-analyze is not installed");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    // ExecStart must name a real executable for verify to pass: the binary under test.
    let bin = Path::new(env!("CARGO_BIN_EXE_openclaw"));
    let mut user = spec(&[], bin);
    user.working_directory = Some(dir.path().to_path_buf());
    let mut system = user.clone();
    system.system_user = Some("root".into());
    for (name, s) in [
        ("openclaw-gateway.service", user),
        ("openclaw-gateway-sys.service", system),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, systemd::render(&s).unwrap()).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{name}: {err}"
        );
    }
}

use crate::support::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A recorded `systemctl`: logs every call to `calls` and emulates one user unit's state.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
d="$FAKE_SYSTEMCTL_DIR"
echo "$*" >> "$d/calls"
[ "$1" = "--user" ] && shift
case "$1" in
  show-environment)
    if [ -f "$d/down" ]; then echo "Failed to connect to bus: No medium found" >&2; exit 1; fi
    echo "HOME=$HOME" ;;
  daemon-reload) ;;
  enable) [ -f "$d/state" ] || echo stopped > "$d/state" ;;
  start|restart) echo active > "$d/state" ;;
  disable|stop) echo stopped > "$d/state" ;;
  show)
    if [ ! -f "$d/state" ]; then printf 'LoadState=not-found\nActiveState=inactive\nSubState=dead\n'; exit 0; fi
    if [ "$(cat "$d/state")" = active ]; then
      printf 'LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nExecMainStatus=0\nExecMainCode=0\nNRestarts=0\nUnitFileState=enabled\n'
    else
      printf 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\nExecMainStatus=143\nExecMainCode=1\nNRestarts=0\nUnitFileState=enabled\n'
    fi ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"#;

struct FakeManager {
    dir: PathBuf,
}

impl FakeManager {
    fn new(p: &Profile) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = p.path().join("fake-systemd");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("systemctl");
        std::fs::write(&bin, FAKE_SYSTEMCTL).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeManager { dir }
    }

    fn cmd(&self, p: &Profile, args: &[&str]) -> Command {
        let mut c = p.command();
        // No session bus answers here, so the manager is reached through `systemctl`.
        c.env("OPENCLAW_SYSTEMCTL", self.dir.join("systemctl"))
            .env("FAKE_SYSTEMCTL_DIR", &self.dir)
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}/no-bus", self.dir.display()),
            )
            .args(args);
        c
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

#[test]
fn install_writes_the_user_unit_enables_it_and_is_idempotent() {
    let p = Profile::local_token();
    let m = FakeManager::new(&p);
    let (code, out, err) = run(m.cmd(&p, &["gateway", "install", "--port", "28123"]), T);
    assert_eq!(code, 0, "{out} {err}");
    let unit = p
        .path()
        .join("home/.config/systemd/user/openclaw-gateway.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains(" gateway --port 28123\n"), "{text}");
    assert!(text.contains("Environment=OPENCLAW_SERVICE_MARKER=openclaw\n"));
    assert!(out.contains(&format!("Wrote {}", unit.display())), "{out}");
    assert!(
        out.contains("Runtime: running (pid 4242, state active, sub running)"),
        "{out}"
    );
    assert_eq!(
        m.calls(),
        [
            "--user show-environment",
            "--user daemon-reload",
            "--user enable openclaw-gateway.service",
            "--user start openclaw-gateway.service",
            "--user show openclaw-gateway.service --no-page --property LoadState,ActiveState,SubState,MainPID,ExecMainStatus,ExecMainCode,NRestarts,UnitFileState",
        ]
    );
    // Again: nothing to rewrite.
    let (code, out, _) = run(
        m.cmd(&p, &["gateway", "install", "--port", "28123", "--json"]),
        T,
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed"], false);
    assert_eq!(v["runtime"]["mainPid"], 4242);
    // A different unit is not overwritten without --force.
    let (code, _, err) = run(m.cmd(&p, &["gateway", "install", "--port", "28124"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains("differs from the one this binary writes"),
        "{err}"
    );
    assert!(
        err.contains("hint: openclaw gateway install --force"),
        "{err}"
    );
    let (code, _, err) = run(
        m.cmd(&p, &["gateway", "install", "--port", "28124", "--force"]),
        T,
    );
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&unit)
        .unwrap()
        .contains(" gateway --port 28124\n"));
}

#[test]
fn stop_start_restart_and_uninstall_drive_the_manager() {
    let p = Profile::local_token();
    let m = FakeManager::new(&p);
    let (code, _, err) = run(m.cmd(&p, &["gateway", "start"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains("Gateway service openclaw-gateway.service is not installed."),
        "{err}"
    );
    assert!(err.contains("hint: openclaw gateway install"), "{err}");
    assert_eq!(run(m.cmd(&p, &["gateway", "install"]), T).0, 0);

    let (code, _, err) = run(m.cmd(&p, &["gateway", "stop"]), T);
    assert_eq!(code, 1);
    assert!(err.contains("This stops the operator's running gateway service. Use an isolated dev gateway (openclaw gateway run --dev, or --profile <name> with a free port) for testing, or re-run with --force if you really mean it."), "{err}");
    let (code, out, err) = run(m.cmd(&p, &["gateway", "stop", "--force"]), T);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Stopped openclaw-gateway.service"));
    assert!(
        out.contains(
            "Runtime: stopped (state inactive, sub dead, last exit 143 (normal SIGTERM stop))"
        ),
        "{out}"
    );
    for (verb, word) in [("start", "Started"), ("restart", "Restarted")] {
        let (code, out, err) = run(m.cmd(&p, &["gateway", verb]), T);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(&format!("{word} openclaw-gateway.service")),
            "{out}"
        );
    }
    let (code, out, _) = run(m.cmd(&p, &["gateway", "uninstall"]), T);
    assert_eq!(code, 0);
    assert!(out.contains("Removed "), "{out}");
    assert!(m
        .calls()
        .iter()
        .any(|c| c == "--user disable openclaw-gateway.service"));
    assert!(m.calls().ends_with(&[
        "--user stop openclaw-gateway.service".to_string(),
        "--user disable openclaw-gateway.service".to_string(),
        "--user daemon-reload".to_string(),
    ]));
    let (code, out, _) = run(m.cmd(&p, &["gateway", "uninstall"]), T);
    assert_eq!(code, 0);
    assert!(out.contains("Gateway service not installed"), "{out}");
}

#[test]
fn service_actions_refuse_a_config_from_a_newer_version() {
    let p = Profile::new(&format!(
        r#"{{"meta": {{"lastTouchedVersion": "2099.1.1"}}, "gateway": {{"mode": "local", "auth": {{"token": "{TOKEN}"}}}}}}"#
    ));
    let m = FakeManager::new(&p);
    // A plain install is allowed; a forced reinstall and the lifecycle verbs are not.
    assert_eq!(run(m.cmd(&p, &["gateway", "install"]), T).0, 0);
    let before = m.calls().len();
    for (args, verb) in [
        (vec!["gateway", "restart"], "restart"),
        (vec!["gateway", "start"], "start"),
        (vec!["gateway", "stop", "--force"], "stop"),
        (vec!["gateway", "uninstall"], "uninstall"),
        (vec!["gateway", "install", "--force"], "install"),
    ] {
        let (code, _, err) = run(m.cmd(&p, &args), T);
        assert_eq!(code, 1, "{args:?}");
        assert!(
            err.contains(&format!("Gateway {verb} blocked: Refusing to ")),
            "{args:?}: {err}"
        );
        assert!(err.contains("Tip: Set OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1 only for an intentional downgrade or recovery action."), "{err}");
    }
    assert_eq!(m.calls().len(), before, "no manager call was made");
    let mut c = m.cmd(&p, &["gateway", "restart"]);
    c.env("OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS", "1");
    assert_eq!(run(c, T).0, 0);
}

#[test]
fn an_unreachable_manager_is_reported_with_the_hints() {
    let p = Profile::local_token();
    let m = FakeManager::new(&p);
    std::fs::write(m.dir.join("down"), "").unwrap();
    let (code, out, err) = run(m.cmd(&p, &["gateway", "install"]), T);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("systemctl --user unavailable: Failed to connect to bus: No medium found"),
        "{err}"
    );
    assert!(err.contains("hint: systemd user services are unavailable; install/enable systemd or run the gateway under your supervisor."), "{err}");
    assert!(err.contains("hint: If you're in a container, run the gateway in the foreground instead of `openclaw gateway`."), "{err}");
    // The unit was still written, so a later `systemctl --user enable` works.
    assert!(p
        .path()
        .join("home/.config/systemd/user/openclaw-gateway.service")
        .exists());
    // The doctor cannot know whether the service runs: skipped with the reason, never ok —
    // even for a check whose log signatures were scanned and did not match.
    std::fs::write(p.log_path(), "gateway: nothing of note\n").unwrap();
    let (_, out, _) = run(m.cmd(&p, &["doctor", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    let f = finding(&v, "service.runtime-stopped");
    assert_eq!(f["status"], "skipped", "{f:#}");
    assert!(
        f.to_string()
            .contains("service.runtime unavailable: systemctl --user unavailable: Failed to connect to bus: No medium found"),
        "{f:#}"
    );
    // gateway status: upstream's inspection failure record, and the service is not the
    // probe's target.
    let (_, out, _) = run(m.cmd(&p, &["gateway", "status", "--json", "--no-probe"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    let rt = &v["service"]["runtime"];
    assert_eq!(
        rt["inspectionFailure"]["code"], "service-runtime-inspection-failed",
        "{rt:#}"
    );
    assert!(rt["inspectionFailure"]["detail"]
        .as_str()
        .unwrap()
        .contains("Failed to connect to bus"));
    assert_eq!(v["service"]["targetRole"], "diagnostic-only");
    assert_eq!(
        v["config"]["daemon"]["path"],
        p.config_path().display().to_string()
    );
}

#[test]
fn the_real_systemctl_without_a_user_manager_is_reported() {
    // Only where no user manager answers (a container): a real host's services are never
    // touched by the tests.
    match Command::new("systemctl")
        .args(["--user", "show-environment"])
        .output()
    {
        Ok(o) if !o.status.success() => {}
        _ => {
            eprintln!("SYSTEMD SKIPPED: a user manager answers here (or systemctl is missing)");
            return;
        }
    }
    let p = Profile::local_token();
    let mut c = p.command();
    c.args(["gateway", "install", "--json"]);
    let (code, out, _) = run(c, T);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert!(
        v["messages"].as_array().unwrap().iter().any(|m| m
            .as_str()
            .unwrap()
            .starts_with("systemctl --user unavailable: ")),
        "{v:#}"
    );
    assert_eq!(v["hints"][0], "systemd user services are unavailable; install/enable systemd or run the gateway under your supervisor.");
}

#[test]
fn the_doctor_reads_the_installed_unit_and_its_runtime() {
    let p = Profile::local_token();
    let m = FakeManager::new(&p);
    assert_eq!(run(m.cmd(&p, &["gateway", "install"]), T).0, 0);
    let doctor = |extra: &[(&str, &str)]| {
        let mut c = m.cmd(&p, &["doctor", "--json"]);
        for (k, v) in extra {
            c.env(k, v);
        }
        let (_, out, err) = run(c, T);
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
    };
    let d = doctor(&[]);
    let f = &d["facts"];
    assert_eq!(f["service.installed"], true, "{f:#}");
    assert_eq!(f["service.runtime"], "running");
    assert_eq!(f["service.config_path_differs"], false);
    assert_eq!(f["service.metadata_drift"], false, "{f:#}");
    assert_eq!(
        f["service.config_path"],
        p.config_path().display().to_string()
    );

    // Stopped: the runtime check fails with the exit code as evidence.
    assert_eq!(run(m.cmd(&p, &["gateway", "stop", "--force"]), T).0, 0);
    let d = doctor(&[]);
    let stopped = finding(&d, "service.runtime-stopped");
    assert_eq!(stopped["status"], "fail", "{stopped:#}");
    assert_eq!(d["facts"]["service.exit_code"], 143);

    // The unit drifted (another port), and the CLI now uses another config than the unit.
    let unit = p
        .path()
        .join("home/.config/systemd/user/openclaw-gateway.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, text.replacen(" --port ", " --port 1", 1)).unwrap();
    let other = p.path().join("other.json");
    std::fs::copy(p.config_path(), &other).unwrap();
    let d = doctor(&[("OPENCLAW_CONFIG_PATH", other.to_str().unwrap())]);
    assert_eq!(d["facts"]["service.metadata_drift"], true);
    assert!(
        d["facts"]["service.drift"]
            .as_str()
            .unwrap()
            .starts_with("installed `ExecStart="),
        "{:#}",
        d["facts"]
    );
    assert_eq!(d["facts"]["service.config_path_differs"], true);
    assert_eq!(
        finding(&d, "service.config-path-mismatch")["status"],
        "fail"
    );
}

#[test]
fn gateway_status_shows_the_installed_service() {
    let p = Profile::local_token();
    let m = FakeManager::new(&p);
    assert_eq!(run(m.cmd(&p, &["gateway", "install"]), T).0, 0);
    let status = |extra: &[(&str, String)]| {
        let mut c = m.cmd(&p, &["gateway", "status", "--no-probe"]);
        for (k, v) in extra {
            c.env(k, v);
        }
        let (code, out, err) = run(c, T);
        assert_eq!(code, 0, "{err}");
        out
    };
    let out = status(&[]);
    let unit = p
        .path()
        .join("home/.config/systemd/user/openclaw-gateway.service");
    for line in [
        "Service: systemd user (enabled)".to_string(),
        "Service file: ~/.config/systemd/user/openclaw-gateway.service".to_string(),
        format!("Config (service): {}", p.config_path().display()),
        "Runtime: running (pid 4242, state active, sub running)".to_string(),
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing:\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("Command: ") && l.ends_with(" gateway --port 18789")),
        "{out}"
    );
    assert!(
        out.contains("Service env: OPENCLAW_GATEWAY_PORT=18789 "),
        "{out}"
    );
    assert!(!out.contains("Root cause"), "{out}");

    // The CLI resolves another config than the service: the root cause and the fix.
    let other = p.path().join("other.json");
    std::fs::copy(p.config_path(), &other).unwrap();
    let out = status(&[("OPENCLAW_CONFIG_PATH", other.display().to_string())]);
    assert!(out.contains("Root cause: CLI and service are using different config paths (likely a profile/state-dir mismatch).\nFix: rerun `openclaw gateway install --force` from the same --profile / OPENCLAW_STATE_DIR you expect."), "{out}");

    // Stopped, then a manager that cannot be reached.
    assert_eq!(run(m.cmd(&p, &["gateway", "stop", "--force"]), T).0, 0);
    let out = status(&[]);
    assert!(out.contains("Runtime: stopped (state inactive, sub dead, last exit 143 (normal SIGTERM stop))\nService is loaded but not running (likely exited immediately)."), "{out}");
    std::fs::write(m.dir.join("down"), "").unwrap();
    let out = status(&[]);
    // Both transports are named: systemctl's reason first (upstream's wording), then D-Bus's.
    let runtime = out
        .lines()
        .find(|l| l.starts_with("Runtime: "))
        .unwrap_or("");
    assert!(runtime.starts_with("Runtime: unknown (systemctl --user unavailable: Failed to connect to bus: No medium found (D-Bus: Failed to connect to address `unix:path="), "{out}");
    assert!(
        out.contains(&format!("{runtime}\nsystemd user services unavailable.")),
        "{out}"
    );
    let mut c = m.cmd(&p, &["gateway", "status", "--no-probe", "--json"]);
    c.env("FAKE", "1");
    let (_, out, _) = run(c, T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["service"]["installed"], true);
    assert_eq!(
        v["service"]["command"]["sourcePath"],
        unit.display().to_string()
    );
    assert_eq!(v["config"]["mismatch"], false);
}

#[test]
fn doctor_fix_reinstalls_a_drifted_unit_and_restarts_it() {
    let p = Profile::local_token();
    p.private_config();
    let m = FakeManager::new(&p);
    assert_eq!(run(m.cmd(&p, &["gateway", "install"]), T).0, 0);
    let unit = p
        .path()
        .join("home/.config/systemd/user/openclaw-gateway.service");
    let good = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, good.replacen(" --port 18789", " --port 1", 1)).unwrap();
    let (_, out, err) = run(m.cmd(&p, &["doctor", "--fix", "--yes", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let fix = fix_of(&v, "reinstall-service");
    assert_eq!(fix["status"], "applied", "{fix:#}");
    assert_eq!(
        std::fs::read_to_string(&unit).unwrap(),
        good,
        "the unit is what this binary writes"
    );
    let calls = m.calls();
    assert!(
        calls
            .iter()
            .any(|c| c == "--user restart openclaw-gateway.service"),
        "{calls:?}"
    );
    assert_eq!(
        v["facts"]["service.metadata_drift"], false,
        "{:#}",
        v["facts"]
    );
}

/// A recorded `launchctl` keeping one job's loaded state, answering as macOS answers.
const FAKE_LAUNCHCTL: &str = r#"#!/bin/sh
d="$(dirname "$0")"
echo "launchctl $*" >> "$d/calls"
case "$1" in
  print)
    if [ -f "$d/loaded" ]; then printf '%s = {\n\tstate = running\n\tpid = 777\n\tlast exit code = 0\n}\n' "$2"; exit 0; fi
    echo "Could not find service \"${2##*/}\" in domain for port" >&2; exit 113 ;;
  enable|kickstart) ;;
  bootstrap) touch "$d/loaded" ;;
  bootout)
    if [ -f "$d/loaded" ]; then rm "$d/loaded"; else echo "Boot-out failed: 3: No such process" >&2; exit 3; fi ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"#;

/// A recorded `schtasks` keeping one task's state.
const FAKE_SCHTASKS: &str = r#"#!/bin/sh
d="$(dirname "$0")"
echo "schtasks $*" >> "$d/calls"
case "$1" in
  /Create) echo Ready > "$d/task"; cp "$6" "$d/task.xml" ;;
  /Run) [ -f "$d/task" ] && echo Running > "$d/task" ;;
  /End) [ -f "$d/task" ] && echo Ready > "$d/task" ;;
  /Delete) rm -f "$d/task" ;;
  /Query)
    if [ "$2" = "/FO" ]; then
      printf 'TaskName: \\OpenClaw Gateway\nTask To Run: C:\\oc\\gateway.cmd\n\nTaskName: \\OpenClaw Gateway (work)\nTask To Run: C:\\oc-work\\gateway.cmd\n\nTaskName: \\Clawdbot Gateway\nTask To Run: C:\\clawdbot\\gateway.cmd\n\nTaskName: \\Backup\nTask To Run: C:\\backup.exe\n'
      exit 0
    fi
    if [ ! -f "$d/task" ]; then echo "ERROR: The system cannot find the file specified." >&2; exit 1; fi
    printf 'TaskName: \\OpenClaw Gateway\nStatus: %s\nLast Result: 0\nScheduled Task State: Enabled\n' "$(cat "$d/task")" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"#;

fn recorder(p: &Profile, name: &str, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = p.path().join(format!("fake-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join(name);
    std::fs::write(&bin, script).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The command as if on another platform: `launchd` with `bin` as launchctl, `schtasks`
/// with `bin` as schtasks.
fn on_platform(p: &Profile, platform: &str, bin: &Path, args: &[&str]) -> Command {
    let var = match platform {
        "launchd" => "OPENCLAW_LAUNCHCTL",
        _ => "OPENCLAW_SCHTASKS",
    };
    let mut c = p.command();
    c.env("OPENCLAW_SERVICE_PLATFORM", platform)
        .env(var, bin)
        .args(args);
    c
}

fn recorded(bin: &Path) -> Vec<String> {
    std::fs::read_to_string(bin.with_file_name("calls"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn service_files_read_back_what_they_were_written_with() {
    let mut s = spec(
        &[("OPENCLAW_STATE_DIR", "/srv/open claw/100% state")],
        Path::new("/opt/open claw/openclaw"),
    );
    s.environment
        .push(("X_ODD".into(), "a!b\"c^d&e<f>g".into()));
    s.program.push("--name=it's \"quoted\"!".into());
    // The task launcher leaves PATH to Windows.
    let without_path: Vec<_> = s
        .environment
        .iter()
        .filter(|(k, _)| k != "PATH")
        .cloned()
        .collect();
    for (text, parsed, env) in [
        (
            systemd::render(&s).unwrap(),
            inspect::parse_unit as fn(&str) -> inspect::Parsed,
            &s.environment,
        ),
        (
            launchd::render(&s).unwrap(),
            inspect::parse_plist,
            &s.environment,
        ),
        (
            schtasks::launcher(&s).unwrap(),
            inspect::parse_launcher,
            &without_path,
        ),
    ] {
        let p = parsed(&text);
        assert_eq!(p.command, s.program, "{text}");
        assert_eq!(
            p.working_dir.as_deref(),
            Some("/home/oc/.openclaw"),
            "{text}"
        );
        assert_eq!(&p.environment, env, "{text}");
        // Any truncation of a service file (a half-written file, a damaged copy) parses
        // without a panic.
        for cut in (0..text.len()).filter(|i| text.is_char_boundary(*i)) {
            parsed(&text[..cut]);
        }
    }
}

#[test]
fn launchd_service_commands_run_end_to_end() {
    let p = Profile::local_token();
    let bin = recorder(&p, "launchctl", FAKE_LAUNCHCTL);
    let cmd = |args: &[&str]| on_platform(&p, "launchd", &bin, args);
    let uid = unsafe { libc::getuid() };
    let target = format!("gui/{uid}/ai.openclaw.gateway");
    let plist = p
        .path()
        .join("home/Library/LaunchAgents/ai.openclaw.gateway.plist");
    let (code, out, err) = run(cmd(&["gateway", "install", "--json"]), T);
    assert_eq!(code, 0, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["platform"], "launchd");
    assert_eq!(v["manager"], "launchctl");
    assert_eq!(v["unit"], "ai.openclaw.gateway");
    assert_eq!(v["runtime"]["mainPid"], 777);
    assert!(std::fs::read_to_string(&plist)
        .unwrap()
        .contains("<string>ai.openclaw.gateway</string>"));
    // gateway status and the doctor read the plist and ask launchctl.
    let (_, out, err) = run(cmd(&["gateway", "status", "--no-probe", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let svc = &v["service"];
    assert_eq!(svc["label"], "launchd");
    assert_eq!(svc["manager"], "launchctl");
    assert_eq!(svc["runtime"]["pid"], 777);
    assert_eq!(svc["command"]["sourcePath"], plist.display().to_string());
    assert_eq!(
        svc["command"]["environment"]["OPENCLAW_SERVICE_KIND"],
        "gateway"
    );
    assert_eq!(v["config"]["mismatch"], false);
    let (_, out, _) = run(cmd(&["doctor", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["facts"]["service.runtime"], "running", "{:#}", v["facts"]);
    assert_eq!(v["facts"]["service.metadata_drift"], false);
    // A legacy agent beside it: listed with upstream's cleanup hints, reported by the doctor.
    let legacy = plist.with_file_name("com.clawdbot.gateway.plist");
    std::fs::write(
        &legacy,
        "<plist><dict><key>Label</key><string>com.clawdbot.gateway</string><key>ProgramArguments</key><array><string>/opt/clawdbot/bin/clawdbot</string><string>gateway</string></array></dict></plist>\n",
    )
    .unwrap();
    let (_, out, _) = run(cmd(&["gateway", "status", "--no-probe"]), T);
    assert!(
        out.contains(&format!(
            "Other gateway-like services detected (best effort):\n- com.clawdbot.gateway (user, plist: {0})\nCleanup hint: launchctl bootout gui/$UID/com.clawdbot.gateway\nCleanup hint: rm {0}\n",
            legacy.display()
        )),
        "{out}"
    );
    let (_, out, _) = run(cmd(&["doctor", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(finding(&v, "service.duplicate-units")["status"], "warn");
    std::fs::remove_file(&legacy).unwrap();
    let _ = std::fs::remove_file(bin.with_file_name("calls"));

    let (code, out, err) = run(cmd(&["gateway", "stop", "--force"]), T);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Runtime: stopped (state inactive, sub not loaded)"),
        "{out}"
    );
    // Booted out, the plist still there: start loads it again.
    let (code, out, err) = run(cmd(&["gateway", "start"]), T);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Runtime: running (pid 777, "), "{out}");
    assert_eq!(run(cmd(&["gateway", "restart"]), T).0, 0);
    let (code, out, err) = run(cmd(&["gateway", "uninstall"]), T);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Removed "), "{out}");
    assert!(!plist.exists());
    assert_eq!(
        recorded(&bin),
        [
            // stop
            format!("launchctl print {target}"),
            format!("launchctl bootout {target}"),
            format!("launchctl print {target}"),
            // start
            format!("launchctl print {target}"),
            format!("launchctl print {target}"),
            format!("launchctl enable {target}"),
            format!("launchctl bootstrap gui/{uid} {}", plist.display()),
            format!("launchctl print {target}"),
            // restart
            format!("launchctl print {target}"),
            format!("launchctl print {target}"),
            format!("launchctl kickstart -k {target}"),
            format!("launchctl print {target}"),
            // uninstall
            format!("launchctl bootout {target}"),
        ]
    );
    // --system is systemd's.
    let (code, _, err) = run(cmd(&["gateway", "start", "--system"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains("--system applies to systemd only; launchd services are per user here."),
        "{err}"
    );
}

#[test]
fn schtasks_service_commands_run_end_to_end() {
    let p = Profile::local_token();
    let bin = recorder(&p, "schtasks", FAKE_SCHTASKS);
    let cmd = |args: &[&str]| on_platform(&p, "schtasks", &bin, args);
    let launcher = p.path().join("state/gateway.cmd");
    let (code, _, err) = run(cmd(&["gateway", "start"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains("Gateway service OpenClaw Gateway is not installed."),
        "{err}"
    );
    let (code, out, err) = run(cmd(&["gateway", "install"]), T);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("Runtime: running (state active, sub running)"),
        "{out}"
    );
    let text = std::fs::read_to_string(&launcher).unwrap();
    assert!(
        text.contains("set \"OPENCLAW_SERVICE_MARKER=openclaw\"\r\n"),
        "{text}"
    );
    let (_, out, err) = run(cmd(&["gateway", "status", "--no-probe", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(v["service"]["label"], "schtasks");
    assert_eq!(v["service"]["runtime"]["status"], "running");
    assert_eq!(v["service"]["command"]["programArguments"][1], "gateway");
    // --deep asks the Task Scheduler for other gateway-like tasks, as upstream does.
    let (_, out, _) = run(cmd(&["gateway", "status", "--no-probe", "--deep"]), T);
    assert!(
        out.contains("- \\Clawdbot Gateway (system, task: \\Clawdbot Gateway, run: C:\\clawdbot\\gateway.cmd)\nCleanup hint: schtasks /Delete /TN \"\\Clawdbot Gateway\" /F\n"),
        "{out}"
    );
    assert!(!out.contains("(work)") && !out.contains("Backup"), "{out}");
    let (_, out, _) = run(cmd(&["gateway", "status", "--no-probe"]), T);
    assert!(!out.contains("Other gateway-like"), "{out}");
    let (code, out, _) = run(cmd(&["gateway", "stop", "--force"]), T);
    assert_eq!(code, 0);
    assert!(
        out.contains("Runtime: stopped (state inactive, sub ready)"),
        "{out}"
    );
    assert_eq!(run(cmd(&["gateway", "uninstall"]), T).0, 0);
    assert!(!launcher.exists());
    let calls = recorded(&bin);
    let tn = "/TN OpenClaw Gateway";
    assert!(
        calls[1].starts_with(&format!("schtasks /Create /F {tn} /XML ")),
        "{calls:?}"
    );
    // What schtasks read: UTF-16LE with a BOM, running the launcher at logon.
    let xml = std::fs::read(bin.with_file_name("task.xml")).unwrap();
    assert_eq!(xml[..2], [0xFF, 0xFE]);
    let units: Vec<u16> = xml[2..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let xml = String::from_utf16(&units).unwrap();
    assert!(
        xml.contains(&format!("<Command>{}</Command>", launcher.display())),
        "{xml}"
    );
    assert!(
        xml.contains("<Description>OpenClaw Gateway</Description>"),
        "{xml}"
    );
    assert!(
        calls.ends_with(&[
            format!("schtasks /End {tn}"),
            format!("schtasks /Delete /F {tn}"),
        ]),
        "{calls:?}"
    );
}

/// A recorded `loginctl` keeping one user's Linger flag; `deny` makes enabling fail.
const FAKE_LOGINCTL: &str = r#"#!/bin/sh
d="$(dirname "$0")"
echo "loginctl $*" >> "$d/calls"
case "$1" in
  show-user) if [ -f "$d/linger" ]; then echo Linger=yes; else echo Linger=no; fi ;;
  enable-linger)
    if [ -f "$d/deny" ]; then echo "Could not enable linger: Access denied" >&2; exit 1; fi
    touch "$d/linger" ;;
  disable-linger) rm -f "$d/linger" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"#;

#[test]
fn the_doctor_enables_lingering_for_the_user_service() {
    let p = Profile::local_token();
    p.private_config();
    let m = FakeManager::new(&p);
    let loginctl = recorder(&p, "loginctl", FAKE_LOGINCTL);
    let cmd = |args: &[&str]| {
        let mut c = m.cmd(&p, args);
        c.env("OPENCLAW_LOGINCTL", &loginctl).env("USER", "oc");
        c
    };
    assert_eq!(run(cmd(&["gateway", "install"]), T).0, 0);
    let (_, out, _) = run(cmd(&["doctor", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["facts"]["service.linger_disabled"], true);
    assert_eq!(finding(&v, "service.linger")["status"], "warn");

    // Refused (no polkit rule for this user): the fix fails and names the sudo command.
    std::fs::write(loginctl.with_file_name("deny"), "").unwrap();
    let (_, out, _) = run(cmd(&["doctor", "--fix", "--yes", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    let fix = fix_of(&v, "enable-linger");
    assert_ne!(fix["status"], "applied", "{fix:#}");
    assert!(
        fix.to_string()
            .contains("Could not enable linger: Access denied; run `sudo loginctl enable-linger"),
        "{fix:#}"
    );

    std::fs::remove_file(loginctl.with_file_name("deny")).unwrap();
    let (_, out, _) = run(cmd(&["doctor", "--fix", "--yes", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    let fix = fix_of(&v, "enable-linger");
    assert_eq!(fix["status"], "applied", "{fix:#}");
    assert_eq!(v["facts"]["service.linger_disabled"], false);
    assert!(recorded(&loginctl)
        .iter()
        .any(|c| c.starts_with("loginctl enable-linger ")));
}

#[test]
fn install_saves_a_token_to_the_config_never_to_the_unit() {
    let unit_of = |p: &Profile| {
        std::fs::read_to_string(
            p.path()
                .join("home/.config/systemd/user/openclaw-gateway.service"),
        )
        .unwrap()
    };
    let token_of = |p: &Profile| {
        let text = std::fs::read_to_string(p.config_path()).unwrap();
        let doc = openclaw::config::json5::parse(&text).unwrap();
        doc.value["gateway"]["auth"]["token"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // No token anywhere: one is generated and saved, with upstream's warning.
    let p = Profile::new(r#"{"gateway": {"mode": "local"}}"#);
    let m = FakeManager::new(&p);
    let (code, out, err) = run(m.cmd(&p, &["gateway", "install"]), T);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("No gateway token found. Auto-generated one and saving to config."),
        "{out}"
    );
    let token = token_of(&p);
    assert_eq!(token.len(), 48, "{token}");
    assert!(!out.contains(&token) && !unit_of(&p).contains(&token));

    // --token on a config without one: saved as given.
    let p = Profile::new(r#"{"gateway": {"mode": "local"}}"#);
    let m = FakeManager::new(&p);
    let given = "operator-chosen-token-0123456789";
    let (code, out, err) = run(
        m.cmd(&p, &["gateway", "install", "--token", given, "--json"]),
        T,
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(token_of(&p), given);
    assert!(!out.contains(given) && !unit_of(&p).contains(given));

    // A config from a newer OpenClaw is not rewritten by this older binary.
    let p = Profile::new(
        r#"{"meta": {"lastTouchedVersion": "2099.1.1"}, "gateway": {"mode": "local"}}"#,
    );
    let m = FakeManager::new(&p);
    let (code, _, err) = run(m.cmd(&p, &["gateway", "install"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains("Refusing to save gateway.auth.token because this OpenClaw binary"),
        "{err}"
    );
    assert!(token_of(&p).is_empty());

    // A different --token than the configured one is refused; the same one is fine.
    let p = Profile::local_token();
    let m = FakeManager::new(&p);
    let (code, _, err) = run(m.cmd(&p, &["gateway", "install", "--token", "other"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains("Gateway install blocked: --token differs from gateway.auth.token in "),
        "{err}"
    );
    assert_eq!(token_of(&p), TOKEN);
    assert_eq!(
        run(m.cmd(&p, &["gateway", "install", "--token", TOKEN]), T).0,
        0
    );
}

#[test]
fn the_doctor_sets_legacy_gateway_units_aside() {
    let p = Profile::local_token();
    p.private_config();
    let m = FakeManager::new(&p);
    assert_eq!(run(m.cmd(&p, &["gateway", "install"]), T).0, 0);
    let dir = p.path().join("home/.config/systemd/user");
    let legacy = dir.join("clawdbot-gateway.service");
    std::fs::write(
        &legacy,
        "[Service]\nExecStart=/usr/bin/node /opt/clawdbot/dist/index.js gateway --port 18789\n",
    )
    .unwrap();
    // A unit that is not legacy is only reported, never touched.
    let other = dir.join("my-gateway.service");
    std::fs::write(
        &other,
        "[Service]\nExecStart=/opt/openclaw-fork/bin/openclaw gateway --port 18790\n",
    )
    .unwrap();
    let (_, out, err) = run(m.cmd(&p, &["doctor", "--fix", "--yes", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let fix = fix_of(&v, "remove-legacy-services");
    assert_eq!(fix["status"], "applied", "{fix:#}");
    assert!(!legacy.exists());
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("clawdbot-gateway.service.removed-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(other.exists());
    assert_eq!(v["facts"]["service.legacy_units"], serde_json::json!([]));
    assert_eq!(finding(&v, "service.duplicate-units")["status"], "warn");
    let calls = m.calls();
    // The fake manager has one unit's state; what matters is that the legacy unit was
    // asked about and, being loaded, stopped and disabled before its file went.
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("--user show clawdbot-gateway.service")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"--user stop clawdbot-gateway.service".to_string())
            && calls.contains(&"--user disable clawdbot-gateway.service".to_string()),
        "{calls:?}"
    );
}

#[test]
fn a_user_unit_beside_the_system_unit_is_set_aside() {
    let p = Profile::local_token();
    p.private_config();
    let m = FakeManager::new(&p);
    let system_dir = p.path().join("etc-systemd-system");
    let cmd = |args: &[&str]| {
        let mut c = m.cmd(&p, args);
        c.env("OPENCLAW_SYSTEMD_SYSTEM_DIR", &system_dir);
        c
    };
    assert_eq!(run(cmd(&["gateway", "install", "--system"]), T).0, 0);
    assert!(system_dir.join("openclaw-gateway.service").is_file());
    assert_eq!(run(cmd(&["gateway", "install"]), T).0, 0);
    let user_unit = p
        .path()
        .join("home/.config/systemd/user/openclaw-gateway.service");
    let (_, out, _) = run(cmd(&["doctor", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["facts"]["service.dueling"], true);
    assert_eq!(finding(&v, "service.dueling-units")["status"], "warn");
    let (_, out, _) = run(cmd(&["doctor", "--fix", "--yes", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fix_of(&v, "remove-user-unit")["status"], "applied");
    assert!(!user_unit.exists());
    assert!(system_dir.join("openclaw-gateway.service").is_file());
    assert_eq!(v["facts"]["service.dueling"], false);
    // The system unit is the one inspected now.
    assert_eq!(
        v["facts"]["service.unit_path"],
        system_dir
            .join("openclaw-gateway.service")
            .display()
            .to_string()
    );
}

/// Fresh named profiles get a complete config and base ports that do not collide; a config
/// without gateway.mode is refused with the command that fixes it.
#[test]
fn a_fresh_profiles_install_writes_a_complete_config_on_a_spaced_port() {
    let p = Profile::new("");
    let m = FakeManager::new(&p);
    let home = p.path().join("home");
    let install = |profile: &str| {
        let mut c = m.cmd(&p, &["--profile", profile, "gateway", "install"]);
        c.env_remove("OPENCLAW_STATE_DIR")
            .env_remove("OPENCLAW_CONFIG_PATH");
        run(c, T)
    };
    let config_of = |profile: &str| -> Value {
        let text = std::fs::read_to_string(home.join(format!(".openclaw-{profile}/openclaw.json")))
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let unit_of = |profile: &str| {
        std::fs::read_to_string(home.join(format!(
            ".config/systemd/user/openclaw-gateway-{profile}.service"
        )))
        .unwrap()
    };
    let (code, out, err) = install("main");
    assert_eq!(code, 0, "{out}{err}");
    let main = config_of("main");
    assert_eq!(main["gateway"]["mode"], "local");
    assert_eq!(main["gateway"]["auth"]["mode"], "token");
    assert_eq!(main["gateway"]["auth"]["token"].as_str().unwrap().len(), 48);
    let main_port = main["gateway"]["port"].as_u64().unwrap();
    assert!(unit_of("main").contains(&format!(" gateway --port {main_port}\n")));
    assert!(
        out.contains("Config written:")
            && !out.contains(main["gateway"]["auth"]["token"].as_str().unwrap()),
        "{out}"
    );

    let (code, out, err) = install("rescue");
    assert_eq!(code, 0, "{out}{err}");
    let rescue_port = config_of("rescue")["gateway"]["port"].as_u64().unwrap();
    assert!(
        rescue_port.abs_diff(main_port) >= 120,
        "{main_port} vs {rescue_port}"
    );
    assert!(unit_of("rescue").contains(&format!(" gateway --port {rescue_port}\n")));
    assert!(out.contains("other profiles use"), "{out}");

    // setup on another fresh profile spaces its port too.
    let mut c = p.command();
    c.env_remove("OPENCLAW_STATE_DIR")
        .env_remove("OPENCLAW_CONFIG_PATH")
        .args(["--profile", "ops", "setup"]);
    assert_eq!(run(c, T).0, 0);
    let ops_port = config_of("ops")["gateway"]["port"].as_u64().unwrap();
    for other in [main_port, rescue_port] {
        assert!(ops_port.abs_diff(other) >= 120, "{ops_port} vs {other}");
    }

    // A config the service would refuse to start on: refused, naming the fix.
    let work = home.join(".openclaw-work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("openclaw.json"),
        r#"{"gateway": {"auth": {"token": "abc"}}}"#,
    )
    .unwrap();
    let (code, _, err) = install("work");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("openclaw --profile work config set gateway.mode local"),
        "{err}"
    );
    assert!(!home
        .join(".config/systemd/user/openclaw-gateway-work.service")
        .exists());
}
