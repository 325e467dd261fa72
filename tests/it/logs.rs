//! `openclaw logs`: one read, the JSON records, the local fallback, and `--follow` across a
//! rotation and a gateway restart; `gateway health`.

use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

fn records(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Devices the gateway of `p` has paired (its SQLite store).
fn paired(p: &Profile) -> i64 {
    let db = p.path().join("state").join("state").join("openclaw.sqlite");
    if !db.exists() {
        return 0;
    }
    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.query_row("SELECT count(*) FROM device_pairing_paired", [], |r| {
        r.get(0)
    })
    .unwrap_or(0)
}

#[test]
fn one_read_through_the_gateway_as_text_and_as_json_records() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let port = gw.port.to_string();
    let before = paired(&p);
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", &port)
        .args(["logs", "--limit", "5"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(format!("Log file: {}", p.log_path().display()).as_str()),
        "{out}"
    );
    // `time level label message`, as upstream prints a record.
    let first = lines.next().unwrap();
    let fields: Vec<&str> = first.splitn(4, ' ').collect();
    assert!(
        chrono::DateTime::parse_from_rfc3339(fields[0]).is_ok(),
        "{first}"
    );
    assert!(
        ["info", "warn", "error", "debug"].contains(&fields[1]),
        "{first}"
    );
    assert!(!err.contains("Local Gateway RPC unavailable"), "{err}");

    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", &port)
        .args(["logs", "--limit", "3", "--json", "--utc"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let r = records(&out);
    assert_eq!(r[0]["type"], "meta");
    assert_eq!(r[0]["file"], p.log_path().display().to_string());
    assert_eq!(r[0]["sourceKind"], "file");
    assert!(r[0]["cursor"].as_u64().unwrap() > 0);
    assert!(r[0].get("localFallback").is_none(), "{:#}", r[0]);
    let logs: Vec<&Value> = r.iter().filter(|v| v["type"] == "log").collect();
    assert_eq!(logs.len(), 3, "{out}");
    for l in &logs {
        assert!(l["raw"].as_str().unwrap().starts_with('{'));
        assert!(l["message"].is_string() && l["level"].is_string() && l["time"].is_string());
        assert_eq!(
            l["subsystem"].as_str().map(|s| s.starts_with("gateway")),
            Some(true)
        );
    }
    assert_eq!(r.last().unwrap()["type"], "notice");
    assert_eq!(
        r.last().unwrap()["message"],
        "Log tail truncated (increase --limit or --max-bytes)."
    );
    // Reading pairs nothing.
    assert_eq!(paired(&p), before);
}

#[test]
fn without_a_gateway_one_read_falls_back_to_the_local_file_and_says_so() {
    let p = Profile::local_token();
    let now = chrono::Local::now();
    let lines = [
        openclaw::logging::record::render(
            openclaw::logging::Level::Info,
            "gateway",
            "ready",
            "h",
            now,
        ),
        "a plain line".to_string(),
    ];
    std::fs::write(p.log_path(), lines.join("\n") + "\n").unwrap();
    let port = free_port().to_string();
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", &port).args(["logs"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("Local Gateway RPC unavailable; reading configured file log instead."),
        "{err}"
    );
    assert!(
        out.starts_with(&format!("Log file: {}\n", p.log_path().display())),
        "{out}"
    );
    assert!(out.contains(" info gateway ready\n"), "{out}");
    assert!(out.ends_with("a plain line\n"), "{out}");

    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", &port)
        .args(["logs", "--json"]);
    let (code, out, _) = run(c, T);
    assert_eq!(code, 0);
    let r = records(&out);
    assert_eq!(r[0]["type"], "meta");
    assert_eq!(r[0]["localFallback"], true);
    assert_eq!(r[1]["type"], "log");
    assert_eq!(
        r[2],
        serde_json::json!({"type": "raw", "raw": "a plain line"})
    );

    // An explicit URL never falls back: the error, the target and the doctor hint.
    let mut c = p.command();
    c.args([
        "logs",
        "--url",
        &format!("ws://127.0.0.1:{port}"),
        "--token",
        "x",
    ]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("Gateway target: ws://127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("Source: cli --url"), "{err}");
    assert!(err.ends_with("Hint: run `openclaw doctor`.\n"), "{err}");
    let mut c = p.command();
    c.args([
        "logs",
        "--json",
        "--url",
        &format!("ws://127.0.0.1:{port}"),
        "--token",
        "x",
    ]);
    let (code, _, err) = run(c, T);
    assert_eq!(code, 1);
    let e: Value = serde_json::from_str(err.trim()).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(e["type"], "error");
    assert_eq!(e["hint"], "Hint: run `openclaw doctor`.");
    assert_eq!(e["details"]["urlSource"], "cli --url");
    // --url without credentials is refused before connecting.
    let mut c = p.command();
    c.args(["logs", "--json", "--url", &format!("ws://127.0.0.1:{port}")]);
    let (code, out, _) = run(c, T);
    assert_eq!(code, 1);
    let e: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(e["ok"], false);
    assert_eq!(e["error"]["type"], "cli_error");
}

/// Lines of a child's stream, as they come.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, pred: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = pred(&l);
            seen.push(l);
            if hit {
                return;
            }
        }
    }
    panic!("not seen in time; saw:\n{}", seen.join("\n"));
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn follow_survives_a_rotation_and_a_gateway_restart() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let port = gw.port.to_string();
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", &port)
        .args([
            "logs",
            "--follow",
            "--interval",
            "100",
            "--json",
            "--limit",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let _follower = Killed(child);
    let (mut seen, mut seen_err) = (Vec::new(), Vec::new());
    wait_for(&out, &mut seen, |l| l.contains(r#""type":"meta""#));

    // A new line arrives through the cursor.
    let call = |p: &Profile| {
        let mut c = p.command();
        c.env("OPENCLAW_GATEWAY_PORT", &port)
            .args(["gateway", "call", "health"]);
        assert_eq!(run(c, T).0, 0);
    };
    call(&p);
    wait_for(&out, &mut seen, |l| {
        l.contains(r#""type":"log""#)
            && l.contains("client connected")
            && l.contains("client=cli cli")
    });

    // The file is cut (rotated in place): the cursor resets and says so.
    std::fs::write(p.log_path(), "").unwrap();
    call(&p);
    wait_for(&out, &mut seen, |l| {
        l.contains("Log cursor reset (file rotated).")
    });

    // The gateway restarts: the follower reconnects and keeps reading.
    drop(gw);
    wait_for(&err, &mut seen_err, |l| {
        l.contains("[logs] gateway disconnected, reconnecting in")
    });
    let _gw = Gateway::start_on(&p, &port, &[]);
    wait_for(&err, &mut seen_err, |l| {
        l.contains("[logs] gateway reconnected")
    });
    let e: Value = serde_json::from_str(seen_err.last().unwrap()).unwrap();
    assert_eq!(e["type"], "notice");
    call(&p);
    wait_for(&out, &mut seen, |l| {
        l.contains(r#""type":"log""#)
            && l.contains("client connected")
            && l.contains("client=cli cli")
    });
}

#[test]
fn gateway_health_is_upstreams_two_lines() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    let before = paired(&p);
    // A CLI with a state dir of its own (no device identity yet): it creates none.
    let cli_state = p.path().join("cli-state");
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_STATE_DIR", &cli_state)
        .args(["gateway", "health"]);
    let (code, out, err) = run(c, T);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Gateway Health", "{out}");
    assert!(
        lines[1].starts_with("OK (") && lines[1].ends_with("ms)"),
        "{out}"
    );
    let mut c = p.command();
    c.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_STATE_DIR", &cli_state)
        .args(["gateway", "health", "--json"]);
    let (code, out, _) = run(c, T);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["durationMs"].is_u64());
    assert_eq!(paired(&p), before, "a health read paired a device");
    assert!(!cli_state.join("identity").exists());
}
