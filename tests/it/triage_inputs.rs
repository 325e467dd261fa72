//! What users hand the doctor: FIFOs, gzip logs, logs that start with invalid UTF-8, a
//! line with no end, a support bundle that expands to gigabytes, a checks dir with a
//! cycle; and the promise that `doctor` without `--fix` writes nothing.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
const SIGNATURE: &str = "cron: timer tick failed: boom";

fn triage(p: &Profile, inputs: &[&Path]) -> (i32, Value, String) {
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).args(inputs);
    let (code, out, err) = run(c, T);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v, err)
}

fn fired(v: &Value, id: &str) -> bool {
    let st = &finding(v, id)["status"];
    st == "warn" || st == "fail"
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Run a command, following its peak RSS (VmHWM) until it exits.
fn run_measured(mut cmd: std::process::Command) -> (i32, String, u64) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut hwm = 0;
    let code = loop {
        hwm = hwm.max(status_kib(pid, "VmHWM:"));
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "still running after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, reader.join().unwrap(), hwm)
}

#[test]
fn fifos_are_refused_not_waited_on() {
    let p = Profile::new("{}");
    let fifo = p.path().join("pasted.log");
    mkfifo(&fifo);
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).arg(&fifo);
    let (code, out, err) = run(c, Duration::from_secs(20));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        (out.clone() + &err).contains("it is a FIFO, not a regular file"),
        "{out}{err}"
    );
    // A FIFO named like a check file in --checks DIR.
    let dir = p.path().join("checks");
    std::fs::create_dir(&dir).unwrap();
    mkfifo(&dir.join("extra.toml"));
    let mut c = p.command();
    c.args(["doctor", "--check-config", "--checks"]).arg(&dir);
    let (code, out, err) = run(c, Duration::from_secs(20));
    assert_ne!(code, 0, "{out}{err}");
    assert!((out + &err).contains("it is a FIFO"));
}

