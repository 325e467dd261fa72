//! clap definitions: one source for `--help`, the man page and completions.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes and environment, shown by `--help` and in the man page.
pub const AFTER_HELP: &str = "\
Exit status:
  0   success; also a clean SIGTERM stop
  1   fatal runtime error (bind failure, port still held after the retries by a gateway or any
      other program: EADDRINUSE, refused --force)
  2   command-line usage error
  78  configuration invalid or blocks startup (missing config, gateway.mode unset or remote,
      non-loopback bind without auth, token mode without a token), or another gateway already
      runs on this config (the lock); a supervisor should not restart

Environment:
  OPENCLAW_STATE_DIR     state directory (default ~/.openclaw)
  OPENCLAW_CONFIG_PATH   config file (default <state>/openclaw.json)
  OPENCLAW_PROFILE       profile name (state in ~/.openclaw-<name>)
  OPENCLAW_HOME          home directory used for ~
  OPENCLAW_GATEWAY_PORT  gateway port (NNNN, host:NNNN or [v6]:NNNN)
  OPENCLAW_GATEWAY_TOKEN / OPENCLAW_GATEWAY_PASSWORD  shared secret when the config has none
  OPENCLAW_HANDSHAKE_TIMEOUT_MS  time a socket may take to send connect (default 15000)
  OPENCLAW_TICK_INTERVAL_MS      tick event interval (default 30000)
  OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP  sockets per IP still in the handshake (default 32; more get HTTP 503)
  OPENCLAW_ALLOW_MULTI_GATEWAY=1 skip the single-instance lock
  OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1  allow --force or a service start when the config is from a newer version
  OPENCLAW_SERVICE_MARKER  set by an installed service: the gateway start is a service start
  OPENCLAW_SYSTEMD_UNIT / OPENCLAW_LAUNCHD_LABEL / OPENCLAW_WINDOWS_TASK_NAME  service name overrides
  OPENCLAW_SYSTEMD_TRANSPORT  how systemd is reached: auto (D-Bus, then systemctl), dbus, systemctl
  OPENCLAW_SYSTEMCTL     the systemctl binary for the fallback (default systemctl)
  OPENCLAW_LOGINCTL      the loginctl binary for lingering (default loginctl)
  OPENCLAW_SYSTEMD_SYSTEM_DIR  where --system units go (default /etc/systemd/system)
  OPENCLAW_SERVICE_PLATFORM  systemd, launchd or schtasks instead of this platform's supervisor
  OPENCLAW_LAUNCHCTL / OPENCLAW_SCHTASKS  the launchctl / schtasks binaries (default on PATH)
  DBUS_SESSION_BUS_ADDRESS / DBUS_SYSTEM_BUS_ADDRESS  where the user / system manager's bus is
  OPENCLAW_LOG_LEVEL     file log level (silent, fatal, error, warn, info, debug, trace)
  NO_COLOR               disable colour

