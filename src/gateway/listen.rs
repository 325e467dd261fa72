//! Binding the gateway port (bounded EADDRINUSE retries, the holder named from /proc) and
//! `--force` (SIGTERM the listeners, escalate to SIGKILL within a budget).

use crate::logging::Logger;
use crate::os::proc::{self, Listener};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub const BIND_RETRIES: u32 = 4;
pub const BIND_RETRY_DELAY: Duration = Duration::from_millis(500);
pub const FORCE_TERM_WAIT: Duration = Duration::from_millis(700);
pub const FORCE_BUDGET: Duration = Duration::from_millis(2000);

#[derive(Debug)]
pub enum BindError {
    InUse {
        url: String,
        listeners: Vec<Listener>,
    },
    Other {
        url: String,
        error: std::io::Error,
    },
}

impl BindError {
    /// Lines for the console, then the exit code.
    pub fn report(&self, port: u16) -> (Vec<String>, i32) {
        match self {
            BindError::InUse { url, listeners } => {
                let mut lines = vec![
                    format!("Gateway failed to start: another gateway instance is already listening on {url} | EADDRINUSE"),
                    "If the gateway is supervised, stop it with: openclaw gateway stop".to_string(),
                ];
                lines.extend(port_in_use_lines(port, listeners));
                // A start that did not happen is a failure, whoever holds the port (the real
                // 2026.9.6 exits 1 here too), so a supervisor notices.
                (lines, crate::contract::exit::FAILURE)
            }
            BindError::Other { url, error } => (
                vec![format!(
                    "Gateway failed to start: failed to bind gateway socket on {url}: {error}"
                )],
                1,
            ),
        }
    }
}

/// `Port N is already in use.`, one line per listener, then a hint.
pub fn port_in_use_lines(port: u16, listeners: &[Listener]) -> Vec<String> {
    let mut lines = vec![format!("Port {port} is already in use.")];
    for l in listeners {
        match l.pid {
            Some(pid) => lines.push(format!(
                "- pid {pid} {}: {} ({})",
                l.user.as_deref().unwrap_or("?"),
                l.command_line
                    .as_deref()
                    .or(l.command.as_deref())
                    .unwrap_or("?"),
                l.address
            )),
            None => lines.push(format!(
                "- pid unknown (owned by another user; run as root to see it) ({})",
                l.address
            )),
        }
    }
    let hint = if listeners.iter().any(|l| l.gateway_like) {
        "Gateway already running locally. Stop it (openclaw gateway stop) or use a different port."
    } else if listeners
        .iter()
        .any(|l| l.command.as_deref() == Some("ssh"))
    {
        "SSH tunnel already bound to this port. Close the tunnel or use a different local port in -L."
    } else {
        "Another process is listening on this port."
    };
    lines.push(format!("- {hint}"));
    lines
}

pub fn ws_url(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("ws://[{host}]:{port}")
    } else {
        format!("ws://{host}:{port}")
    }
}

/// Bind `host:port`, retrying a busy port a few times. For a loopback IPv4 bind, also
/// listen on `[::1]` when the host has IPv6 (best effort).
pub async fn bind(host: &str, port: u16, logger: &Logger) -> Result<Vec<TcpListener>, BindError> {
    let url = ws_url(host, port);
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut attempt = 0;
    let primary = loop {
        match TcpListener::bind(&addr).await {
            Ok(l) => break l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                attempt += 1;
                if attempt > BIND_RETRIES {
                    return Err(BindError::InUse {
                        url,
                        listeners: proc::listeners_on_port(port),
                    });
                }
                logger.warn(
                    "gateway",
                    format!("port {port} busy (EADDRINUSE); retry {attempt}/{BIND_RETRIES}"),
                );
                tokio::time::sleep(BIND_RETRY_DELAY).await;
            }
            Err(error) => return Err(BindError::Other { url, error }),
        }
    };
    let port = primary.local_addr().map(|a| a.port()).unwrap_or(port);
    let mut out = vec![primary];
    if host == "127.0.0.1" {
        if let Ok(l6) = TcpListener::bind(format!("[::1]:{port}")).await {
            out.push(l6);
        }
    }
    Ok(out)
}

/// Free `port` for `--force`. Returns the lines to log; `Err` when the port stays busy.
pub async fn free_port(port: u16, logger: &Logger) -> Result<(), String> {
    let me = std::process::id();
    let listeners: Vec<Listener> = proc::listeners_on_port(port)
        .into_iter()
        .filter(|l| l.pid != Some(me))
        .collect();
    if listeners.is_empty() {
        logger.info("gateway", format!("force: no listeners on port {port}"));
        return Ok(());
    }
    if let Some(hidden) = listeners.iter().find(|l| l.pid.is_none()) {
        return Err(format!(
            "force: a listener on port {port} ({}) belongs to a process this user cannot see; stop it as its owner or run with more privileges",
            hidden.address
        ));
    }
    let mut pids: Vec<u32> = listeners.iter().filter_map(|l| l.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    let started = Instant::now();
    for pid in &pids {
        let cmd = proc::process_cmdline(*pid).unwrap_or_else(|| "?".into());
        match proc::signal(*pid, libc::SIGTERM) {
            Ok(_) => logger.info(
                "gateway",
                format!("force: killed pid {pid} ({cmd}) on port {port}"),
            ),
            Err(e) => {
                return Err(format!(
                    "force: cannot signal pid {pid} ({cmd}) on port {port}: {e}"
                ))
            }
        }
    }
    let port_free = || {
        proc::listeners_on_port(port)
            .iter()
            .all(|l| l.pid == Some(me))
    };
    let mut escalated = false;
    loop {
        if port_free() {
            return Ok(());
        }
        let elapsed = started.elapsed();
        if elapsed >= FORCE_BUDGET {
            let still: Vec<String> = proc::listeners_on_port(port)
                .iter()
                .map(|l| {
                    format!(
                        "pid {} ({})",
                        l.pid.map(|p| p.to_string()).unwrap_or("?".into()),
                        l.address
                    )
                })
                .collect();
            return Err(format!(
                "force: port {port} still in use after {}ms: {}",
                FORCE_BUDGET.as_millis(),
                still.join(", ")
            ));
        }
        if !escalated && elapsed >= FORCE_TERM_WAIT {
            escalated = true;
            logger.warn(
                "gateway",
                format!("force: escalated to SIGKILL while freeing port {port}"),
            );
            for pid in &pids {
                let _ = proc::signal(*pid, libc::SIGKILL);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