#[test]
fn a_depends_on_cycle_fails_the_catalogue_check() {
    let p = Profile::new("{}");
    let dir = p.path().join("checks");
    std::fs::create_dir(&dir).unwrap();
    let check = |id: &str, dep: &str| {
        format!(
            r#"
[[checks]]
id = "{id}"
title = "t"
symptoms = ["legacy-token-key"]
severity = "warning"
message = "m"
remediation = "r"
depends_on = ["{dep}"]
when = [{{ fact = "config.legacy_gateway_token", is = true }}]
"#
        )
    };
    let text = format!(
        "[section]\nid = \"cycle\"\ntitle = \"cycle\"\n{}{}{}",
        check("x.a", "x.b"),
        check("x.b", "x.c"),
        check("x.c", "x.a")
    );
    std::fs::write(dir.join("cycle.toml"), text).unwrap();
    let mut c = p.command();
    c.args(["doctor", "--check-config", "--checks"]).arg(&dir);
    let (code, out, err) = run(c, T);
    assert_ne!(code, 0, "a cycle passed: {out}{err}");
    assert!(
        (out + &err).contains("depends_on forms a cycle: x.a -> x.b -> x.c -> x.a"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_at_the_start_and_gzip_logs_are_triaged() {
    let p = Profile::new("{}");
    // The first line is not UTF-8; the signature is further down.
    let log = p.path().join("binary-start.log");
    let mut bytes = b"\xff\xfe\x00garbage from a crash\n".to_vec();
    bytes.extend(format!("{SIGNATURE}\n").as_bytes());
    std::fs::write(&log, &bytes).unwrap();
    let (_, v, _) = triage(&p, &[&log]);
    assert!(fired(&v, "cron.tick-failed"), "{v:#}");
    // A rotated, gzip-compressed log.
    let gz = p.path().join("openclaw-2026-12-01.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(format!("first line\n{SIGNATURE}\n").as_bytes())
        .unwrap();
    enc.finish().unwrap();
    let (_, v, _) = triage(&p, &[&gz]);
    assert!(fired(&v, "cron.tick-failed"), "{v:#}");
    assert!(
        v["inputs"][0].as_str().unwrap().ends_with("(gzip log)"),
        "{}",
        v["inputs"]
    );
}

#[test]
fn a_line_with_no_end_is_read_in_bounded_memory() {
    let p = Profile::new("{}");
    // 1 GiB with no newline (sparse: no disk used), then a line the doctor must still see.
    let log = p.path().join("one-line.log");
    let f = std::fs::File::create(&log).unwrap();
    f.set_len(1 << 30).unwrap();
    drop(f);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(format!("\n{SIGNATURE}\n").as_bytes()).unwrap();
    drop(f);
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).arg(&log);
    let (_, out, hwm) = run_measured(c);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(fired(&v, "cron.tick-failed"), "{v:#}");
    assert!(
        v["inputs"][0]
            .as_str()
            .unwrap()
            .contains("1 line(s) over 1 MiB scanned by their first 1 MiB"),
        "{}",
        v["inputs"]
    );
    assert!(hwm < 128 * 1024, "peak RSS {hwm} KiB for a 1 GiB line");
}

#[test]
fn a_bundle_bomb_is_capped_and_leaves_nothing_behind() {
    let p = Profile::new("{}");
    // 2 MB that expand to a 2 GiB log (see fixtures/triage/README.md).
    let bomb = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/triage/bundle-bomb.tar.gz");
    let tmp = p.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut c = p.command();
    c.env("TMPDIR", &tmp)
        .args(["doctor", "triage", "--json"])
        .arg(&bomb);
    let (code, out, hwm) = run_measured(c);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(code == 0 || code == 1, "{code}: {out}");
    let said = v["inputs"][0].as_str().unwrap();
    assert!(said.contains("(support bundle)"), "{said}");
    assert!(
        said.contains("openclaw-bundle/logs/openclaw.log expands past 32 MiB"),
        "{said}"
    );
    assert!(hwm < 160 * 1024, "peak RSS {hwm} KiB for the bundle bomb");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(path.clone(), Vec::new());
                todo.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn doctor_without_fix_leaves_the_state_dir_as_it_was() {
    let p = Profile::local_token();
    p.private_config();
    let state = p.path().join("state");
    // With no gateway, then with one running (the probe connects to it).
    for with_gateway in [false, true] {
        let _gw = with_gateway.then(|| Gateway::start(&p, &[], &[]));
        let before = snapshot(&state);
        let mut c = p.command();
        c.args(["doctor", "--json"]);
        let (code, out, err) = run(c, T);
        assert!(code <= 2, "{code}: {out}{err}");
        let after = snapshot(&state);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "files appeared or went (gateway running: {with_gateway})"
        );
        assert!(
            before == after,
            "a file changed (gateway running: {with_gateway})"
        );
        assert!(!state.join("identity/device.json").exists() || with_gateway);
    }
}

/// A finding's status; triage leaves out checks it could not run (`""`).
fn finding_status(v: &Value, id: &str) -> String {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["checkId"] == id)
        .and_then(|f| f["status"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// A pasted config with `${VAR}` refs: nothing is resolved from the triage host (even when
/// the host has the variable), the refs are facts, and every check over the config runs.
#[test]
fn triage_never_resolves_the_hosts_env_and_still_judges_the_config() {
    let p = Profile::new("");
    let cfg = p.path().join("user-openclaw.json");
    std::fs::write(
        &cfg,
        r#"{ gateway: { bind: "lan", auth: { mode: "none" }, token: "old" },
             channels: { telegram: { botToken: "${TELEGRAM_BOT_TOKEN}" } } }"#,
    )
    .unwrap();
    for host_value in [None, Some("host-secret-value-123")] {
        let mut c = p.command();
        if let Some(v) = host_value {
            c.env("TELEGRAM_BOT_TOKEN", v)
                .env("OPENCLAW_GATEWAY_TOKEN", "host-gateway-token-456");
        }
        c.args(["doctor", "triage", "--json"]).arg(&cfg);
        let (_, out, err) = run(c, T);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        assert!(!out.contains("host-secret-value-123") && !out.contains("host-gateway-token-456"));
        assert_eq!(
            v["facts"]["config.unresolved_refs"],
            serde_json::json!([{"path": "channels.telegram.botToken", "var": "TELEGRAM_BOT_TOKEN"}]),
            "{:#}",
            v["facts"]
        );
        assert_eq!(finding_status(&v, "config.parses"), "ok", "{host_value:?}");
        for id in [
            "config.bind-without-auth",
            "config.legacy-gateway-token",
            "config.mode-unset",
        ] {
            assert!(fired(&v, id), "{id} not fired with host env {host_value:?}");
        }
    }
}

/// Split-brain offline is judged against the user's version when an input shows it, and
/// not at all when none does (never against the triage host's binary).
#[test]
fn triage_judges_split_brain_by_the_users_version() {
    let p = Profile::new("");
    let cfg = p.path().join("user-openclaw.json");
    std::fs::write(
        &cfg,
        r#"{ meta: { lastTouchedVersion: "2026.10.1" }, gateway: { mode: "local", auth: { token: "t" } } }"#,
    )
    .unwrap();
    let status = |version: &str| {
        let f = p.path().join(format!("status-{version}.json"));
        std::fs::write(
            &f,
            serde_json::to_string_pretty(&serde_json::json!({
                "cli": {"version": version},
                "rpc": null,
                "port": {"port": 18789, "listeners": []},
            }))
            .unwrap(),
        )
        .unwrap();
        f
    };
    let (_, v, _) = triage(&p, &[&cfg]);
    assert_eq!(
        finding_status(&v, "config.newer-version"),
        "",
        "not judged: {v:#}"
    );
    assert!(v["facts"].get("config.newer_than_binary").is_none());
    let older = status("2026.9.6");
    let (_, v, _) = triage(&p, &[&cfg, &older]);
    assert_eq!(finding_status(&v, "config.newer-version"), "fail");
    let newer = status("2026.11.5");
    let (_, v, _) = triage(&p, &[&cfg, &newer]);
    assert_eq!(finding_status(&v, "config.newer-version"), "ok");
}