Files:
  <state>/openclaw.json               config (JSON5; OPENCLAW_CONFIG_PATH overrides)
  openclaw.json.bak, .bak.1 .. .bak.4 backup ring, written before every config change (0600)
  openclaw.json.last-good             last config the gateway loaded cleanly; restored when the config turns invalid
  openclaw.json.clobbered.<ts>        a rejected config kept by a restore (newest 32 kept)
  <state>/logs/config-health.json     last-known-good fingerprint (hash, bytes, meta, gateway.mode)
  <state>/logs/config-audit.jsonl     one JSON line per config restore";

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
    /// Run the WebSocket gateway in the foreground (alias: `gateway run`), or probe, call and inspect it.
    Gateway(GatewayArgs),
    /// Fetch the gateway's health summary (exit 0 healthy, 1 degraded, 2 unreachable, 3 could not run).
    Health(HealthArgs),
    /// One-screen overview: gateway reachability, config, agents, log file (runbook step 1).
    Status(StatusArgs),
    /// Tail the gateway's file log via RPC (logs.tail), once or --follow (exit 0 read, 1 failed).
    ///
    /// Polls logs.tail with its cursor. The implicit local loopback gateway is read as a
    /// backend client with the configured token or password and no device (nothing is paired);
    /// when it does not answer, one read falls back to the configured file log and says so
    /// ("Local Gateway RPC unavailable; reading configured file log instead."). --follow
    /// never falls back to the file: it reconnects with backoff (1 s doubling to 30 s, 8
    /// retries). An explicit --url never falls back. --json emits upstream's records: a
    /// `meta` line (file, sourceKind, cursor, size, localFallback), then `log`
    /// (time, level, subsystem, message, raw) or `raw` lines, and `notice` records;
    /// errors go to stderr as `{"type":"error",…}`.
    Logs(LogsArgs),
    /// Read and change the config safely (validated, backed up, comments kept).
    Config(ConfigArgs),
    /// Create the state dir and a working local config with a generated token (alias: onboard).
    #[command(visible_alias = "onboard")]
    Setup(SetupArgs),
    /// Diagnose the installation against every runbook symptom (read-only).
    /// Exit 0 healthy, 1 warnings, 2 errors, 3 the doctor could not run.
    ///
    /// Pairing and cron state comes from <state>/state/openclaw.sqlite, the store of OpenClaw
    /// 2026.9.6 (opened read-only, never locked for writing), and from the legacy JSON files
    /// of older installations; a store that cannot be read leaves those facts unknown.
    Doctor(DoctorArgs),
    /// Device pairing: list, approve, reject and remove devices (exit 0 done, 1 refused or failed).
    ///
    /// Works through the gateway's device.pair.* RPCs. On the local loopback target, when the
    /// gateway refuses this CLI itself (`pairing required`) or is not running, it works on the
    /// SQLite store (<state>/state/openclaw.sqlite, tables device_pairing_pending and
    /// device_pairing_paired, as OpenClaw 2026.9.6 keeps them) instead, which the running
    /// gateway reads on every check. Local clients are approved silently unless
    /// gateway.nodes.pairing.autoApproveLocal is false; requests expire after 5 minutes.
    Devices(DevicesArgs),
    /// DM pairing for chat senders: list pending codes and approve them (exit 0 done, 1 failed).
    ///
    /// Requests live in the SQLite store's channel_pairing_requests (8-character codes, 1 hour,
    /// at most 3 pending per account); approving moves the sender to the account's
    /// channel_pairing_allow_entries. An older installation's
    /// <state>/credentials/<channel>-pairing.json and -allowFrom.json files are read until the
    /// first change imports them (renamed *.migrated).
    Pairing(PairingArgs),
    /// Run one agent turn through the gateway and wait for its answer (exit 0 answered, 1 failed).
    ///
    /// Sends the `agent` method (`--message`, the session `agent:<agent>:main` unless
    /// --session-id or --to names another), prints the reply text (or with --json the final
    /// response: `{runId, status, summary, result:{payloads, meta}}`). With --stream the
    /// reply is printed as the gateway's `agent` events arrive.
    Agent(AgentArgs),
    /// Model providers and selection from the config (status, list).
    Models(ModelsArgs),
    /// Headless inference: `infer model run` sends one prompt to a provider (local by default).
    Infer(InferArgs),
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The message to send.
    #[arg(long, short = 'm')]
    pub message: String,
    /// Agent id (default: main).
    #[arg(long, default_value = "main")]
    pub agent: String,
    /// A recipient or thread id: the session becomes `agent:<agent>:explicit:<to>`.
    #[arg(long)]
    pub to: Option<String>,
    /// Continue this session id (`agent:<agent>:explicit:<id>`).
    #[arg(long = "session-id")]
    pub session_id: Option<String>,
    /// Run on this model (`provider/model`); the configured fallbacks still apply.
    #[arg(long)]
    pub model: Option<String>,
    /// Print the gateway's final response as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the reply as it streams.
    #[arg(long)]
    pub stream: bool,
    /// Seconds the run may take (the gateway's agents.defaults.timeoutSeconds otherwise).
    #[arg(long = "run-timeout", value_name = "SECONDS")]
    pub run_timeout: Option<u64>,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The selected model and why, the fallbacks, each provider's auth state (exit 0 a model is
    /// selected and its provider has what it needs, 1 not).
    Status(ModelsStatusArgs),
    /// The models the config declares (exit 0).
    List(ModelsStatusArgs),
}

