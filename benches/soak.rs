//! Soak benchmark (prints figures; asserts nothing). Run: `cargo bench --bench soak`.
//!
//! 100 000 connect → `health` → close cycles against one gateway, 16 clients at a time,
//! a quarter of them leaving without a close frame; the gateway's open descriptors,
//! sockets in CLOSE-WAIT and RSS are printed at the start, every 20 000 cycles and at the
//! end (after the clients are gone). Bounded: it stops after 100 000 cycles or 10 minutes.
//! Loopback only.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{proc_status, TOKEN};

const CYCLES: u64 = 100_000;
const CLIENTS: u64 = 16;
const LIMIT: Duration = Duration::from_secs(600);

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sockets of `port` in CLOSE-WAIT (state 08 in /proc/net/tcp{,6}).
fn close_wait(port: u16) -> usize {
    let local = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| {
            t.lines()
                .filter(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    cols.len() > 3 && cols[1].ends_with(&local) && cols[3] == "08"
                })
                .count()
        })
        .sum()
}

fn report(label: &str, pid: u32, port: u16, t0: Instant) {
    println!(
        "{label:>14}: fds {:>4}  close-wait {:>3}  RSS {:>6} KiB  (peak {:>6} KiB)  t={:.1}s",
        fds(pid),
        close_wait(port),
        proc_status(pid, "VmRSS:"),
        proc_status(pid, "VmHWM:"),
        t0.elapsed().as_secs_f64()
    );
}

async fn cycle(port: u16, i: u64) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}")).await
    else {
        return;
    };
    let _ = ws.next().await; // challenge
    let req = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": "gateway-client", "version": "soak", "platform": "linux", "mode": "cli"},
        "scopes": ["operator.read"], "auth": {"token": TOKEN}}});
    if ws.send(Message::text(req.to_string())).await.is_err() {
        return;
    }
    let _ = ws
        .send(Message::text(
            r#"{"type":"req","id":"h","method":"health","params":{}}"#,
        ))
        .await;
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
            if v["id"] == "h" {
                break;
            }
        }
    }
    if i % 4 != 0 {
        let _ = ws.close(None).await;
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("soak bench: skipped (run with `cargo bench --bench soak`)");
        return;
    }
    let (gw, _) = common::start();
    let port = gw.port;
    let pid = gw.child.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t0 = Instant::now();
    rt.block_on(cycle(port, 1));
    std::thread::sleep(Duration::from_millis(300));
    report("start", pid, port, t0);
    let next = Arc::new(AtomicU64::new(0));
    let deadline = t0 + LIMIT;
    rt.block_on(async {
        let mut lanes = Vec::new();
        for _ in 0..CLIENTS {
            let next = next.clone();
            lanes.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= CYCLES || Instant::now() > deadline {
                        return;
                    }
                    cycle(port, i).await;
                    if (i + 1) % 20_000 == 0 {
                        report(&format!("{} cycles", i + 1), pid, port, t0);
                    }
                }
            }));
        }
        for l in lanes {
            let _ = l.await;
        }
    });
    let done = next.load(Ordering::SeqCst).min(CYCLES);
    std::thread::sleep(Duration::from_secs(3));
    report(&format!("end ({done})"), pid, port, t0);
    println!(
        "{done} cycles in {:.1}s ({:.0}/s)",
        t0.elapsed().as_secs_f64() - 3.3,
        done as f64 / (t0.elapsed().as_secs_f64() - 3.3)
    );
    drop(gw);
}
