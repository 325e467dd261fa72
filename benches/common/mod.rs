// Each bench uses part of this module.
#![allow(dead_code)]
//! What the benchmarks share: a gateway started on an ephemeral loopback port with a
//! token config in a temp dir, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
pub const TOKEN: &str = "bench-token-0123456789";

pub struct Running {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a gateway; returns it and the time from spawn to the port accepting.
pub fn start() -> (Running, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("openclaw.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"gateway": {{"mode": "local", "auth": {{"token": "{TOKEN}"}}}}, "logging": {{"file": "{}", "level": "warn"}}}}"#,
            dir.path().join("gw.log").display()
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut child = Command::new(BIN)
        .args(["gateway", "--port", "0"])
        .env("OPENCLAW_STATE_DIR", dir.path().join("state"))
        .env("OPENCLAW_CONFIG_PATH", &cfg)
        .env("OPENCLAW_TICK_INTERVAL_MS", "30000")
        // Every load client comes from 127.0.0.1: lift the per-IP pre-auth budget (32).
        .env("OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP", "4096")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gateway");
    let stderr = child.stderr.take().unwrap();
    let mut port = 0u16;
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.split("listening on ws://").nth(1) {
            let addr = rest.split([',', ' ']).next().unwrap();
            port = addr.rsplit(':').next().unwrap().parse().unwrap();
            break;
        }
    }
    assert!(port > 0, "gateway did not start");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = t0.elapsed();
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (Running { child, port, dir }, elapsed)
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
