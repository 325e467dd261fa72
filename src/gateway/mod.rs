//! The gateway runtime: one port for HTTP probes and the WebSocket control plane.
//! `run` loads and guards the config, takes the single-instance lock, binds, serves, and
//! handles SIGTERM/SIGINT (graceful stop) and SIGUSR1 (in-process restart).

pub mod agent;
pub mod auth;
pub mod conn;
pub mod devices;
pub mod frame_guard;
pub mod guard;
pub mod health;
pub mod http;
pub mod listen;
pub mod lock;
pub mod methods;
pub mod openai_http;
pub mod pairing;
pub mod reload;
pub mod startup;
pub mod state;

use crate::contract::exit;
use crate::logging::Logger;
use crate::protocol::{self, close, methods as m};
use serde_json::json;
use state::Gateway;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

pub use startup::GatewayOptions;

/// Ports served by a gateway running inside this process (embedded, e.g. by the selftest),
/// so that a listener owned by this process on such a port is recognised as ours.
static SERVING: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// Is `port` served by a gateway running in this process?
pub fn serves_port_in_process(port: u16) -> bool {
    SERVING.lock().map(|v| v.contains(&port)).unwrap_or(false)
}

/// Removes its port from `SERVING` when dropped.
struct Serving(u16);

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(mut v) = SERVING.lock() {
            if let Some(i) = v.iter().position(|p| *p == self.0) {
                v.remove(i);
            }
        }
    }
}

/// Why `serve` returned.
enum Stop {
    Shutdown,
    Restart,
}

/// Run the gateway until it is stopped; returns the process exit code.
pub async fn run(opts: GatewayOptions) -> i32 {
    let (_keep, stop) = watch::channel(false);
    run_until(opts, stop).await
}

/// Run until a signal, or until `stop` turns true (used when the gateway is embedded, e.g.
/// by `doctor selftest`). Returns the exit code `run` would.
pub async fn run_until(mut opts: GatewayOptions, mut stop: watch::Receiver<bool>) -> i32 {
    let console = Logger::new(crate::logging::file::LogSettings {
        file_level: None,
        console_level: match (opts.quiet, opts.verbose) {
            (true, _) => None,
            (false, true) => Some(crate::logging::Level::Debug),
            (false, false) => Some(crate::logging::Level::Info),
        },
        ..Default::default()
    });
    let mut sigterm = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Gateway failed to start: cannot install SIGTERM handler: {e}");
            return exit::FAILURE;
        }
    };
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigusr1 = signal(SignalKind::user_defined1()).ok();

    if let Some(n) = crate::os::proc::raise_nofile_limit() {
        console.debug("gateway", format!("open file limit: {n}"));
    }
    let mut lock: Option<lock::GatewayLock> = None;
    loop {
        let prepared = match startup::prepare(&opts, &console).await {
            Ok(p) => p,
            Err(fail) => {
                for line in &fail.lines {
                    eprintln!("{line}");
                }
                return fail.exit;
            }
        };
        if lock.is_none() && !opts.env.is_truthy(crate::config::env::ALLOW_MULTI_GATEWAY) {
            match lock::acquire(&prepared.config.loaded.path, &prepared.logger).await {
                Ok(l) => lock = Some(l),
                Err(e) => {
                    eprintln!("Gateway failed to start: {e}");
                    eprintln!("If the gateway is supervised, stop it with: openclaw gateway stop");
                    return match e {
                        // As upstream: 78, which the unit's RestartPreventExitStatus keeps
                        // systemd from restarting in a loop against the running owner.
                        lock::LockError::AlreadyRunning { .. } => exit::CONFIG,
                        lock::LockError::Io(..) => exit::FAILURE,
                    };
                }
            }
        }
        match serve(
            prepared,
            &opts,
            &mut sigterm,
            &mut sigint,
            &mut sigusr1,
            &mut stop,
        )
        .await
        {
            Ok((Stop::Shutdown, _)) => return exit::OK,
            Ok((Stop::Restart, bound)) => {
                // A kernel-chosen port (`--port 0`) is kept across in-process restarts.
                if opts.port == Some(0) {
                    opts.port = Some(bound);
                }
                continue;
            }
            Err(code) => return code,
        }
    }
}