#[derive(Debug, Args)]
pub struct ModelsStatusArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InferArgs {
    #[command(subcommand)]
    pub command: InferCommand,
}

#[derive(Debug, Subcommand)]
pub enum InferCommand {
    /// Text inference.
    Model(InferModelArgs),
}

#[derive(Debug, Args)]
pub struct InferModelArgs {
    #[command(subcommand)]
    pub command: InferModelCommand,
}

#[derive(Debug, Subcommand)]
pub enum InferModelCommand {
    /// Send one prompt to a provider and print the answer (exit 0 text came back, 1 not).
    ///
    /// Local by default: the config's provider is called directly, no gateway, no agent
    /// context, only the prompt (upstream's narrowest provider smoke test). --gateway runs it
    /// as an agent run of the gateway instead. --json prints upstream's envelope
    /// `{ok, capability:"model.run", transport, provider, model, attempts, outputs:[{text}]}`.
    Run(InferRunArgs),
}

#[derive(Debug, Args)]
pub struct InferRunArgs {
    /// The prompt.
    #[arg(long)]
    pub prompt: String,
    /// `provider/model` (default: the configured primary).
    #[arg(long)]
    pub model: Option<String>,
    /// Call the provider from this process (the default).
    #[arg(long, conflicts_with = "gateway")]
    pub local: bool,
    /// Run through the gateway (an agent run).
    #[arg(long)]
    pub gateway: bool,
    #[arg(long)]
    pub json: bool,
    /// Milliseconds the provider call may take.
    #[arg(long = "timeout-ms", default_value_t = 120_000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct PairingArgs {
    #[command(subcommand)]
    pub command: PairingCommand,
}

/// Options shared by the `pairing` subcommands.
#[derive(Debug, Args)]
pub struct PairingOpts {
    /// Channel, as an option.
    #[arg(long = "channel", id = "channel_flag", value_name = "CHANNEL")]
    pub channel: Option<String>,
    /// Account id (for multi-account channels).
    #[arg(long)]
    pub account: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// List pending pairing requests of a channel.
    List {
        /// Channel (for example `telegram`).
        channel: Option<String>,
        #[command(flatten)]
        opts: PairingOpts,
    },
    /// Approve a pending request by its code: `approve <channel> <code>`.
    Approve {
        /// `<channel> <code>`, or just `<code>` with --channel.
        #[arg(num_args = 1..=2, value_name = "CHANNEL CODE")]
        args: Vec<String>,
        #[command(flatten)]
        opts: PairingOpts,
    },
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(subcommand)]
    pub command: DevicesCommand,
}

