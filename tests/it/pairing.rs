//! Device pairing at connect: silent local approval, `pairing required` for everything
//! else, and `device.pair.*` approvals from an operator connection, against the real binary.

use crate::support::*;
use openclaw::state::identity::DeviceIdentity;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// A local token config with extra `gateway` keys.
fn profile(gateway_extra: Value) -> Profile {
    let p = Profile::local_token();
    let mut cfg: Value = json!({
        "gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": TOKEN}},
        "logging": {"file": p.log_path()},
    });
    if let Value::Object(extra) = gateway_extra {
        cfg["gateway"].as_object_mut().unwrap().extend(extra);
    }
    std::fs::write(p.config_path(), cfg.to_string()).unwrap();
    p
}

fn cli(p: &Profile, args: &[&str]) -> Command {
    let mut c = p.command();
    c.args(args);
    c
}

fn probe(p: &Profile, port: u16) -> (i32, Value) {
    let (code, out, err) = run(
        cli(
            p,
            &["gateway", "probe", "--json", "--port", &port.to_string()],
        ),
        T,
    );
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v)
}

/// The identity the CLI signs with (created by its first connect).
fn cli_device_id(p: &Profile) -> String {
    DeviceIdentity::load(&p.path().join("state"))
        .unwrap()
        .expect("the CLI created its identity")
        .device_id
}

