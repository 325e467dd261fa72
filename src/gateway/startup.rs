//! Everything before the port is bound: dev config creation, config load and validation,
//! the start guards with their exact messages, auth resolution, and logger setup.

use super::state::RuntimeConfig;
use crate::config::gateway::{self as gwcfg, AuthMode, BindMode};
use crate::config::load::Severity;
use crate::config::secret::{Secret, PLACEHOLDER_PASSWORD, PLACEHOLDER_TOKEN};
use crate::config::{self, env, lkg, Env, Paths};
use crate::contract::exit;
use crate::logging::file::LogSettings;
use crate::logging::{Level, Logger};
use crate::state::identity::DeviceIdentity;
use serde_json::json;
use std::path::PathBuf;

/// Flags of `openclaw gateway [run]`.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// The environment after `--profile` / `--dev` were applied.
    pub env: Env,
    pub paths: Option<Paths>,
    pub port: Option<u16>,
    pub bind: Option<BindMode>,
    pub auth: Option<AuthMode>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub allow_unconfigured: bool,
    pub force: bool,
    pub verbose: bool,
    pub dev: bool,
    /// No console output (an embedding process prints its own); the file log is kept.
    pub quiet: bool,
}

/// A refusal to start: console lines and the exit code.
#[derive(Debug)]
pub struct StartFailure {
    pub lines: Vec<String>,
    pub exit: i32,
}

impl StartFailure {
    fn config(lines: Vec<String>) -> Self {
        StartFailure {
            lines,
            exit: exit::CONFIG,
        }
    }
}

pub struct Prepared {
    pub config: RuntimeConfig,
    pub logger: Logger,
    pub identity: Option<(String, String)>,
    /// A `Config recovery warning` system event to raise once serving (the config was
    /// invalid and was restored from last-known-good).
    pub recovery_event: Option<String>,
}

pub const MISSING_CONFIG: &str =
    "Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured).";
pub const MODE_UNSET: &str = "Gateway start blocked: existing config is missing gateway.mode. Treat this as suspicious or clobbered config. Re-run `openclaw onboard --mode local` or `openclaw setup`, set gateway.mode=local manually, or pass --allow-unconfigured.";

pub fn mode_remote_blocked(mode: &str) -> String {
    format!("Gateway start blocked: set gateway.mode=local (current: {mode}) or pass --allow-unconfigured.")
}

pub fn bind_without_auth(host: &str, port: u16) -> String {
    format!("refusing to bind gateway to {host}:{port} without auth (set gateway.auth.token/password, or set OPENCLAW_GATEWAY_TOKEN/OPENCLAW_GATEWAY_PASSWORD)")
}

pub const TOKEN_NOT_CONFIGURED: &str =
    "gateway auth mode is token, but no token was configured (set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN)";
pub const PASSWORD_NOT_CONFIGURED: &str =
    "gateway auth mode is password, but no password was configured";

/// Write a minimal local config for `--dev` when none exists.
fn ensure_dev_config(paths: &Paths) -> Result<Option<PathBuf>, StartFailure> {
    if paths.config_path.exists() {
        return Ok(None);
    }
    let fail = |e: std::io::Error| StartFailure {
        lines: vec![format!(
            "Gateway failed to start: cannot create dev config {}: {e}",
            paths.config_path.display()
        )],
        exit: exit::FAILURE,
    };
    let token = Secret::generate_hex(24).map_err(fail)?;
    let body = json!({
        "meta": {"lastTouchedVersion": config::version::CURRENT},
        "gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": token.expose()}},
    });
    config::write::ensure_private_dir(&paths.state_dir).map_err(fail)?;
    if let Some(dir) = paths.config_path.parent() {
        config::write::ensure_private_dir(dir).map_err(fail)?;
    }
    let text = serde_json::to_string_pretty(&body).unwrap_or_default() + "\n";
    config::write::atomic_write(&paths.config_path, text.as_bytes(), 0o600).map_err(fail)?;
    Ok(Some(paths.config_path.clone()))
}

