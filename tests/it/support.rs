//! Test harness: a temp profile, the real gateway binary, and a WebSocket client.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A temporary state dir and config.
pub struct Profile {
    pub dir: tempfile::TempDir,
}

impl Profile {
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Profile { dir };
        if !config.is_empty() {
            std::fs::write(p.config_path(), config).expect("write config");
        }
        p
    }

    /// A local token-auth config logging into the temp dir.
    pub fn local_token() -> Self {
        let p = Self::new("");
        std::fs::write(
            p.config_path(),
            format!(
                r#"{{ gateway: {{ mode: "local", bind: "loopback", auth: {{ mode: "token", token: "{TOKEN}" }} }}, logging: {{ file: "{}" }} }}"#,
                p.log_path().display()
            ),
        )
        .unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Make the config owner-only (0600), so the doctor's permission fix stays out of a
    /// test about something else.
    pub fn private_config(&self) {
        std::fs::set_permissions(
            self.config_path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("openclaw.json")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }
    /// The `openclaw.json.clobbered.*` copies next to the config, oldest first.
    pub fn clobbered(&self) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(self.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|f| f.to_string_lossy().contains("openclaw.json.clobbered."))
            .collect();
        v.sort();
        v
    }

    /// The `openclaw` command with this profile's environment only.
    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("OPENCLAW_STATE_DIR", self.dir.path().join("state"))
            .env("OPENCLAW_CONFIG_PATH", self.config_path())
            // Keep dated default logs out of the machine's shared /tmp/openclaw.
            .env("OPENCLAW_LOG_DIR", self.dir.path().join("logs"))
            .env("NO_COLOR", "1");
        c
    }
}

/// A running gateway; killed on drop.
pub struct Gateway {
    pub child: Child,
    pub port: u16,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Gateway {
    /// Start `openclaw gateway --port 0 <args>` and wait for `ready`.
    pub fn start(profile: &Profile, args: &[&str], envs: &[(&str, &str)]) -> Gateway {
        let mut cmd = profile.command();
        cmd.arg("gateway").arg("--port").arg("0").args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Self::spawn(cmd)
    }

    /// Start `openclaw gateway --port <port>` (a restart on the same port) and wait.
    pub fn start_on(profile: &Profile, port: &str, envs: &[(&str, &str)]) -> Gateway {
        let mut cmd = profile.command();
        cmd.arg("gateway").arg("--port").arg(port);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Self::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Gateway {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let lines = spawn_reader(&mut child);
        let mut gw = Gateway {
            child,
            port: 0,
            lines,
            seen: Vec::new(),
        };
        let line = gw.wait_for_line("listening on ws://", Duration::from_secs(20));
        let rest = line.split("listening on ws://").nth(1).unwrap();
        let addr = rest.split([',', ' ']).next().unwrap();
        gw.port = addr.rsplit(':').next().unwrap().parse().unwrap();
        gw.wait_for_line("[gateway] ready", Duration::from_secs(10));
        gw
    }

    /// Wait until a console line contains `needle`; panics with what was seen.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?}; seen:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Wait for a console line containing each needle, in any order.
    pub fn wait_for_lines(&mut self, needles: &[&str], timeout: Duration) {
        for n in needles {
            self.wait_for_line(n, timeout);
        }
    }

    /// Wait until at least `n` console lines contain `needle`.
    pub fn wait_for_count(&mut self, needle: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.seen.iter().filter(|l| l.contains(needle)).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "fewer than {n} lines containing {needle:?}; seen:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Wait for exit; returns the exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(l) = self.lines.try_recv() {
                    self.seen.push(l);
                }
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not exit; seen:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Run a command to completion: (exit code, stdout, stderr). Output is read while the
/// child runs (a full pipe must not stall it); the child is killed after `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> (i32, String, String) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Ok(Err(e)) => panic!("command failed: {e}"),
        Err(_) => {
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            panic!("command timed out after {timeout:?}");
        }
    }
}

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket client.
pub struct Client {
    pub ws: WsStream,
    pub challenge: Value,
    pub events: Vec<Value>,
}

/// How the server ended the socket.
#[derive(Debug, PartialEq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl Client {
    pub async fn open(url: &str) -> Client {
        Self::open_with(url, &[]).await
    }

    /// Open with extra upgrade-request headers (Origin, X-Forwarded-For, Host...).
    pub async fn open_with(url: &str, headers: &[(&'static str, &str)]) -> Client {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().expect("ws request");
        for (k, v) in headers {
            req.headers_mut()
                .insert(*k, v.parse().expect("header value"));
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        let first = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let challenge: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
        assert_eq!(challenge["event"], "connect.challenge");
        Client {
            ws,
            challenge,
            events: Vec::new(),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).await.unwrap();
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Next JSON frame, or the close; panics when nothing arrives in time.
    pub async fn next(&mut self, timeout: Duration) -> Result<Value, Closed> {
        match self.next_within(timeout).await {
            Some(r) => r,
            None => panic!("no frame within {timeout:?}"),
        }
    }

    /// Next JSON frame or the close; `None` when nothing arrives within `timeout`.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<Result<Value, Closed>> {
        Some(loop {
            let msg = match tokio::time::timeout(timeout, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => {
                    break Err(Closed {
                        code: 1006,
                        reason: String::new(),
                    })
                }
                Ok(Some(Err(_))) => {
                    break Err(Closed {
                        code: 1006,
                        reason: String::new(),
                    })
                }
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => break Ok(serde_json::from_str(t.as_str()).unwrap()),
                Message::Close(f) => {
                    break Err(f
                        .map(|f| Closed {
                            code: f.code.into(),
                            reason: f.reason.to_string(),
                        })
                        .unwrap_or(Closed {
                            code: 1005,
                            reason: String::new(),
                        }))
                }
                _ => continue,
            }
        })
    }

    /// Wait for the response with `id`, keeping events.
    pub async fn response(&mut self, id: &str) -> Value {
        loop {
            let v = self
                .next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|c| panic!("closed {c:?} waiting for {id}"));
            if v["type"] == "res" && v["id"] == id {
                return v;
            }
            self.events.push(v);
        }
    }

    /// Wait for the close, skipping other frames.
    pub async fn closed(&mut self) -> Closed {
        loop {
            if let Err(c) = self.next(Duration::from_secs(20)).await {
                return c;
            }
        }
    }

    pub async fn event(&mut self, name: &str, timeout: Duration) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
            return self.events.remove(i);
        }
        loop {
            let v = self
                .next(timeout)
                .await
                .unwrap_or_else(|c| panic!("closed {c:?} waiting for {name}"));
            if v["type"] == "event" && v["event"] == name {
                return v;
            }
            self.events.push(v);
        }
    }

