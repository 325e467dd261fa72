//! The connect handshake, auth failures and method authorization against the real binary.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn good_handshake_negotiates_v4_and_lists_only_implemented_methods() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (mut c, hello) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    assert!(c.challenge["payload"]["nonce"].as_str().unwrap().len() >= 32);
    let h = &hello["payload"];
    assert_eq!(h["type"], "hello-ok");
    assert_eq!(h["protocol"], 4);
    assert_eq!(h["auth"]["scopes"], json!(["operator.admin"]));
    assert_eq!(h["policy"]["maxPayload"], 26214400);
    assert_eq!(h["policy"]["maxBufferedBytes"], 52428800);
    assert_eq!(h["snapshot"]["authMode"], "token");
    assert_eq!(
        h["snapshot"]["configPath"],
        p.config_path().display().to_string()
    );
    let methods = h["features"]["methods"].as_array().unwrap();
    assert!(methods.contains(&json!("health")) && methods.contains(&json!("logs.tail")));
    assert!(
        !methods.contains(&json!("cron.list")),
        "unimplemented methods must not be advertised"
    );

    let health = c.call("h", "health", json!({})).await;
    assert_eq!(health["payload"]["ok"], true);
    let status = c.call("s", "status", json!({})).await;
    assert_eq!(status["payload"]["gateway"]["port"], gw.port);
    let presence = c.call("p", "system-presence", json!({})).await;
    assert!(presence["payload"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["reason"] == "self"));
    let cfg = c.call("g", "config.get", json!({})).await;
    assert_eq!(cfg["payload"]["valid"], true);
    let raw = cfg["payload"]["raw"].as_str().unwrap();
    assert!(
        !raw.contains(TOKEN),
        "config.get must redact the token: {raw}"
    );
    assert!(raw.contains("__OPENCLAW_REDACTED__"));
    let id = c.call("i", "gateway.identity.get", json!({})).await;
    assert_eq!(id["payload"]["deviceId"].as_str().unwrap().len(), 64);
    let tail = c.call("t", "logs.tail", json!({"limit": 50})).await;
    let lines = tail["payload"]["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("client connected")),
        "{tail}"
    );
    let hb = c
        .call("hb", "set-heartbeats", json!({"enabled": "yes"}))
        .await;
    assert_eq!(
        hb["error"]["message"],
        "invalid set-heartbeats params: enabled (boolean) required"
    );
    let ev = c.call("e", "system-event", json!({"text": ""})).await;
    assert_eq!(ev["error"]["message"], "text required");
    let last = c.call("l", "last-heartbeat", json!({})).await;
    assert_eq!(last["ok"], true);
    let again = c.call("x", "connect", json!({})).await;
    assert_eq!(
        again["error"]["message"],
        "connect is only valid as the first request"
    );
}

#[tokio::test]
async fn protocol_v3_client_gets_v3_and_v3_error_shapes() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let mut c = Client::open(&gw.url()).await;
    let mut params = connect_params("cli", "cli", &[], json!({"token": TOKEN}));
    params["maxProtocol"] = json!(3);
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": params}))
        .await;
    let hello = c.response("1").await;
    assert_eq!(hello["payload"]["protocol"], 3);
    let denied = c.call("2", "status", json!({})).await;
    assert_eq!(denied["error"]["code"], "INVALID_REQUEST");
    assert_eq!(denied["error"]["message"], "missing scope: operator.read");
}

async fn expect_auth_failure(
    url: &str,
    client_id: &str,
    mode: &str,
    auth: serde_json::Value,
    code: &str,
    message: &str,
) {
    // Browsers send an Origin (the gateway requires one from Control UI clients).
    let origin = url.replacen("ws://", "http://", 1);
    let headers: &[(&'static str, &str)] =
        if client_id == "openclaw-control-ui" || mode == "webchat" {
            &[("origin", &origin)]
        } else {
            &[]
        };
    let mut c = Client::open_with(url, headers).await;
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": connect_params(client_id, mode, &["operator.read"], auth)})).await;
    let res = c.response("1").await;
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert_eq!(res["error"]["details"]["code"], code, "{res}");
    assert_eq!(res["error"]["message"], message);
    assert!(res["error"]["details"]["recommendedNextStep"].is_string());
    assert_eq!(res["error"]["details"]["canRetryWithDeviceToken"], false);
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: message.to_string()
        }
    );
}

