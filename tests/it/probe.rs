//! `gateway probe`, `gateway call` and `health` against the real gateway binary, in each state.

use crate::schema::assert_valid;
use crate::support::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// `openclaw <args>` as a client of profile `p` (its config has the gateway token).
fn cli(p: &Profile, args: &[&str]) -> Command {
    let mut c = p.command();
    c.args(args);
    c
}

fn probe_json(p: &Profile, args: &[&str]) -> (i32, Value, String) {
    let mut full = vec!["gateway", "probe", "--json"];
    full.extend_from_slice(args);
    let (code, out, err) = run(cli(p, &full), T);
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: stdout={out} stderr={err}"));
    assert_valid("gateway-probe.schema.json", &v);
    (code, v, err)
}

#[test]
fn healthy_gateway_probe_is_rpc_ok_and_exit_0() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let port = gw.port.to_string();
    let (code, v, _) = probe_json(&p, &["--port", &port]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["degraded"], false);
    assert_eq!(v["primaryTargetId"], "localLoopback");
    assert_eq!(v["capability"], "read_only");
    let t = target(&v, "localLoopback");
    assert_eq!(t["connect"]["rpcOk"], true);
    assert_eq!(t["auth"]["credentialSource"], "gateway.auth.token");
    assert_eq!(t["auth"]["deviceIdentity"], true);
    assert_eq!(t["health"]["ok"], true);
    assert_eq!(t["self"]["reason"], "self");
    assert_eq!(t["config"]["valid"], true);
    assert!(
        !serde_json::to_string(&v).unwrap().contains(TOKEN),
        "no secret in the output"
    );

    let (code, out, _) = run(cli(&p, &["gateway", "probe", "--port", &port]), T);
    assert_eq!(code, 0);
    assert!(out.contains("Reachable: yes"), "{out}");
    assert!(out.contains("Connect: ok ("), "{out}");
    assert!(out.contains("· RPC: ok · Capability: read-only"), "{out}");

    let (code, out, _) = run(
        cli(
            &p,
            &["gateway", "probe", "--port", &port, "--format", "nagios"],
        ),
        T,
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("OPENCLAW OK - local loopback ws://127.0.0.1:"),
        "{out}"
    );
    assert!(
        out.contains(" | duration=") && out.contains("latency_localLoopback="),
        "{out}"
    );
    assert_eq!(out.trim().lines().count(), 1);

    let (code, out, _) = run(
        cli(
            &p,
            &[
                "gateway",
                "probe",
                "--port",
                &port,
                "--format",
                "prometheus",
            ],
        ),
        T,
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("openclaw_probe_success{reason=\"\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("# TYPE openclaw_probe_duration_seconds gauge"),
        "{out}"
    );
    assert!(
        out.contains("openclaw_probe_target_connect_latency_seconds{target=\"localLoopback\"} "),
        "{out}"
    );
}

#[test]
fn wrong_token_is_reachable_but_degraded_exit_1() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();
    let (code, v, _) = probe_json(&p, &["--url", &url, "--token", "wrong"]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["degraded"], true);
    let t = target(&v, "explicit");
    assert_eq!(t["connect"]["ok"], true);
    assert_eq!(t["connect"]["rpcOk"], false);
    assert_eq!(t["connect"]["errorCode"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(t["connect"]["close"]["code"], 1008);
    // Refused at connect: a refusal, not failed reads (upstream calls it the latter).
    assert_eq!(t["connect"]["failedStep"], "connect");
    let codes: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["connect_refused"], "{v:#}");
    let (_, out, _) = run(
        cli(&p, &["gateway", "probe", "--url", &url, "--token", "wrong"]),
        T,
    );
    assert!(
        out.contains("hint: the credentials from --token do not match this gateway"),
        "{out}"
    );
    let (code, out, _) = run(
        cli(
            &p,
            &[
                "gateway",
                "probe",
                "--url",
                &url,
                "--token",
                "wrong",
                "--format",
                "prometheus",
            ],
        ),
        T,
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("openclaw_probe_success{reason=\"auth_failed\"} 0"),
        "{out}"
    );
}

#[test]
fn explicit_url_never_uses_stored_credentials() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (code, v, _) = probe_json(&p, &["--url", &gw.url()]);
    assert_eq!(code, 1);
    assert_eq!(
        target(&v, "explicit")["connect"]["errorCode"],
        "AUTH_TOKEN_MISSING"
    );
    let (code, _, err) = run(
        cli(&p, &["gateway", "call", "health", "--url", &gw.url()]),
        T,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("gateway url override requires explicit credentials"),
        "{err}"
    );
}

