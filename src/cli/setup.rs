//! `openclaw setup` (alias `onboard`): a working config in one command.

use super::args::{SetupArgs, SetupMode};
use super::context::Context;
use crate::config::{self, secret::Secret, store};
use crate::contract::exit;
use serde_json::json;

/// A complete local config for a profile that has none: `gateway.mode: local`, loopback,
/// token auth (the given token, else `OPENCLAW_GATEWAY_TOKEN`, else a generated 48-hex one)
/// and a base port. The port is `port`, else `OPENCLAW_GATEWAY_PORT`, else, for a named
/// profile or when another profile already uses the default, the lowest spaced base port no
/// other profile on this host uses (`config::profiles`). Returns the body, the port and
/// notes for the user.
pub fn local_config(
    ctx: &Context,
    port: Option<u16>,
    token: Option<&str>,
) -> Result<(serde_json::Value, u16, Vec<String>), String> {
    use crate::config::{env, profiles};
    let mut notes = Vec::new();
    let token = match token
        .map(str::to_string)
        .or_else(|| ctx.env.get(env::GATEWAY_TOKEN).map(str::to_string))
    {
        Some(t) => t,
        None => Secret::generate_hex(24)
            .map_err(|e| format!("cannot generate a token: {e}"))?
            .expose()
            .to_string(),
    };
    let env_port = ctx
        .env
        .get(env::GATEWAY_PORT)
        .and_then(|p| p.parse::<u16>().ok());
    let port = match port.or(env_port) {
        Some(p) => p,
        None => {
            let others = profiles::other_profile_ports(&ctx.env, &ctx.paths.config_path);
            let taken: Vec<u16> = others.iter().map(|(p, _)| *p).collect();
            let named = ctx.paths.profile.as_deref().is_some_and(|p| p != "default");
            let default = config::gateway::DEFAULT_PORT;
            if !named
                && taken
                    .iter()
                    .all(|t| t.abs_diff(default) >= profiles::MIN_SPACING)
            {
                default
            } else {
                let p = profiles::spaced_port(&taken).ok_or_else(|| {
                    "no free base port found for this profile; pass --port".to_string()
                })?;
                if !others.is_empty() {
                    notes.push(format!(
                        "Port {p} for this profile (other profiles use {}; base ports stay {} apart).",
                        others
                            .iter()
                            .map(|(port, cfg)| format!("{port} in {}", cfg.display()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        profiles::MIN_SPACING
                    ));
                }
                p
            }
        }
    };
    let body = json!({"gateway": {
        "mode": "local",
        "port": port,
        "bind": "loopback",
        "auth": {"mode": "token", "token": token},
    }});
    Ok((body, port, notes))
}

pub fn run(args: SetupArgs, ctx: Context) -> i32 {
    let path = &ctx.paths.config_path;
    if ctx.config.exists && !args.force {
        if args.non_interactive {
            report(&args, path, "unchanged", None);
            return exit::OK;
        }
        eprintln!(
            "{} already exists; nothing was changed (rerun with --force to replace it; the old file is backed up)",
            path.display()
        );
        return exit::FAILURE;
    }
    let body = match args.mode {
        SetupMode::Local => match local_config(&ctx, None, None) {
            Ok((body, _, notes)) => {
                for n in notes {
                    eprintln!("{n}");
                }
                body
            }
            Err(e) => {
                eprintln!("{e}");
                return exit::FAILURE;
            }
        },
        SetupMode::Remote => {
            let Some(url) = &args.remote_url else {
                eprintln!("--mode remote needs --remote-url ws://host:port");
                return exit::USAGE;
            };
            json!({"gateway": {"mode": "remote", "remote": {"url": url}}})
        }
    };
    for dir in [Some(ctx.paths.state_dir.as_path()), path.parent()]
        .into_iter()
        .flatten()
    {
        if let Err(e) = config::write::ensure_private_dir(dir) {
            eprintln!("cannot create {}: {e}", dir.display());
            return exit::FAILURE;
        }
    }
    let text = serde_json::to_string_pretty(&body).unwrap_or_default() + "\n";
    let expected = std::fs::read(path).ok().map(|b| store::hash(&b));
    match store::commit(path, expected.as_deref(), &text) {
        Ok(backup) => {
            report(&args, path, "created", backup.as_deref());
            exit::OK
        }
        Err(e) => {
            eprintln!("{e}");
            exit::FAILURE
        }
    }
}

fn report(args: &SetupArgs, path: &std::path::Path, what: &str, backup: Option<&std::path::Path>) {
    if args.json {
        println!(
            "{}",
            json!({"path": path.display().to_string(), "result": what, "backup": backup.map(|b| b.display().to_string())})
        );
        return;
    }
    match what {
        "created" => {
            println!(
                "Config written: {} (mode 0600; token auth, the token is not printed)",
                path.display()
            );
            if let Some(b) = backup {
                println!("Previous config backed up: {}", b.display());
            }
            println!("hint: start the gateway: openclaw gateway");
            println!("hint: check it: openclaw doctor");
        }
        _ => println!("Already set up: {} (unchanged)", path.display()),
    }
}