/// Target and output options shared by the `devices` subcommands.
#[derive(Debug, Args)]
pub struct DevicesOpts {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List pending requests and paired devices.
    List {
        #[command(flatten)]
        opts: DevicesOpts,
    },
    /// Approve a pending request. Without REQUEST_ID (or with --latest) it only shows the
    /// newest request and exits 1.
    Approve {
        /// Pending request id (from `openclaw devices list` or the `pairing required` error).
        request_id: Option<String>,
        /// Show the most recent pending request to approve explicitly.
        #[arg(long)]
        latest: bool,
        #[command(flatten)]
        opts: DevicesOpts,
    },
    /// Reject a pending request.
    Reject {
        request_id: String,
        #[command(flatten)]
        opts: DevicesOpts,
    },
    /// Remove a paired device (its open connections are closed with 4001 `device removed`).
    Remove {
        device_id: String,
        #[command(flatten)]
        opts: DevicesOpts,
    },
    /// Issue a new device token for a role (within the device's approved scopes). A token for
    /// this CLI's own device is stored in its cache; token values are never printed.
    Rotate {
        /// Device id.
        #[arg(long = "device")]
        device_id: String,
        /// Role (`operator` or `node`).
        #[arg(long)]
        role: String,
        /// Scopes for the new token (repeatable; default: the current token's).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[command(flatten)]
        opts: DevicesOpts,
    },
    /// Revoke a device token for a role; the device's sessions in that role are closed.
    Revoke {
        /// Device id.
        #[arg(long = "device")]
        device_id: String,
        /// Role (`operator` or `node`).
        #[arg(long)]
        role: String,
        #[command(flatten)]
        opts: DevicesOpts,
    },
    /// Remove every paired device (and with --pending reject every pending request).
    Clear {
        /// Confirm.
        #[arg(long)]
        yes: bool,
        /// Also reject pending requests.
        #[arg(long)]
        pending: bool,
        #[command(flatten)]
        opts: DevicesOpts,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a value by path (`gateway.auth.mode`, `list[0]`, `models["openai/gpt-5.1"]`: a
    /// key holding a dot goes in brackets); secrets are redacted.
    Get {
        key: String,
        #[arg(long)]
        json: bool,
        /// Print secrets instead of redacting them.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Set a value by dot path. VALUE is read as JSON when it parses (19001, true, {...}),
    /// else as a string. The result must validate; the old file is backed up.
    Set {
        key: String,
        value: String,
        /// VALUE must be JSON.
        #[arg(long, conflicts_with = "string")]
        json_value: bool,
        /// VALUE is a string even if it looks like JSON.
        #[arg(long)]
        string: bool,
    },
    /// Remove a value by dot path.
    Unset { key: String },
    /// Print the active config file path.
    File {
        #[arg(long)]
        json: bool,
    },
    /// Validate the config: errors name file, line, column and key (exit 1 when invalid).
    ///
    /// gateway, logging and meta are checked by this build's typed schema; the top level and
    /// every other section by the real OpenClaw 2026.9.6's own schema (its `openclaw config
    /// schema`, checked in under fixtures/config/ and refreshed by
    /// scripts/refresh-config-schema.sh), so a config it accepts is accepted here.
    Validate {
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of openclaw.json as this build validates it.
    Schema,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SetupMode {
    Local,
    Remote,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Gateway mode to configure.
    #[arg(long, value_enum, default_value = "local")]
    pub mode: SetupMode,
    /// For --mode remote: the gateway's WebSocket URL.
    #[arg(long)]
    pub remote_url: Option<String>,
    /// Replace an existing config (it is backed up first).
    #[arg(long)]
    pub force: bool,
    /// For scripts: when a config already exists, leave it and exit 0 instead of refusing.
    #[arg(long)]
    pub non_interactive: bool,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    Info,
    Warning,
    Error,
}

/// Which checks to show, shared by `doctor` and `doctor triage`.
#[derive(Debug, Args, Default, Clone)]
pub struct SelectArgs {
    /// Only these checks (check id, symptom id or runbook section); repeatable.
    #[arg(long, value_name = "ID")]
    pub only: Vec<String>,
    /// Skip these checks (check id, symptom id or runbook section); repeatable.
    #[arg(long, value_name = "ID")]
    pub skip: Vec<String>,
    /// Hide findings below this severity.
    #[arg(long, value_enum)]
    pub severity_min: Option<SeverityArg>,
    /// Add check files from this directory to the built-in catalogue.
    #[arg(long, value_name = "DIR")]
    pub checks: Option<std::path::PathBuf>,
    /// Output JSON (one document, even on failure).
    #[arg(long)]
    pub json: bool,
    /// List every check, including the ones that passed or were skipped.
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DoctorArgs {
    #[command(subcommand)]
    pub command: Option<DoctorCommand>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only log lines from this recent window are scanned (for example 30m, 2h, 1d).
    ///
    /// The file log (/tmp/openclaw/openclaw-YYYY-MM-DD.log) is shared by every gateway,
    /// profile and CLI on the host. A log finding counts only for lines of this profile's
    /// gateway: by pid (the lock owner, the listener on its port, runs that named this
    /// config when they started), else by the port or config path a line names. Lines from
    /// before the gateway's current start are history (info). Other processes' lines are
    /// listed once under "Other processes on this host" and never raise the exit code.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// List the checks of the catalogue and exit.
    #[arg(long)]
    pub list_checks: bool,
    /// Show one check: its conditions, signatures and remediation.
    #[arg(long, value_name = "ID")]
    pub explain: Option<String>,
    /// Validate the check files (built-in and --checks DIR) and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Repair what has a fix: each fix is backed up, applied, re-checked, and rolled back
    /// if the check still fires. Without it the doctor writes nothing.
    #[arg(long, visible_alias = "repair")]
    pub fix: bool,
    /// Accept every repair (same as --fix; upstream spelling).
    #[arg(long)]
    pub yes: bool,
    /// With --fix: only repairs that need no judgement (config normalisation, file moves);
    /// inferring gateway.mode=local is left to you.
    #[arg(long)]
    pub non_interactive: bool,
    /// Show the fixes --fix would apply, as diffs, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also scan the system unit directories (/etc/systemd/system, /usr/lib/systemd/system,
    /// /lib/systemd/system) for other gateway-like services.
    #[arg(long)]
    pub deep: bool,
    /// Also write a support bundle (tar.gz): redacted config, doctor/probe/status JSON, the
    /// state rows the doctor read (state.json: pairing requests, paired devices, cron jobs;
    /// token values replaced by fingerprints), recent logs, environment markers, manifest.
    /// Refused if a secret would leak.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DoctorCommand {
    /// Offline triage of logs, a config, or `gateway probe|status --json` output someone sent.
    ///
    /// Inputs must be regular files (a FIFO or device is refused, never waited on). A
    /// `.log.gz` is decompressed; a gzip-compressed tar is read as a support bundle, as a
    /// stream, each entry capped at 32 MiB and the bundle at 128 MiB of expansion; nothing
    /// is written to disk but a state store copy (openclaw.sqlite) in a bundle, staged in a
    /// private temporary file for SQLite and removed after. A line with no end past 1 MiB is
    /// scanned by its first 1 MiB. What was capped is said in the report's inputs. A copy of
    /// a state store (openclaw.sqlite) or a bundle's state.json gives the pairing and cron
    /// findings offline.
    Triage(TriageArgs),
    /// Seed each runbook fault into a throwaway profile (running the gateway library where
    /// needed) and show that the doctor detects it. Exit 0 when every scenario passes.
    Selftest(SelftestArgs),
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TriageArgs {
    /// Files to read: logs (JSON lines or plain text, gzip or not), a config, probe/status
    /// JSON, support bundles, a copy of a state store (openclaw.sqlite).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// Ask the gateway for a fresh health summary (health with probe) and include it.
    #[arg(long)]
    pub deep: bool,
}

/// How to reach a gateway: flags shared by client commands.
#[derive(Debug, Args, Default, Clone)]
pub struct TargetArgs {
    /// Explicit gateway WebSocket URL (needs --token or --password; never uses stored credentials).
    #[arg(long, env = "OPENCLAW_GATEWAY_URL")]
    pub url: Option<String>,
    /// Gateway token (default: from config, then OPENCLAW_GATEWAY_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Gateway password.
    #[arg(long)]
    pub password: Option<String>,
    /// Time budget in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProbeFormat {
    Text,
    Json,
    Nagios,
    Prometheus,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Probe only the local loopback gateway on this port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Output JSON (same as --format json).
    #[arg(long)]
    pub json: bool,
    /// Output format for people or monitoring.
    #[arg(long, value_enum)]
    pub format: Option<ProbeFormat>,
    /// SSH target for a remote gateway tunnel (user@host or user@host:port).
    #[arg(long)]
    pub ssh: Option<String>,
    /// SSH identity file for --ssh.
    #[arg(long)]
    pub ssh_identity: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// RPC method name (for example `health`, `status`, `system-presence`).
    pub method: String,
    /// Wait for the final response of a two-phase method (`agent`), skipping `accepted`.
    #[arg(long = "expect-final")]
    pub expect_final: bool,
    /// Params as a JSON object.
    #[arg(long, default_value = "{}")]
    pub params: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the response (or the error shape) as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep tailing: poll logs.tail from the last cursor every --interval.
    #[arg(long)]
    pub follow: bool,
    /// Max lines per fetch (the gateway serves at most 5000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Max bytes to read per fetch (at most 1000000).
    #[arg(long, default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes: u64,
    /// Polling interval in ms while following.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Line-delimited JSON records (meta, log, raw, notice).
    #[arg(long)]
    pub json: bool,
    /// Plain text even on a terminal (no colours, full timestamps).
    #[arg(long)]
    pub plain: bool,
    /// No ANSI colours (also NO_COLOR).
    #[arg(long)]
    pub no_color: bool,
    /// Timestamps in the local timezone (the default; upstream's spelling).
    #[arg(long, conflicts_with = "utc")]
    pub local_time: bool,
    /// Timestamps in UTC.
    #[arg(long)]
    pub utc: bool,
    /// Gateway WebSocket URL (needs --token or --password; never falls back to the file).
    #[arg(long, env = "OPENCLAW_GATEWAY_URL", conflicts_with = "port")]
    pub url: Option<String>,
    /// Local gateway port (overrides the configured remote URL).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Gateway token (default: from config, then OPENCLAW_GATEWAY_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Gateway password.
    #[arg(long)]
    pub password: Option<String>,
    /// Time budget of each connect and call, in ms.
    #[arg(long, default_value_t = 30_000)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// Ask the gateway to refresh its health now instead of serving the cached summary.
    #[arg(long)]
    pub verbose: bool,
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
    ///
    /// Limits on what clients send: a request head of at most 32 KiB (431 past it; an
    /// upgrade needs Sec-WebSocket-Version 13 (426) and a valid key (400)); before
    /// hello-ok at most 64 KiB per message, after it maxPayload (25 MiB), both enforced on
    /// the frame header (close 1009 before the payload arrives); protocol errors close with
    /// 1002, invalid UTF-8 with 1007; a client whose unsent replies and events pass
    /// maxBufferedBytes (50 MiB) is closed 1008 "slow consumer" and its backlog dropped.
    Run(GatewayRunArgs),
    /// Probe every known gateway target: reachability, auth capability and read diagnostics
    /// (exit 0 healthy, 1 degraded, 2 unreachable, 3 could not run).
    Probe(ProbeArgs),
    /// Call one RPC method and print the response.
    Call(CallArgs),
    /// The gateway's health in one line ("Gateway Health" / "OK (Nms)"); --json as `health`.
    Health(HealthArgs),
    /// Show the gateway's config, port, listeners, runtime and a connectivity probe.
    Status(GatewayStatusArgs),
    /// Install the gateway as a service of this platform's supervisor (systemd user unit,
    /// --system for a system unit; launchd LaunchAgent; Windows Scheduled Task), enable and
    /// start it. A no-op when installed and current; --force rewrites a different file.
    ///
    /// A profile without a config gets a complete one (gateway.mode local, token auth) on a
    /// base port no other profile uses (18789, 19789, …, 120+ apart); a config without
    /// gateway.mode is refused, naming the command that sets it.
    Install(ServiceInstallArgs),
    /// Stop, disable and remove the gateway service.
    Uninstall(ServiceArgs),
    /// Start the installed gateway service.
    Start(ServiceArgs),
    /// Stop the gateway service (needs --force: it stops the operator's running gateway).
    Stop(ServiceStopArgs),
    /// Restart the gateway service.
    ///
    /// With no service installed, a gateway running in the foreground on the configured
    /// port (the one verified gateway listener, holding this config's lock) is sent SIGUSR1
    /// for an in-process restart, and the command waits up to 30 s for it to answer
    /// /readyz again.
    Restart(ServiceArgs),
}

/// Options shared by the service commands.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The system unit (/etc/systemd/system, needs root) instead of the user unit.
    #[arg(long)]
    pub system: bool,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServiceInstallArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Gateway port for the service (default: the configured port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Rewrite an installed unit that differs from the one this binary writes.
    #[arg(long)]
    pub force: bool,
    /// Gateway token for token auth, saved to gateway.auth.token when the config has none
    /// (without it a token is generated and saved). Never written into the unit file.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServiceStopArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Really stop the operator's running gateway service.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct GatewayStatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// Also run the read diagnostics, show connected clients, and scan the system unit
    /// directories for other gateway-like services.
    #[arg(long)]
    pub deep: bool,
    /// Do not connect to the gateway (local facts only).
    #[arg(long)]
    pub no_probe: bool,
    /// Exit 1 unless a read RPC succeeds.
    #[arg(long)]
    pub require_rpc: bool,
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
