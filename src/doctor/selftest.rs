//! `openclaw doctor selftest`: seed each runbook fault into a throwaway profile, run the
//! gateway library in this process where the scenario needs one, run the doctor, and check
//! that the expected symptom ids fire (and that a healthy setup is clean).

use super::catalog::Catalog;
use super::probes::ProbeContext;
use super::Selection;
use crate::config::{self, env, Env, Paths};
use crate::contract::doctor::Status;
use crate::gateway::{self, GatewayOptions};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioResult {
    pub name: String,
    pub expected: Vec<String>,
    pub fired: Vec<String>,
    pub passed: bool,
    pub detail: String,
}

struct Scenario {
    name: &'static str,
    config: &'static str,
    /// Symptom ids that must fire; empty means "no warning or error at all".
    expect: &'static [&'static str],
    gateway: bool,
    hold_port: bool,
    doctor_token: Option<&'static str>,
    seed: fn(&Path),
    /// Run once the gateway is up (lines other processes write meanwhile).
    after_start: fn(&Path),
}

const TOKEN: &str = "selftest-token-0123456789abcdef";

fn nothing(_: &Path) {}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "healthy gateway",
            config: r#"{"gateway": {"mode": "local", "auth": {"token": "TOKEN"}}}"#,
            expect: &[],
            gateway: true,
            hold_port: false,
            doctor_token: None,
            seed: nothing,
            after_start: nothing,
        },
        Scenario {
            name: "port held by another process",
            config: r#"{"gateway": {"mode": "local", "auth": {"token": "TOKEN"}}}"#,
            expect: &["port-in-use"],
            gateway: false,
            hold_port: true,
            doctor_token: None,
            seed: nothing,
            after_start: nothing,
        },
        Scenario {
            name: "non-loopback bind without auth",
            config: r#"{"gateway": {"mode": "local", "bind": "lan", "auth": {"mode": "none"}}}"#,
            expect: &["bind-without-auth"],
            gateway: false,
            hold_port: false,
            doctor_token: None,
            seed: nothing,
            after_start: nothing,
        },
        Scenario {
            name: "gateway.mode unset",
            config: r#"{"gateway": {"auth": {"token": "TOKEN"}}}"#,
            expect: &["mode-unset"],
            gateway: false,
            hold_port: false,
            doctor_token: None,
            seed: nothing,
            after_start: nothing,
        },
        Scenario {
            name: "config written by a newer version",
            config: r#"{"meta": {"lastTouchedVersion": "2099.1.1"}, "gateway": {"mode": "local", "auth": {"token": "TOKEN"}}}"#,
            expect: &["split-brain"],
            gateway: true,
            hold_port: false,
            doctor_token: None,
            seed: nothing,
            after_start: nothing,
        },
        Scenario {
            name: "wrong token in the CLI",
            config: r#"{"gateway": {"mode": "local", "auth": {"token": "TOKEN"}}}"#,
            expect: &["auth-token-mismatch", "rpc-probe-failed-runtime-running"],
            gateway: true,
            hold_port: false,
            doctor_token: Some("not-the-token"),
            seed: nothing,
            after_start: nothing,
        },
        Scenario {
            name: "legacy gateway.token key",
            config: r#"{"gateway": {"mode": "local", "token": "old", "auth": {"token": "TOKEN"}}}"#,
            expect: &["legacy-token-key"],
            gateway: true,
            hold_port: false,
            doctor_token: None,
            seed: nothing,
            after_start: nothing,
        },
        Scenario {
            name: "clobbered config copy",
            config: r#"{"gateway": {"mode": "local", "auth": {"token": "TOKEN"}}}"#,
            expect: &["config-clobbered-file"],
            gateway: true,
            hold_port: false,
            doctor_token: None,
            seed: |dir| {
                let _ = std::fs::write(
                    dir.join("openclaw.json.clobbered.2026-11-23T18-28-02-946Z"),
                    "{ broken",
                );
            },
            after_start: nothing,
        },
        Scenario {
            name: "another gateway logs errors into the shared log",
            config: r#"{"gateway": {"mode": "local", "auth": {"token": "TOKEN"}}}"#,
            expect: &[],
            gateway: true,
            hold_port: false,
            doctor_token: None,
            seed: nothing,
            after_start: other_gateway_noise,
        },
        Scenario {
            name: "pending device pairing",
            config: r#"{"gateway": {"mode": "local", "auth": {"token": "TOKEN"}}}"#,
            expect: &["pairing-required"],
            gateway: true,
            hold_port: false,
            doctor_token: None,
            seed: |dir| {
                let devices = dir.join("state").join("devices");
                let _ = std::fs::create_dir_all(&devices);
                let pending = serde_json::json!({"req-1": {
                    "requestId": "req-1", "deviceId": "dev-1", "role": "operator",
                    "ts": crate::util::now_ms(),
                }});
                let _ = std::fs::write(devices.join("pending.json"), pending.to_string());
            },
            after_start: nothing,
        },
    ]
}