    pub async fn call(&mut self, id: &str, method: &str, params: Value) -> Value {
        self.send(json!({"type": "req", "id": id, "method": method, "params": params}))
            .await;
        self.response(id).await
    }
}

pub fn connect_params(client_id: &str, mode: &str, scopes: &[&str], auth: Value) -> Value {
    json!({
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": client_id, "version": "test", "platform": "linux", "mode": mode},
        "role": "operator", "scopes": scopes, "auth": auth,
    })
}

/// Open and complete a handshake with the shared token and the given scopes.
pub async fn connected(url: &str, mode: &str, scopes: &[&str]) -> (Client, Value) {
    let mut c = Client::open(url).await;
    c.send(json!({"type": "req", "id": "c1", "method": "connect",
        "params": connect_params("gateway-client", mode, scopes, json!({"token": TOKEN}))}))
        .await;
    let hello = c.response("c1").await;
    assert_eq!(hello["ok"], true, "{hello}");
    (c, hello)
}

/// The target `id` in a `gateway probe --json` report.
pub fn target<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {v}"))
}

/// The finding of check `id` in a `doctor --json` report.
pub fn finding(report: &Value, id: &str) -> Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["checkId"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no finding {id}"))
}

/// Hold the write lock of a state dir's SQLite store (created if needed) until the returned
/// connection is dropped, as a CLI in the middle of a change does.
pub fn hold_store_write_lock(state_dir: &Path) -> rusqlite::Connection {
    drop(openclaw::state::store::Store::open(state_dir).unwrap());
    let c = rusqlite::Connection::open(openclaw::state::store::path(state_dir)).unwrap();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    c
}

/// The finding `id` has `status` and its JSON mentions `text` (a command, an id).
pub fn assert_finding(report: &Value, id: &str, status: &str, text: &str) {
    let f = finding(report, id);
    assert_eq!(f["status"], status, "{id}: {f:#}");
    assert!(
        f.to_string().contains(text),
        "{id} does not mention {text:?}: {f:#}"
    );
}

/// A loopback port nothing listens on (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The findings of a doctor report that are neither ok nor skipped.
pub fn problems(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["status"] != "ok" && f["status"] != "skipped")
                .collect()
        })
        .unwrap_or_default()
}

/// `openclaw doctor --json` for a profile.
pub fn doctor_json(p: &Profile) -> Value {
    let mut c = p.command();
    c.args(["doctor", "--json"]);
    let (_, out, err) = run(c, Duration::from_secs(60));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

/// The fix for `action` in a `doctor --fix --json` report.
pub fn fix_of(report: &Value, action: &str) -> Value {
    report["fixes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["action"] == action)
        .cloned()
        .unwrap_or_else(|| panic!("no {action} fix: {report:#}"))
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Signed connect params with explicit `auth` (the signature covers `sig_token`).
pub fn signed_with(
    id: &openclaw::state::identity::DeviceIdentity,
    nonce: &str,
    scopes: &[&str],
    client: (&str, &str),
    auth: Value,
    sig_token: &str,
) -> Value {
    let owned: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let now = openclaw::util::now_ms();
    let payload =
        openclaw::protocol::device::payload_v3(&openclaw::protocol::device::PayloadFields {
            device_id: &id.device_id,
            client_id: client.0,
            client_mode: client.1,
            role: "operator",
            scopes: &owned,
            signed_at_ms: now,
            token: sig_token,
            nonce,
            platform: Some("linux"),
            device_family: None,
        });
    let mut p = connect_params(client.0, client.1, scopes, auth);
    p["device"] = json!({
        "id": id.device_id, "publicKey": id.public_key_b64url(),
        "signature": id.sign_b64url(&payload), "signedAt": now, "nonce": nonce,
    });
    p
}

/// Params of a `cli` device signed by `id`, with the shared token, asking `operator.read`.
pub fn token_signed(id: &openclaw::state::identity::DeviceIdentity, nonce: &str) -> Value {
    signed_with(
        id,
        nonce,
        &["operator.read"],
        ("cli", "cli"),
        json!({"token": TOKEN}),
        TOKEN,
    )
}

/// Connect on loopback presenting only a device token.
pub async fn device_token_connect(
    url: &str,
    id: &openclaw::state::identity::DeviceIdentity,
    token: &str,
    scopes: &[&str],
) -> (Client, Value) {
    let mut c = Client::open(url).await;
    let nonce = c.challenge["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let params = signed_with(
        id,
        &nonce,
        scopes,
        ("cli", "cli"),
        json!({"deviceToken": token}),
        token,
    );
    c.send(json!({"type": "req", "id": "c", "method": "connect", "params": params}))
        .await;
    let res = c.response("c").await;
    (c, res)
}
