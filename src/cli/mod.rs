//! Command-line interface: clap definitions and one module per command group.

/// Command output goes through these instead of std's: when the reader of stdout has gone
/// (`openclaw devices list | head -3`), the command ends quietly with exit 0 instead of
/// panicking on EPIPE. Defined before the modules so it shadows std's macros in all of them.
macro_rules! println {
    () => { $crate::cli::out::write(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::out::write(format_args!("{}\n", format_args!($($t)*))) };
}
macro_rules! print {
    ($($t:tt)*) => { $crate::cli::out::write(format_args!($($t)*)) };
}

pub mod out {
    use std::io::Write;

    /// Write to stdout; a closed pipe ends the process with 0, other errors with 1.
    pub fn write(args: std::fmt::Arguments<'_>) {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(crate::contract::exit::OK);
            }
            eprintln!("cannot write to stdout: {e}");
            std::process::exit(crate::contract::exit::FAILURE);
        }
    }
}

pub mod agent;
pub mod args;
pub mod call;
pub mod config_cmd;
pub mod context;
pub mod devices;
pub mod doctor;
pub mod gateway;
pub mod gateway_status;
pub mod health;
pub mod logs;
pub mod models;
pub mod pairing;
pub mod probe;
pub mod service;
pub mod setup;
pub mod status;

use crate::config::{paths, Env};
use crate::contract::exit;
use args::{Cli, Command, GatewayCommand};
use clap::Parser;

/// Parse arguments and run; returns the exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let mut env = Env::from_process();
    if let Err(e) = paths::apply_profile(&mut env, cli.profile.as_deref(), cli.dev) {
        eprintln!("{e}");
        return exit::USAGE;
    }
    match cli.command {
        Command::Gateway(g) => match g.command {
            None => gateway::run(g.run, env, cli.dev),
            Some(GatewayCommand::Run(r)) => gateway::run(r, env, cli.dev),
            Some(GatewayCommand::Probe(p)) => probe::run(p, context::Context::load(env)),
            Some(GatewayCommand::Call(c)) => call::run(c, context::Context::load(env)),
            Some(GatewayCommand::Health(h)) => health::run_brief(h, context::Context::load(env)),
            Some(GatewayCommand::Status(a)) => gateway_status::run(a, context::Context::load(env)),
            Some(GatewayCommand::Install(a)) => service::install(a, context::Context::load(env)),
            Some(GatewayCommand::Uninstall(a)) => {
                service::uninstall(a, context::Context::load(env))
            }
            Some(GatewayCommand::Start(a)) => {
                service::lifecycle("start", a, context::Context::load(env))
            }
            Some(GatewayCommand::Stop(a)) => service::stop(a, context::Context::load(env)),
            Some(GatewayCommand::Restart(a)) => {
                service::lifecycle("restart", a, context::Context::load(env))
            }
        },
        Command::Health(h) => health::run(h, context::Context::load(env)),
        Command::Status(s) => status::run(s, context::Context::load(env)),
        Command::Logs(l) => logs::run(l, context::Context::load(env)),
        Command::Doctor(d) => doctor::run(d, context::Context::load(env)),
        Command::Config(c) => config_cmd::run(c.command, context::Context::load(env)),
        Command::Setup(s) => setup::run(s, context::Context::load(env)),
        Command::Devices(d) => devices::run(d, context::Context::load(env)),
        Command::Pairing(p) => pairing::run(p, context::Context::load(env)),
        Command::Agent(a) => agent::run(a, context::Context::load(env)),
        Command::Models(m) => models::run(m.command, context::Context::load(env)),
        Command::Infer(i) => match i.command {
            args::InferCommand::Model(m) => match m.command {
                args::InferModelCommand::Run(r) => {
                    models::infer_run(r, context::Context::load(env))
                }
            },
        },
    }
}

/// Run a client future on a small single-threaded runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    }
}
