//! Service unit rendering: golden files for systemd, launchd and schtasks (regenerate with
//! `OPENCLAW_UPDATE_GOLDEN=1 cargo test --test it service`), and `systemd-analyze verify`
//! on the generated units when systemd is installed.

use openclaw::config::env::Env;
use openclaw::service::{launchd, schtasks, systemd, ServiceSpec};
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
    let cmds = schtasks::commands("OpenClaw Gateway", Path::new("C:\\oc\\gateway.cmd"));
    assert_eq!(cmds[1].1, ["schtasks", "/Run", "/TN", "OpenClaw Gateway"]);
    let cmds = launchd::commands(501, "ai.openclaw.gateway", Path::new("/p.plist"));
    assert_eq!(
        cmds[2].1,
        [
            "launchctl",
            "kickstart",
            "-k",
            "gui/501/ai.openclaw.gateway"
        ]
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
  enable|start|restart) echo active > "$d/state" ;;
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
        c.env("OPENCLAW_SYSTEMCTL", self.dir.join("systemctl"))
            .env("FAKE_SYSTEMCTL_DIR", &self.dir)
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
            "--user enable --now openclaw-gateway.service",
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
        .any(|c| c == "--user disable --now openclaw-gateway.service"));
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
    assert!(out.contains("Runtime: unknown (systemctl --user unavailable: Failed to connect to bus: No medium found)\nsystemd user services unavailable."), "{out}");
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
    std::fs::set_permissions(
        p.config_path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let m = FakeManager::new(&p);
    assert_eq!(run(m.cmd(&p, &["gateway", "install"]), T).0, 0);
    let unit = p
        .path()
        .join("home/.config/systemd/user/openclaw-gateway.service");
    let good = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, good.replacen(" --port 18789", " --port 1", 1)).unwrap();
    let (_, out, err) = run(m.cmd(&p, &["doctor", "--fix", "--yes", "--json"]), T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let fix = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["action"] == "reinstall-service")
        .cloned()
        .unwrap_or_else(|| panic!("no reinstall fix: {v:#}"));
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
