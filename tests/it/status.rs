//! `gateway status` and `status` against the real gateway binary: snapshots of the human
//! layout and JSON shapes, and each failure state.

use crate::snapshot::{assert_snapshot, redact, shape};
use crate::support::*;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn with_port(p: &Profile, port: u16, args: &[&str]) -> std::process::Command {
    let mut c = p.command();
    c.args(args)
        .env("OPENCLAW_GATEWAY_PORT", port.to_string())
        .env("COLUMNS", "100");
    c
}

#[test]
fn gateway_status_healthy_snapshot() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (code, out, _) = run(with_port(&p, gw.port, &["gateway", "status", "--deep"]), T);
    assert_eq!(code, 0);
    assert!(
        out.contains("Connectivity probe: ok\nCapability: read-only\nRead probe: ok"),
        "{out}"
    );
    assert!(
        !out.contains("Last gateway error"),
        "only shown when the probe fails"
    );
    assert_snapshot(
        "gateway-status-healthy.txt",
        &redact(&out, p.path(), &[gw.port]),
    );

    let (code, out, _) = run(
        with_port(&p, gw.port, &["gateway", "status", "--json", "--deep"]),
        T,
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rpc"]["ok"], true);
    assert_eq!(v["port"]["status"], "busy");
    assert_eq!(v["port"]["listeners"][0]["gatewayLike"], true);
    assert_eq!(v["port"]["listeners"][0]["pid"], gw.child.id());
    assert_eq!(v["gateway"]["portSource"], "OPENCLAW_GATEWAY_PORT");
    assert_snapshot(
        "gateway-status-healthy.shape.json",
        &serde_json::to_string_pretty(&shape(&v)).unwrap(),
    );
}

#[test]
fn gateway_status_shows_the_last_gateway_error_when_nothing_answers() {
    let p = Profile::new("");
    let log = p.path().join("gw.log");
    // A start refused for mode=remote leaves its reason in the file log.
    std::fs::write(
        p.config_path(),
        format!(r#"{{"gateway": {{"mode": "remote", "auth": {{"token": "{TOKEN}"}}}}, "logging": {{"file": "{}"}}}}"#, log.display()),
    )
    .unwrap();
    let mut refused = p.command();
    refused.args(["gateway", "--port", "0"]);
    assert_eq!(run(refused, T).0, 78);
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out, _) = run(with_port(&p, free, &["gateway", "status"]), T);
    assert_eq!(code, 0, "status is informational without --require-rpc");
    assert!(
        out.contains("Connectivity probe: failed\n  connect ECONNREFUSED"),
        "{out}"
    );
    assert!(
        out.contains("Last gateway error: Gateway start blocked: set gateway.mode=local (current: remote) or pass --allow-unconfigured."),
        "{out}"
    );
    assert_snapshot(
        "gateway-status-unreachable.txt",
        &redact(&out, p.path(), &[free]),
    );
    let (code, _, _) = run(
        with_port(&p, free, &["gateway", "status", "--require-rpc"]),
        T,
    );
    assert_eq!(code, 1);
}

#[test]
fn gateway_status_names_a_foreign_port_holder() {
    let p = Profile::local_token();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let (code, out, _) = run(
        with_port(&p, port, &["gateway", "status", "--timeout", "500"]),
        T,
    );
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("Port {port} is already in use.")),
        "{out}"
    );
    assert!(
        out.contains(&format!("- pid {} ", std::process::id())),
        "{out}"
    );
    assert!(
        out.contains("- Another process is listening on this port."),
        "{out}"
    );
}

#[test]
fn gateway_status_wrong_token_is_not_a_port_conflict() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (code, out, _) = run(
        with_port(
            &p,
            gw.port,
            &["gateway", "status", "--token", "nope", "--require-rpc"],
        ),
        T,
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("Connectivity probe: failed\n  unauthorized: gateway token mismatch"),
        "{out}"
    );
    assert!(!out.contains("is already in use"), "{out}");
    assert!(
        out.contains("hint: the CLI's credentials do not match the gateway's"),
        "{out}"
    );
}

#[test]
fn status_overview_healthy_and_unreachable() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let mut cmd = with_port(&p, gw.port, &["status"]);
    cmd.env("COLUMNS", "240");
    let (code, out, _) = run(cmd, T);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(local loopback) · reachable ~"), "{out}");
    assert!(out.contains("auth token"), "{out}");
    // Column padding depends on latency digits and temp-path lengths: pin the content only.
    let squeezed: String = redact(&out, p.path(), &[gw.port])
        .lines()
        .map(|l| {
            let words = l
                .split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let mut out = String::new();
            for c in words.chars() {
                if !(c == '─' && out.ends_with('─')) {
                    out.push(c);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_snapshot("status-healthy.txt", &squeezed);
    let (code, out, _) = run(with_port(&p, gw.port, &["status", "--json", "--deep"]), T);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["gateway"]["reachable"], true);
    assert_eq!(v["health"]["ok"], true);
    assert_eq!(v["gateway"]["credentialSource"], "gateway.auth.token");
    assert_snapshot(
        "status-healthy.shape.json",
        &serde_json::to_string_pretty(&shape(&v)).unwrap(),
    );
    // --deep asks for a fresh summary (health {probe: true}); the cached one is older.
    std::thread::sleep(Duration::from_millis(20));
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let (_, out, _) = run(with_port(&p, gw.port, &["status", "--json", "--deep"]), T);
    let v: Value = serde_json::from_str(&out).unwrap();
    let ts = v["health"]["ts"].as_u64().unwrap();
    assert!(
        ts >= before,
        "health summary from {ts}, before the call: {before}"
    );

    drop(gw);
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out, _) = run(with_port(&p, free, &["status", "--json"]), T);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["gateway"]["reachable"], false);
}

/// `status` shows upstream's sections as far as this build has the data, and says what it
/// does not have instead of inventing it.
#[test]
fn status_sections_say_what_this_build_does_not_run() {
    let p = Profile::new(&format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ token: "{TOKEN}" }} }}, channels: {{ telegram: {{ botToken: "x" }}, irc: {{ enabled: false }} }} }}"#
    ));
    let free = free_port().to_string();
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", &free).arg("status");
    let (_, out, _) = run(c, std::time::Duration::from_secs(30));
    for section in [
        "\nSecurity audit\n",
        "\nChannels\n",
        "\nSessions\n",
        "Next steps:",
    ] {
        assert!(out.contains(section), "{section:?} missing: {out}");
    }
    assert!(out.contains("telegram · enabled · not served"), "{out}");
    assert!(out.contains("irc · disabled · not served"), "{out}");
    assert!(
        out.contains("Sessions\nunknown (gateway not readable)"),
        "{out}"
    );
    assert!(
        out.contains("Fix reachability first: openclaw gateway probe"),
        "{out}"
    );
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", &free)
        .args(["status", "--json"]);
    let (_, out, _) = run(c, std::time::Duration::from_secs(30));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["channels"][0]["served"], false);
    assert_eq!(v["securityAudit"]["status"], "not-available");
    assert!(v["sessions"]["count"].is_null());
}
