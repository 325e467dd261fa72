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

/// The real CLI with only its profile's environment.
fn real_cli_with(
    bin: &PathBuf,
    home: &std::path::Path,
    state: &std::path::Path,
    config: &std::path::Path,
) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("OPENCLAW_STATE_DIR", state)
        .env("OPENCLAW_CONFIG_PATH", config)
        .env("NO_COLOR", "1")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("OPENCLAW_OFFLINE", "1");
    c
}

/// The real CLI with an isolated state dir of its own.
fn real_cli(bin: &PathBuf, profile: &Profile) -> Command {
    real_cli_with(
        bin,
        &profile.path().join("real-home"),
        &profile.path().join("real-state"),
        &profile.path().join("real-openclaw.json"),
    )
}

const T: Duration = Duration::from_secs(60);

/// The real CLI running `args` against `url` with an explicit token.
fn real_cli_at(bin: &PathBuf, profile: &Profile, url: &str, token: &str, args: &[&str]) -> Command {
    let mut c = real_cli(bin, profile);
    c.args(args).args(["--url", url, "--token", token]);
    c
}

#[test]
fn real_cli_gateway_call_health_succeeds_against_this_gateway() {
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let mut gw = Gateway::start(&p, &[], &[]);
    let cmd = real_cli_at(
        &bin,
        &p,
        &gw.url(),
        TOKEN,
        &["gateway", "call", "health", "--json"],
    );
    let (code, out, err) = run(cmd, T);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["ok"], true);
    assert_eq!(v["defaultAgentId"], "main");
    // The real client ended with a close frame of its own (Node `ws` sends one without a
    // status: 1005), not a socket that vanished (`code=n/a`); its echo went back at once.
    let line = gw.wait_for_line("client disconnected", Duration::from_secs(10));
    assert!(line.contains("code=1005 reason=n/a"), "{line}");
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
    let target = target(&v, "explicit");
    assert_eq!(target["connect"]["ok"], true, "{target}");
    assert_eq!(target["connect"]["rpcOk"], true, "{target}");
    assert_eq!(target["connect"]["scopeLimited"], false);
}

#[test]
fn real_cli_wrong_token_gets_the_auth_mismatch_code() {
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let cmd = real_cli_at(
        &bin,
        &p,
        &gw.url(),
        "wrong-token",
        &["gateway", "call", "health", "--json"],
    );
    let (code, out, err) = run(cmd, T);
    assert_ne!(code, 0);
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("gateway token mismatch") || all.contains("AUTH_TOKEN_MISMATCH"),
        "{all}"
    );
}

/// The real gateway started by `.ci/run` (`OPENCLAW_PEER_URL`, `OPENCLAW_PEER_TOKEN`).
fn peer_gateway() -> Option<(String, String)> {
    match (
        std::env::var("OPENCLAW_PEER_URL"),
        std::env::var("OPENCLAW_PEER_TOKEN"),
    ) {
        (Ok(u), Ok(t)) if !u.is_empty() => Some((u, t)),
        _ => {
            eprintln!("INTEROP SKIPPED: OPENCLAW_PEER_URL is not set (no real gateway running)");
            None
        }
    }
}

/// The real gateway's profile (`OPENCLAW_PEER_STATE_DIR`, `OPENCLAW_PEER_CONFIG`): its
/// state dir, which that gateway holds open while it runs.
fn peer_profile() -> Option<(PathBuf, PathBuf)> {
    match (
        std::env::var_os("OPENCLAW_PEER_STATE_DIR"),
        std::env::var_os("OPENCLAW_PEER_CONFIG"),
    ) {
        (Some(s), Some(c)) if !s.is_empty() => Some((s.into(), c.into())),
        _ => {
            assert!(
                std::env::var("OPENCLAW_PEER_URL").is_err(),
                "OPENCLAW_PEER_URL is set without OPENCLAW_PEER_STATE_DIR and OPENCLAW_PEER_CONFIG"
            );
            eprintln!(
                "INTEROP SKIPPED: OPENCLAW_PEER_STATE_DIR is not set (no real gateway running)"
            );
            None
        }
    }
}

