//! Start guards, config errors, profiles and port conflicts, through the real binary.

use crate::support::*;
use std::process::Command;
use std::time::Duration;

fn gateway_cmd(p: &Profile, args: &[&str]) -> Command {
    let mut c = p.command();
    c.arg("gateway").args(args);
    c
}

const T: Duration = Duration::from_secs(20);

#[test]
fn missing_config_is_refused_with_exit_78() {
    let p = Profile::new("");
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    assert!(err.contains("Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured)."), "{err}");
}

#[test]
fn mode_unset_and_mode_remote_are_refused() {
    let p = Profile::new(r#"{"gateway": {"auth": {"token": "abcdefgh"}}}"#);
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    assert!(err.contains("Gateway start blocked: existing config is missing gateway.mode. Treat this as suspicious or clobbered config. Re-run `openclaw onboard --mode local` or `openclaw setup`, set gateway.mode=local manually, or pass --allow-unconfigured."), "{err}");
    assert!(err.contains("Config write audit: "), "{err}");

    let p = Profile::new(r#"{"gateway": {"mode": "remote", "auth": {"token": "abcdefgh"}}}"#);
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    assert!(err.contains("Gateway start blocked: set gateway.mode=local (current: remote) or pass --allow-unconfigured."), "{err}");
}

#[test]
fn allow_unconfigured_starts_without_mode() {
    let p = Profile::new("");
    let mut gw = Gateway::spawn({
        let mut c = gateway_cmd(
            &p,
            &[
                "--port",
                "0",
                "--allow-unconfigured",
                "--token",
                "flag-token-123",
            ],
        );
        c.env("OPENCLAW_ALLOW_MULTI_GATEWAY", "1");
        c
    });
    assert!(gw.port > 0);
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(T), 0);
}

#[test]
fn non_loopback_bind_without_auth_is_refused() {
    let p =
        Profile::new(r#"{"gateway": {"mode": "local", "bind": "lan", "auth": {"mode": "none"}}}"#);
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "28999"]), T);
    assert_eq!(code, 78);
    assert!(err.contains("refusing to bind gateway to 0.0.0.0:28999 without auth (set gateway.auth.token/password, or set OPENCLAW_GATEWAY_TOKEN/OPENCLAW_GATEWAY_PASSWORD)"), "{err}");
    // The same through flags.
    let p = Profile::new(r#"{"gateway": {"mode": "local"}}"#);
    let (code, _, err) = run(
        gateway_cmd(&p, &["--port", "28999", "--bind", "lan", "--auth", "none"]),
        T,
    );
    assert_eq!(code, 78);
    assert!(
        err.contains("refusing to bind gateway to 0.0.0.0:28999 without auth"),
        "{err}"
    );
}

