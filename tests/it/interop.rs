//! Interop with the real OpenClaw CLI (npm `openclaw@2026.9.6`, protocol v4) against this
//! gateway. `.ci/run` installs the reference peer and sets `OPENCLAW_PEER_BIN`; without it
//! these tests print `INTEROP SKIPPED` and pass, so a local `cargo test` stays offline.

use crate::support::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn peer_bin() -> Option<PathBuf> {
    match std::env::var_os("OPENCLAW_PEER_BIN") {
        Some(p) if PathBuf::from(&p).exists() => Some(PathBuf::from(p)),
        _ => {
            eprintln!("INTEROP SKIPPED: OPENCLAW_PEER_BIN is not set (the real OpenClaw CLI is not installed)");
            None
        }
    }
}

/// The real CLI with an isolated state dir of its own.
fn real_cli(bin: &PathBuf, profile: &Profile) -> Command {
    let home = profile.path().join("real-home");
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("OPENCLAW_STATE_DIR", profile.path().join("real-state"))
        .env(
            "OPENCLAW_CONFIG_PATH",
            profile.path().join("real-openclaw.json"),
        )
        .env("NO_COLOR", "1")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("OPENCLAW_OFFLINE", "1");
    c
}

const T: Duration = Duration::from_secs(60);

#[test]
fn real_cli_gateway_call_health_succeeds_against_this_gateway() {
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let mut cmd = real_cli(&bin, &p);
    cmd.args([
        "gateway",
        "call",
        "health",
        "--json",
        "--url",
        &gw.url(),
        "--token",
        TOKEN,
    ]);
    let (code, out, err) = run(cmd, T);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["ok"], true);
    assert_eq!(v["defaultAgentId"], "main");
}

#[test]
fn real_cli_gateway_probe_reads_this_gateway_with_rpc_ok() {
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let mut cmd = real_cli(&bin, &p);
    cmd.args([
        "gateway",
        "probe",
        "--json",
        "--url",
        &gw.url(),
        "--token",
        TOKEN,
    ]);
    let (code, out, err) = run(cmd, T);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["primaryTargetId"], "explicit");
    let target = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "explicit")
        .unwrap();
    assert_eq!(target["connect"]["ok"], true, "{target}");
    assert_eq!(target["connect"]["rpcOk"], true, "{target}");
    assert_eq!(target["connect"]["scopeLimited"], false);
}

#[test]
fn real_cli_wrong_token_gets_the_auth_mismatch_code() {
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let mut cmd = real_cli(&bin, &p);
    cmd.args([
        "gateway",
        "call",
        "health",
        "--json",
        "--url",
        &gw.url(),
        "--token",
        "wrong-token",
    ]);
    let (code, out, err) = run(cmd, T);
    assert_ne!(code, 0);
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("gateway token mismatch") || all.contains("AUTH_TOKEN_MISMATCH"),
        "{all}"
    );
}
