//! Probes gather facts once, concurrently, each with a timeout. A probe that cannot run
//! records why; checks that need its facts are then `skipped` with that reason.

pub mod binaries;
pub mod config;
pub mod gateway;
pub mod logs;
pub mod port;
pub mod process;
pub mod service;
pub mod state;

use super::facts::{Facts, LogLine, ProbeStatus};
use crate::config::{Env, LoadedConfig, Paths};
use std::sync::Arc;
use std::time::Duration;

/// What every probe may read.
#[derive(Clone)]
pub struct ProbeContext {
    pub env: Env,
    pub paths: Paths,
    pub config: LoadedConfig,
    pub port: u16,
    pub timeout: Duration,
    /// Only log lines newer than this many seconds are scanned (live mode).
    pub log_window_secs: Option<u64>,
    pub url: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    /// Also scan the system unit directories for other gateway-like services.
    pub deep: bool,
}

impl ProbeContext {
    /// The same context with the config read again from disk (after a fix wrote it).
    pub fn reload(&self) -> ProbeContext {
        ProbeContext {
            config: crate::config::load(&self.paths.config_path, &self.env),
            ..self.clone()
        }
    }
}

/// One probe's output.
pub struct ProbeOutput {
    pub status: ProbeStatus,
    pub facts: Vec<(&'static str, serde_json::Value)>,
    pub lines: Vec<LogLine>,
    /// Facts this probe could not establish, with the reason.
    pub unavailable: Vec<(&'static str, String)>,
}

impl ProbeOutput {
    pub fn ok(facts: Vec<(&'static str, serde_json::Value)>) -> Self {
        ProbeOutput {
            status: ProbeStatus::Ok,
            facts,
            lines: Vec::new(),
            unavailable: Vec::new(),
        }
    }
    pub fn skipped(reason: impl Into<String>) -> Self {
        ProbeOutput {
            status: ProbeStatus::Skipped(reason.into()),
            facts: Vec::new(),
            lines: Vec::new(),
            unavailable: Vec::new(),
        }
    }
    pub fn error(reason: impl Into<String>) -> Self {
        ProbeOutput {
            status: ProbeStatus::Error(reason.into()),
            facts: Vec::new(),
            lines: Vec::new(),
            unavailable: Vec::new(),
        }
    }
}

async fn bounded<F: std::future::Future<Output = ProbeOutput>>(
    name: &str,
    limit: Duration,
    f: F,
) -> ProbeOutput {
    match tokio::time::timeout(limit, f).await {
        Ok(o) => o,
        Err(_) => ProbeOutput::error(format!(
            "{name} probe timed out after {}ms",
            limit.as_millis()
        )),
    }
}

/// Run every live probe concurrently and merge their facts.
pub async fn run_all(ctx: &ProbeContext) -> (Facts, Vec<LogLine>) {
    let limit = ctx.timeout + Duration::from_millis(500);
    // File, /proc and log reads block: they run on the blocking pool, so the gateway probe's
    // network exchange and every timeout progress while they read.
    let shared = Arc::new(ctx.clone());
    let blocking = |name: &'static str, probe: fn(&ProbeContext) -> ProbeOutput| {
        let ctx = shared.clone();
        bounded(name, limit, async move {
            tokio::task::spawn_blocking(move || probe(&ctx))
                .await
                .unwrap_or_else(|e| ProbeOutput::error(format!("{name} probe failed: {e}")))
        })
    };
    let (cfg, env, bins, port, proc_, mut gw, logs, state, service) = tokio::join!(
        blocking("config", config::probe),
        blocking("env", config::probe_env),
        bounded("binaries", limit, binaries::probe(ctx)),
        blocking("port", port::probe),
        blocking("process", process::probe),
        bounded("gateway", limit, gateway::probe(ctx)),
        blocking("logs", logs::probe),
        blocking("state", state::probe),
        blocking("service", service::probe),
    );
    let mut facts = Facts::default();
    let mut lines = Vec::new();
    // The gateway's own log tail stands in for the log file when none is readable here
    // (a remote gateway); with a local file, the tail would only repeat it.
    let tail = std::mem::take(&mut gw.lines);
    let logs = if logs.status != ProbeStatus::Ok && !tail.is_empty() {
        ProbeOutput {
            status: ProbeStatus::Ok,
            facts: vec![
                ("logs.source", serde_json::json!(["logs.tail"])),
                ("logs.lines", serde_json::json!(tail.len())),
            ],
            lines: tail,
            unavailable: Vec::new(),
        }
    } else {
        logs
    };
    for (name, out) in [
        ("config", cfg),
        ("env", env),
        ("binaries", bins),
        ("port", port),
        ("process", proc_),
        ("gateway", gw),
        ("logs", logs),
        ("state", state),
        ("service", service),
    ] {
        if name == "logs" && out.status == ProbeStatus::Ok {
            facts.logs_available = Some("live logs".into());
        }
        facts.probe(name, out.status);
        for (k, v) in out.facts {
            facts.set(k, v);
        }
        for (k, why) in out.unavailable {
            facts.mark_unavailable(k, why);
        }
        lines.extend(out.lines);
    }
    // Whose lines they are, from what the port and process probes saw (no second scan of
    // /proc); only the shared file's lines carry markers.
    if !lines.is_empty() {
        let listeners: Vec<crate::os::proc::Listener> = facts
            .get("port.listeners")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_else(|| crate::os::proc::listeners_on_port(ctx.port));
        let owner =
            crate::inspect::attribution::Owner::observed(&ctx.config.path, ctx.port, &listeners);
        for (k, v) in logs::attribute(&mut lines, owner) {
            facts.set(k, v);
        }
    }
    (facts, lines)
}