#[test]
fn token_mode_without_token_is_refused() {
    let p = Profile::new(r#"{"gateway": {"mode": "local", "auth": {"mode": "token"}}}"#);
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    assert!(err.contains("gateway auth mode is token, but no token was configured (set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN)"), "{err}");
}

#[test]
fn invalid_config_names_file_line_column_and_key() {
    let p = Profile::new("{\n  gateway: {\n    mode: 'local',\n    prot: 1,\n  },\n}\n");
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    let file = p.config_path().display().to_string();
    assert!(err.contains("OpenClaw config is invalid"), "{err}");
    assert!(
        err.contains(&format!("{file}:4:5: gateway: Unrecognized key: \"prot\"")),
        "{err}"
    );

    let p = Profile::new("{\n  \"gateway\": {\n    \"mode\": \"local\",,\n  }\n}");
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    assert!(
        err.contains("JSON5 parse failed: invalid character ',' at 3:21"),
        "{err}"
    );
}

#[test]
fn legacy_bind_alias_blocks_and_legacy_token_warns() {
    let p = Profile::new(
        r#"{"gateway": {"mode": "local", "bind": "0.0.0.0", "auth": {"token": "abcdefgh"}}}"#,
    );
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    assert!(err.contains("gateway.bind host aliases (for example 0.0.0.0/localhost) are legacy; use bind modes (lan/loopback/custom/tailnet/auto) instead. Run \"openclaw doctor --fix\"."), "{err}");

    let p = Profile::new(
        r#"{"gateway": {"mode": "local", "token": "old", "auth": {"token": "abcdefgh"}}}"#,
    );
    let mut gw = Gateway::spawn({
        let mut c = gateway_cmd(&p, &["--port", "0"]);
        c.env("OPENCLAW_ALLOW_MULTI_GATEWAY", "1");
        c
    });
    gw.wait_for_line(
        "Config uses \"gateway.token\". This key is ignored; use \"gateway.auth.token\" instead.",
        T,
    );
}

#[test]
fn placeholder_token_is_refused() {
    let p = Profile::new(
        r#"{"gateway": {"mode": "local", "auth": {"token": "change-me-to-a-long-random-token"}}}"#,
    );
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    assert!(err.contains("Invalid config: gateway auth token is set to the example placeholder from .env.example."), "{err}");
}

#[test]
fn port_conflict_names_the_holder() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let p = Profile::local_token();
    let (code, _, err) = run(gateway_cmd(&p, &["--port", &port]), T);
    assert_eq!(code, 1, "a non-gateway holder is a failure: {err}");
    assert!(
        err.contains(&format!(
            "another gateway instance is already listening on ws://127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("Port {port} is already in use.")),
        "{err}"
    );
    assert!(
        err.contains(&format!("- pid {} ", std::process::id())),
        "names the holder pid: {err}"
    );
    assert!(
        err.contains("Another process is listening on this port."),
        "{err}"
    );
}

#[test]
fn a_second_profile_on_a_gateway_port_exits_1() {
    let a = Profile::local_token();
    let _first = Gateway::start(&a, &[], &[]);
    let port = _first.port.to_string();
    let b = Profile::local_token();
    let (code, _, err) = run(gateway_cmd(&b, &["--port", &port]), T);
    assert_eq!(code, 1, "a start that did not happen is a failure: {err}");
    assert!(err.contains("| EADDRINUSE"), "{err}");
    assert!(
        err.contains("Gateway already running locally. Stop it (openclaw gateway stop) or use a different port."),
        "{err}"
    );
}

#[test]
fn force_kills_the_listener_and_starts() {
    // A real process holding the port: a second gateway under another profile.
    let a = Profile::local_token();
    let mut first = Gateway::start(&a, &[], &[]);
    let port = first.port.to_string();
    let b = Profile::local_token();
    let mut second = Gateway::spawn(gateway_cmd(&b, &["--port", &port, "--force"]));
    second.wait_for_line(&format!("force: killed pid {} ", first.child.id()), T);
    assert_eq!(second.port.to_string(), port);
    let code = first.wait_exit(T);
    assert_eq!(code, 0, "the first gateway stopped cleanly on SIGTERM");
}

#[test]
fn force_refuses_when_config_is_from_a_newer_version() {
    let p = Profile::new(
        r#"{"meta": {"lastTouchedVersion": "2099.1.1"}, "gateway": {"mode": "local", "auth": {"token": "abcdefgh"}}}"#,
    );
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0", "--force"]), T);
    assert_eq!(code, 1);
    assert!(
        err.contains("Refusing to force-kill gateway port listeners because this OpenClaw binary"),
        "{err}"
    );
    assert!(
        err.contains("OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1"),
        "{err}"
    );
    assert!(
        err.contains("Config was last written by a newer OpenClaw (2099.1.1); current version is "),
        "{err}"
    );
}

#[test]
fn service_mode_start_refuses_a_config_from_a_newer_version_with_78() {
    let cfg = format!(
        r#"{{"meta": {{"lastTouchedVersion": "2099.1.1"}}, "gateway": {{"mode": "local", "auth": {{"token": "{TOKEN}"}}}}}}"#
    );
    let p = Profile::new(&cfg);
    let mut c = gateway_cmd(&p, &["--port", "0"]);
    c.env("OPENCLAW_SERVICE_MARKER", "openclaw");
    let (code, _, err) = run(c, T);
    assert_eq!(
        code, 78,
        "a supervisor must not restart into the same refusal: {err}"
    );
    assert!(
        err.contains("Refusing to start the gateway service because this OpenClaw binary ("),
        "{err}"
    );
    assert!(
        err.contains("older than the config last written by OpenClaw 2099.1.1."),
        "{err}"
    );
    assert!(err.contains(BIN), "names the binary path: {err}");
    assert!(
        err.contains("OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1"),
        "{err}"
    );

    // The marker may also come from the config's env.vars, as the installed unit writes it.
    let p = Profile::new(&cfg.replacen(
        "\"gateway\"",
        "\"env\": {\"vars\": {\"OPENCLAW_SERVICE_MARKER\": \"openclaw\"}}, \"gateway\"",
        1,
    ));
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78, "{err}");

    // The override lets one command through; a foreground run only warns.
    let p = Profile::new(&cfg);
    let mut gw = Gateway::start(
        &p,
        &[],
        &[
            ("OPENCLAW_SERVICE_MARKER", "openclaw"),
            ("OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS", "1"),
        ],
    );
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(T), 0);
    let mut gw = Gateway::start(&p, &[], &[]);
    gw.wait_for_line("Config was last written by a newer OpenClaw (2099.1.1)", T);
}

