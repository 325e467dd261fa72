//! `openclaw gateway call <method>`: one raw RPC.

use super::args::{CallArgs, TargetArgs};
use super::context::Context;
use crate::client::credentials::{self, Credentials, URL_OVERRIDE_NEEDS_CREDENTIALS};
use crate::client::{self, CallError, ConnectOptions};
use crate::config::gateway as gwcfg;
use crate::contract::exit;
use crate::state::identity::DeviceIdentity;
use serde_json::{json, Value};
use std::time::Duration;

/// Where a client command connects, and with what.
pub struct Resolved {
    pub url: String,
    pub source: &'static str,
    pub credentials: Credentials,
}

/// `--url` (explicit credentials only), else the configured remote in remote mode, else loopback.
pub fn resolve_target(t: &TargetArgs, ctx: &Context) -> Result<Resolved, String> {
    if let Some(url) = &t.url {
        let c = credentials::explicit(t.token.as_deref(), t.password.as_deref());
        if c.is_empty() {
            return Err(format!(
                "{URL_OVERRIDE_NEEDS_CREDENTIALS}: pass --token or --password with --url {url}"
            ));
        }
        return Ok(Resolved {
            url: url.clone(),
            source: "explicit --url",
            credentials: c,
        });
    }
    let remote = ctx.config.get_str("gateway.mode") == Some("remote");
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
            return Ok(Resolved {
                url: url.to_string(),
                source: "gateway.remote.url",
                credentials: creds,
            });
        }
    }
    let (port, _) = gwcfg::resolve_port(None, &ctx.env, &ctx.config);
    Ok(Resolved {
        url: format!("ws://127.0.0.1:{port}"),
        source: "local loopback",
        credentials: creds,
    })
}

impl Resolved {
    /// Connect as the CLI (`cli`/`cli`) with these credentials and `scopes`.
    pub async fn connect(
        &self,
        identity: Option<&DeviceIdentity>,
        scopes: Vec<String>,
        timeout: Duration,
    ) -> Result<client::Connection, client::ConnectError> {
        client::connect(&ConnectOptions {
            url: self.url.clone(),
            token: self.credentials.token.clone(),
            password: self.credentials.password.clone(),
            client_id: "cli",
            mode: "cli",
            scopes,
            identity,
            timeout,
        })
        .await
    }
}

/// The CLI's device identity for connecting with `creds`.
pub fn identity(ctx: &Context, creds: &Credentials) -> Option<DeviceIdentity> {
    client::cli_identity(&ctx.paths.state_dir, !creds.is_empty())
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
    let id = identity(&ctx, &target.credentials);
    let timeout = Duration::from_millis(args.target.timeout.max(250));
    let result = super::block_on(async {
        let mut conn = target
            .connect(id.as_ref(), client::cli_scopes(), timeout)
            .await
            .map_err(|e| (true, e.to_string(), e.detail_code().map(str::to_string)))?;
        let r = conn.call(&args.method, params, timeout).await;
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