async fn recv_opt(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

async fn serve(
    prepared: startup::Prepared,
    opts: &GatewayOptions,
    sigterm: &mut tokio::signal::unix::Signal,
    sigint: &mut Option<tokio::signal::unix::Signal>,
    sigusr1: &mut Option<tokio::signal::unix::Signal>,
    external_stop: &mut watch::Receiver<bool>,
) -> Result<(Stop, u16), i32> {
    let startup::Prepared {
        mut config,
        logger,
        identity,
        recovery_event,
    } = prepared;
    let host = config.bind_host.clone();
    let port = config.port;
    logger.info("gateway", "starting HTTP server...");
    let listeners = match listen::bind(&host, port, &logger).await {
        Ok(l) => l,
        Err(e) => {
            let (lines, code) = e.report(port);
            for line in &lines {
                logger.error("gateway", line);
            }
            return Err(code);
        }
    };
    let addrs: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    // With `--port 0` the kernel picks the port: report the real one everywhere.
    if let Some(actual) = listeners.first().and_then(|l| l.local_addr().ok()) {
        config.port = actual.port();
    }
    let gw = Gateway::new(config, logger.clone(), identity);
    if let Some(text) = recovery_event {
        gw.push_system_event(json!({"text": text, "ts": crate::util::now_ms()}));
    }
    let cfg = gw.config();
    if let Ok(mut v) = SERVING.lock() {
        v.push(cfg.port);
    }
    let _serving = Serving(cfg.port);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let accept_tasks: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            gw.tasks
                .spawn(accept_loop(listener, gw.clone(), shutdown_rx.clone()))
        })
        .collect();
    spawn_timers(gw.clone(), shutdown_rx.clone());

    let derived = crate::config::gateway::derived_ports(cfg.port);
    logger.info(
        "gateway",
        format!(
            "listening on {} (bind={}, auth={}, protocols {}..{}; browser control {}, canvas {})",
            addrs
                .iter()
                .map(|a| format!("ws://{a}"))
                .collect::<Vec<_>>()
                .join(", "),
            cfg.bind_mode,
            cfg.auth_mode().as_str(),
            protocol::MIN_PROTOCOL_VERSION,
            protocol::PROTOCOL_VERSION,
            derived.browser_control,
            derived.canvas_host
        ),
    );
    logger.info("gateway", format!("log file: {}", cfg.log_file.display()));
    logger.info("gateway", "ready");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let watchdog_usec = watchdog_usec();
    let watchdog = watchdog_usec.is_some();
    let watchdog_usec = watchdog_usec.unwrap_or(0);
    let mut watchdog_tick =
        tokio::time::interval(Duration::from_micros((watchdog_usec / 2).max(1_000_000)));

    let reload_every = Duration::from_millis(
        cfg.loaded
            .get("gateway.reload.debounceMs")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(300)
            .clamp(50, 60_000),
    );
    let mut reloads = reload::spawn_watcher(
        &gw.tasks,
        cfg.loaded.path.clone(),
        cfg.loaded.hash.clone(),
        reload_every,
        shutdown_rx.clone(),
    );
    let mut stop_open = true;
    let stop = loop {
        tokio::select! {
            r = external_stop.changed(), if stop_open => {
                match r {
                    Ok(()) if *external_stop.borrow() => {
                        logger.info("gateway", "stop requested by the embedding process");
                        break Stop::Shutdown;
                    }
                    Ok(()) => {}
                    // The embedder went away without asking to stop: keep serving.
                    Err(_) => stop_open = false,
                }
            }
            _ = sigterm.recv() => {
                logger.info("gateway", "signal SIGTERM received");
                break Stop::Shutdown;
            }
            _ = recv_opt(sigint) => {
                logger.info("gateway", "signal SIGINT received");
                break Stop::Shutdown;
            }
            _ = recv_opt(sigusr1) => {
                logger.info("gateway", "signal SIGUSR1 received");
                if gw.config().restart_allowed() {
                    break Stop::Restart;
                }
                logger.warn("gateway", "SIGUSR1 restart ignored (not authorized; commands.restart=false or use gateway tool).");
            }
            _ = gw.restart_requested.notified() => {
                logger.info("gateway", "restart requested (gateway.restart.request)");
                break Stop::Restart;
            }
            Some(()) = reloads.recv() => {
                if let reload::Decision::Restart(_) = reload::on_change(&gw, &opts.env, opts) {
                    break Stop::Restart;
                }
            }
            _ = watchdog_tick.tick(), if watchdog => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
    };

    let (reason, restart_ms) = match stop {
        Stop::Shutdown => ("gateway stopping", None),
        Stop::Restart => ("gateway restarting", Some(protocol::RESTART_EXPECTED_MS)),
    };
    let _ = sd_notify::notify(
        false,
        &[if restart_ms.is_some() {
            sd_notify::NotifyState::Reloading
        } else {
            sd_notify::NotifyState::Stopping
        }],
    );
    let payload = json!({"reason": reason, "restartExpectedMs": restart_ms});
    gw.start_draining(payload.clone());
    let stopping = std::time::Instant::now();
    logger.info("shutdown", format!("started: {reason}"));
    gw.broadcast(m::EV_SHUTDOWN, &payload, false, false);
    gw.close_all(close::SERVICE_RESTART, close::REASON_SERVICE_RESTART);
    let _ = shutdown_tx.send(true);
    // The listeners close before `serve` returns, so a restart rebinds a free port and no
    // client is accepted by a listener that is going away.
    for task in accept_tasks {
        let _ = task.await;
    }
    // Every task of this generation has seen the shutdown: wait (bounded) for them all to
    // end, so a restart starts clean and nothing of the old generation keeps running.
    gw.tasks.close();
    if tokio::time::timeout(DRAIN_BUDGET, gw.tasks.wait())
        .await
        .is_err()
    {
        logger.warn(
            "shutdown",
            format!(
                "{} task(s) still running after {}ms (connections that did not close in time)",
                gw.tasks.len(),
                DRAIN_BUDGET.as_millis()
            ),
        );
    }
    logger.info(
        "shutdown",
        format!("completed cleanly in {}ms", stopping.elapsed().as_millis()),
    );
    Ok((stop, cfg.port))
}