#[test]
fn a_newer_config_this_binary_cannot_read_is_not_restored_over() {
    let p = Profile::local_token();
    let mut gw = Gateway::start(&p, &[], &[]);
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(T), 0);
    assert!(p.path().join("openclaw.json.last-good").exists());
    // A newer OpenClaw added a key this build does not know.
    let newer = format!(
        r#"{{"meta": {{"lastTouchedVersion": "2099.1.1"}}, "gateway": {{"mode": "local", "futureKnob": true, "auth": {{"token": "{TOKEN}"}}}}}}"#
    );
    std::fs::write(p.config_path(), &newer).unwrap();
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("last-known-good restore not possible: the config was last written by a newer OpenClaw (2099.1.1)"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(p.config_path()).unwrap(), newer);
    assert!(p.clobbered().is_empty());
}

#[test]
fn second_gateway_on_the_same_config_reports_already_running() {
    let p = Profile::local_token();
    let _first = Gateway::start(&p, &[], &[]);
    let (code, _, err) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(
        code, 78,
        "a start that did not happen is not a success: {err}"
    );
    assert!(err.contains("gateway already running (pid "), "{err}");
    assert!(err.contains("lock timeout after 5000ms"), "{err}");
}

#[test]
fn dev_and_profile_are_isolated() {
    let p = Profile::new("");
    let home = p.path().join("home");
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .args(["--dev", "gateway", "--port", "0"]);
    let mut dev = Gateway::spawn(cmd);
    let dev_config = home.join(".openclaw-dev").join("openclaw.json");
    assert!(dev_config.exists(), "--dev creates its config");
    let text = std::fs::read_to_string(&dev_config).unwrap();
    assert!(text.contains("\"mode\": \"local\""));
    dev.signal(libc::SIGTERM);
    assert_eq!(dev.wait_exit(T), 0);

    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("HOME", &home)
        .args(["--dev", "--profile", "x", "gateway"]);
    let (code, _, err) = run(cmd, T);
    assert_eq!(code, 2);
    assert!(err.contains("Cannot combine --dev with --profile"), "{err}");

    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("HOME", &home)
        .args(["--profile", "work", "gateway", "--port", "0"]);
    let (code, _, err) = run(cmd, T);
    assert_eq!(code, 78, "work profile has no config yet: {err}");
    assert!(err.contains("Missing config."));
    assert!(
        !home.join(".openclaw").exists(),
        "the default profile is untouched"
    );
}

#[test]
fn a_refused_start_is_written_to_the_file_log() {
    let p = Profile::new("");
    let log = p.path().join("refused.log");
    std::fs::write(
        p.config_path(),
        format!(
            r#"{{"gateway": {{"auth": {{"token": "abcdefgh"}}}}, "logging": {{"file": "{}"}}}}"#,
            log.display()
        ),
    )
    .unwrap();
    let (code, _, _) = run(gateway_cmd(&p, &["--port", "0"]), T);
    assert_eq!(code, 78);
    let text = std::fs::read_to_string(&log).expect("the refusal reaches the log file");
    assert!(
        text.contains("Gateway start blocked: existing config is missing gateway.mode."),
        "{text}"
    );
    assert!(text.contains("\"logLevelName\":\"ERROR\""), "{text}");
}

#[tokio::test]
async fn verbose_mirrors_debug_request_lines_to_the_console() {
    let p = Profile::local_token();
    let mut quiet = Gateway::start(&p, &[], &[("OPENCLAW_ALLOW_MULTI_GATEWAY", "1")]);
    let mut loud = Gateway::start(&p, &["--verbose"], &[("OPENCLAW_ALLOW_MULTI_GATEWAY", "1")]);
    for gw in [&quiet, &loud] {
        let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
        assert_eq!(
            c.call("h", "health", serde_json::json!({})).await["ok"],
            true
        );
    }
    loud.wait_for_line("method=health ok", Duration::from_secs(5));
    quiet.signal(libc::SIGTERM);
    quiet.wait_exit(T);
    assert!(
        !quiet.seen.iter().any(|l| l.contains("method=health")),
        "{:?}",
        quiet.seen
    );
}

