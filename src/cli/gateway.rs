//! `openclaw gateway [run]`.

use super::args::{AuthArg, BindArg, GatewayRunArgs};
use crate::config::gateway::{AuthMode, BindMode};
use crate::config::Env;
use crate::contract::exit;
use crate::gateway::{self, GatewayOptions};

pub fn run(args: GatewayRunArgs, env: Env, dev: bool) -> i32 {
    if args.reset && !dev {
        eprintln!("Use --reset with --dev.");
        return exit::USAGE;
    }
    if args.reset {
        eprintln!("--reset is not supported yet: remove the dev state dir (~/.openclaw-dev) by hand, then rerun with --dev.");
        return exit::USAGE;
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