/// This build's `doctor --json` in the real gateway's own profile.
fn our_doctor_in_peer_profile(
    state: &std::path::Path,
    config: &std::path::Path,
    port: &str,
) -> Value {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", state.parent().unwrap().join("home"))
        .env("OPENCLAW_STATE_DIR", state)
        .env("OPENCLAW_CONFIG_PATH", config)
        .env("OPENCLAW_GATEWAY_PORT", port)
        .env("NO_COLOR", "1")
        .args(["doctor", "--json"]);
    let (_, out, err) = run(c, T);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

/// The doctor on the real gateway's own installation, while it runs: the store is read
/// (read-only, beside the live WAL), the CLI signs as the host's device from the store's
/// `primary` identity (full read access, no `probe.scope-limited`), and nothing is
/// written into the state dir.
#[test]
fn the_doctor_reads_a_live_real_installation_without_writing_to_it() {
    let Some((state, config)) = peer_profile() else {
        return;
    };
    let Some((url, _)) = peer_gateway() else {
        return;
    };
    let port = url.rsplit(':').next().unwrap().to_string();
    let listing = |dir: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing(&state);
    let d = our_doctor_in_peer_profile(&state, &config, &port);
    let store = &d["facts"]["state.store"];
    assert_eq!(store["readable"], true, "{store:#}");
    assert_eq!(store["schemaVersion"], 18, "{store:#}");
    assert_eq!(store["appVersion"], "2026.9.6", "{store:#}");
    assert_eq!(finding(&d, "state.store-readable")["status"], "ok");
    let f = finding(&d, "probe.scope-limited");
    assert_eq!(f["status"], "ok", "{f:#}");
    let f = finding(&d, "gateway.rpc-failed-while-running");
    assert_eq!(f["status"], "ok", "{f:#}");
    assert_eq!(
        listing(&state),
        before,
        "the doctor wrote into {}",
        state.display()
    );
    assert!(!state.join("identity").exists());
}

#[test]
fn this_probe_reads_the_real_gateway_with_rpc_ok() {
    let Some((url, token)) = peer_gateway() else {
        return;
    };
    let p = Profile::new("{}");
    let mut cmd = p.command();
    cmd.args([
        "gateway",
        "probe",
        "--json",
        "--url",
        &url,
        "--token",
        &token,
        "--timeout",
        "10000",
    ]);
    let (code, out, err) = run(cmd, T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    crate::schema::assert_valid("gateway-probe.schema.json", &v);
    let t = target(&v, "explicit");
    assert_eq!(
        t["connect"]["rpcOk"], true,
        "the real CLI gets connected_no_operator_scope here; we must not: {t:#}"
    );
    assert_eq!(t["auth"]["capability"], "read_only");
    assert_eq!(t["server"]["protocol"], 4);
    assert!(t["server"]["version"]
        .as_str()
        .unwrap()
        .starts_with("2026."));
    assert_eq!(t["health"]["ok"], true);
    assert_eq!(v["primaryTargetId"], "explicit");
    // localLoopback (18789) is not the peer: only the explicit target may be reachable.
    assert!(code == 0 || code == 1, "{code}: {v:#}");
}

#[test]
fn this_cli_calls_and_reads_health_from_the_real_gateway() {
    let Some((url, token)) = peer_gateway() else {
        return;
    };
    let p = Profile::new("{}");
    let mut cmd = p.command();
    cmd.args([
        "gateway",
        "call",
        "status",
        "--url",
        &url,
        "--token",
        &token,
        "--timeout",
        "10000",
    ]);
    let (code, out, err) = run(cmd, T);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["runtimeVersion"].as_str().unwrap().starts_with("2026."),
        "{v}"
    );

    let mut cmd = p.command();
    cmd.args([
        "health",
        "--json",
        "--url",
        &url,
        "--token",
        &token,
        "--timeout",
        "10000",
    ]);
    let (code, out, err) = run(cmd, T);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);

    // The real gateway issued this CLI a device token, which it cached...
    let cache: Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join("state/identity/device-auth.json")).unwrap(),
    )
    .unwrap();
    assert!(
        cache["tokens"]["operator"]["token"].is_string(),
        "{cache:#}"
    );
    // ...so a wrong shared token on loopback succeeds through the one trusted retry.
    let wrong = |state: &str| {
        let mut cmd = p.command();
        cmd.env("OPENCLAW_STATE_DIR", p.path().join(state));
        cmd.args(["health", "--url", &url, "--token", "wrong-token"]);
        cmd.args(["--timeout", "10000"]);
        run(cmd, T)
    };
    let (code, out, err) = wrong("state");
    assert_eq!(code, 0, "{out}\n{err}");
    // Without a cached token the mismatch is reported.
    let (code, _, err) = wrong("fresh-state");
    assert_eq!(code, 1);
    assert!(err.contains("gateway token mismatch"), "{err}");
}

