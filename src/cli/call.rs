//! `openclaw gateway call <method>`: one raw RPC.

use super::args::{CallArgs, TargetArgs};
use super::context::Context;
use crate::client::credentials::{self, Credentials, URL_OVERRIDE_NEEDS_CREDENTIALS};
use crate::client::probe::MIN_TIMEOUT_MS;
use crate::client::{self, CallError, ConnectOptions};
use crate::config::gateway as gwcfg;
use crate::contract::exit;
use crate::state::identity::DeviceIdentity;
use serde_json::{json, Value};
use std::time::Duration;

/// Where a client command connects, with what, and how long it may take.
pub struct Resolved {
    pub url: String,
    pub source: &'static str,
    pub credentials: Credentials,
    /// The CLI's device identity (used when present, created when holding credentials).
    pub identity: Option<DeviceIdentity>,
    pub timeout: Duration,
    /// Where the device-token cache lives.
    pub state_dir: std::path::PathBuf,
}

/// The target, the CLI's identity and the `--timeout` budget for a client command. With
/// credentials and no identity yet, one is created (the gateway pairs it on first use).
pub fn resolve_target(t: &TargetArgs, ctx: &Context) -> Result<Resolved, String> {
    resolve_target_as(t, None, ctx, true)
}

/// The same for a read-only command: an existing identity is used, none is created, so
/// reading a gateway pairs nothing on it (as upstream's CLI reads with a shared secret).
pub fn resolve_read_target(t: &TargetArgs, ctx: &Context) -> Result<Resolved, String> {
    resolve_read_target_at(t, None, ctx)
}

/// [`resolve_read_target`] with a local `port` override (`--port`).
pub fn resolve_read_target_at(
    t: &TargetArgs,
    port: Option<u16>,
    ctx: &Context,
) -> Result<Resolved, String> {
    resolve_target_as(t, port, ctx, false)
}

fn resolve_target_as(
    t: &TargetArgs,
    port: Option<u16>,
    ctx: &Context,
    create: bool,
) -> Result<Resolved, String> {
    let (url, source, credentials) = resolve_url(t, port, ctx)?;
    Ok(Resolved {
        identity: client::cli_identity(&ctx.paths.state_dir, create && !credentials.is_empty()),
        timeout: Duration::from_millis(t.timeout.max(MIN_TIMEOUT_MS)),
        state_dir: ctx.paths.state_dir.clone(),
        url,
        source,
        credentials,
    })
}

/// `--url` (explicit credentials only), else the configured remote in remote mode (unless a
/// local `port` is given), else loopback. The source is `explicit --url`,
/// `gateway.remote.url` or `local loopback`.
pub fn resolve_url(
    t: &TargetArgs,
    port: Option<u16>,
    ctx: &Context,
) -> Result<(String, &'static str, Credentials), String> {
    if let Some(url) = &t.url {
        let c = credentials::explicit(t.token.as_deref(), t.password.as_deref());
        if c.is_empty() {
            return Err(format!(
                "{URL_OVERRIDE_NEEDS_CREDENTIALS}: pass --token or --password with --url {url}"
            ));
        }
        return Ok((url.clone(), "explicit --url", c));
    }
    let remote = port.is_none() && ctx.config.get_str("gateway.mode") == Some("remote");
    let creds = credentials::resolve(
        &ctx.config,
        &ctx.env,
        t.token.as_deref(),
        t.password.as_deref(),
        remote,
    );
    if remote {
        if let Some(url) = ctx
            .config
            .get_str("gateway.remote.url")
            .filter(|u| !u.is_empty())
        {
            return Ok((url.to_string(), "gateway.remote.url", creds));
        }
    }
    let (port, _) = gwcfg::resolve_port(port, &ctx.env, &ctx.config);
    Ok((format!("ws://127.0.0.1:{port}"), "local loopback", creds))
}

impl Resolved {
    /// Connect as the CLI (`cli`/`cli`) with these credentials and `scopes`.
    pub async fn connect(
        &self,
        scopes: Vec<String>,
    ) -> Result<client::Connection, client::ConnectError> {
        self.connect_as("cli", "cli", scopes).await
    }

    /// Connect as client `client_id` in `mode` (upstream's own CLI reads its local gateway's
    /// logs as `gateway-client`/`backend`).
    pub async fn connect_as(
        &self,
        client_id: &'static str,
        mode: &'static str,
        scopes: Vec<String>,
    ) -> Result<client::Connection, client::ConnectError> {
        let opts = ConnectOptions {
            url: self.url.clone(),
            token: self.credentials.token.clone(),
            password: self.credentials.password.clone(),
            device_token: None,
            client_id,
            mode,
            scopes,
            identity: self.identity.as_ref(),
            timeout: self.timeout,
        };
        client::connect_with_device_auth(&opts, &self.state_dir).await
    }
}

pub fn run(args: CallArgs, ctx: Context) -> i32 {
    let params: Value = match serde_json::from_str(&args.params) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            eprintln!("--params must be a JSON object, got: {}", args.params);
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("--params is not valid JSON ({e}): {}", args.params);
            return exit::USAGE;
        }
    };
    let target = match resolve_target(&args.target, &ctx) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let timeout = target.timeout;
    let result = super::block_on(async {
        let mut conn = target
            .connect(client::cli_scopes())
            .await
            .map_err(|e| (true, e.to_string(), e.detail_code().map(str::to_string)))?;
        let r = if args.expect_final {
            conn.call_final(&args.method, params, timeout, &mut |_, _| {})
                .await
        } else {
            conn.call(&args.method, params, timeout).await
        };
        conn.close().await;
        r.map_err(|e| {
            let code = match &e {
                CallError::Error(shape) => Some(shape.code.clone()),
                _ => None,
            };
            (false, e.to_string(), code)
        })
        .map(|v| (v, ()))
    });
    match result {
        Ok((payload, ())) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&payload).unwrap_or_default()
            );
            exit::OK
        }
        Err((connect_failed, message, code)) => {
            if connect_failed {
                eprintln!("gateway connect failed: {message}");
                eprintln!("Gateway target: {} ({})", target.url, target.source);
            } else {
                eprintln!("Gateway call failed: {message}");
            }
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": false,
                        "error": {"message": message, "code": code, "stage": if connect_failed { "connect" } else { "call" }},
                        "gateway": {"url": target.url, "source": target.source},
                    }))
                    .unwrap_or_default()
                );
            }
            exit::FAILURE
        }
    }
}