#[tokio::test]
async fn each_token_auth_failure_code() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();
    expect_auth_failure(
        &url,
        "gateway-client",
        "backend",
        json!({"token": "wrong"}),
        "AUTH_TOKEN_MISMATCH",
        "unauthorized: gateway token mismatch (provide gateway auth token)",
    )
    .await;
    expect_auth_failure(
        &url,
        "gateway-client",
        "backend",
        json!({}),
        "AUTH_TOKEN_MISSING",
        "unauthorized: gateway token missing (provide gateway auth token)",
    )
    .await;
    expect_auth_failure(&url, "cli", "cli", json!({"token": "wrong"}), "AUTH_TOKEN_MISMATCH",
        "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)").await;
    expect_auth_failure(&url, "openclaw-control-ui", "ui", json!({}), "AUTH_TOKEN_MISSING",
        "unauthorized: gateway token missing (open the dashboard URL and paste the token in Control UI settings)").await;
    expect_auth_failure(
        &url,
        "gateway-client",
        "backend",
        json!({"deviceToken": "stale"}),
        "AUTH_DEVICE_TOKEN_MISMATCH",
        "unauthorized: device token mismatch (rotate/reissue device token)",
    )
    .await;
    let log = std::fs::read_to_string(p.log_path()).unwrap();
    assert!(log.contains("AUTH_TOKEN_MISMATCH"), "rejections are logged");
    assert!(!log.contains(TOKEN), "the token never reaches the log");
}

#[tokio::test]
async fn password_auth_failure_codes() {
    let p = Profile::new("");
    std::fs::write(p.config_path(), r#"{"gateway": {"mode": "local", "auth": {"mode": "password", "password": "pw-secret-1"}}}"#).unwrap();
    let gw = Gateway::start(&p, &[], &[("OPENCLAW_ALLOW_MULTI_GATEWAY", "1")]);
    let url = gw.url();
    expect_auth_failure(&url, "cli", "cli", json!({"password": "nope"}), "AUTH_PASSWORD_MISMATCH",
        "unauthorized: gateway password mismatch (set gateway.remote.password to match gateway.auth.password)").await;
    expect_auth_failure(
        &url,
        "gateway-client",
        "backend",
        json!({}),
        "AUTH_PASSWORD_MISSING",
        "unauthorized: gateway password missing (provide gateway auth password)",
    )
    .await;
    let mut c = Client::open(&url).await;
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": connect_params("cli", "cli", &[], json!({"password": "pw-secret-1"}))})).await;
    assert_eq!(
        c.response("1").await["payload"]["auth"]["method"],
        "password"
    );
}

#[tokio::test]
async fn bad_first_frames_close_the_socket() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();

    let mut c = Client::open(&url).await;
    c.send_text("this is not json {").await;
    assert_eq!(c.closed().await.code, 1000);

    let mut c = Client::open(&url).await;
    c.send_text("[1, 2, 3]").await;
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: "invalid request frame".into()
        }
    );

    let mut c = Client::open(&url).await;
    c.send(json!({"type": "event", "event": "hello", "payload": {}}))
        .await;
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: "invalid request frame".into()
        }
    );

    let mut c = Client::open(&url).await;
    c.send(json!({"type": "req", "id": "x", "method": "health", "params": {}}))
        .await;
    let res = c.response("x").await;
    assert_eq!(
        res["error"]["message"],
        "invalid handshake: first request must be connect"
    );
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: "invalid handshake: first request must be connect".into()
        }
    );

    let mut c = Client::open(&url).await;
    c.send(json!({"type": "req", "id": "y", "method": "connect", "params": {"auth": {"token": TOKEN}}})).await;
    let res = c.response("y").await;
    assert_eq!(
        res["error"]["message"],
        "invalid connect params: must have required property 'minProtocol'"
    );
    assert_eq!(c.closed().await.code, 1008);

    let mut c = Client::open(&url).await;
    let mut params = connect_params("gateway-client", "backend", &[], json!({"token": TOKEN}));
    params["role"] = json!("superuser");
    c.send(json!({"type": "req", "id": "r", "method": "connect", "params": params}))
        .await;
    assert_eq!(c.response("r").await["error"]["message"], "invalid role");
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1008,
            reason: "invalid role".into()
        }
    );
}

