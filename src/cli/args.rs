//! clap definitions: one source for `--help`, the man page and completions.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes and environment, shown by `--help` and in the man page.
pub const AFTER_HELP: &str = "\
Exit status:
  0   success; also a clean SIGTERM stop, and `gateway` finding a healthy gateway already running
  1   fatal runtime error (bind failure, port held by another program, refused --force)
  2   command-line usage error
  78  configuration invalid or blocks startup (missing config, gateway.mode unset or remote,
      non-loopback bind without auth, token mode without a token); a supervisor should not restart

Environment:
  OPENCLAW_STATE_DIR     state directory (default ~/.openclaw)
  OPENCLAW_CONFIG_PATH   config file (default <state>/openclaw.json)
  OPENCLAW_PROFILE       profile name (state in ~/.openclaw-<name>)
  OPENCLAW_HOME          home directory used for ~
  OPENCLAW_GATEWAY_PORT  gateway port (NNNN, host:NNNN or [v6]:NNNN)
  OPENCLAW_GATEWAY_TOKEN / OPENCLAW_GATEWAY_PASSWORD  shared secret when the config has none
  OPENCLAW_HANDSHAKE_TIMEOUT_MS  time a socket may take to send connect (default 15000)
  OPENCLAW_TICK_INTERVAL_MS      tick event interval (default 30000)
  OPENCLAW_ALLOW_MULTI_GATEWAY=1 skip the single-instance lock
  OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1  allow --force when the config is from a newer version
  OPENCLAW_LOG_LEVEL     file log level (silent, fatal, error, warn, info, debug, trace)
  NO_COLOR               disable colour";

#[derive(Debug, Parser)]
#[command(
    name = "openclaw",
    version,
    about = "OpenClaw gateway and operator toolkit",
    propagate_version = true
)]
pub struct Cli {
    /// Use a named profile (state in ~/.openclaw-<name>).
    #[arg(long, global = true, env = "OPENCLAW_PROFILE")]
    pub profile: Option<String>,
    /// Dev profile: state in ~/.openclaw-dev, port 19001; `gateway --dev` creates a dev config if missing.
    #[arg(long, global = true)]
    pub dev: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the WebSocket gateway in the foreground (alias: `gateway run`).
    Gateway(GatewayArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
    #[command(flatten)]
    pub run: GatewayRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run the WebSocket gateway in the foreground.
    Run(GatewayRunArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BindArg {
    Loopback,
    Lan,
    Tailnet,
    Auto,
    Custom,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthArg {
    None,
    Token,
    Password,
    #[value(name = "trusted-proxy")]
    TrustedProxy,
}

#[derive(Debug, Args, Default)]
pub struct GatewayRunArgs {
    /// Port for HTTP and WebSocket (precedence: --port, OPENCLAW_GATEWAY_PORT, gateway.port, 18789).
    #[arg(long)]
    pub port: Option<u16>,
    /// Bind mode; defaults to gateway.bind (or loopback).
    #[arg(long, value_enum)]
    pub bind: Option<BindArg>,
    /// Gateway auth mode.
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// Shared token required in connect.params.auth.token (default: gateway.auth.token, then OPENCLAW_GATEWAY_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Password for auth mode=password.
    #[arg(long, conflicts_with = "password_file")]
    pub password: Option<String>,
    /// Read the gateway password from a file.
    #[arg(long)]
    pub password_file: Option<std::path::PathBuf>,
    /// Start without enforcing gateway.mode=local (does not repair config).
    #[arg(long)]
    pub allow_unconfigured: bool,
    /// Kill any existing listener on the target port before starting.
    #[arg(long)]
    pub force: bool,
    /// Verbose logging to the console (debug level).
    #[arg(long)]
    pub verbose: bool,
    /// Reset dev state (requires --dev).
    #[arg(long)]
    pub reset: bool,
}
