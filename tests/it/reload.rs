//! Config hot reload: safe changes in place without dropping clients, auth changes close
//! sockets 4001, port changes restart in process, invalid configs never replace the running
//! one (the file is restored from last-known-good), `gateway.reload.mode=off` ignores changes.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

fn write_cfg(p: &Profile, gateway: serde_json::Value, extra: serde_json::Value) {
    let mut v =
        json!({"gateway": gateway, "logging": {"file": p.log_path().display().to_string()}});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    std::fs::write(p.config_path(), serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn base() -> serde_json::Value {
    json!({"mode": "local", "auth": {"token": TOKEN}, "reload": {"debounceMs": 50}})
}

#[tokio::test]
async fn safe_change_applies_in_place_without_dropping_clients() {
    let p = Profile::new("");
    write_cfg(&p, base(), json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    write_cfg(
        &p,
        base(),
        json!({"agents": {"defaults": {"heartbeat": {"every": "1h"}}}}),
    );
    gw.wait_for_line(
        "config reload: applied in place (changed: agents)",
        Duration::from_secs(5),
    );
    let h = c.call("h", "health", json!({"probe": true})).await;
    assert_eq!(h["payload"]["agents"][0]["heartbeat"]["every"], "1h");
}

#[tokio::test]
async fn invalid_config_is_restored_from_last_known_good_and_the_gateway_keeps_serving() {
    let p = Profile::new("");
    write_cfg(&p, base(), json!({}));
    let good = std::fs::read_to_string(p.config_path()).unwrap();
    let mut gw = Gateway::start(&p, &[], &[]);
    let last_good = p.path().join("openclaw.json.last-good");
    assert_eq!(std::fs::read_to_string(&last_good).unwrap(), good);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let broken = write_invalid_config(&p, &mut gw);
    gw.wait_for_lines(
        &[
            "config reload restored last-known-good config after invalid-config",
            "Config auto-restored from last-known-good:",
        ],
        Duration::from_secs(5),
    );
    assert_eq!(std::fs::read_to_string(p.config_path()).unwrap(), good);
    let kept = p.clobbered();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), broken);
    // The clients stay connected and the main session gets a system event.
    let st = c.call("s", "status", json!({})).await;
    let events = st["payload"]["queuedSystemEvents"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["text"]
            .as_str()
            .unwrap()
            .starts_with("Config recovery warning")),
        "{events:?}"
    );
    let log = std::fs::read_to_string(p.log_path()).unwrap();
    assert!(log.contains("config reload restored last-known-good config after invalid-config"));
    let audit =
        std::fs::read_to_string(p.path().join("state/logs/config-audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("reload-invalid-config"), "{audit}");
}

#[tokio::test]
async fn invalid_config_without_a_last_good_copy_is_skipped_and_never_rewritten() {
    let p = Profile::new("");
    write_cfg(&p, base(), json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    std::fs::remove_file(p.path().join("openclaw.json.last-good")).unwrap();
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let broken = write_invalid_config(&p, &mut gw);
    assert_eq!(c.call("h", "health", json!({})).await["ok"], true);
    let (_, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        std::fs::read_to_string(p.config_path()).unwrap(),
        broken,
        "never rewritten without a last-known-good copy"
    );
    assert!(p.clobbered().is_empty());
}

#[tokio::test]
async fn a_config_that_lost_gateway_mode_is_not_applied_or_promoted() {
    let p = Profile::new("");
    write_cfg(&p, base(), json!({}));
    let good = std::fs::read_to_string(p.config_path()).unwrap();
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let mut g = base();
    g.as_object_mut().unwrap().remove("mode");
    write_cfg(&p, g, json!({}));
    gw.wait_for_lines(
        &[
            "Config observe anomaly:",
            "Config last-known-good promotion skipped",
            "config reload skipped (suspicious config",
        ],
        Duration::from_secs(5),
    );
    // Still serving on the same connection: no restart into a refused start.
    assert_eq!(c.call("h", "health", json!({})).await["ok"], true);
    assert_eq!(
        std::fs::read_to_string(p.path().join("openclaw.json.last-good")).unwrap(),
        good
    );
}

#[tokio::test]
async fn auth_change_closes_clients_4001_and_the_new_token_works() {
    let p = Profile::new("");
    write_cfg(&p, base(), json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let mut g = base();
    g["auth"]["token"] = json!("rotated-token-0123456789");
    write_cfg(&p, g, json!({}));
    assert_eq!(
        c.closed().await,
        Closed {
            code: 4001,
            reason: "gateway auth changed".into()
        }
    );
    gw.wait_for_line("gateway auth changed", Duration::from_secs(5));
    let mut old = Client::open(&gw.url()).await;
    old.send(json!({"type": "req", "id": "1", "method": "connect", "params": connect_params("gateway-client", "backend", &[], json!({"token": TOKEN}))})).await;
    assert_eq!(
        old.response("1").await["error"]["details"]["code"],
        "AUTH_TOKEN_MISMATCH"
    );
    let mut new = Client::open(&gw.url()).await;
    new.send(json!({"type": "req", "id": "1", "method": "connect", "params": connect_params("gateway-client", "backend", &[], json!({"token": "rotated-token-0123456789"}))})).await;
    assert_eq!(new.response("1").await["ok"], true);
}

#[tokio::test]
async fn port_change_restarts_in_process_on_the_new_port() {
    let p = Profile::new("");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (p1, p2) = (free(), free());
    let mut g = base();
    g["port"] = json!(p1);
    write_cfg(&p, g.clone(), json!({}));
    let mut cmd = p.command();
    cmd.arg("gateway");
    let mut gw = Gateway::spawn(cmd);
    assert_eq!(gw.port, p1);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    g["port"] = json!(p2);
    write_cfg(&p, g, json!({}));
    let ev = c.event("shutdown", Duration::from_secs(5)).await;
    assert_eq!(ev["payload"]["restartExpectedMs"], 1500);
    gw.wait_for_line(
        "config reload: restarting in process (changed: gateway.port)",
        Duration::from_secs(5),
    );
    gw.wait_for_count("[gateway] ready", 2, Duration::from_secs(10));
    let (mut c2, _) = connected(
        &format!("ws://127.0.0.1:{p2}"),
        "backend",
        &["operator.read"],
    )
    .await;
    assert_eq!(c2.call("h", "health", json!({})).await["ok"], true);
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", p1))
            .await
            .is_err(),
        "the old port is closed"
    );
    assert!(gw.child.try_wait().unwrap().is_none(), "same process");
}

#[tokio::test]
async fn reload_mode_off_ignores_changes() {
    let p = Profile::new("");
    let mut g = base();
    g["reload"]["mode"] = json!("off");
    write_cfg(&p, g.clone(), json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    g["auth"]["token"] = json!("other-token-0123456789");
    write_cfg(&p, g, json!({}));
    gw.wait_for_line(
        "gateway.reload.mode=off, restart to apply",
        Duration::from_secs(5),
    );
    assert_eq!(
        c.call("h", "health", json!({})).await["ok"],
        true,
        "still connected with the old auth"
    );
}

#[test]
fn commands_restart_applies_in_place_to_sigusr1() {
    let p = Profile::new("");
    write_cfg(&p, base(), json!({}));
    let mut gw = Gateway::start(&p, &[], &[]);
    write_cfg(&p, base(), json!({"commands": {"restart": false}}));
    gw.wait_for_line(
        "config reload: applied in place (changed: commands)",
        Duration::from_secs(5),
    );
    gw.signal(libc::SIGUSR1);
    gw.wait_for_line(
        "SIGUSR1 restart ignored (not authorized; commands.restart=false or use gateway tool).",
        Duration::from_secs(5),
    );
    assert!(gw.child.try_wait().unwrap().is_none());
}

/// Writes a config that does not parse and waits until the gateway rejects it.
fn write_invalid_config(p: &Profile, gw: &mut Gateway) -> &'static str {
    let broken = "{ \"gateway\": { \"mode\": \"local\",, } }";
    std::fs::write(p.config_path(), broken).unwrap();
    gw.wait_for_line(
        "config reload skipped (invalid config):",
        Duration::from_secs(5),
    );
    broken
}
