//! The shared file log: every gateway, profile and CLI on a host writes the same dated file.
//! The doctor and `gateway status` count only this profile's gateway's lines.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// A local token profile logging to the dated default file under `shared` (no
/// `logging.file`, as a real installation).
fn profile() -> Profile {
    let p = Profile::new(&format!(
        r#"{{ gateway: {{ mode: "local", bind: "loopback", auth: {{ mode: "token", token: "{TOKEN}" }} }} }}"#
    ));
    p.private_config();
    p
}

fn with_log(mut c: std::process::Command, shared: &Path, port: u16) -> std::process::Command {
    c.env("OPENCLAW_LOG_DIR", shared)
        .env("OPENCLAW_GATEWAY_PORT", port.to_string());
    c
}

fn doctor(p: &Profile, shared: &Path, port: u16) -> (i32, Value) {
    let mut c = with_log(p.command(), shared, port);
    c.args(["doctor", "--json"]);
    let (code, out, err) = run(c, T);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}")),
    )
}

fn other_match<'a>(d: &'a Value, id: &str) -> Option<&'a Value> {
    d["otherProcesses"]["matched"]
        .as_array()?
        .iter()
        .find(|m| m["checkId"] == id)
}

/// An upstream record (no pid) as the real 2026.9.6 writes it.
fn upstream_line(subsystem: &str, level: &str, message: &str) -> String {
    let name = json!({ "subsystem": subsystem }).to_string();
    let now = chrono::Local::now();
    json!({
        "0": name, "1": message,
        "_meta": {"runtime": "node", "runtimeVersion": "24.19.0", "hostname": "vm",
                  "date": now.to_rfc3339(), "logLevelId": 4, "logLevelName": level,
                  "name": name, "parentNames": ["openclaw"]},
        "time": now.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        "hostname": "vm", "message": message,
    })
    .to_string()
}

