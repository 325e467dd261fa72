//! Gateway benchmark (prints figures; asserts nothing). Run: `cargo bench --bench gateway`.
//!
//! - time from process start to the port accepting connections (median of 10 starts)
//! - handshake + `health` round trips per second with 1, 16 and 256 concurrent clients
//! - the same for a signed connect of a paired device (the pairing store on every connect)
//! - idle RSS of the gateway with 0 and 1000 connected clients
//! - wall time of `openclaw gateway probe --json` and `openclaw status --json` against it
//! - wall time of `openclaw doctor --json` against a healthy gateway
//! - `openclaw doctor triage` throughput on a generated 1 GiB JSON-lines log

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{start, BIN, TOKEN};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16) -> Ws {
    connect_as(port, "backend").await
}

/// `cli`-mode clients are not tracked in presence, so holding many of them measures the
/// per-connection cost without the presence fan-out.
async fn connect_as(port: u16, mode: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    ws.next().await.unwrap().unwrap(); // challenge
    let req = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": "gateway-client", "version": "bench", "platform": "linux", "mode": mode},
        "scopes": ["operator.read"], "auth": {"token": TOKEN}}});
    ws.send(Message::text(req.to_string())).await.unwrap();
    wait_res(&mut ws, "c").await;
    ws
}

async fn wait_res(ws: &mut Ws, id: &str) -> Value {
    loop {
        let m = ws.next().await.unwrap().unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "res" && v["id"] == id {
                assert_eq!(v["ok"], true, "{v}");
                return v;
            }
        }
    }
}

/// `health` on a connected client, then close.
async fn health_and_close(mut ws: Ws) {
    ws.send(Message::text(
        r#"{"type":"req","id":"h","method":"health","params":{}}"#,
    ))
    .await
    .unwrap();
    wait_res(&mut ws, "h").await;
    let _ = ws.close(None).await;
}

async fn round_trips(port: u16, clients: usize, window: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                health_and_close(connect(port).await).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t0 = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
}

/// Connect params signed by `id` (a `cli` device asking `operator.read`, shared token).
fn signed(id: &openclaw::state::identity::DeviceIdentity, nonce: &str) -> Value {
    let scopes = vec!["operator.read".to_string()];
    let now = openclaw::util::now_ms();
    let payload =
        openclaw::protocol::device::payload_v3(&openclaw::protocol::device::PayloadFields {
            device_id: &id.device_id,
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &scopes,
            signed_at_ms: now,
            token: TOKEN,
            nonce,
            platform: Some("linux"),
            device_family: None,
        });
    json!({
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": "cli", "version": "bench", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": scopes, "auth": {"token": TOKEN},
        "device": {"id": id.device_id, "publicKey": id.public_key_b64url(),
                   "signature": id.sign_b64url(&payload), "signedAt": now, "nonce": nonce},
    })
}