#[test]
fn nothing_listening_is_unreachable_exit_2() {
    let p = Profile::local_token();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (code, v, _) = probe_json(&p, &["--port", &free]);
    assert_eq!(code, 2);
    assert_eq!(v["ok"], false);
    assert!(v["primaryTargetId"].is_null());
    assert_eq!(v["warnings"][0]["code"], "no_gateway_reachable");
    let t = target(&v, "localLoopback");
    assert_eq!(
        t["connect"]["error"],
        format!("connect ECONNREFUSED 127.0.0.1:{free}")
    );
    assert_eq!(t["connect"]["close"]["code"], 1006);
    let (code, out, _) = run(
        cli(
            &p,
            &["gateway", "probe", "--port", &free, "--format", "nagios"],
        ),
        T,
    );
    assert_eq!(code, 2);
    assert!(
        out.starts_with("OPENCLAW CRITICAL - no gateway reachable"),
        "{out}"
    );

    let mut health = cli(&p, &["health"]);
    health.env("OPENCLAW_GATEWAY_PORT", &free);
    let (code, _, err) = run(health, T);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("Gateway not reachable at ws://127.0.0.1:{free}")),
        "{err}"
    );
    let mut call = cli(&p, &["gateway", "call", "health"]);
    call.env("OPENCLAW_GATEWAY_PORT", &free);
    let (code, _, err) = run(call, T);
    assert_eq!(code, 1);
    assert!(
        err.contains("gateway connect failed: connect ECONNREFUSED"),
        "{err}"
    );
}

#[test]
fn two_reachable_gateways_warn() {
    let a = Profile::local_token();
    let gw_a = Gateway::start(&a, &[], &[]);
    let b = Profile::local_token();
    let gw_b = Gateway::start(&b, &[], &[]);
    let port_a = gw_a.port.to_string();
    let mut cmd = cli(
        &a,
        &[
            "gateway",
            "probe",
            "--json",
            "--url",
            &gw_b.url(),
            "--token",
            TOKEN,
        ],
    );
    cmd.env("OPENCLAW_GATEWAY_PORT", &port_a);
    let (code, out, _) = run(cmd, T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_valid("gateway-probe.schema.json", &v);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["primaryTargetId"], "explicit");
    let w = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "multiple_gateways")
        .expect("warning");
    assert!(w["message"]
        .as_str()
        .unwrap()
        .contains("multiple reachable gateways detected"));
}

#[test]
fn the_same_gateway_through_two_urls_is_not_two_gateways() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let ipv6 = format!("ws://[::1]:{}", gw.port);
    let mut cmd = cli(
        &p,
        &[
            "gateway", "probe", "--json", "--url", &ipv6, "--token", TOKEN,
        ],
    );
    cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string());
    let (code, out, _) = run(cmd, T);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "one gateway identity behind both URLs: {v:#}");
    assert!(v["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn ssh_target_that_fails_falls_back_to_direct_probes() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let port = gw.port.to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = cli(
        &p,
        &[
            "gateway",
            "probe",
            "--json",
            "--ssh",
            &format!("nobody@127.0.0.1:{closed}"),
        ],
    );
    cmd.env("OPENCLAW_GATEWAY_PORT", &port);
    let (code, out, err) = run(cmd, T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_valid("gateway-probe.schema.json", &v);
    assert_eq!(code, 1, "{v:#}");
    let w = &v["warnings"][0];
    assert_eq!(w["code"], "ssh_tunnel_failed");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .ends_with("SSH tunnel failed to start; falling back to direct probes."),
        "{w}"
    );
    assert_eq!(target(&v, "localLoopback")["connect"]["rpcOk"], true);
}

#[test]
fn gateway_call_and_health_print_payloads() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let port = gw.port.to_string();
    let mut call = cli(&p, &["gateway", "call", "status"]);
    call.env("OPENCLAW_GATEWAY_PORT", &port);
    let (code, out, err) = run(call, T);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["gateway"]["port"], gw.port);

    let mut call = cli(&p, &["gateway", "call", "no.such", "--json"]);
    call.env("OPENCLAW_GATEWAY_PORT", &port);
    let (code, out, err) = run(call, T);
    assert_eq!(code, 1);
    assert!(
        err.contains("Gateway call failed: unknown method: no.such"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "INVALID_REQUEST");

    let mut bad = cli(&p, &["gateway", "call", "health", "--params", "[1]"]);
    bad.env("OPENCLAW_GATEWAY_PORT", &port);
    assert_eq!(run(bad, T).0, 2);

    let mut health = cli(&p, &["health", "--json"]);
    health.env("OPENCLAW_GATEWAY_PORT", &port);
    let (code, out, _) = run(health, T);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["schema_version"].clone()),
        (Value::Bool(true), Value::from(1))
    );
    let mut health = cli(&p, &["health"]);
    health.env("OPENCLAW_GATEWAY_PORT", &port);
    let (code, out, _) = run(health, T);
    assert_eq!(code, 0);
    assert!(
        out.contains("Agents: main (default)") && out.contains("Heartbeat interval: 30m (main)"),
        "{out}"
    );
}

#[test]
fn health_with_a_wrong_token_is_degraded_and_json_on_failure() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (code, out, err) = run(
        cli(
            &p,
            &["health", "--json", "--url", &gw.url(), "--token", "nope"],
        ),
        T,
    );
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["ok"], false);
    assert_eq!(v["gateway"]["reachable"], true);
    assert!(
        err.contains("gateway connect failed: unauthorized: gateway token mismatch"),
        "{err}"
    );
}