/// `doctor --json` pointed at a port where nothing answers: its findings come from the files.
fn offline_doctor(p: &Profile) -> Value {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = cli(p, &["doctor", "--json"]);
    c.env("OPENCLAW_GATEWAY_PORT", free.to_string());
    let (_, out, err) = run(c, T);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

/// The paired devices in the profile's SQLite store, keyed by device id.
fn paired_in_store(p: &Profile) -> Value {
    let store = openclaw::state::store::Store::open_read_only(&p.path().join("state")).unwrap();
    Value::Object(store.paired_devices().unwrap())
}

/// This CLI's cached device tokens, from the store's `device_auth_tokens` (the CLI's own
/// device is the only one there): `{deviceId, tokens: {role: {token, scopes, …}}}`.
fn device_auth_cache(p: &Profile) -> Value {
    let store = openclaw::state::store::Store::open_read_only(&p.path().join("state")).unwrap();
    let mut all = store.device_auth_tokens().unwrap();
    assert!(all.len() <= 1, "{all:?}");
    all.values_mut()
        .next()
        .map(std::mem::take)
        .unwrap_or_else(|| serde_json::json!({"tokens": {}}))
}

/// Connect params signed by `id` for `scopes`.
fn signed(id: &DeviceIdentity, nonce: &str, scopes: &[&str], client: (&str, &str)) -> Value {
    signed_with(id, nonce, scopes, client, json!({"token": TOKEN}), TOKEN)
}

/// Open (with extra headers), send a signed connect, return the client and response.
async fn signed_connect(
    url: &str,
    headers: &[(&'static str, &str)],
    id: &DeviceIdentity,
    scopes: &[&str],
    max_protocol: u32,
) -> (Client, Value) {
    let mut c = Client::open_with(url, headers).await;
    let nonce = c.challenge["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let mut params = signed(id, &nonce, scopes, ("cli", "probe"));
    params["maxProtocol"] = json!(max_protocol);
    c.send(json!({"type": "req", "id": "c", "method": "connect", "params": params}))
        .await;
    let res = c.response("c").await;
    (c, res)
}

#[test]
fn a_local_cli_is_paired_silently_and_recorded() {
    let p = profile(json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    let (code, v) = probe(&p, gw.port);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(target(&v, "localLoopback")["connect"]["rpcOk"], true);
    let id = cli_device_id(&p);
    gw.wait_for_line(
        &format!("device pairing auto-approved device={id} role=operator"),
        T,
    );
    let paired = paired_in_store(&p);
    assert_eq!(paired[&id]["approvedVia"], "silent", "{paired:#}");
    assert_eq!(paired[&id]["clientId"], "cli");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.path().join("state/state/openclaw.sqlite"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The second connect finds the device paired: no new approval.
    let (code, _) = probe(&p, gw.port);
    assert_eq!(code, 0);
    gw.wait_for_count("device pairing auto-approved", 1, T);
    assert_eq!(
        gw.seen
            .iter()
            .filter(|l| l.contains("device pairing auto-approved"))
            .count(),
        1
    );
}

#[tokio::test]
async fn pairing_required_is_reported_by_every_read_command_until_an_operator_approves() {
    let p = profile(json!({"nodes": {"pairing": {"autoApproveLocal": false}}}));
    let mut gw = Gateway::start(&p, &[], &[]);
    // An operator watching pairing events (a backend client skips pairing).
    let (mut admin, _) = connected(&gw.url(), "backend", &["operator.admin"]).await;

    let (code, v) = probe(&p, gw.port);
    let t = target(&v, "localLoopback");
    assert_eq!(t["auth"]["capability"], "pairing_pending", "{v:#}");
    assert_eq!(v["capability"], "pairing_pending");
    assert_eq!(t["connect"]["close"]["code"], 1008, "{v:#}");
    let reason = t["connect"]["close"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with("pairing required: device is not approved yet (requestId: "),
        "{reason}"
    );
    assert_ne!(code, 0, "{v:#}");
    let id = cli_device_id(&p);
    let requested = admin.event("device.pair.requested", T).await;
    assert_eq!(requested["payload"]["deviceId"], id.as_str());
    assert_eq!(requested["payload"]["reason"], "not-paired");
    let request_id = requested["payload"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.ends_with(&format!("(requestId: {request_id})")));
    gw.wait_for_line(
        &format!("approve with: openclaw devices approve {request_id}"),
        T,
    );

    // The other read commands say so too.
    let port = gw.port.to_string();
    for args in [
        vec!["health", "--json"],
        vec!["gateway", "call", "health"],
        vec!["status", "--json"],
        vec!["gateway", "status", "--json", "--require-rpc"],
    ] {
        let mut c = cli(&p, &args);
        c.env("OPENCLAW_GATEWAY_PORT", &port);
        let (code, out, err) = run(c, T);
        assert_ne!(code, 0, "{args:?}: {out} {err}");
        assert!(
            format!("{out}{err}").contains("pairing required"),
            "{args:?}: {out} {err}"
        );
    }

    // The doctor reports the pending request with the exact command, and the refusal.
    let mut c = cli(&p, &["doctor", "--json"]);
    c.env("OPENCLAW_GATEWAY_PORT", &port);
    let (_, out, err) = run(c, T);
    let d: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let f = finding(&d, "state.device-pairing-pending");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert!(
        f.to_string()
            .contains(&format!("openclaw devices approve {request_id}")),
        "{f:#}"
    );
    assert_eq!(finding(&d, "auth.pairing-required")["status"], "fail");

    // The pending request is listed; approving it unblocks the CLI.
    let list = admin.call("l", "device.pair.list", json!({})).await;
    let pending = list["payload"]["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{list:#}");
    assert_eq!(pending[0]["requestId"], request_id.as_str());
    let ok = admin
        .call("a", "device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(ok["ok"], true, "{ok:#}");
    assert_eq!(ok["payload"]["device"]["deviceId"], id.as_str());
    assert!(ok["payload"]["device"].get("approvedScopes").is_none());
    let resolved = admin.event("device.pair.resolved", T).await;
    assert_eq!(resolved["payload"]["decision"], "approved");
    let (code, v) = probe(&p, gw.port);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(target(&v, "localLoopback")["connect"]["rpcOk"], true);
    let again = admin
        .call("b", "device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(again["error"]["message"], "unknown requestId");
}

#[tokio::test]
async fn a_proxied_client_is_remote_and_gets_the_v3_or_v4_refusal() {
    let p = profile(json!({}));
    let gw = Gateway::start(&p, &[], &[]);
    let id = DeviceIdentity::load_or_create(&p.path().join("remote-device")).unwrap();
    let fwd = [("x-forwarded-for", "203.0.113.7")];

    let (mut c, res) = signed_connect(&gw.url(), &fwd, &id, &["operator.read"], 3).await;
    assert_eq!(res["error"]["code"], "NOT_PAIRED", "{res:#}");
    assert_eq!(res["error"]["message"], "pairing required");
    assert_eq!(res["error"]["details"]["code"], "PAIRING_REQUIRED");
    assert_eq!(res["error"]["details"]["reason"], "not-paired");
    let request_id = res["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: "pairing required".into()
        }
    );

    let (mut c, res) = signed_connect(&gw.url(), &fwd, &id, &["operator.read"], 4).await;
    let e = &res["error"];
    assert_eq!(e["message"], "pairing required: device is not approved yet");
    assert_eq!(
        e["details"]["requestId"],
        request_id.as_str(),
        "one request per device"
    );
    assert_eq!(
        e["details"]["remediationHint"],
        "Approve this device from the pending pairing requests."
    );
    assert_eq!(e["details"]["deviceId"], id.device_id.as_str());
    assert_eq!(e["details"]["requestedScopes"], json!(["operator.read"]));
    assert_eq!(
        c.closed().await.reason,
        format!("pairing required: device is not approved yet (requestId: {request_id})")
    );

    // A pairing-scoped operator without operator.read cannot grant it.
    let (mut pairer, _) = connected(&gw.url(), "backend", &["operator.pairing"]).await;
    let denied = pairer
        .call("a", "device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(
        denied["error"]["message"], "missing scope: operator.read",
        "{denied:#}"
    );
    let (mut admin, _) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    let ok = admin
        .call("b", "device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(ok["ok"], true, "{ok:#}");

    // Paired: the same remote device connects; asking for more scopes is a scope upgrade.
    let (mut dev, res) = signed_connect(&gw.url(), &fwd, &id, &["operator.read"], 4).await;
    assert_eq!(res["ok"], true, "{res:#}");
    let (_, res) = signed_connect(&gw.url(), &fwd, &id, &["operator.write"], 4).await;
    assert_eq!(
        res["error"]["message"],
        "pairing required: device is asking for more scopes than currently approved"
    );
    assert_eq!(
        res["error"]["details"]["approvedScopes"],
        json!(["operator.read"])
    );

    // Removing the device closes its sockets with 4001 `device removed`.
    let removed = admin
        .call("r", "device.pair.remove", json!({"deviceId": id.device_id}))
        .await;
    assert_eq!(removed["ok"], true, "{removed:#}");
    assert_eq!(
        dev.closed().await,
        Closed {
            code: 4001,
            reason: "device removed".into()
        }
    );
    let list = admin.call("l", "device.pair.list", json!({})).await;
    assert_eq!(list["payload"]["paired"], json!([]), "{list:#}");
}

#[test]
fn the_devices_cli_approves_its_own_request_through_the_local_fallback() {
    let p = profile(json!({"nodes": {"pairing": {"autoApproveLocal": false}}}));
    let mut gw = Gateway::start(&p, &[], &[]);
    let port = gw.port.to_string();
    let devices = |args: &[&str]| {
        let mut c = cli(&p, &[&["devices"], args].concat());
        c.env("OPENCLAW_GATEWAY_PORT", &port);
        run(c, T)
    };

    // The gateway refuses this CLI itself, so `list` reads the pairing files.
    let (code, out, err) = devices(&["list"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        err.contains("Direct scope access failed; using local fallback."),
        "{err}"
    );
    let (code, out, _) = devices(&["list", "--json"]);
    assert_eq!(code, 0);
    let l: Value = serde_json::from_str(&out).unwrap();
    let request_id = l["pending"][0]["requestId"].as_str().unwrap().to_string();
    assert_eq!(l["pending"][0]["deviceId"], cli_device_id(&p).as_str());
    assert!(out.contains("Pending") || l["pending"].as_array().unwrap().len() == 1);

    // The probe's hint names the exact command.
    let (_, out, _) = run(cli(&p, &["gateway", "probe", "--port", &port]), T);
    assert!(
        out.contains(&format!(
            "hint: approve this device on the gateway host: openclaw devices approve {request_id}"
        )),
        "{out}"
    );

    // Bare approve only previews.
    let (code, _, err) = devices(&["approve"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("Not approved: review the request above, then run: openclaw devices approve {request_id}")),
        "{err}"
    );
    let (code, out, err) = devices(&["approve", &request_id]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with(&format!("Approved {request_id}")), "{out}");
    assert!(err.contains("Direct scope access failed; using local fallback."));

    // The running gateway sees the approval at once.
    let (code, v) = probe(&p, gw.port);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(target(&v, "localLoopback")["connect"]["rpcOk"], true);

    // Now through the gateway: list, remove.
    let (code, out, err) = devices(&["list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("fallback"), "{err}");
    let l: Value = serde_json::from_str(&out).unwrap();
    let id = cli_device_id(&p);
    assert_eq!(l["paired"][0]["deviceId"], id.as_str());
    assert!(l["paired"][0].get("approvedScopes").is_none());
    let (code, out, err) = devices(&["remove", &id]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out.trim(), format!("Removed device {id}"));
    gw.wait_for_line(&format!("device pairing removed device={id}"), T);
    let (code, _, err) = devices(&["reject", "no-such-request"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown requestId"), "{err}");

    // With the gateway stopped the files are still readable.
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(T), 0);
    let (code, out, err) = devices(&["list"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        err.contains("Gateway not reachable; using the local pairing files."),
        "{err}"
    );
}

#[tokio::test]
async fn device_tokens_are_issued_rotated_and_revoked() {
    let p = profile(json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    let a = DeviceIdentity::load_or_create(&p.path().join("device-a")).unwrap();
    let b = DeviceIdentity::load_or_create(&p.path().join("device-b")).unwrap();
    let scopes = ["operator.read", "operator.pairing"];

    // v3 and v4 hellos carry the issued token; the second connect reuses it.
    let (_, h3) = signed_connect(&gw.url(), &[], &a, &scopes, 3).await;
    let token_a = h3["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(token_a.len(), 43, "32 bytes base64url: {h3:#}");
    assert!(h3["payload"]["auth"]["issuedAtMs"].is_u64());
    let (mut ca, h4) = signed_connect(&gw.url(), &[], &a, &scopes, 4).await;
    assert_eq!(h4["payload"]["auth"]["deviceToken"], token_a.as_str());
    assert_eq!(h4["payload"]["auth"]["method"], "token");
    let (_, hb) = signed_connect(&gw.url(), &[], &b, &scopes, 4).await;
    let token_b = hb["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();

    // The device token alone authenticates.
    let (_, res) = device_token_connect(&gw.url(), &a, &token_a, &["operator.read"]).await;
    assert_eq!(res["ok"], true, "{res:#}");
    assert_eq!(res["payload"]["auth"]["method"], "device-token");
    // A paired-device session manages only its own device.
    let denied = ca
        .call(
            "r1",
            "device.token.rotate",
            json!({"deviceId": b.device_id, "role": "operator"}),
        )
        .await;
    assert_eq!(denied["error"]["message"], "device token rotation denied");
    gw.wait_for_line("reason=device-ownership-mismatch", T);
    let denied = ca
        .call(
            "r2",
            "device.token.rotate",
            json!({"deviceId": a.device_id, "role": "operator", "scopes": ["operator.admin"]}),
        )
        .await;
    assert_eq!(denied["error"]["message"], "device token rotation denied");
    gw.wait_for_line("reason=scope-outside-approved-baseline", T);
    // Rotating its own token returns it in-band, then closes the session.
    let r = ca
        .call(
            "r3",
            "device.token.rotate",
            json!({"deviceId": a.device_id, "role": "operator"}),
        )
        .await;
    assert_eq!(r["payload"]["tokenDelivery"], "in-band", "{r:#}");
    let new_a = r["payload"]["token"].as_str().unwrap().to_string();
    assert_ne!(new_a, token_a);
    assert_eq!(
        ca.closed().await,
        Closed {
            code: 4001,
            reason: "device removed".into()
        }
    );
    let (_, res) = device_token_connect(&gw.url(), &a, &token_a, &["operator.read"]).await;
    assert_eq!(
        res["error"]["details"]["code"], "AUTH_DEVICE_TOKEN_MISMATCH",
        "{res:#}"
    );
    assert_eq!(
        res["error"]["message"],
        "unauthorized: device token mismatch (rotate/reissue device token)"
    );
    let (_, res) = device_token_connect(&gw.url(), &a, &new_a, &["operator.read"]).await;
    assert_eq!(res["ok"], true, "{res:#}");

    // An admin without a device rotates another device: the token is withheld.
    let (mut admin, _) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    let r = admin
        .call(
            "r4",
            "device.token.rotate",
            json!({"deviceId": b.device_id, "role": "operator"}),
        )
        .await;
    assert_eq!(
        r["payload"]["tokenDelivery"], "withheld-cross-device",
        "{r:#}"
    );
    assert!(r["payload"].get("token").is_none());
    // Revoked tokens stop working.
    let (_, res) = device_token_connect(&gw.url(), &b, &token_b, &["operator.read"]).await;
    assert_eq!(
        res["error"]["details"]["code"],
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    let r = admin
        .call(
            "r5",
            "device.token.revoke",
            json!({"deviceId": a.device_id, "role": "operator"}),
        )
        .await;
    assert!(r["payload"]["revokedAtMs"].is_u64(), "{r:#}");
    let (_, res) = device_token_connect(&gw.url(), &a, &new_a, &["operator.read"]).await;
    assert_eq!(
        res["error"]["details"]["code"],
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    let r = admin
        .call(
            "r6",
            "device.token.revoke",
            json!({"deviceId": "nope", "role": "operator"}),
        )
        .await;
    assert_eq!(r["error"]["message"], "device token revocation denied");
    // Listing never shows token values.
    let l = admin.call("l", "device.pair.list", json!({})).await;
    assert!(!l.to_string().contains(&new_a), "{l:#}");
}

#[test]
fn the_cli_caches_its_device_token_and_retries_with_it_on_loopback() {
    let p = profile(json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    let (code, _) = probe(&p, gw.port);
    assert_eq!(code, 0);
    let cache = device_auth_cache(&p);
    let id = cli_device_id(&p);
    assert_eq!(cache["deviceId"], id.as_str());
    let token = cache["tokens"]["operator"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let paired = paired_in_store(&p);
    assert_eq!(paired[&id]["tokens"]["operator"]["token"], token.as_str());

    // A wrong explicit token on loopback: one retry with the cached device token.
    let url = gw.url();
    let wrong_token = || {
        let args = ["health", "--json", "--url", &url, "--token", "wrong-token"];
        run(cli(&p, &args), T)
    };
    let (code, out, err) = wrong_token();
    assert_eq!(code, 0, "{out} {err}");
    gw.wait_for_line("auth=device-token", T);

    // Revoked on the gateway: the CLI is refused and forgets the stale token.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut admin, _) = rt.block_on(connected(&gw.url(), "backend", &["operator.admin"]));
    let r = rt.block_on(admin.call(
        "r",
        "device.token.revoke",
        json!({"deviceId": id, "role": "operator"}),
    ));
    assert!(r["ok"] == true, "{r:#}");
    // The doctor sees the cached token is now stale (from the files: pointed at a port
    // where nothing answers, its own connect cannot refresh the cache).
    let f = finding(&offline_doctor(&p), "state.device-auth-cache-stale");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert!(
        f.to_string().contains("revoked on this host's gateway"),
        "{f:#}"
    );
    let (code, _, err) = wrong_token();
    assert_ne!(code, 0);
    assert!(
        err.contains("device token mismatch") || err.contains("gateway token mismatch"),
        "{err}"
    );
    let cache = device_auth_cache(&p);
    assert!(cache["tokens"].get("operator").is_none(), "{cache:#}");
}

#[test]
fn the_devices_cli_rotates_revokes_and_clears_without_printing_tokens() {
    let p = profile(json!({}));
    let gw = Gateway::start(&p, &[], &[]);
    let port = gw.port.to_string();
    let devices = |args: &[&str]| {
        let mut c = cli(&p, &[&["devices"], args].concat());
        c.env("OPENCLAW_GATEWAY_PORT", &port);
        run(c, T)
    };
    let (code, _, err) = devices(&["list"]);
    assert_eq!(code, 0, "{err}");
    let id = cli_device_id(&p);
    let before = device_auth_cache(&p)["tokens"]["operator"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, out, err) = devices(&[
        "rotate",
        "--device",
        &id,
        "--role",
        "operator",
        "--scope",
        "operator.read",
        "--json",
    ]);
    assert_eq!(code, 0, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tokenDelivery"], "in-band");
    assert!(v.get("token").is_none(), "{v:#}");
    let after = device_auth_cache(&p)["tokens"]["operator"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(before, after);
    assert!(!out.contains(&after) && !err.contains(&after));
    let paired = paired_in_store(&p);
    assert_eq!(paired[&id]["tokens"]["operator"]["token"], after.as_str());

    let (code, out, _) = devices(&["revoke", "--device", &id, "--role", "operator"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        format!("Revoked operator token for device {id}")
    );
    let (code, _, err) = devices(&["clear"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Refusing to clear paired devices without --yes."),
        "{err}"
    );
    let (code, out, err) = devices(&["clear", "--yes", "--pending", "--json"]);
    assert_eq!(code, 0, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == id.as_str()),
        "{v:#}"
    );
}

#[test]
fn dm_pairing_codes_are_listed_approved_and_reported_by_the_doctor() {
    use openclaw::state::dm_pairing::{DmPairing, Upsert};
    let p = Profile::local_token();
    let state = p.path().join("state");
    // A channel records unknown senders (channels arrive later; the store is shared).
    let store = DmPairing::at(&state);
    let now = openclaw::util::now_ms();
    let mut meta = serde_json::Map::new();
    meta.insert("username".into(), json!("alice"));
    let Upsert::Created(code) = store.upsert("telegram", None, "12345", &meta, now).unwrap() else {
        panic!("first request creates a code")
    };

    let (code_list, out, err) = run(cli(&p, &["pairing", "list", "telegram", "--json"]), T);
    assert_eq!(code_list, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["channel"], "telegram");
    assert_eq!(v["requests"][0]["code"], code.as_str());
    assert_eq!(v["requests"][0]["meta"]["accountId"], "default");
    let (_, out, _) = run(cli(&p, &["pairing", "list", "--channel", "telegram"]), T);
    assert!(
        out.contains(&format!(
            "hint: approve with: openclaw pairing approve telegram {code}"
        )),
        "{out}"
    );

    // The doctor names the pending sender and the exact approve command.
    let d = offline_doctor(&p);
    let f = finding(&d, "state.dm-pairing-pending");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert!(
        f.to_string()
            .contains(&format!("openclaw pairing approve telegram {code}")),
        "{f:#}"
    );

    // Usage errors and a wrong code are refused with the next command.
    let (rc, _, err) = run(cli(&p, &["pairing", "list", "Tele gram"]), T);
    assert_eq!(rc, 1);
    assert!(err.contains("Invalid channel \"Tele gram\". Use lowercase letters, numbers, \"_\" or \"-\", for example \"telegram\"."), "{err}");
    let (rc, _, err) = run(cli(&p, &["pairing", "approve", "telegram", "ZZZZZZZZ"]), T);
    assert_eq!(rc, 1);
    assert!(err.contains("No pending pairing request found for code \"ZZZZZZZZ\". Run `openclaw pairing list --channel telegram` to list pending requests."), "{err}");

    let (rc, out, err) = run(
        cli(
            &p,
            &["pairing", "approve", "telegram", &code.to_lowercase()],
        ),
        T,
    );
    assert_eq!(rc, 0, "{out} {err}");
    assert_eq!(out.trim(), "Approved telegram sender 12345.");
    // In the store's allowlist table, as upstream keeps it.
    let c = rusqlite::Connection::open(openclaw::state::store::path(&state)).unwrap();
    let entries: Vec<(String, String, String)> = c
        .prepare("SELECT channel_key, account_id, entry FROM channel_pairing_allow_entries")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        entries,
        vec![("telegram".into(), "default".into(), "12345".into())]
    );
    assert_eq!(
        store.allow_from("telegram", None),
        vec!["12345".to_string()]
    );
    let (_, out, _) = run(cli(&p, &["pairing", "list", "telegram"]), T);
    assert_eq!(out.trim(), "No pending telegram pairing requests.");
}