/// Signed connect + `health` + close of one paired device, sequentially: the pairing store
/// is read (and its token checked) on every connect.
async fn signed_round_trips(
    port: u16,
    id: &openclaw::state::identity::DeviceIdentity,
    window: Duration,
) -> f64 {
    let once = || async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}"))
            .await
            .unwrap();
        let ch = ws.next().await.unwrap().unwrap();
        let ch: Value = serde_json::from_str(ch.to_text().unwrap()).unwrap();
        let req = json!({"type": "req", "id": "c", "method": "connect",
            "params": signed(id, ch["payload"]["nonce"].as_str().unwrap())});
        ws.send(Message::text(req.to_string())).await.unwrap();
        wait_res(&mut ws, "c").await;
        health_and_close(ws).await;
    };
    once().await; // pairs the device (silently, on loopback)
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < window {
        once().await;
        n += 1;
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn rss_kib(pid: u32) -> u64 {
    common::proc_status(pid, "VmRSS:")
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that cheap.
    if !std::env::args().any(|a| a == "--bench") {
        println!("gateway bench: skipped (run with `cargo bench --bench gateway`)");
        return;
    }
    openclaw::os::proc::raise_nofile_limit();
    let mut starts: Vec<Duration> = (0..10).map(|_| start().1).collect();
    starts.sort();
    println!(
        "startup to port accepting: median {:.1} ms (min {:.1}, max {:.1}; 10 starts)",
        starts[5].as_secs_f64() * 1e3,
        starts[0].as_secs_f64() * 1e3,
        starts[9].as_secs_f64() * 1e3
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (gw, _) = start();
    for clients in [1usize, 16, 256] {
        let rate = rt.block_on(round_trips(gw.port, clients, Duration::from_secs(3)));
        println!("handshake+health round trips/s with {clients:>3} concurrent clients: {rate:.0}");
    }
    let ids = tempfile::tempdir().unwrap();
    let id = openclaw::state::identity::DeviceIdentity::load_or_create(ids.path()).unwrap();
    let rate = rt.block_on(signed_round_trips(gw.port, &id, Duration::from_secs(3)));
    println!("signed connect+health of a paired device, round trips/s (1 client): {rate:.0}");
    drop(gw);

    let (gw, _) = start();
    std::thread::sleep(Duration::from_millis(300));
    println!("idle RSS, 0 clients: {} KiB", rss_kib(gw.child.id()));
    let held = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..1000 {
            v.push(connect_as(gw.port, "cli").await);
        }
        v
    });
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "idle RSS, {} clients: {} KiB",
        held.len(),
        rss_kib(gw.child.id())
    );
    drop(held);
    drop(gw);

    let (gw, _) = start();
    let port = gw.port.to_string();
    for (label, args) in [
        (
            "openclaw gateway probe --json",
            vec!["gateway", "probe", "--json", "--port", port.as_str()],
        ),
        ("openclaw status --json", vec!["status", "--json"]),
    ] {
        let mut times: Vec<Duration> = (0..50)
            .map(|_| {
                let t0 = Instant::now();
                let out = Command::new(BIN)
                    .args(&args)
                    .env("OPENCLAW_STATE_DIR", gw.dir.path().join("state"))
                    .env("OPENCLAW_CONFIG_PATH", gw.dir.path().join("openclaw.json"))
                    .env("OPENCLAW_GATEWAY_PORT", &port)
                    .output()
                    .unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{}",
                    String::from_utf8_lossy(&out.stdout)
                );
                t0.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{label}: median {:.1} ms (min {:.1}, p90 {:.1}; 50 runs)",
            times[25].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[45].as_secs_f64() * 1e3
        );
    }

    // doctor --json against the healthy gateway (config made private so it is clean).
    let cfg = gw.dir.path().join("openclaw.json");
    let _ = std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let t0 = Instant::now();
            let out = Command::new(BIN)
                .args(["doctor", "--json"])
                .env("OPENCLAW_STATE_DIR", gw.dir.path().join("state"))
                .env("OPENCLAW_CONFIG_PATH", &cfg)
                .env("OPENCLAW_GATEWAY_PORT", &port)
                .env("OPENCLAW_LOG_DIR", gw.dir.path().join("logs"))
                .output()
                .unwrap();
            assert!(
                out.status.code().is_some_and(|c| c <= 1),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            t0.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "openclaw doctor --json: median {:.1} ms (min {:.1}, p90 {:.1}; 20 runs)",
        times[10].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[18].as_secs_f64() * 1e3
    );
    drop(gw);

    // Triage throughput on a generated 1 GiB log: tslog records, one in 1000 a signature.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    {
        use std::io::Write;
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&log).unwrap());
        let now = chrono::Local::now();
        let normal = openclaw::logging::record::render(
            openclaw::logging::Level::Info,
            "gateway/ws",
            "client connected conn=5e756659-2f21-4ec0-8e01-56103bdd3bb7 remote=127.0.0.1 client=cli cli v2026.9.6 role=operator protocol=4 auth=token",
            "vm",
            now,
        );
        let signature = openclaw::logging::record::render(
            openclaw::logging::Level::Error,
            "gateway",
            "Gateway failed to start: another gateway instance is already listening on ws://127.0.0.1:18789 | EADDRINUSE",
            "vm",
            now,
        );
        let mut written = 0u64;
        let mut i = 0u64;
        while written < 1 << 30 {
            let line = if i % 1000 == 0 { &signature } else { &normal };
            w.write_all(line.as_bytes()).unwrap();
            w.write_all(b"\n").unwrap();
            written += line.len() as u64 + 1;
            i += 1;
        }
    }
    let size = std::fs::metadata(&log).unwrap().len();
    let t0 = Instant::now();
    let out = Command::new(BIN)
        .args(["doctor", "triage", "--json"])
        .arg(&log)
        .output()
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let port_in_use = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["checkId"] == "port.in-use")
        .unwrap();
    println!(
        "doctor triage on {:.0} MiB: {:.2} s, {:.0} MiB/s ({} signature lines found)",
        size as f64 / 1048576.0,
        secs,
        size as f64 / 1048576.0 / secs,
        port_in_use["matches"]["count"]
    );
}
