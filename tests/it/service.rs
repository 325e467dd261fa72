//! Service unit rendering: golden files for systemd, launchd and schtasks (regenerate with
//! `OPENCLAW_UPDATE_GOLDEN=1 cargo test --test it service`), and `systemd-analyze verify`
//! on the generated units when systemd is installed.

use openclaw::config::env::Env;
use openclaw::service::{launchd, schtasks, systemd, ServiceSpec};
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