fn env_ms(env: &Env, key: &str, default: u64) -> u64 {
    env.get(key)
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// The logger for this run, from the config's `logging.*` (defaults when it is unreadable).
fn logger_for(loaded: &config::LoadedConfig, env: &Env, paths: &Paths, verbose: bool) -> Logger {
    let mut settings = LogSettings::from_config(loaded, env, paths.profile.as_deref());
    if verbose {
        settings.console_level = Some(Level::Debug);
    }
    Logger::new(settings)
}

/// Prepare a run. A refusal is also written to the file log (without echoing it on the
/// console a second time), so `gateway status` and the doctor can show the last error.
pub async fn prepare(opts: &GatewayOptions, console: &Logger) -> Result<Prepared, StartFailure> {
    let env = &opts.env;
    let paths = opts
        .paths
        .clone()
        .unwrap_or_else(|| config::paths::resolve(env));
    console.info("gateway", "loading configuration…");
    if opts.dev {
        if let Some(p) = ensure_dev_config(&paths)? {
            console.info("gateway", format!("created dev config {}", p.display()));
        }
    }
    let mut loaded = config::load(&paths.config_path, env);
    // An invalid config is replaced by the last-known-good copy, if there is one.
    let recovery = (loaded.exists && !loaded.is_valid())
        .then(|| lkg::recover(&loaded, &paths.state_dir, env, "startup-invalid-config"));
    if let Some(Ok(_)) = &recovery {
        loaded = config::load(&paths.config_path, env);
    }
    let logger = logger_for(&loaded, env, &paths, opts.verbose);
    if opts.quiet {
        logger.set_console_level(None);
    }
    // Names this run's config in the shared file log before anything can fail, so readers
    // can tell this profile's lines from other processes' (`inspect::attribution`).
    logger.file_only(
        Level::Info,
        "gateway",
        &format!("gateway run: config={}", loaded.path.display()),
    );
    let mut recovery_event = None;
    match recovery {
        Some(Ok(r)) => {
            if !r.anomaly.is_empty() {
                logger.warn("config", lkg::anomaly_line(&loaded.path, &r.anomaly));
            }
            logger.warn("gateway", lkg::RESTORED_AT_STARTUP);
            logger.warn(
                "config",
                lkg::auto_restored_line(&loaded.path, "startup-invalid-config", &r.why),
            );
            logger.warn(
                "config",
                format!("the rejected config is kept as {}", r.clobbered.display()),
            );
            recovery_event = Some(lkg::recovery_event(&loaded.path, &r.clobbered));
        }
        Some(Err(Some(e))) => logger.warn(
            "config",
            format!("last-known-good restore not possible: {e}"),
        ),
        _ => {}
    }
    prepare_loaded(opts, paths, loaded, logger.clone())
        .await
        .map(|mut p| {
            p.recovery_event = recovery_event;
            p
        })
        .inspect_err(|fail| {
            for line in fail.lines.iter().filter(|l| !l.is_empty()) {
                logger.file_only(Level::Error, "gateway", line);
            }
        })
}

/// The refusal for an invalid config (exit 78).
fn invalid_config(loaded: &config::LoadedConfig) -> StartFailure {
    let mut lines = vec![
        "OpenClaw config is invalid".to_string(),
        format!("File: {}", loaded.path.display()),
        "Problem:".to_string(),
    ];
    for issue in loaded.errors() {
        lines.push(format!("  - {}", issue.render(&loaded.path)));
    }
    lines.push(String::new());
    lines.push("Inspect: openclaw config validate".into());
    lines.push("Run \"openclaw doctor --fix\" to repair the config, then retry.".into());
    StartFailure::config(lines)
}

async fn prepare_loaded(
    opts: &GatewayOptions,
    paths: Paths,
    loaded: config::LoadedConfig,
    logger: Logger,
) -> Result<Prepared, StartFailure> {
    let env = &opts.env;
    if !loaded.is_valid() {
        return Err(invalid_config(&loaded));
    }
    for w in loaded
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Warning)
    {
        logger.warn("config", &w.message);
    }
    // The older-binary guard, before anything else acts on this config. A service start
    // (the unit sets OPENCLAW_SERVICE_MARKER, here or in env.vars) refuses with 78 so the
    // supervisor stops restarting; `--force` refuses with 1.
    let service_mode = env.get(config::env::SERVICE_MARKER).is_some()
        || loaded
            .get_str(&format!("env.vars.{}", config::env::SERVICE_MARKER))
            .is_some_and(|v| !v.trim().is_empty());
    let guarded = if service_mode {
        Some(("start the gateway service", exit::CONFIG))
    } else if opts.force {
        Some(("force-kill gateway port listeners", exit::FAILURE))
    } else {
        None
    };
    if let Some((action, code)) = guarded {
        if let Err(lines) = config::guard::check_destructive(&loaded, env, action) {
            return Err(StartFailure { lines, exit: code });
        }
    }
    if !opts.allow_unconfigured {
        if !loaded.exists {
            return Err(StartFailure::config(vec![MISSING_CONFIG.into()]));
        }
        let audit = paths.logs_dir().join("config-audit.jsonl");
        match loaded.get_str("gateway.mode") {
            Some("local") => {}
            None => {
                return Err(StartFailure::config(vec![
                    MODE_UNSET.into(),
                    format!("Config write audit: {}", audit.display()),
                ]))
            }
            Some(other) => {
                return Err(StartFailure::config(vec![
                    mode_remote_blocked(other),
                    format!("Config write audit: {}", audit.display()),
                ]))
            }
        }
    }

    logger.info("gateway", "resolving authentication…");
    let (port, port_source) = gwcfg::resolve_port(opts.port, env, &loaded);
    let bind_mode = opts
        .bind
        .or_else(|| loaded.get_str("gateway.bind").and_then(BindMode::parse))
        .unwrap_or(BindMode::Loopback);
    let tailnet = crate::os::ifaddr::tailnet_ipv4().map(|ip| ip.to_string());
    let bind_host = gwcfg::bind_host(
        bind_mode,
        loaded.get_str("gateway.customBindHost"),
        tailnet.as_deref(),
    );
    let auth = gwcfg::resolve_auth(
        &loaded,
        env,
        opts.auth,
        opts.token.as_deref(),
        opts.password.as_deref(),
    )
    .map_err(|e| StartFailure::config(vec![format!("Gateway start blocked: {e}")]))?;

    let placeholder = |s: &Option<(Secret, gwcfg::SecretSource)>, p: &str| {
        s.as_ref().is_some_and(|(v, _)| v.expose() == p)
    };
    if placeholder(&auth.token, PLACEHOLDER_TOKEN)
        || placeholder(&auth.password, PLACEHOLDER_PASSWORD)
    {
        return Err(StartFailure::config(vec![
            "Invalid config: gateway auth token is set to the example placeholder from .env.example. Set a real secret (for example: openssl rand -hex 24).".into(),
        ]));
    }
    let has_secret = match auth.mode {
        AuthMode::None => false,
        AuthMode::Token => auth.token.is_some(),
        AuthMode::Password => auth.password.is_some(),
        AuthMode::TrustedProxy => true,
    };
    if !gwcfg::is_loopback_host(&bind_host) && !has_secret {
        return Err(StartFailure::config(vec![bind_without_auth(
            &bind_host, port,
        )]));
    }
    match auth.mode {
        AuthMode::Token if auth.token.is_none() => {
            return Err(StartFailure::config(vec![
                TOKEN_NOT_CONFIGURED.into(),
                format!("hint: add gateway.auth.token to {} or export OPENCLAW_GATEWAY_TOKEN, then retry", loaded.path.display()),
            ]))
        }
        AuthMode::Password if auth.password.is_none() => {
            return Err(StartFailure::config(vec![
                format!("{PASSWORD_NOT_CONFIGURED} (set gateway.auth.password or OPENCLAW_GATEWAY_PASSWORD)"),
            ]))
        }
        AuthMode::TrustedProxy => {
            return Err(StartFailure::config(vec![
                "gateway auth mode=trusted-proxy is not supported by this gateway yet; use token or password auth".into(),
            ]))
        }
        _ => {}
    }

    let log_file = logger.file_path();
    logger.info(
        "gateway",
        format!(
            "config {} (port {port} from {})",
            loaded.path.display(),
            port_source.as_str()
        ),
    );

    if opts.force {
        if let Err(e) = super::listen::free_port(port, &logger).await {
            return Err(StartFailure {
                lines: vec![e],
                exit: exit::FAILURE,
            });
        }
    }

    let identity = match DeviceIdentity::load_or_create(&paths.state_dir) {
        Ok(id) => Some((id.device_id.clone(), id.public_key_b64url())),
        Err(e) => {
            logger.warn("gateway", format!("gateway identity unavailable: {e}"));
            None
        }
    };
    match lkg::promote(&loaded, &paths.state_dir, env) {
        Ok(lkg::Promotion::Skipped(reasons)) => {
            logger.warn("config", lkg::anomaly_line(&loaded.path, &reasons));
            logger.warn("config", lkg::PROMOTION_SKIPPED);
        }
        Ok(_) => {}
        Err(e) => logger.warn(
            "config",
            format!("cannot record the last-known-good config: {e}"),
        ),
    }
    logger.info("gateway", "starting...");
    let config = RuntimeConfig {
        loaded,
        state_dir: paths.state_dir.clone(),
        port,
        bind_mode: bind_mode.as_str().to_string(),
        bind_host,
        auth,
        log_file,
        tick_interval_ms: env_ms(
            env,
            env::TICK_INTERVAL_MS,
            crate::protocol::TICK_INTERVAL_MS,
        ),
        handshake_timeout_ms: env_ms(
            env,
            env::HANDSHAKE_TIMEOUT_MS,
            crate::protocol::HANDSHAKE_TIMEOUT_MS,
        ),
        preauth_max_per_ip: env_ms(
            env,
            env::MAX_PREAUTH_PER_IP,
            super::guard::DEFAULT_PREAUTH_PER_IP as u64,
        ) as usize,
    };
    Ok(Prepared {
        config,
        logger,
        identity,
        recovery_event: None,
    })
}