#[tokio::test]
async fn protocol_mismatch_closes_1002() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let mut c = Client::open(&gw.url()).await;
    let mut params = connect_params("gateway-client", "backend", &[], json!({"token": TOKEN}));
    params["minProtocol"] = json!(99);
    params["maxProtocol"] = json!(99);
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": params}))
        .await;
    let res = c.response("1").await;
    assert_eq!(res["error"]["message"], "protocol mismatch");
    assert_eq!(res["error"]["details"]["code"], "PROTOCOL_MISMATCH");
    assert_eq!(res["error"]["details"]["expectedProtocol"], 4);
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1002,
            reason: "protocol mismatch".into()
        }
    );
    let log = std::fs::read_to_string(p.log_path()).unwrap();
    assert!(log.contains("protocol mismatch conn="), "log signature");
}

#[tokio::test]
async fn oversized_preauth_frame_closes_1009() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let mut c = Client::open(&gw.url()).await;
    let mut params = connect_params("gateway-client", "backend", &[], json!({"token": TOKEN}));
    params["userAgent"] = json!("x".repeat(70 * 1024));
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": params}))
        .await;
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1009,
            reason: "preauth payload too large".into()
        }
    );
}

#[tokio::test]
async fn silent_client_hits_handshake_timeout() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "300")]);
    let mut c = Client::open(&gw.url()).await;
    assert_eq!(c.closed().await.code, 1000);
}

#[tokio::test]
async fn unknown_method_missing_scope_and_unauthorized_flood() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (mut admin, _) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    let res = admin.call("u", "no.such.method", json!({})).await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert_eq!(res["error"]["message"], "unknown method: no.such.method");

    let (mut probe, _) = connected(&gw.url(), "probe", &[]).await;
    let res = probe.call("s", "status", json!({})).await;
    assert_eq!(res["error"]["code"], "FORBIDDEN");
    assert_eq!(res["error"]["message"], "missing scope: operator.read");
    assert_eq!(res["error"]["details"]["code"], "MISSING_SCOPE");
    // health is allowed for every authenticated connection
    assert_eq!(probe.call("h", "health", json!({})).await["ok"], true);
    for i in 0..10 {
        let res = probe
            .call(&format!("f{i}"), "set-heartbeats", json!({"enabled": true}))
            .await;
        assert_eq!(res["error"]["message"], "missing scope: operator.admin");
    }
    assert_eq!(
        probe.closed().await,
        Closed {
            code: 1008,
            reason: "repeated unauthorized calls".into()
        }
    );
}