/// The real gateway's paired devices, as its own CLI lists them.
fn peer_paired_count(bin: &PathBuf) -> Option<usize> {
    let (state, config) = peer_profile()?;
    let mut c = real_cli_in_peer_profile(bin, &state, &config);
    c.args(["devices", "list", "--json"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    Some(v["paired"].as_array().map(|a| a.len()).unwrap_or(0))
}

/// Read commands from a fresh state dir with the shared token write nothing on the real
/// gateway: no device identity is created and none is paired; they read as upstream's CLI
/// reads (the backend client), with full read access.
#[test]
fn read_commands_pair_nothing_on_the_real_gateway() {
    let Some(bin) = peer_bin() else { return };
    let Some((url, token)) = peer_gateway() else {
        return;
    };
    let before = peer_paired_count(&bin);
    let p = Profile::new("{}");
    let mut cmd = p.command();
    cmd.args([
        "gateway",
        "probe",
        "--json",
        "--url",
        &url,
        "--token",
        &token,
        "--timeout",
        "10000",
    ]);
    let (_, out, err) = run(cmd, T);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let t = target(&v, "explicit");
    assert_eq!(t["auth"]["deviceIdentity"], false, "{t:#}");
    assert_eq!(t["connect"]["rpcOk"], true, "{t:#}");
    assert_eq!(t["connect"]["scopeLimited"], false, "{t:#}");
    for args in [
        vec!["health", "--json", "--url", &url, "--token", &token],
        vec!["gateway", "health", "--url", &url, "--token", &token],
        vec!["logs", "--limit", "3", "--url", &url, "--token", &token],
    ] {
        let mut cmd = p.command();
        cmd.args(&args);
        let (code, out, err) = run(cmd, T);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    assert!(
        !p.path().join("state").join("identity").exists(),
        "a read command created a device identity"
    );
    assert_eq!(
        peer_paired_count(&bin),
        before,
        "a read command paired a device"
    );
}

#[test]
fn device_pairing_lists_work_both_ways() {
    // This CLI against the real gateway: it signs, is paired silently, and sees itself.
    if let Some((url, token)) = peer_gateway() {
        let p = Profile::new("{}");
        let mut cmd = p.command();
        cmd.args([
            "devices", "list", "--json", "--url", &url, "--token", &token,
        ]);
        cmd.args(["--timeout", "10000"]);
        let (code, out, err) = run(cmd, T);
        assert_eq!(code, 0, "{out}\n{err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let me = openclaw::state::identity::DeviceIdentity::load(&p.path().join("state"))
            .unwrap()
            .expect("this CLI signed with its identity")
            .device_id;
        let paired = v["paired"].as_array().unwrap();
        assert!(paired.iter().any(|d| d["deviceId"] == me.as_str()), "{v:#}");
        assert!(paired.iter().all(|d| d["tokens"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t.get("token").is_none()))));
    }
    // The real CLI against this gateway.
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let cmd = real_cli_at(&bin, &p, &gw.url(), TOKEN, &["devices", "list", "--json"]);
    let (code, out, err) = run(cmd, T);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(v["pending"].is_array() && v["paired"].is_array(), "{v:#}");
}

/// The real package's module under `dist/` whose name starts with `module_prefix` and that
/// defines `function`.
fn upstream_module(bin: &std::path::Path, module_prefix: &str, function: &str) -> PathBuf {
    let dist = std::fs::canonicalize(bin)
        .unwrap()
        .parent()
        .unwrap()
        .join("dist");
    std::fs::read_dir(&dist)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(module_prefix)
                && name.ends_with(".mjs")
                && std::fs::read_to_string(p)
                    .is_ok_and(|t| t.contains(&format!("function {function}(")))
        })
        .unwrap_or_else(|| {
            panic!(
                "no {module_prefix}*.mjs defines {function} in {}",
                dist.display()
            )
        })
}

/// Await an async function of the real package with `OPENCLAW_STATE_DIR=state_dir`: the
/// real code writes the real store. Returns its JSON result.
fn upstream_async(
    bin: &std::path::Path,
    module_prefix: &str,
    function: &str,
    args: &str,
    state_dir: &std::path::Path,
) -> Value {
    let module = upstream_module(bin, module_prefix, function);
    let script = format!(
        "const m = await import({module:?}); const f = Object.values(m).find(x => typeof x === 'function' && x.name === {function:?}); const r = await f(...{args}); process.stdout.write(JSON.stringify(r ?? null)); process.exit(0);",
        module = module.display().to_string(),
    );
    let out = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .env("OPENCLAW_STATE_DIR", state_dir)
        .env("HOME", state_dir.parent().unwrap())
        .env("OPENCLAW_OFFLINE", "1")
        .output()
        .expect("node (the peer's runtime) on PATH");
    assert!(
        out.status.success(),
        "{function}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// A state dir whose SQLite store the real 2026.9.6 wrote (a device pairing request, a DM
/// pairing request) is read by this doctor: the findings name the real request id and code.
/// Before, the doctor read only the legacy JSON files and gave an all-clear.
#[test]
fn the_doctor_reads_pending_pairing_from_the_real_sqlite_store() {
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let state = p.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let device = upstream_async(
        &bin,
        "device-pairing-",
        "requestDevicePairing",
        r#"[{"deviceId": "1f0a5c3e9b7d4a2c8e6f0b1d3a5c7e9f1b3d5f7a9c1e3a5c7e9b1d3f5a7c9e1b", "publicKey": "cHVibGljLWtleQ", "displayName": "pixel", "platform": "android", "clientId": "openclaw-android", "clientMode": "ui", "role": "operator", "scopes": ["operator.read"], "remoteIp": "192.0.2.5"}]"#,
        &state,
    );
    let request_id = device["request"]["requestId"].as_str().unwrap().to_string();
    let dm = upstream_async(
        &bin,
        "pairing-store-",
        "upsertChannelPairingRequest",
        r#"[{"channel": "telegram", "id": "123456789", "accountId": "work", "meta": {"username": "alice"}}]"#,
        &state,
    );
    let code = dm["code"].as_str().unwrap().to_string();
    assert!(state.join("state/openclaw.sqlite").exists());
    assert!(!state.join("devices/pending.json").exists());

    let d = doctor_json(&p);
    assert_finding(
        &d,
        "state.device-pairing-pending",
        "warn",
        &format!("openclaw devices approve {request_id}"),
    );
    assert_finding(
        &d,
        "state.dm-pairing-pending",
        "warn",
        &format!("openclaw pairing approve telegram {code}"),
    );
    assert_eq!(finding(&d, "state.store-readable")["status"], "ok");
    assert_eq!(finding(&d, "state.store-schema-newer")["status"], "ok");

    // This CLI approves the sender in that store; the real package then finds it allowed.
    let mut c = p.command();
    c.args(["pairing", "approve", "telegram", &code, "--account", "work"]);
    let (rc, out, err) = run(c, T);
    assert_eq!(rc, 0, "{out} {err}");
    let allowed = upstream_async(
        &bin,
        "pairing-store-",
        "readChannelAllowFromStore",
        &serde_json::json!(["telegram", {"OPENCLAW_STATE_DIR": state}, "work"]).to_string(),
        &state,
    );
    assert_eq!(allowed, serde_json::json!(["123456789"]), "{allowed}");
}

/// Device pairing is interchangeable with the real OpenClaw through the store, both ways:
/// a device the real package paired (its request, approval and token written by its own
/// code) connects to this gateway with that token and no pairing again; a device this
/// gateway paired has a token the real package verifies.
#[test]
fn paired_devices_and_their_tokens_are_shared_with_the_real_store_both_ways() {
    let Some(bin) = peer_bin() else { return };
    let p = Profile::local_token();
    let state = p.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let id =
        openclaw::state::identity::DeviceIdentity::load_or_create(&p.path().join("dev-a")).unwrap();
    let req = upstream_async(
        &bin,
        "device-pairing-",
        "requestDevicePairing",
        &serde_json::json!([{"deviceId": id.device_id, "publicKey": id.public_key_b64url(),
            "clientId": "cli", "clientMode": "cli", "platform": "linux", "role": "operator",
            "scopes": ["operator.read"]}])
        .to_string(),
        &state,
    );
    let request_id = req["request"]["requestId"].as_str().unwrap().to_string();
    let approved = upstream_async(
        &bin,
        "device-pairing-approval-",
        "approveDevicePairing",
        &serde_json::json!([request_id, {"callerScopes": ["operator.admin"]}]).to_string(),
        &state,
    );
    assert_eq!(approved["status"], "approved", "{approved}");
    let issued = upstream_async(
        &bin,
        "device-pairing-tokens-",
        "ensureDeviceToken",
        &serde_json::json!([{"deviceId": id.device_id, "role": "operator", "scopes": ["operator.read"]}])
            .to_string(),
        &state,
    );
    let token = issued["token"].as_str().unwrap().to_string();

    // Real → ours: the device connects with its token alone, already paired.
    let mut gw = Gateway::start(&p, &[], &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let res = rt.block_on(async {
        let (_c, res) = device_token_connect(&gw.url(), &id, &token, &["operator.read"]).await;
        res
    });
    assert_eq!(res["ok"], true, "{res:#}");
    assert_eq!(
        res["payload"]["auth"]["deviceToken"],
        token.as_str(),
        "{res:#}"
    );
    assert!(
        !gw.seen
            .iter()
            .any(|l| l.contains("device pairing auto-approved")),
        "no pairing again"
    );

    // Ours → real: a device this gateway pairs (silently, on loopback) gets a token the real
    // code verifies from the same store.
    let other =
        openclaw::state::identity::DeviceIdentity::load_or_create(&p.path().join("dev-b")).unwrap();
    let hello = rt.block_on(async {
        let mut c = Client::open(&gw.url()).await;
        let nonce = c.challenge["payload"]["nonce"]
            .as_str()
            .unwrap()
            .to_string();
        let params = token_signed(&other, &nonce);
        c.send(
            serde_json::json!({"type": "req", "id": "c", "method": "connect", "params": params}),
        )
        .await;
        c.response("c").await
    });
    assert_eq!(hello["ok"], true, "{hello:#}");
    let ours = hello["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    gw.wait_for_line(
        &format!("device pairing auto-approved device={}", other.device_id),
        T,
    );
    let verified = upstream_async(
        &bin,
        "device-pairing-tokens-",
        "verifyDeviceToken",
        &serde_json::json!([{"deviceId": other.device_id, "token": ours, "role": "operator",
            "scopes": ["operator.read"]}])
        .to_string(),
        &state,
    );
    assert_eq!(verified, serde_json::json!({"ok": true}));
    let wrong = upstream_async(
        &bin,
        "device-pairing-tokens-",
        "verifyDeviceToken",
        &serde_json::json!([{"deviceId": other.device_id, "token": "not-it", "role": "operator",
            "scopes": ["operator.read"]}])
        .to_string(),
        &state,
    );
    assert_eq!(wrong["ok"], false, "{wrong}");
}

/// Run a function of the real OpenClaw's `dist/` (found by its name among a module's
/// exports, so the bundle's hashed file names and export letters do not matter) with JSON
/// arguments, and return what it printed.
fn upstream_fn(bin: &std::path::Path, module_prefix: &str, function: &str, args: &str) -> String {
    let module = upstream_module(bin, module_prefix, function);
    let script = format!(
        "const m = await import({module:?}); const f = Object.values(m).find(x => typeof x === 'function' && x.name === {function:?}); process.stdout.write(f(...{args}));",
        module = module.display().to_string(),
    );
    let out = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
        .expect("node (the peer's runtime) on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn service_files_are_byte_identical_to_the_real_openclaw() {
    use openclaw::config::env::Env;
    use openclaw::service::{launchd, schtasks, ServiceSpec};
    let Some(bin) = peer_bin() else { return };
    let env = Env::from_pairs([("HOME", "/home/oc"), ("OPENCLAW_PROFILE", "work")]);
    let spec = ServiceSpec::gateway(
        &env,
        std::path::Path::new("/usr/local/bin/openclaw"),
        18789,
        PathBuf::from("/home/oc/.openclaw-work"),
    );
    let environment: serde_json::Map<String, Value> = spec
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    // The LaunchAgent plist.
    let args = serde_json::json!([{
        "label": spec.names.launchd_label,
        "comment": spec.description,
        "programArguments": spec.program,
        "workingDirectory": "/home/oc/.openclaw-work",
        "stdoutPath": "/home/oc/.openclaw-work/logs/gateway.log",
        "stderrPath": "/home/oc/.openclaw-work/logs/gateway.err.log",
        "environment": environment,
    }]);
    assert_eq!(
        launchd::render(&spec).unwrap(),
        upstream_fn(
            &bin,
            "launchd-plist-",
            "buildLaunchAgentPlist",
            &args.to_string()
        )
    );
    // The Scheduled Task definition.
    let args = serde_json::json!([{
        "taskDescription": spec.description,
        "taskUser": "OC-PC\\oc",
        "launchPath": "C:\\Users\\oc\\.openclaw-work\\gateway.cmd",
    }]);
    assert_eq!(
        schtasks::task_xml(
            &spec.description,
            "C:\\Users\\oc\\.openclaw-work\\gateway.cmd",
            Some("OC-PC\\oc")
        ),
        upstream_fn(
            &bin,
            "schtasks-layout-",
            "buildScheduledTaskXml",
            &args.to_string()
        )
    );
    // The systemd unit: upstream's, plus sd-notify readiness and the watchdog (this gateway
    // speaks sd-notify), an open-files limit for a thousand clients and more, and the spec's TimeoutStopSec=30 where 2026.9.6 writes 330 (its
    // restarts drain for minutes; this gateway's shutdown is bounded at 1.5 s).
    let args = serde_json::json!([{
        "description": spec.description,
        "programArguments": spec.program,
        "workingDirectory": "/home/oc/.openclaw-work",
        "environment": environment,
    }]);
    let ours: Vec<String> = openclaw::service::systemd::render(&spec)
        .unwrap()
        .lines()
        .filter(|l| {
            ![
                "Type=notify",
                "NotifyAccess=main",
                "WatchdogSec=60",
                "LimitNOFILE=65536",
            ]
            .contains(l)
        })
        .map(String::from)
        .collect();
    let theirs: Vec<String> =
        upstream_fn(&bin, "systemd-unit-", "buildSystemdUnit", &args.to_string())
            .lines()
            .map(|l| l.replace("TimeoutStopSec=330", "TimeoutStopSec=30"))
            .collect();
    assert_eq!(ours, theirs);
    // The task launcher: identical but for upstream's `--task-supervisor` flag (its
    // Node-specific Job Object supervisor, which this gateway does not have).
    let args = serde_json::json!([{
        "description": spec.description,
        "programArguments": spec.program,
        "workingDirectory": "/home/oc/.openclaw-work",
        "environment": environment,
    }]);
    assert_eq!(
        schtasks::launcher(&spec).unwrap(),
        upstream_fn(
            &bin,
            "schtasks-layout-",
            "buildTaskScript",
            &args.to_string()
        )
        .replace(" --task-supervisor < NUL", " < NUL")
    );
}

/// The real CLI in the real gateway's own profile (its `openclaw logs`, `status`, …).
fn real_cli_in_peer_profile(
    bin: &PathBuf,
    state: &std::path::Path,
    config: &std::path::Path,
) -> Command {
    real_cli_with(bin, &state.parent().unwrap().join("home"), state, config)
}

/// The real gateway's file log (its `openclaw logs --json` meta line names it).
fn peer_log_file(bin: &PathBuf, state: &std::path::Path, config: &std::path::Path) -> PathBuf {
    let mut c = real_cli_in_peer_profile(bin, state, config);
    c.args(["logs", "--limit", "1", "--json"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let meta: Value = serde_json::from_str(out.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(meta["type"], "meta", "{out}");
    PathBuf::from(meta["file"].as_str().unwrap())
}

/// This gateway writes into the same dated file as the real one (as every profile on a host
/// does). A real CLI with a stale token fails against the real gateway: its refusals are
/// the real gateway's lines (they name its port) and never this healthy profile's.
#[test]
fn the_real_gateways_refusals_in_the_shared_log_are_not_this_profiles() {
    let Some(bin) = peer_bin() else { return };
    let Some((state, config)) = peer_profile() else {
        return;
    };
    let Some((url, _)) = peer_gateway() else {
        return;
    };
    let shared = peer_log_file(&bin, &state, &config);
    let dir = shared.parent().unwrap().to_str().unwrap().to_string();
    let p = Profile::new(&format!(
        r#"{{ gateway: {{ mode: "local", bind: "loopback", auth: {{ mode: "token", token: "{TOKEN}" }} }} }}"#
    ));
    p.private_config();
    let gw = Gateway::start(&p, &[], &[("OPENCLAW_LOG_DIR", &dir)]);
    for _ in 0..2 {
        let cmd = real_cli_at(
            &bin,
            &p,
            &url,
            "stale-token-000000000000",
            &["gateway", "call", "health", "--json"],
        );
        assert_ne!(run(cmd, T).0, 0);
    }
    let mut c = p.command();
    c.env("OPENCLAW_LOG_DIR", &dir)
        .env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .args(["doctor", "--json"]);
    let (code, out, err) = run(c, T);
    let d: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(
        d["facts"]["logs.source"][0].as_str(),
        shared.to_str(),
        "{:#}",
        d["facts"]
    );
    assert_eq!(code, 0, "{:#?}", problems(&d));
    let matched = d["otherProcesses"]["matched"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        matched
            .iter()
            .any(|m| m["checkId"] == "auth.token-mismatch"),
        "{:#}",
        d["otherProcesses"]
    );
    // The real gateway's own doctor run counts them: they name its port.
    let port = url.rsplit(':').next().unwrap().to_string();
    let d = our_doctor_in_peer_profile(&state, &config, &port);
    let f = finding(&d, "auth.token-mismatch");
    assert!(f["matches"]["count"].as_u64().unwrap_or(0) >= 2, "{f:#}");
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `openclaw logs` both ways: this CLI tails the real gateway's file log (`--limit`,
/// `--json`, `--follow`), and the real CLI tails this gateway's; the records have the same
/// shape as the real CLI's own.
#[test]
fn logs_read_the_real_gateway_and_the_real_cli_reads_ours() {
    let Some(bin) = peer_bin() else { return };
    let Some((state, config)) = peer_profile() else {
        return;
    };
    let Some((url, token)) = peer_gateway() else {
        return;
    };
    let file = peer_log_file(&bin, &state, &config);
    let p = Profile::new("{}");
    let mut c = p.command();
    c.args([
        "logs", "--limit", "5", "--json", "--url", &url, "--token", &token,
    ]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let ours = json_lines(&out);
    let mut c = real_cli_in_peer_profile(&bin, &state, &config);
    c.args(["logs", "--limit", "5", "--json"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let theirs = json_lines(&out);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(ours[0]["file"].as_str(), file.to_str());
    assert_eq!(
        keys(&ours[0]),
        keys(&theirs[0]),
        "{:#} vs {:#}",
        ours[0],
        theirs[0]
    );
    let (o, t): (Vec<&Value>, Vec<&Value>) = (
        ours.iter().filter(|v| v["type"] == "log").collect(),
        theirs.iter().filter(|v| v["type"] == "log").collect(),
    );
    assert_eq!(o.len(), 5, "{ours:#?}");
    assert_eq!(keys(o[0]), keys(t[0]), "{:#} vs {:#}", o[0], t[0]);
    assert_eq!(ours.last(), theirs.last(), "the same truncation notice");

    // --follow: a request the real CLI makes shows up in this CLI's tail.
    let mut c = p.command();
    c.args([
        "logs",
        "--follow",
        "--json",
        "--interval",
        "200",
        "--limit",
        "50",
        "--url",
        &url,
        "--token",
        &token,
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a meta record");
    assert!(first.contains(r#""type":"meta""#), "{first}");
    let c = real_cli_at(
        &bin,
        &p,
        &url,
        &token,
        &["gateway", "call", "health", "--json"],
    );
    assert_eq!(run(c, T).0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            if l.contains("res ✓ health") {
                seen.clear();
                break;
            }
            seen.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.is_empty(),
        "the real CLI's health call never showed: {seen:#?}"
    );

    // The real CLI tails this gateway.
    let q = Profile::local_token();
    let gw = Gateway::start(&q, &[], &[]);
    let cmd = real_cli_at(
        &bin,
        &q,
        &gw.url(),
        TOKEN,
        &["logs", "--limit", "3", "--json"],
    );
    let (code, out, err) = run(cmd, T);
    assert_eq!(code, 0, "{out}{err}");
    let r = json_lines(&out);
    assert_eq!(r[0]["type"], "meta", "{out}");
    assert_eq!(r[0]["file"], q.log_path().display().to_string());
    let logs: Vec<&Value> = r.iter().filter(|v| v["type"] == "log").collect();
    assert_eq!(logs.len(), 3, "{out}");
    assert!(logs
        .iter()
        .all(|l| l["subsystem"].is_string() && l["level"].is_string()));
}

/// `config validate` gives the real CLI's verdict on the same configs: keys it accepts and
/// keys it rejects, at the top level and inside the sections this build types.
#[test]
fn config_validate_verdicts_match_the_real_cli() {
    let Some(bin) = peer_bin() else { return };
    let cases: Vec<(&str, Value)> = vec![
        ("base", serde_json::json!({})),
        ("telemetry", serde_json::json!({"telemetry": {}})),
        ("accessGroups", serde_json::json!({"accessGroups": {}})),
        (
            "worktreeRoot",
            serde_json::json!({"worktreeRoot": "/tmp/worktrees"}),
        ),
        (
            "worktreeAcceleration",
            serde_json::json!({"worktreeAcceleration": true}),
        ),
        ("security", serde_json::json!({"security": {}})),
        ("surfaces", serde_json::json!({"surfaces": {}})),
        ("proxy", serde_json::json!({"proxy": {}})),
        ("web (legacy)", serde_json::json!({"web": {}})),
        ("audio (legacy)", serde_json::json!({"audio": {}})),
        ("canvasHost (legacy)", serde_json::json!({"canvasHost": {}})),
        ("media (legacy)", serde_json::json!({"media": {}})),
        (
            "unknown top-level key",
            serde_json::json!({"bogusSection": {}}),
        ),
        (
            "worktreeRoot not a string",
            serde_json::json!({"worktreeRoot": 5}),
        ),
        (
            "telemetry not an object",
            serde_json::json!({"telemetry": "on"}),
        ),
        (
            "meta.migrations",
            serde_json::json!({"meta": {"migrations": {"modelPolicyAllowlist": true}}}),
        ),
        (
            "unknown meta key",
            serde_json::json!({"meta": {"bogus": 1}}),
        ),
        // Inside the sections this build types.
        (
            "unknown gateway key",
            serde_json::json!({"gateway": {"mode": "local", "bogus": 1}}),
        ),
        (
            "gateway.port a string",
            serde_json::json!({"gateway": {"mode": "local", "port": "x"}}),
        ),
        (
            "gateway.bind unknown",
            serde_json::json!({"gateway": {"mode": "local", "bind": "nowhere"}}),
        ),
        (
            "gateway.controlUi",
            serde_json::json!({"gateway": {"mode": "local", "controlUi": {"enabled": false}}}),
        ),
        (
            "gateway.tailscale",
            serde_json::json!({"gateway": {"mode": "local", "tailscale": {"mode": "off"}}}),
        ),
        (
            "logging.level unknown",
            serde_json::json!({"logging": {"level": "verbose"}}),
        ),
        // Inside the sections upstream's own schema judges here.
        (
            "agents.defaults.model",
            serde_json::json!({"agents": {"defaults": {"model": {"primary": "openai/gpt-5.1"}}}}),
        ),
        (
            "unknown agents.defaults key",
            serde_json::json!({"agents": {"defaults": {"bogus": 1}}}),
        ),
        (
            "telegram botToken",
            serde_json::json!({"channels": {"telegram": {"botToken": "x"}}}),
        ),
        (
            "telegram botToken a number",
            serde_json::json!({"channels": {"telegram": {"botToken": 5}}}),
        ),
        (
            "telegram dmPolicy unknown",
            serde_json::json!({"channels": {"telegram": {"botToken": "x", "dmPolicy": "bogus"}}}),
        ),
        (
            "a model provider",
            serde_json::json!({"models": {"providers": {"x": {"baseUrl": "http://127.0.0.1:1/v1", "api": "openai-completions", "models": []}}}}),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    // Four at a time: each real CLI is a Node process of ~100 MB.
    let mut verdicts: Vec<(String, Option<bool>, Option<bool>)> = Vec::new();
    for (chunk_no, chunk) in cases.chunks(4).enumerate() {
        verdicts.extend(std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(j, (name, extra))| {
                    let i = chunk_no * 4 + j;
                    let mut cfg = serde_json::json!({"gateway": {"mode": "local"}});
                    for (k, v) in extra.as_object().unwrap() {
                        cfg[k] = v.clone();
                    }
                    let case = dir.path().join(format!("case-{i}"));
                    std::fs::create_dir_all(&case).unwrap();
                    std::fs::write(case.join("openclaw.json"), cfg.to_string()).unwrap();
                    let bin = bin.clone();
                    s.spawn(move || {
                        let valid = |out: &str| {
                            serde_json::from_str::<Value>(out.trim())
                                .ok()
                                .and_then(|v| v["valid"].as_bool())
                        };
                        let mut theirs = real_cli_with(
                            &bin,
                            &case.join("home"),
                            &case.join("state"),
                            &case.join("openclaw.json"),
                        );
                        theirs.args(["config", "validate", "--json"]);
                        let (_, t_out, _) = run(theirs, T);
                        let mut ours = Command::new(BIN);
                        ours.env_clear()
                            .env("HOME", case.join("home"))
                            .env("OPENCLAW_STATE_DIR", case.join("state"))
                            .env("OPENCLAW_CONFIG_PATH", case.join("openclaw.json"))
                            .args(["config", "validate", "--json"]);
                        let (_, o_out, _) = run(ours, T);
                        (name.to_string(), valid(&t_out), valid(&o_out))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        }));
    }
    let differ: Vec<_> = verdicts
        .iter()
        .filter(|(_, theirs, ours)| theirs.is_none() || theirs != ours)
        .collect();
    assert!(differ.is_empty(), "(case, real, ours): {differ:#?}");
}

/// A config for the real CLI: this gateway's port and token, the fixture backend's providers.
fn real_agent_config(
    profile: &Profile,
    port: u16,
    backend: &crate::model_backend::Backend,
) -> PathBuf {
    let path = profile.path().join("real-openclaw.json");
    std::fs::write(
        &path,
        format!(
            r#"{{ gateway: {{ mode: "local", port: {port}, auth: {{ mode: "token", token: "{TOKEN}" }} }},
               agents: {{ defaults: {{ model: "local/tiny" }} }}, {} }}"#,
            backend.providers()
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_real_cli_runs_an_agent_turn_on_this_gateway() {
    let Some(bin) = peer_bin() else { return };
    let backend = crate::model_backend::Backend::start();
    let p = Profile::new(&format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token", token: "{TOKEN}" }} }},
             agents: {{ defaults: {{ model: "local/tiny" }} }}, {} }}"#,
        backend.providers()
    ));
    let gw = Gateway::start(&p, &[], &[]);
    let config = real_agent_config(&p, gw.port, &backend);
    let mut c = real_cli_with(
        &bin,
        &p.path().join("real-home"),
        &p.path().join("real-state"),
        &config,
    );
    c.args(["agent", "--message", "hi", "--agent", "main", "--json"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let start = out
        .find('{')
        .unwrap_or_else(|| panic!("no JSON: {out}{err}"));
    let v: Value = serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["result"]["payloads"][0]["text"], "pong");
}

#[test]
fn the_real_and_this_infer_model_run_print_the_same_envelope() {
    let Some(bin) = peer_bin() else { return };
    let backend = crate::model_backend::Backend::start();
    let p = Profile::new(&format!(
        r#"{{ gateway: {{ mode: "local" }}, agents: {{ defaults: {{ model: "local/tiny" }} }}, {} }}"#,
        backend.providers()
    ));
    let config = real_agent_config(&p, 1, &backend);
    for model in ["local/tiny", "anth/claude-ok", "local/missing"] {
        let args = [
            "infer", "model", "run", "--local", "--model", model, "--prompt", "hi", "--json",
        ];
        let mut real = real_cli_with(
            &bin,
            &p.path().join("real-home"),
            &p.path().join("real-state"),
            &config,
        );
        real.args(args);
        let (_, rout, rerr) = run(real, T);
        let mut ours = p.command();
        ours.args(args);
        let (_, oout, oerr) = run(ours, T);
        let parse = |s: &str, e: &str| -> Value {
            let start = s.find('{').unwrap_or_else(|| panic!("no JSON: {s}{e}"));
            serde_json::from_str(&s[start..]).unwrap_or_else(|x| panic!("{x}: {s}"))
        };
        assert_eq!(
            parse(&oout, &oerr),
            parse(&rout, &rerr),
            "{model}: ours vs the real CLI"
        );
    }
}