#[test]
fn force_escalates_to_sigkill_when_the_holder_ignores_sigterm() {
    use std::io::BufRead;
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import signal,socket,sys,time\n\
             signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
             s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
             print(s.getsockname()[1], flush=True)\n\
             time.sleep(60)",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().to_string();
    let p = Profile::local_token();
    let mut gw = Gateway::spawn(gateway_cmd(&p, &["--port", &port, "--force"]));
    gw.wait_for_line(&format!("force: killed pid {} ", holder.id()), T);
    gw.wait_for_line(
        &format!("force: escalated to SIGKILL while freeing port {port}"),
        T,
    );
    assert_eq!(gw.port.to_string(), port);
    let status = holder.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[test]
fn force_on_a_free_port_says_so() {
    let p = Profile::local_token();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut gw = Gateway::spawn(gateway_cmd(&p, &["--port", &free, "--force"]));
    gw.wait_for_line(&format!("force: no listeners on port {free}"), T);
}

#[test]
fn sd_notify_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let p = Profile::local_token();
    let sock_path = p.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut cmd = gateway_cmd(&p, &["--port", "0"]);
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "2000000");
    let mut gw = Gateway::spawn(cmd);
    let recv = || {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a notify datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(recv().contains("READY=1"));
    assert!(recv().contains("WATCHDOG=1"));
    gw.signal(libc::SIGTERM);
    let mut saw_stopping = false;
    for _ in 0..5 {
        if recv().contains("STOPPING=1") {
            saw_stopping = true;
            break;
        }
    }
    assert!(saw_stopping);
    assert_eq!(gw.wait_exit(T), 0);
}

#[test]
fn dev_reset_recreates_dev_state_and_refuses_other_dirs() {
    let p = Profile::new("");
    let home = p.path().join("home");
    let dev_cmd = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .args(args);
        cmd
    };
    let mut first = Gateway::spawn(dev_cmd(&["--dev", "gateway", "--port", "0"]));
    first.signal(libc::SIGTERM);
    first.wait_exit(T);
    let config = home.join(".openclaw-dev").join("openclaw.json");
    let before = std::fs::read_to_string(&config).unwrap();
    let marker = home.join(".openclaw-dev").join("sessions-marker");
    std::fs::write(&marker, "x").unwrap();

    let mut second = Gateway::spawn(dev_cmd(&["--dev", "gateway", "--reset", "--port", "0"]));
    second.wait_for_line("Reset dev state: removed", T);
    assert!(!marker.exists());
    let after = std::fs::read_to_string(&config).unwrap();
    assert_ne!(before, after, "a fresh dev config with a new token");
    second.signal(libc::SIGTERM);
    second.wait_exit(T);

    // --reset never deletes a state dir that is not the dev one.
    let real = p.path().join("real-state");
    std::fs::create_dir_all(&real).unwrap();
    let mut cmd = dev_cmd(&["--dev", "gateway", "--reset"]);
    cmd.env("OPENCLAW_STATE_DIR", &real);
    let (code, _, err) = run(cmd, T);
    assert_eq!(code, 1);
    assert!(err.contains("Refusing --reset"), "{err}");
    assert!(real.exists());

    let (code, _, err) = run(dev_cmd(&["gateway", "--reset"]), T);
    assert_eq!(code, 2);
    assert!(err.contains("Use --reset with --dev."), "{err}");
}

#[tokio::test]
async fn invalid_config_at_startup_is_restored_from_last_known_good() {
    let p = Profile::local_token();
    let good = std::fs::read_to_string(p.config_path()).unwrap();
    // A clean start records the last-known-good copy.
    let mut gw = Gateway::start(&p, &[], &[]);
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(T), 0);
    let last_good = p.path().join("openclaw.json.last-good");
    assert_eq!(std::fs::read_to_string(&last_good).unwrap(), good);

    let broken = "{\n  \"gateway\": {\n    \"mode\": \"local\",,\n";
    std::fs::write(p.config_path(), broken).unwrap();
    let mut gw = Gateway::start(&p, &[], &[]);
    gw.wait_for_line(
        "gateway: invalid config was restored from last-known-good backup",
        T,
    );
    assert_eq!(std::fs::read_to_string(p.config_path()).unwrap(), good);
    let kept = p.clobbered();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), broken);
    let (mut c, _) = connected(&gw.url(), "backend", &["operator.read"]).await;
    let st = c.call("s", "status", serde_json::json!({})).await;
    assert!(
        st["payload"]["queuedSystemEvents"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Config recovery warning: "),
        "{st}"
    );
    drop(gw);

    // The support path: triage of that log names the runbook section.
    let mut cmd = p.command();
    cmd.args(["doctor", "triage", "--json"]).arg(p.log_path());
    let (_, out, err) = run(cmd, T);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert!(
        out.contains("config-restored"),
        "{}",
        serde_json::to_string_pretty(&v).unwrap()
    );
}
