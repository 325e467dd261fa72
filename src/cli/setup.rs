//! `openclaw setup` (alias `onboard`): a working config in one command.

use super::args::{SetupArgs, SetupMode};
use super::context::Context;
use crate::config::{self, secret::Secret, store};
use crate::contract::exit;
use serde_json::json;

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
        SetupMode::Local => {
            let token = match Secret::generate_hex(24) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cannot generate a token: {e}");
                    return exit::FAILURE;
                }
            };
            json!({"gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": token.expose()}}})
        }
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
