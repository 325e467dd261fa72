//! `openclaw gateway [run]`.

use super::args::{AuthArg, BindArg, GatewayRunArgs};
use crate::config::gateway::{AuthMode, BindMode};
use crate::config::Env;
use crate::contract::exit;
use crate::gateway::{self, GatewayOptions};

/// `--dev --reset`: remove the dev state dir (config, identity, credentials, sessions,
/// workspace) so `--dev` recreates it. Refuses anything not named `.openclaw-dev`, so an
/// `OPENCLAW_STATE_DIR` pointing at real state is never deleted.
fn reset_dev_state(env: &Env) -> Result<(), String> {
    let paths = crate::config::paths::resolve(env);
    let dir = &paths.state_dir;
    if dir.file_name().and_then(|n| n.to_str()) != Some(".openclaw-dev") {
        return Err(format!(
            "Refusing --reset: state dir {} is not a dev state dir (~/.openclaw-dev); unset OPENCLAW_STATE_DIR or remove it by hand",
            dir.display()
        ));
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot reset {}: {e}", dir.display()))?;
        eprintln!("Reset dev state: removed {}", dir.display());
    }
    if paths.config_path.exists() && !paths.config_path.starts_with(dir) {
        eprintln!(
            "Note: the dev config {} is outside the dev state dir and was kept",
            paths.config_path.display()
        );
    }
    Ok(())
}

pub fn run(args: GatewayRunArgs, env: Env, dev: bool) -> i32 {
    if args.reset && !dev {
        eprintln!("Use --reset with --dev.");
        return exit::USAGE;
    }
    if args.reset {
        if let Err(e) = reset_dev_state(&env) {
            eprintln!("{e}");
            return exit::FAILURE;
        }
    }
    let password = match (&args.password, &args.password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
            Err(e) => {
                eprintln!("cannot read --password-file {}: {e}", f.display());
                return exit::USAGE;
            }
        },
        (None, None) => None,
    };
    let opts = GatewayOptions {
        env,
        paths: None,
        port: args.port,
        bind: args.bind.map(|b| match b {
            BindArg::Loopback => BindMode::Loopback,
            BindArg::Lan => BindMode::Lan,
            BindArg::Tailnet => BindMode::Tailnet,
            BindArg::Auto => BindMode::Auto,
            BindArg::Custom => BindMode::Custom,
        }),
        auth: args.auth.map(|a| match a {
            AuthArg::None => AuthMode::None,
            AuthArg::Token => AuthMode::Token,
            AuthArg::Password => AuthMode::Password,
            AuthArg::TrustedProxy => AuthMode::TrustedProxy,
        }),
        token: args.token,
        password,
        allow_unconfigured: args.allow_unconfigured,
        force: args.force,
        verbose: args.verbose,
        dev,
        quiet: false,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Gateway failed to start: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    rt.block_on(gateway::run(opts))
}