#[test]
fn two_gateways_and_a_failing_client_share_the_log_and_the_healthy_profile_stays_green() {
    let shared = tempfile::tempdir().unwrap();
    let (a, b, c) = (profile(), profile(), profile());
    let log_env = [("OPENCLAW_LOG_DIR", shared.path().to_str().unwrap())];
    let gw_a = Gateway::start(&a, &[], &log_env);
    let gw_b = Gateway::start(&b, &[], &log_env);

    // A client with a stale token keeps failing against B.
    for _ in 0..3 {
        let mut cmd = with_log(b.command(), shared.path(), gw_b.port);
        cmd.args(["gateway", "call", "health", "--url", &gw_b.url(), "--token"])
            .arg("stale-token-000000000000");
        let (code, _, _) = run(cmd, T);
        assert_ne!(code, 0);
    }
    // A third profile's gateway fails to start on A's port: its lines name A's port, but
    // its pid is not A's.
    let mut cmd = with_log(c.command(), shared.path(), gw_a.port);
    cmd.args(["gateway", "--port", &gw_a.port.to_string()]);
    let (code, _, err) = run(cmd, T);
    assert_ne!(code, 0, "{err}");
    // And the real OpenClaw on another port logged a token mismatch (its records carry no
    // pid; the port names the gateway).
    let file = std::fs::read_dir(shared.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("the shared dated log file");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&upstream_line(
        "gateway/ws",
        "WARN",
        "unauthorized conn=c526fcfe peer=127.0.0.1:39274->127.0.0.1:1 remote=127.0.0.1 client=cli reason=token_mismatch guidance=unauthorized: gateway token mismatch (provide gateway auth token)",
    ));
    text.push('\n');
    std::fs::write(&file, text).unwrap();

    let (code_a, d_a) = doctor(&a, shared.path(), gw_a.port);
    let (_, d_b) = doctor(&b, shared.path(), gw_b.port);
    // The control: B's own lines raise B's finding.
    assert_eq!(
        finding(&d_b, "auth.token-mismatch")["status"],
        "warn",
        "{:#}",
        finding(&d_b, "auth.token-mismatch")
    );
    // A: nothing of theirs counts.
    assert_eq!(code_a, 0, "{:#?}", problems(&d_a));
    assert_eq!(finding(&d_a, "auth.token-mismatch")["status"], "ok");
    assert_eq!(finding(&d_a, "port.in-use")["status"], "ok");
    let mismatch = other_match(&d_a, "auth.token-mismatch").unwrap_or_else(|| {
        panic!("{:#}", d_a["otherProcesses"]);
    });
    assert!(
        mismatch["matches"]["count"].as_u64().unwrap() >= 2,
        "{mismatch:#}"
    );
    assert!(
        other_match(&d_a, "port.in-use").is_some(),
        "{:#}",
        d_a["otherProcesses"]
    );
    assert!(d_a["facts"]["logs.own_lines"].as_u64().unwrap() > 0);
    assert!(d_a["facts"]["logs.other_lines"].as_u64().unwrap() > 0);

    // The human report lists them once, apart.
    let mut cmd = with_log(a.command(), shared.path(), gw_a.port);
    cmd.arg("doctor");
    let (code, out, _) = run(cmd, T);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Other processes on this host"), "{out}");
    assert!(out.contains("auth.token-mismatch"), "{out}");

    // `gateway status` names no error of another process as A's last one.
    let mut cmd = with_log(a.command(), shared.path(), gw_a.port);
    cmd.args(["gateway", "status", "--no-probe"]);
    let (_, out, err) = run(cmd, T);
    assert!(!out.contains("Last gateway error"), "{out}{err}");
    // C's own failure is C's last error.
    let mut cmd = with_log(c.command(), shared.path(), gw_a.port);
    cmd.args(["gateway", "status", "--no-probe", "--json"]);
    let (_, out, err) = run(cmd, T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert!(
        v["lastError"]["line"]
            .as_str()
            .is_some_and(|l| l.contains("already running") || l.contains("already listening")),
        "{:#}",
        v["lastError"]
    );
}

#[test]
fn the_gateways_lines_from_before_its_current_start_are_history() {
    let shared = tempfile::tempdir().unwrap();
    let a = profile();
    let log_env = [("OPENCLAW_LOG_DIR", shared.path().to_str().unwrap())];
    let gw = Gateway::start(&a, &[], &log_env);
    let port = gw.port;
    // A client of an old protocol: its first frame is not `connect` (a log-only check).
    let url = gw.url();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut c = Client::open(&url).await;
        c.send(json!({"type": "req", "id": "x", "method": "health", "params": {}}))
            .await;
        let _ = c.closed().await;
    });
    let check = "protocol.bad-first-frame";
    let (code, d) = doctor(&a, shared.path(), port);
    let f = finding(&d, check);
    assert_eq!((code, f["status"].as_str()), (1, Some("warn")), "{f:#}");
    assert_eq!(f["severity"], "warning");

    // The same gateway restarted: the bad frame belongs to its previous run.
    drop(gw);
    std::thread::sleep(Duration::from_millis(20));
    let port_arg = port.to_string();
    let _gw = Gateway::start_on(&a, &port_arg, &log_env);
    let (code, d) = doctor(&a, shared.path(), port);
    let f = finding(&d, check);
    assert_eq!(f["severity"], "info", "{f:#}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("before the gateway's current start"),
        "{f:#}"
    );
    assert_eq!(code, 0, "{f:#}");
    assert!(d["facts"]["logs.run_started"].is_string());
}

/// The profile's own listener is never a port conflict; another profile's gateway on the
/// port is one, and the finding names its config.
#[test]
fn own_listener_is_not_a_conflict_another_profiles_gateway_is() {
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = (profile(), profile());
    let log_env = [("OPENCLAW_LOG_DIR", shared.path().to_str().unwrap())];
    let gw = Gateway::start(&a, &[], &log_env);
    let (code, d) = doctor(&a, shared.path(), gw.port);
    assert_eq!(d["facts"]["port.own_listener"], true, "{:#}", d["facts"]);
    assert_eq!(finding(&d, "port.in-use")["status"], "ok");
    assert_eq!(code, 0);
    // B is configured for the same port, which A's gateway holds.
    let (code, d) = doctor(&b, shared.path(), gw.port);
    let f = finding(&d, "port.in-use");
    assert_eq!(f["status"], "fail", "{f:#}");
    assert_eq!(
        f["evidence"]["port.holder_configs"][0].as_str(),
        a.config_path().to_str(),
        "{f:#}"
    );
    assert_eq!(code, 2);
}