#[tokio::test]
async fn tick_and_presence_events() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[("OPENCLAW_TICK_INTERVAL_MS", "200")]);
    let (mut watcher, hello) = connected(&gw.url(), "backend", &["operator.read"]).await;
    assert_eq!(hello["payload"]["policy"]["tickIntervalMs"], 200);
    let tick = watcher.event("tick", Duration::from_secs(5)).await;
    assert!(tick["payload"]["ts"].as_u64().unwrap() > 0);
    assert!(tick["seq"].as_u64().unwrap() >= 1);

    let (_other, _) = {
        let mut c = Client::open(&gw.url()).await;
        let mut params = connect_params("gateway-client", "probe", &[], json!({"token": TOKEN}));
        params["client"]["instanceId"] = json!("probe-instance-1");
        c.send(json!({"type": "req", "id": "1", "method": "connect", "params": params}))
            .await;
        let h = c.response("1").await;
        (c, h)
    };
    loop {
        let ev = watcher.event("presence", Duration::from_secs(5)).await;
        let list = ev["payload"]["presence"].as_array().unwrap();
        if list.iter().any(|e| e["instanceId"] == "probe-instance-1") {
            assert!(ev["stateVersion"]["presence"].as_u64().unwrap() >= 2);
            assert!(list
                .iter()
                .all(|e| e.as_object().unwrap().values().all(|v| !v.is_null())));
            break;
        }
    }
    // seq increases monotonically per connection
    let a = watcher.event("tick", Duration::from_secs(5)).await["seq"]
        .as_u64()
        .unwrap();
    let b = watcher.event("tick", Duration::from_secs(5)).await["seq"]
        .as_u64()
        .unwrap();
    assert_eq!(b, a + 1);
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_droppable_events_and_sees_a_seq_gap() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (mut slow, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let (mut admin, _) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    // Each system-event with an instanceId updates presence; paced past the 50 ms coalescing
    // window, each becomes its own broadcast carrying the 4 MiB text: ~120 MiB queued for a
    // client that reads nothing, well past the 50 MiB cap.
    let text = "x".repeat(4 * 1024 * 1024);
    for i in 0..30 {
        let res = admin
            .call(
                &format!("e{i}"),
                "system-event",
                json!({"text": text, "instanceId": "node-1"}),
            )
            .await;
        assert_eq!(res["ok"], true);
        admin.events.clear();
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    let mut seqs = Vec::new();
    // Drain what was delivered; once the stream is quiet, everything queued has arrived.
    while let Some(frame) = slow.next_within(Duration::from_secs(2)).await {
        match frame {
            Ok(v) if v["event"] == "presence" => seqs.push(v["seq"].as_u64().unwrap()),
            Ok(_) => {}
            Err(c) => panic!("presence is droppable; the slow client must not be closed: {c:?}"),
        }
    }
    assert!(seqs.len() >= 2, "{seqs:?}");
    // The next event delivered after the drain shows the gap, as a real client would see it.
    let res = admin
        .call(
            "last",
            "system-event",
            json!({"text": "small", "instanceId": "node-1"}),
        )
        .await;
    assert_eq!(res["ok"], true);
    let next = slow.event("presence", Duration::from_secs(10)).await;
    seqs.push(next["seq"].as_u64().unwrap());
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "seq is monotonic");
    assert!(
        seqs.windows(2).any(|w| w[1] > w[0] + 1),
        "dropped events leave a gap: {seqs:?}"
    );
}

#[tokio::test]
async fn every_advertised_method_answers_and_nothing_else_does() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let (mut c, hello) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    let methods: Vec<String> = hello["payload"]["features"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    assert!(!methods.is_empty());
    for (i, m) in methods.iter().enumerate() {
        // A restart request aimed elsewhere is refused without restarting this gateway.
        let params = if m == "gateway.restart.request" {
            json!({"target": {"pid": 1, "port": 1}})
        } else {
            json!({})
        };
        let r = c.call(&format!("m{i}"), m, params).await;
        let msg = r["error"]["message"].as_str().unwrap_or("");
        assert!(!msg.starts_with("unknown method"), "{m}: {r}");
    }
    for (i, m) in ["sessions.list", "cron.list", "made.up"].iter().enumerate() {
        let r = c.call(&format!("u{i}"), m, json!({})).await;
        assert_eq!(
            r["error"]["message"],
            format!("unknown method: {m}"),
            "{m} answers but is not advertised: {r}"
        );
    }
    let events = hello["payload"]["features"]["events"].as_array().unwrap();
    assert!(
        !events.iter().any(|e| e == "heartbeat"),
        "heartbeat is advertised but never emitted"
    );
}