/// Another profile's gateway (another pid, port and config) and a client of an old protocol
/// write their errors into the same dated file log, after this profile's gateway started.
fn other_gateway_noise(root: &Path) {
    use crate::logging::{record, Level};
    let pid = std::os::unix::process::parent_id();
    let now = chrono::Local::now();
    let lines = [
        "gateway run: config=/srv/other-profile/openclaw.json",
        "unauthorized conn=c5 peer=127.0.0.1:39274->127.0.0.1:28789 remote=127.0.0.1 client=cli reason=token_mismatch guidance=unauthorized: gateway token mismatch (provide gateway auth token)",
        "protocol mismatch conn=abc remote=127.0.0.1 client=cli cli v1 min=99 max=99 expected=4",
        "closing conn=d1 remote=127.0.0.1:5 before connect (1008 invalid handshake: first request must be connect)",
        "cron: timer tick failed: EACCES",
    ];
    let text: String = lines
        .iter()
        .map(|l| record::render_for(pid, Level::Warn, "gateway", l, "selftest", now) + "\n")
        .collect();
    let file = crate::logging::file::default_file(Some(&root.join("logs")), None, now.date_naive());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
    {
        let _ = std::io::Write::write_all(&mut f, text.as_bytes());
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn run_one(cat: &Catalog, sc: &Scenario) -> Result<ScenarioResult, String> {
    let dir = tempfile_dir()?;
    let root = dir.path();
    let state = root.join("state");
    config::write::ensure_private_dir(&state).map_err(|e| e.to_string())?;
    let cfg_path = root.join("openclaw.json");
    config::write::atomic_write(
        &cfg_path,
        sc.config.replace("TOKEN", TOKEN).as_bytes(),
        0o600,
    )
    .map_err(|e| e.to_string())?;
    (sc.seed)(root);
    let holder = if sc.hold_port {
        Some(std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?)
    } else {
        None
    };
    let port = match &holder {
        Some(h) => h.local_addr().map_err(|e| e.to_string())?.port(),
        None => free_port().map_err(|e| e.to_string())?,
    };
    let mut e = Env::from_process();
    e.set(env::STATE_DIR, state.display().to_string());
    e.set(env::CONFIG_PATH, cfg_path.display().to_string());
    e.set(env::LOG_DIR, root.join("logs").display().to_string());
    e.set(env::GATEWAY_PORT, port.to_string());
    e.set(env::ALLOW_MULTI_GATEWAY, "1");
    let paths = Paths {
        profile: None,
        state_dir: state.clone(),
        config_path: cfg_path.clone(),
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let gw = if sc.gateway {
        let opts = GatewayOptions {
            env: e.clone(),
            paths: Some(paths.clone()),
            port: Some(port),
            quiet: true,
            ..Default::default()
        };
        let handle = tokio::spawn(gateway::run_until(opts, stop_rx));
        // Wait until it accepts.
        let mut up = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            if handle.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !up {
            return Err(format!("the embedded gateway did not start on port {port}"));
        }
        Some(handle)
    } else {
        None
    };
    (sc.after_start)(root);
    let ctx = ProbeContext {
        env: e.clone(),
        paths,
        config: config::load(&cfg_path, &e),
        port,
        timeout: Duration::from_millis(2000),
        log_window_secs: Some(3600),
        url: None,
        token: sc.doctor_token.map(str::to_string),
        password: None,
        deep: false,
    };
    let report = super::run_live(cat, &ctx, &Selection::default()).await;
    let _ = stop_tx.send(true);
    if let Some(h) = gw {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    drop(holder);
    let fired: BTreeSet<String> = report
        .findings
        .iter()
        .filter(|f| {
            matches!(f.status, Status::Warn | Status::Fail)
                && f.severity >= crate::contract::doctor::Severity::Warning
        })
        .flat_map(|f| f.symptoms.iter().cloned())
        .collect();
    let problems: Vec<String> = report
        .findings
        .iter()
        .filter(|f| {
            matches!(f.status, Status::Warn | Status::Fail)
                && f.severity >= crate::contract::doctor::Severity::Warning
        })
        .map(|f| f.check_id.clone())
        .collect();
    let (passed, detail) = if sc.expect.is_empty() {
        (
            problems.is_empty(),
            if problems.is_empty() {
                "no warnings or errors".into()
            } else {
                format!("unexpected: {}", problems.join(", "))
            },
        )
    } else {
        let missing: Vec<&str> = sc
            .expect
            .iter()
            .copied()
            .filter(|s| !fired.contains(*s))
            .collect();
        (
            missing.is_empty(),
            if missing.is_empty() {
                format!("fired {}", sc.expect.join(", "))
            } else {
                format!("missing {}", missing.join(", "))
            },
        )
    };
    Ok(ScenarioResult {
        name: sc.name.into(),
        expected: sc.expect.iter().map(|s| s.to_string()).collect(),
        fired: fired.into_iter().collect(),
        passed,
        detail,
    })
}

fn tempfile_dir() -> Result<TempDir, String> {
    tempdir_for("selftest")
}

/// A private temporary directory (removed when dropped).
pub fn tempdir_for(purpose: &str) -> Result<TempDir, String> {
    let mut suffix = [0u8; 8];
    getrandom::getrandom(&mut suffix).map_err(|e| e.to_string())?;
    let path = std::env::temp_dir().join(format!("openclaw-{purpose}-{}", hex::encode(suffix)));
    config::write::ensure_private_dir(&path).map_err(|e| e.to_string())?;
    Ok(TempDir(path))
}

pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run every scenario in turn.
pub async fn run(cat: &Catalog) -> Vec<ScenarioResult> {
    let mut out = Vec::new();
    for sc in scenarios() {
        out.push(match run_one(cat, &sc).await {
            Ok(r) => r,
            Err(e) => ScenarioResult {
                name: sc.name.into(),
                expected: sc.expect.iter().map(|s| s.to_string()).collect(),
                fired: Vec::new(),
                passed: false,
                detail: format!("could not run: {e}"),
            },
        });
    }
    out
}
