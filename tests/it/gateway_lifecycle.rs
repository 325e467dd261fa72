//! Signals: shutdown event then close 1012 on SIGTERM; SIGUSR1 in-process restart.

use crate::support::*;
use std::time::Duration;

#[tokio::test]
async fn sigterm_sends_shutdown_then_closes_1012_and_exits_0() {
    let p = Profile::local_token();
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    gw.signal(libc::SIGTERM);
    let ev = c.event("shutdown", Duration::from_secs(5)).await;
    assert_eq!(ev["payload"]["reason"], "gateway stopping");
    assert!(ev["payload"]["restartExpectedMs"].is_null());
    assert_eq!(
        c.closed().await,
        Closed {
            code: 1012,
            reason: "service restart".into()
        }
    );
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), 0);
    assert!(gw
        .seen
        .iter()
        .any(|l| l.contains("signal SIGTERM received")));
}

#[tokio::test]
async fn sigusr1_restarts_in_process_and_clients_reconnect() {
    let p = Profile::local_token();
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    gw.signal(libc::SIGUSR1);
    let ev = c.event("shutdown", Duration::from_secs(5)).await;
    assert_eq!(ev["payload"]["reason"], "gateway restarting");
    assert_eq!(ev["payload"]["restartExpectedMs"], 1500);
    assert_eq!(c.closed().await.code, 1012);
    gw.wait_for_line("signal SIGUSR1 received", Duration::from_secs(5));
    // The same process serves again on the same port once it logs `ready` a second time.
    gw.wait_for_count("[gateway] ready", 2, Duration::from_secs(10));
    let (mut c2, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    assert_eq!(
        c2.call("h", "health", serde_json::json!({})).await["ok"],
        true
    );
    assert!(gw.child.try_wait().unwrap().is_none(), "same process");
    // Every task of the old generation ended within the drain budget.
    assert!(
        !gw.seen.iter().any(|l| l.contains("still running after")),
        "{:?}",
        gw.seen
    );
}

#[test]
fn sigusr1_is_ignored_when_commands_restart_is_false() {
    let p = Profile::new("");
    std::fs::write(p.config_path(), format!(r#"{{"gateway": {{"mode": "local", "auth": {{"token": "{TOKEN}"}}}}, "commands": {{"restart": false}}}}"#)).unwrap();
    let mut gw = Gateway::start(&p, &[], &[]);
    gw.signal(libc::SIGUSR1);
    gw.wait_for_line(
        "SIGUSR1 restart ignored (not authorized; commands.restart=false or use gateway tool).",
        Duration::from_secs(5),
    );
    assert!(gw.child.try_wait().unwrap().is_none());
}

#[tokio::test]
async fn gateway_restart_restarts_a_foreground_gateway_and_waits_for_it() {
    let p = Profile::local_token();
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let mut cmd = p.command();
    cmd.args(["gateway", "restart"])
        .env("OPENCLAW_GATEWAY_PORT", gw.port.to_string());
    let (code, out, err) = run(cmd, Duration::from_secs(40));
    assert_eq!(code, 0, "{out}{err}");
    let pid = gw.child.id();
    assert!(
        out.contains(&format!(
            "Gateway restart request sent to foreground process on port {}: {pid}.",
            gw.port
        )),
        "{out}{err}"
    );
    assert!(
        out.contains(&format!("Gateway is back on port {}", gw.port)),
        "{out}"
    );
    assert_eq!(c.closed().await.code, 1012);
    gw.wait_for_count("[gateway] ready", 2, Duration::from_secs(10));
    assert!(gw.child.try_wait().unwrap().is_none(), "same process");
    // With no gateway on the port, the missing service is reported as before.
    drop(gw);
    let mut cmd = p.command();
    cmd.args(["gateway", "restart"])
        .env("OPENCLAW_GATEWAY_PORT", "1");
    let (code, out, err) = run(cmd, Duration::from_secs(40));
    assert_ne!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn gateway_restart_request_restarts_in_process_with_upstreams_reply() {
    let p = Profile::local_token();
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut admin, hello) = connected(&gw.url(), "backend", &["operator.admin"]).await;
    assert!(
        hello["payload"]["features"]["methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "gateway.restart.request"),
        "advertised"
    );
    let bad = admin
        .call(
            "b",
            "gateway.restart.request",
            serde_json::json!({"target": {"pid": 1, "port": 1}}),
        )
        .await;
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(
        bad["error"]["message"],
        "target gateway no longer owns the active lock"
    );
    let res = admin
        .call(
            "r",
            "gateway.restart.request",
            serde_json::json!({"reason": "test"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["status"], "scheduled");
    assert_eq!(
        res["payload"]["preflight"]["summary"],
        "safe to restart now"
    );
    assert_eq!(res["payload"]["restart"]["pid"], gw.child.id());
    let ev = admin.event("shutdown", Duration::from_secs(5)).await;
    assert_eq!(ev["payload"]["reason"], "gateway restarting");
    gw.wait_for_line("restart requested by conn=", Duration::from_secs(5));
    gw.wait_for_count("[gateway] ready", 2, Duration::from_secs(10));
    // A read-scope client may not ask.
    let (mut reader, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let denied = reader
        .call("d", "gateway.restart.request", serde_json::json!({}))
        .await;
    assert_eq!(denied["ok"], false, "{denied}");
}
