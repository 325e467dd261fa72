//! Signed device identities on connect, auth mode `none`, roles and the health event.

use crate::support::*;
use openclaw::protocol::device;
use openclaw::state::identity::DeviceIdentity;
use serde_json::{json, Value};
use std::time::Duration;

/// Connect params signed (v3 payload) by `id` over the challenge nonce.
fn signed_params(id: &DeviceIdentity, nonce: &str, token: &str, signed_at: u64) -> Value {
    let scopes = vec!["operator.read".to_string()];
    let payload = device::payload_v3(&device::PayloadFields {
        device_id: &id.device_id,
        client_id: "cli",
        client_mode: "cli",
        role: "operator",
        scopes: &scopes,
        signed_at_ms: signed_at,
        token,
        nonce,
        platform: Some("linux"),
        device_family: None,
    });
    let mut p = connect_params("cli", "cli", &["operator.read"], json!({"token": token}));
    p["device"] = json!({
        "id": id.device_id, "publicKey": id.public_key_b64url(),
        "signature": id.sign_b64url(&payload), "signedAt": signed_at, "nonce": nonce,
    });
    p
}

fn now_ms() -> u64 {
    openclaw::util::now_ms()
}

#[tokio::test]
async fn signed_device_connects_and_its_failures_carry_device_codes() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let id = DeviceIdentity::load_or_create(&p.path().join("client-state")).unwrap();

    let mut c = Client::open(&gw.url()).await;
    let nonce = c.challenge["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": signed_params(&id, &nonce, TOKEN, now_ms())})).await;
    let hello = c.response("1").await;
    assert_eq!(hello["ok"], true, "{hello}");

    // Wrong shared token from a signed device: one retry with the device token is allowed.
    let mut c = Client::open(&gw.url()).await;
    let nonce = c.challenge["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    c.send(json!({"type": "req", "id": "2", "method": "connect", "params": signed_params(&id, &nonce, "wrong-token", now_ms())})).await;
    let res = c.response("2").await;
    let d = &res["error"]["details"];
    assert_eq!(d["code"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(d["canRetryWithDeviceToken"], true);
    assert_eq!(d["recommendedNextStep"], "retry_with_device_token");
    assert_eq!(c.closed().await.code, 1008);

    // Signed over another challenge.
    let mut c = Client::open(&gw.url()).await;
    c.send(json!({"type": "req", "id": "3", "method": "connect", "params": signed_params(&id, "not-the-nonce", TOKEN, now_ms())})).await;
    let res = c.response("3").await;
    assert_eq!(res["error"]["message"], "device nonce mismatch");
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: "device nonce mismatch".into()
        }
    );

    // Stale timestamp.
    let mut c = Client::open(&gw.url()).await;
    let nonce = c.challenge["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    c.send(json!({"type": "req", "id": "4", "method": "connect", "params": signed_params(&id, &nonce, TOKEN, now_ms() - 10 * 60_000)})).await;
    assert_eq!(
        c.response("4").await["error"]["message"],
        "device signature expired"
    );

    // Tampered signature.
    let mut c = Client::open(&gw.url()).await;
    let nonce = c.challenge["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let mut params = signed_params(&id, &nonce, TOKEN, now_ms());
    params["scopes"] = json!(["operator.admin"]);
    c.send(json!({"type": "req", "id": "5", "method": "connect", "params": params}))
        .await;
    let res = c.response("5").await;
    assert_eq!(res["error"]["message"], "device signature invalid");
    assert_eq!(
        res["error"]["details"]["code"],
        "DEVICE_AUTH_SIGNATURE_INVALID"
    );
}

#[tokio::test]
async fn auth_mode_none_accepts_loopback_clients_without_credentials() {
    let p = Profile::new(r#"{"gateway": {"mode": "local", "auth": {"mode": "none"}}}"#);
    let gw = Gateway::start(&p, &[], &[("OPENCLAW_ALLOW_MULTI_GATEWAY", "1")]);
    let mut c = Client::open(&gw.url()).await;
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": connect_params("cli", "cli", &["operator.read"], json!({}))})).await;
    let hello = c.response("1").await;
    assert_eq!(hello["payload"]["snapshot"]["authMode"], "none");
    assert_eq!(c.call("s", "status", json!({})).await["ok"], true);
}

#[tokio::test]
async fn node_role_cannot_call_operator_methods() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    // Without a device identity a node is refused.
    let mut c = Client::open(&gw.url()).await;
    let mut params = connect_params(
        "node-host",
        "node",
        &["operator.admin"],
        json!({"token": TOKEN}),
    );
    params["role"] = json!("node");
    c.send(json!({"type": "req", "id": "0", "method": "connect", "params": params.clone()}))
        .await;
    let res = c.response("0").await;
    assert_eq!(res["error"]["code"], "NOT_PAIRED");
    assert_eq!(res["error"]["message"], "device identity required");
    assert_eq!(res["error"]["details"]["code"], "DEVICE_IDENTITY_REQUIRED");
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: "device identity required".into()
        }
    );
    // Signed (and paired silently on loopback), it connects with no operator scopes.
    let id = DeviceIdentity::load_or_create(&p.path().join("node-state")).unwrap();
    let mut c = Client::open(&gw.url()).await;
    let nonce = c.challenge["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let scopes = vec!["operator.admin".to_string()];
    let signed_at = now_ms();
    let payload = device::payload_v3(&device::PayloadFields {
        device_id: &id.device_id,
        client_id: "node-host",
        client_mode: "node",
        role: "node",
        scopes: &scopes,
        signed_at_ms: signed_at,
        token: TOKEN,
        nonce: &nonce,
        platform: Some("linux"),
        device_family: None,
    });
    params["device"] = json!({
        "id": id.device_id, "publicKey": id.public_key_b64url(),
        "signature": id.sign_b64url(&payload), "signedAt": signed_at, "nonce": nonce,
    });
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": params}))
        .await;
    let hello = c.response("1").await;
    assert_eq!(hello["payload"]["auth"]["role"], "node");
    assert_eq!(
        hello["payload"]["auth"]["scopes"],
        json!([]),
        "nodes get no operator scopes"
    );
    assert_eq!(c.call("h", "health", json!({})).await["ok"], true);
    let res = c.call("s", "status", json!({})).await;
    assert_eq!(res["error"]["message"], "unauthorized role: node");
}

#[tokio::test]
async fn a_probing_health_call_refreshes_and_broadcasts_health() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (mut watcher, hello) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let before = hello["payload"]["snapshot"]["stateVersion"]["health"]
        .as_u64()
        .unwrap();
    let (mut caller, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let res = caller.call("h", "health", json!({"probe": true})).await;
    assert_eq!(res["payload"]["ok"], true);
    let ev = watcher.event("health", Duration::from_secs(5)).await;
    assert_eq!(ev["payload"]["ok"], true);
    assert!(ev["stateVersion"]["health"].as_u64().unwrap() > before);
}

/// A CLI holding the pairing store's write lock (here: this test, in a `BEGIN IMMEDIATE`
/// transaction) stalls only the handshakes that write the store (silent pairing); the
/// tick and device-less clients keep flowing on the gateway's workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_pairing_lock_stalls_only_the_handshakes_that_need_it() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[("OPENCLAW_TICK_INTERVAL_MS", "200")]);
    let url = gw.url();
    let lock = hold_store_write_lock(&p.path().join("state"));
    // More signed clients than the gateway has worker threads wait for the store.
    let mut waiting = Vec::new();
    for i in 0..4 {
        let url = url.clone();
        let dir = p.path().join(format!("id{i}"));
        waiting.push(tokio::spawn(async move {
            let id = DeviceIdentity::load_or_create(&dir).unwrap();
            let mut c = Client::open(&url).await;
            let nonce = c.challenge["payload"]["nonce"]
                .as_str()
                .unwrap()
                .to_string();
            c.send(json!({"type": "req", "id": "c", "method": "connect",
                "params": signed_params(&id, &nonce, TOKEN, now_ms())}))
                .await;
            c.response("c").await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(waiting.iter().all(|w| !w.is_finished()), "the lock is held");
    // Meanwhile: a device-less client connects and is answered, and ticks arrive.
    let (mut c, _) = connected(&url, "backend", &["operator.read"]).await;
    let h = c.call("h", "health", json!({})).await;
    assert_eq!(h["ok"], true, "{h}");
    c.event("tick", Duration::from_secs(3)).await;
    // Released: the waiting handshakes finish.
    drop(lock);
    for w in waiting {
        let res = tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("handshake finished after the lock was released")
            .unwrap();
        assert_eq!(res["ok"], true, "{res}");
    }
}

/// Store methods run off the connection's task: with the store's write lock held, a
/// `device.pair.reject` waits while `health` on the same connection answers; past the
/// per-connection cap, requests are refused `UNAVAILABLE` and retryable. (Reads such as
/// `device.pair.list` do not wait for a writer at all: the store is in WAL mode.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_methods_wait_off_the_connection_and_are_capped() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    let lock = hold_store_write_lock(&p.path().join("state"));
    for i in 0..40 {
        c.send(json!({"type": "req", "id": format!("l{i}"), "method": "device.pair.reject", "params": {"requestId": format!("no-such-{i}")}}))
            .await;
    }
    let h = c.call("h", "health", json!({})).await;
    assert_eq!(
        h["ok"], true,
        "health answers while the store is locked: {h}"
    );
    // The 33rd and later were refused at once (their replies came before health's).
    let refused: Vec<&serde_json::Value> = c
        .events
        .iter()
        .filter(|v| v["type"] == "res" && v["id"].as_str().is_some_and(|i| i.starts_with('l')))
        .collect();
    assert_eq!(refused.len(), 8, "{refused:?}");
    for r in &refused {
        let n: usize = r["id"].as_str().unwrap()[1..].parse().unwrap();
        assert!(n >= 32, "{r}");
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");
        assert_eq!(r["error"]["retryable"], true, "{r}");
    }
    drop(lock);
    // They finish in any order once the lock is free (the requests are unknown: refused
    // as such, not as unavailable).
    let mut done = std::collections::BTreeSet::new();
    while done.len() < 32 {
        let v = c.next(Duration::from_secs(10)).await.expect("open");
        if v["type"] == "res" {
            assert_ne!(v["error"]["code"], "UNAVAILABLE", "{v}");
            done.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    assert!((0..32).all(|i| done.contains(&format!("l{i}"))));
}
