//! Browser-facing auth on the real binary: the Origin check, the Control UI identity
//! requirement off loopback, the failed-auth rate limiters with lockout and expiry, and
//! the per-IP budget of unauthenticated sockets.

use crate::support::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;

/// A local token config with extra `gateway` keys.
fn profile(gateway_extra: Value) -> Profile {
    let p = Profile::local_token();
    let mut cfg = json!({
        "gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": TOKEN}},
        "logging": {"file": p.log_path()},
    });
    if let Value::Object(extra) = gateway_extra {
        for (k, v) in extra {
            match (cfg["gateway"].get_mut(&k), v) {
                (Some(Value::Object(cur)), Value::Object(more)) => cur.extend(more),
                (_, v) => {
                    cfg["gateway"][&k] = v;
                }
            }
        }
    }
    std::fs::write(p.config_path(), cfg.to_string()).unwrap();
    p
}

/// One connect with these headers, client and token; the response and the close.
async fn attempt(
    url: &str,
    headers: &[(&'static str, &str)],
    client: (&str, &str),
    token: &str,
) -> (Value, Option<Closed>) {
    let mut c = Client::open_with(url, headers).await;
    let params = connect_params(
        client.0,
        client.1,
        &["operator.read"],
        json!({"token": token}),
    );
    c.send(json!({"type": "req", "id": "1", "method": "connect", "params": params}))
        .await;
    let res = c.response("1").await;
    let closed = if res["ok"] == true {
        None
    } else {
        Some(c.closed().await)
    };
    (res, closed)
}

const BACKEND: (&str, &str) = ("gateway-client", "backend");

/// A refusal with this message and detail code, closed 1008.
fn assert_refused(res: &Value, closed: Option<Closed>, message: &str, code: &str) {
    assert_eq!(res["error"]["message"], message, "{res:#}");
    assert_eq!(res["error"]["details"]["code"], code, "{res:#}");
    assert_eq!(closed.expect("closed").code, 1008);
}
const CONTROL_UI: (&str, &str) = ("openclaw-control-ui", "webchat");

#[tokio::test]
async fn origins_are_allowed_or_refused_as_upstream_does() {
    let p = profile(json!({"controlUi": {"allowedOrigins": ["https://ui.example"]}}));
    let gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();

    let (res, closed) = attempt(&url, &[("origin", "http://evil.example")], BACKEND, TOKEN).await;
    assert_refused(
        &res,
        closed,
        "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
        "CONTROL_UI_ORIGIN_NOT_ALLOWED",
    );
    assert_eq!(res["error"]["details"]["reason"], "origin not allowed");

    // A local browser on a loopback origin, and an allow-listed origin from anywhere.
    let (res, _) = attempt(&url, &[("origin", "http://localhost:5173")], BACKEND, TOKEN).await;
    assert_eq!(res["ok"], true, "{res:#}");
    let remote = [
        ("origin", "https://ui.example"),
        ("x-forwarded-for", "203.0.113.4"),
    ];
    let (res, _) = attempt(&url, &remote, BACKEND, TOKEN).await;
    assert_eq!(res["ok"], true, "{res:#}");
    // A loopback origin relayed by a proxy is not a local browser.
    let relayed = [
        ("origin", "http://localhost:5173"),
        ("x-forwarded-for", "203.0.113.4"),
    ];
    let (res, _) = attempt(&url, &relayed, BACKEND, TOKEN).await;
    assert_eq!(res["error"]["details"]["reason"], "origin not allowed");
    // The Control UI must send one.
    let (res, _) = attempt(&url, &[], CONTROL_UI, TOKEN).await;
    assert_eq!(
        res["error"]["details"]["reason"],
        "origin missing or invalid"
    );
}

#[tokio::test]
async fn the_control_ui_needs_a_device_identity_off_loopback() {
    let p = profile(json!({"controlUi": {"allowedOrigins": ["*"]}}));
    let gw = Gateway::start(&p, &[], &[]);
    let remote = [
        ("origin", "https://ui.example"),
        ("x-forwarded-for", "203.0.113.4"),
    ];
    let (res, closed) = attempt(&gw.url(), &remote, CONTROL_UI, TOKEN).await;
    assert_refused(
        &res,
        closed,
        "control ui requires device identity (use HTTPS or localhost secure context)",
        "CONTROL_UI_DEVICE_IDENTITY_REQUIRED",
    );
    // On the gateway host it is a secure context.
    let (res, _) = attempt(
        &gw.url(),
        &[("origin", "http://127.0.0.1:1")],
        CONTROL_UI,
        TOKEN,
    )
    .await;
    assert_eq!(res["ok"], true, "{res:#}");

    let p = profile(
        json!({"controlUi": {"allowedOrigins": ["*"], "dangerouslyDisableDeviceAuth": true}}),
    );
    let gw = Gateway::start(&p, &[], &[]);
    let (res, _) = attempt(&gw.url(), &remote, CONTROL_UI, TOKEN).await;
    assert_eq!(res["ok"], true, "{res:#}");
}

#[tokio::test]
async fn wrong_credentials_lock_out_until_the_lockout_expires() {
    let p = profile(
        json!({"auth": {"rateLimit": {"maxAttempts": 2, "windowMs": 60000, "lockoutMs": 1500, "exemptLoopback": false}}}),
    );
    let mut gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();
    for _ in 0..2 {
        let (res, _) = attempt(&url, &[], BACKEND, "wrong-token").await;
        assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    }
    // Locked out, even with the right token.
    let (res, closed) = attempt(&url, &[], BACKEND, TOKEN).await;
    let e = &res["error"];
    assert_eq!(e["details"]["code"], "AUTH_RATE_LIMITED", "{res:#}");
    assert_eq!(
        e["message"],
        "unauthorized: too many failed authentication attempts (retry later)"
    );
    assert_eq!(e["details"]["recommendedNextStep"], "wait_then_retry");
    assert_eq!(e["retryable"], true);
    let wait = e["retryAfterMs"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 1500, "{wait}");
    assert_eq!(
        closed.unwrap().reason,
        "unauthorized: too many failed authentication attempts (retry later)"
    );
    gw.wait_for_line("code=AUTH_RATE_LIMITED", Duration::from_secs(5));
    // The lockout expires.
    tokio::time::sleep(Duration::from_millis(wait + 100)).await;
    let (res, _) = attempt(&url, &[], BACKEND, TOKEN).await;
    assert_eq!(res["ok"], true, "{res:#}");

    // By default loopback is exempt from the general limiter.
    let p = profile(json!({"auth": {"rateLimit": {"maxAttempts": 2, "lockoutMs": 60000}}}));
    let gw = Gateway::start(&p, &[], &[]);
    for _ in 0..3 {
        attempt(&gw.url(), &[], BACKEND, "wrong-token").await;
    }
    let (res, _) = attempt(&gw.url(), &[], BACKEND, TOKEN).await;
    assert_eq!(res["ok"], true, "{res:#}");
}

#[tokio::test]
async fn browsers_are_limited_per_origin_even_on_loopback() {
    let p = profile(json!({}));
    let gw = Gateway::start(&p, &[], &[]);
    let url = gw.url();
    let browser = [("origin", "http://localhost:5173")];
    for _ in 0..10 {
        let (res, _) = attempt(&url, &browser, BACKEND, "wrong-token").await;
        assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    }
    let (res, _) = attempt(&url, &browser, BACKEND, TOKEN).await;
    assert_eq!(
        res["error"]["details"]["code"], "AUTH_RATE_LIMITED",
        "{res:#}"
    );
    // Another origin and non-browser clients are counted separately.
    let (res, _) = attempt(&url, &[("origin", "http://127.0.0.1:3000")], BACKEND, TOKEN).await;
    assert_eq!(res["ok"], true, "{res:#}");
    let (res, _) = attempt(&url, &[], BACKEND, TOKEN).await;
    assert_eq!(res["ok"], true, "{res:#}");
}

/// Send a WebSocket upgrade on a raw socket and return the response head (and the socket).
fn raw_upgrade(port: u16) -> (std::net::TcpStream, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    (s, String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn unauthenticated_sockets_per_ip_are_budgeted() {
    let p = profile(json!({}));
    let gw = Gateway::start(&p, &[], &[("OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP", "2")]);
    let (a, head) = raw_upgrade(gw.port);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (_b, head) = raw_upgrade(gw.port);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (_c, head) = raw_upgrade(gw.port);
    assert!(
        head.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{head}"
    );
    assert!(head.ends_with("Too many unauthenticated sockets"), "{head}");
    // A closed socket gives its slot back.
    drop(a);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_d, head) = raw_upgrade(gw.port);
        if head.starts_with("HTTP/1.1 101") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slot never released: {head}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
