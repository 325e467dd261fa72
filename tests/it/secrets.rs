//! SecretRefs resolved through `secrets.providers` (file and exec) by the real binary:
//! the gateway takes its token from them, clients find the same token, and a ref that
//! cannot resolve blocks the start and is reported by probe and doctor with the reason.

use crate::support::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn private(p: &Profile, name: &str, body: &str, mode: u32) -> PathBuf {
    let f = p.path().join(name);
    std::fs::write(&f, body).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
    f
}

/// A local gateway config whose token is `token_ref`, with `providers` registered.
fn config(p: &Profile, token_ref: Value, providers: Value) {
    let cfg = json!({
        "gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": token_ref}},
        "secrets": {"providers": providers},
        "logging": {"file": p.log_path()},
    });
    std::fs::write(p.config_path(), cfg.to_string()).unwrap();
    std::fs::set_permissions(p.config_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn exec_provider(p: &Profile, body: &str) -> Value {
    let cmd = private(p, "vault.sh", &format!("#!/bin/sh\n{body}\n"), 0o700);
    json!({"vault": {"source": "exec", "command": cmd, "passEnv": ["PATH"], "timeoutMs": 4000}})
}

fn probe_json(p: &Profile, port: u16) -> (i32, Value) {
    let mut c = p.command();
    c.args(["gateway", "probe", "--json", "--port", &port.to_string()]);
    let (code, out, err) = run(c, T);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v)
}

fn assert_serves_with_the_resolved_token(p: &Profile) {
    let gw = Gateway::start(p, &[], &[]);
    // The probe resolves the same ref on the client side and gets full read access.
    let (code, v) = probe_json(p, gw.port);
    let loopback = target(&v, "localLoopback");
    assert_eq!(loopback["connect"]["rpcOk"], true, "{v:#}");
    assert_eq!(code, 0, "{v:#}");
    // A wrong token is refused, so the gateway really enforces the resolved one. (A fresh
    // state dir: this profile's CLI holds a device token it would retry with.)
    let health = |token: &str| {
        let mut c = p.command();
        c.env("OPENCLAW_STATE_DIR", p.path().join("fresh-state"));
        c.args(["health", "--json", "--url", &gw.url(), "--token", token]);
        run(c, T)
    };
    assert_ne!(health("wrong-token").0, 0);
    let (code, out, err) = health(TOKEN);
    assert_eq!(code, 0, "{out} {err}");
}

#[test]
fn the_gateway_token_comes_from_an_exec_provider() {
    let p = Profile::new("");
    let body = format!(
        r#"req=$(cat)
case "$req" in *'"ids":["gateway/token"]'*) ;; *) exit 9 ;; esac
printf '{{"protocolVersion":1,"values":{{"gateway/token":"{TOKEN}"}}}}'"#
    );
    config(
        &p,
        json!({"source": "exec", "provider": "vault", "id": "gateway/token"}),
        exec_provider(&p, &body),
    );
    assert_serves_with_the_resolved_token(&p);
}

#[test]
fn the_gateway_token_comes_from_a_file_provider() {
    let p = Profile::new("");
    let file = private(
        &p,
        "secrets.json",
        &json!({"gateway": {"token": TOKEN}}).to_string(),
        0o600,
    );
    config(
        &p,
        json!({"source": "file", "provider": "filemain", "id": "/gateway/token"}),
        json!({"filemain": {"source": "file", "path": file}}),
    );
    assert_serves_with_the_resolved_token(&p);

    let p = Profile::new("");
    let file = private(&p, "token.txt", &format!("{TOKEN}\n"), 0o400);
    config(
        &p,
        json!({"source": "file", "provider": "one", "id": "value"}),
        json!({"one": {"source": "file", "path": file, "mode": "singleValue"}}),
    );
    assert_serves_with_the_resolved_token(&p);
}

#[test]
fn an_unresolvable_ref_blocks_the_start_and_probe_and_doctor_say_why() {
    let p = Profile::new("");
    config(
        &p,
        json!({"source": "exec", "provider": "vault", "id": "gateway/token"}),
        exec_provider(&p, "cat >/dev/null; exit 3"),
    );
    let why = "Exec provider \"vault\" exited with code 3.";
    let mut c = p.command();
    c.args(["gateway", "--port", "0"]);
    let (code, _, err) = run(c, T);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains(&format!("Gateway start blocked: {why}")),
        "{err}"
    );

    let (_, v) = probe_json(&p, 9);
    let warned = v["warnings"].as_array().unwrap().iter().any(|w| {
        w["code"] == "auth_secretref_unresolved"
            && w["message"].as_str().unwrap()
                == format!(
                    "gateway.auth.token is an unresolved SecretRef in this command path: {why}"
                )
    });
    assert!(warned, "{v:#}");

    let mut c = p.command();
    c.args(["doctor", "--json"]);
    let (_, out, _) = run(c, T);
    let d: Value = serde_json::from_str(&out).unwrap();
    let f = finding(&d, "probe.secretref-unresolved");
    assert_eq!(f["status"], "warn", "{f:#}");
    assert!(f.to_string().contains("exited with code 3"), "{f:#}");

    // A secrets file others can read is refused, naming the key and the fix.
    let p = Profile::new("");
    let file = private(&p, "token.txt", TOKEN, 0o644);
    config(
        &p,
        json!({"source": "file", "provider": "one", "id": "value"}),
        json!({"one": {"source": "file", "path": file, "mode": "singleValue"}}),
    );
    let mut c = p.command();
    c.args(["gateway", "--port", "0"]);
    let (code, _, err) = run(c, T);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("secrets.providers.one.path permissions are too open: "),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "the secret is never printed: {err}");
}
