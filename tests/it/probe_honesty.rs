//! The probe reports what really happened: which credential authenticated, a shared token
//! the gateway refused, a refused handshake as a refusal; an explicit --token goes only to
//! the explicit target.

use crate::support::*;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn probe_json(p: &Profile, args: &[&str]) -> (i32, Value) {
    let mut c = p.command();
    c.args(["gateway", "probe", "--json", "--timeout", "5000"])
        .args(args);
    let (code, out, err) = run(c, T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    crate::schema::assert_valid("gateway-probe.schema.json", &v);
    (code, v)
}

fn doctor_with_wrong_token(p: &Profile, port: u16) -> Value {
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", port.to_string()).args([
        "doctor",
        "--json",
        "--token",
        "wrong-token-0000000000",
    ]);
    let (_, out, err) = run(c, T);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

fn codes(v: &Value) -> Vec<String> {
    v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_string())
        .collect()
}

/// After the CLI's device is paired, a wrong --token still gets in with the cached device
/// token; the probe says so instead of reporting the token as fine.
#[test]
fn a_wrong_token_let_in_by_the_device_token_is_reported() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();
    // A CLI call pairs this CLI's device and caches its device token.
    let mut c = p.command();
    c.args(["gateway", "call", "health", "--url", &url, "--token", TOKEN]);
    assert_eq!(run(c, T).0, 0);

    let (code, v) = probe_json(&p, &["--url", &url, "--token", "wrong-token-0000000000"]);
    let t = target(&v, "explicit");
    assert_eq!(t["connect"]["rpcOk"], true, "{t:#}");
    assert_eq!(t["auth"]["credentialSource"], "device-token", "{t:#}");
    assert_eq!(t["auth"]["rejectedCredential"]["source"], "--token");
    assert_eq!(
        t["auth"]["rejectedCredential"]["errorCode"],
        "AUTH_TOKEN_MISMATCH"
    );
    assert!(
        codes(&v).contains(&"auth_token_rejected".to_string()),
        "{v:#}"
    );
    assert_eq!(code, 1, "monitoring must see a degraded probe");

    // The doctor with that token reports the mismatch.
    let d = doctor_with_wrong_token(&p, gw.port);
    let f = finding(&d, "auth.token-mismatch");
    assert_eq!(
        (f["status"].as_str(), f["severity"].as_str()),
        (Some("fail"), Some("error")),
        "{f:#}"
    );
}

/// A refused handshake is a refusal: step `connect`, the close code and reason; not
/// "follow-up read diagnostics failed".
#[test]
fn a_refused_handshake_is_reported_as_refused() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (code, v) = probe_json(
        &p,
        &["--url", &gw.url(), "--token", "wrong-token-0000000000"],
    );
    let t = target(&v, "explicit");
    assert_eq!(t["connect"]["failedStep"], "connect", "{t:#}");
    assert_eq!(t["connect"]["errorCode"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(t["connect"]["close"]["code"], 1008);
    assert!(t["connect"]["close"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("unauthorized: gateway token mismatch"));
    let w = codes(&v);
    assert!(w.contains(&"connect_refused".to_string()), "{w:?}");
    assert!(!w.contains(&"probe_detail_failed".to_string()), "{w:?}");
    assert_eq!(code, 1);

    let d = doctor_with_wrong_token(&p, gw.port);
    assert_eq!(finding(&d, "probe.read-degraded")["status"], "ok");
    assert_eq!(finding(&d, "auth.token-mismatch")["status"], "fail");
}

/// `--url A --token X` sends X to A only; the configured remote target keeps its own token.
#[test]
fn an_explicit_token_goes_only_to_the_explicit_target() {
    let a = Profile::local_token();
    let gw_a = Gateway::start(&a, &[], &[]);
    let b = Profile::new("");
    std::fs::write(
        b.config_path(),
        format!(
            r#"{{ gateway: {{ mode: "local", bind: "loopback", auth: {{ mode: "token", token: "b-token-0123456789abcdef" }} }}, logging: {{ file: "{}" }} }}"#,
            b.log_path().display()
        ),
    )
    .unwrap();
    let gw_b = Gateway::start(&b, &[], &[]);
    let cli = Profile::new(&format!(
        r#"{{ gateway: {{ mode: "remote", remote: {{ url: "{}", token: "b-token-0123456789abcdef" }} }} }}"#,
        gw_b.url()
    ));
    let (_, v) = probe_json(&cli, &["--url", &gw_a.url(), "--token", TOKEN]);
    let a_t = target(&v, "explicit");
    assert_eq!(a_t["connect"]["rpcOk"], true, "{a_t:#}");
    let r = target(&v, "configRemote");
    assert_eq!(r["connect"]["rpcOk"], true, "{r:#}");
    assert_eq!(
        r["auth"]["credentialSource"], "gateway.remote.token",
        "{r:#}"
    );
    assert!(!codes(&v).contains(&"connect_refused".to_string()), "{v:#}");
}

/// A saved upstream probe whose target refused the token: triage names the mismatch and
/// does not call it degraded reads.
#[test]
fn triage_of_upstreams_refused_probe_names_the_mismatch() {
    let p = Profile::new("");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/triage/upstream-probe-wrong-token.json");
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).arg(&fixture);
    let (_, out, err) = run(c, T);
    let d: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(d["facts"]["gateway.error_code"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(finding(&d, "auth.token-mismatch")["status"], "fail");
    assert_eq!(finding(&d, "probe.read-degraded")["status"], "ok");
}

/// A scope-limited probe is `probe.scope-limited`, not also `probe.read-degraded`.
#[test]
fn triage_of_a_scope_limited_probe_is_not_degraded_reads() {
    let p = Profile::new("");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/triage/probe-scope-limited.json");
    let mut c = p.command();
    c.args(["doctor", "triage", "--json"]).arg(&fixture);
    let (_, out, err) = run(c, T);
    let d: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(finding(&d, "probe.scope-limited")["status"], "warn");
    assert_eq!(finding(&d, "probe.read-degraded")["status"], "ok");
}