/// `WATCHDOG_USEC` when the supervisor asks this process for keep-alives: as
/// sd_watchdog_enabled(3), `WATCHDOG_PID` is checked only when it is set.
fn watchdog_usec() -> Option<u64> {
    let usec = std::env::var("WATCHDOG_USEC")
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|u| *u > 0)?;
    match std::env::var("WATCHDOG_PID").ok().map(|p| p.parse::<u32>()) {
        None => Some(usec),
        Some(Ok(pid)) if pid == std::process::id() => Some(usec),
        Some(_) => None,
    }
}

/// How long shutdown waits for the connections and timers to end.
const DRAIN_BUDGET: Duration = Duration::from_millis(2500);

async fn accept_loop(
    listener: tokio::net::TcpListener,
    gw: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    gw.tasks.spawn(conn::handle(stream, peer, gw.clone(), shutdown.clone()));
                }
                Err(e) => {
                    gw.logger.warn("gateway", format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

fn spawn_timers(gw: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
    // Presence changes are coalesced into one broadcast per window.
    let (presence_gw, mut presence_shutdown) = (gw.clone(), shutdown.clone());
    gw.tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = presence_gw.presence_dirty.notified() => {
                    tokio::time::sleep(state::presence_window(presence_gw.client_count())).await;
                    presence_gw.flush_presence();
                }
                _ = presence_shutdown.changed() => return,
            }
        }
    });
    let tasks = gw.tasks.clone();
    tasks.spawn(async move {
        let cfg = gw.config();
        let mut tick = tokio::time::interval(Duration::from_millis(cfg.tick_interval_ms.max(10)));
        let mut health =
            tokio::time::interval(Duration::from_millis(protocol::HEALTH_REFRESH_INTERVAL_MS));
        tick.tick().await;
        health.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => gw.broadcast(m::EV_TICK, &json!({"ts": crate::util::now_ms()}), true, false),
                _ = health.tick() => { health::refresh(&gw); }
                _ = shutdown.changed() => return,
            }
        }
    });
}
