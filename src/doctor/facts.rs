//! Facts gathered once by the probes, keyed `namespace.name`. A namespace belongs to one
//! probe; when that probe could not run, its facts are unavailable and checks that need them
//! report `skipped` with the probe's reason.

use crate::inspect::attribution::Origin;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every fact a check may reference, with what it means.
pub const KNOWN: &[(&str, &str)] = &[
    ("config.path", "config file path"),
    ("config.exists", "the config file exists"),
    ("config.valid", "the config parses and passes validation"),
    (
        "config.errors",
        "validation errors (file:line:column: key: message)",
    ),
    (
        "config.gateway_mode",
        "gateway.mode (local | remote), absent when unset",
    ),
    ("config.mode_remote", "gateway.mode is remote"),
    ("config.bind", "gateway.bind as written"),
    (
        "config.bind_alias",
        "gateway.bind is a legacy host alias (0.0.0.0, localhost, ...)",
    ),
    (
        "config.non_loopback_bind_without_auth",
        "bind is not loopback and no token/password/trusted-proxy is configured",
    ),
    (
        "config.legacy_gateway_token",
        "the legacy gateway.token key is set",
    ),
    ("config.auth_mode", "effective gateway auth mode"),
    (
        "config.token_mode_without_token",
        "auth mode is token but no token is configured anywhere",
    ),
    (
        "config.placeholder_secret",
        "a secret is the .env.example placeholder",
    ),
    (
        "config.unresolved_secret_refs",
        "SecretRefs that cannot be resolved here",
    ),
    ("config.last_touched_version", "meta.lastTouchedVersion"),
    (
        "config.newer_than_binary",
        "meta.lastTouchedVersion is newer than this binary",
    ),
    (
        "config.clobbered_files",
        "openclaw.json.clobbered.* files beside the config",
    ),
    (
        "config.rejected_files",
        "openclaw.json.rejected.* files beside the config",
    ),
    (
        "config.last_good",
        "the gateway's last-known-good copy (openclaw.json.last-good), when there is one",
    ),
    (
        "config.suspicious",
        "why the config looks clobbered compared with the last good one (size drop, lost meta, lost gateway.mode)",
    ),
    (
        "config.file_mode_too_open",
        "the config file is readable by group or others",
    ),
    ("config.remote_url", "gateway.remote.url"),
    (
        "env.legacy_vars",
        "CLAWDBOT_* / MOLTBOT_* variables that are ignored",
    ),
    (
        "env.token_overrides_differ",
        "OPENCLAW_GATEWAY_TOKEN is set and differs from gateway.auth.token",
    ),
    ("env.url_override", "OPENCLAW_GATEWAY_URL is set"),
    ("env.resolution", "OPENCLAW_* variables that change where this CLI looks (paths, profile, port), secrets omitted"),
    (
        "binaries.openclaw",
        "every openclaw on PATH with its version",
    ),
    ("binaries.count", "how many openclaw binaries are on PATH"),
    (
        "binaries.versions_differ",
        "binaries on PATH report different versions",
    ),
    ("port.number", "the gateway port this CLI resolves"),
    (
        "port.listeners",
        "processes listening on the port (pid, user, command)",
    ),
    ("port.busy", "something listens on the port"),
    (
        "port.hidden_holder",
        "a listener on the port belongs to a process this user cannot see",
    ),
    (
        "port.foreign_holder",
        "the port is held by a process that is not this profile's gateway: not a gateway, or another profile's",
    ),
    (
        "port.own_listener",
        "this profile's gateway listens on the port (the lock owner, or a gateway whose environment resolves to this config)",
    ),
    (
        "port.holder_configs",
        "config paths of other profiles' gateways listening on the port",
    ),
    (
        "process.lock_stale",
        "a gateway lock file whose owner is dead",
    ),
    ("process.lock_path", "the gateway lock file for this config"),
    ("process.lock_owner", "pid of the live process holding the gateway lock, if any"),
    (
        "process.gateways",
        "OpenClaw gateway processes on this host",
    ),
    (
        "process.gateway_count",
        "how many gateway processes run on this host",
    ),
    (
        "process.colliding",
        "gateway processes sharing this config path or state dir (when more than one)",
    ),
    ("gateway.url", "the probed gateway URL"),
    ("gateway.reachable", "a gateway accepted the WebSocket"),
    ("gateway.rpc_ok", "hello-ok and read diagnostics succeeded"),
    ("gateway.error", "connect or RPC error text"),
    (
        "gateway.error_code",
        "error.details.code of a refused connect",
    ),
    (
        "gateway.failed_step",
        "where the probe's connect failed: open, challenge, connect (refused), hello, rpc",
    ),
    ("gateway.close_code", "WebSocket close code"),
    ("gateway.close_reason", "WebSocket close reason"),
    ("gateway.capability", "what these credentials can do"),
    (
        "gateway.scope_limited",
        "connected but missing operator.read",
    ),
    (
        "gateway.pairing_required",
        "the gateway asked for device pairing",
    ),
    ("gateway.version", "the gateway's version"),
    ("gateway.warnings", "probe warning codes"),
    (
        "gateway.last_heartbeat_status",
        "status of the gateway's last heartbeat (sent, skipped, failed, ...)",
    ),
    (
        "gateway.last_heartbeat_reason",
        "skip reason of the gateway's last heartbeat",
    ),
    (
        "gateway.multiple_gateways",
        "more than one distinct gateway answered",
    ),
    (
        "gateway.explicit_url_without_credentials",
        "an explicit --url was probed without credentials and auth failed",
    ),
    (
        "config.unresolved_refs",
        "triage: ${VAR} refs in the config that were left unresolved (never read from the triage host)",
    ),
    (
        "triage.user_version",
        "triage: the user's OpenClaw version, from their status JSON or bundle",
    ),
    ("logs.source", "where log lines were read from"),
    ("logs.lines", "how many log lines were scanned"),
    (
        "logs.own_lines",
        "lines written by this profile's gateway (by pid, port or config path; inspect::attribution)",
    ),
    (
        "logs.other_lines",
        "lines in the shared file log written by other processes on this host (not counted)",
    ),
    (
        "logs.unattributed_lines",
        "lines naming no writer while other processes write to the same file (not counted)",
    ),
    (
        "logs.run_started",
        "when the gateway's current run took its lock; its older lines are history",
    ),
    ("state.dir", "the state directory"),
    ("state.dir_exists", "the state directory exists"),
    (
        "state.dir_mode_too_open",
        "the state directory is accessible by group or others",
    ),
    (
        "state.store",
        "the SQLite state store (<state>/state/openclaw.sqlite, read-only): path, schema version, the version that wrote it, or why it cannot be read",
    ),
    (
        "state.store_error",
        "why the state store cannot be read (locked, corrupt, not a store); the state facts are then unknown",
    ),
    (
        "state.store_newer_schema",
        "the warning when the store's schema is newer than this build knows (it is only read)",
    ),
    (
        "state.pending_devices",
        "live device pairing requests (the store's device_pairing_pending, or devices/pending.json; 5 min TTL) with the exact approve command",
    ),
    (
        "state.pending_dm_pairing",
        "pending DM pairing requests (the store's channel_pairing_requests, or credentials/*-pairing.json)",
    ),
    (
        "state.device_auth_stale",
        "this CLI's cached device tokens (the store's device_auth_tokens, or identity/device-auth.json) that the gateway will refuse",
    ),
    (
        "state.device_scope_drift",
        "paired devices whose token carries scopes beyond their approval",
    ),
    (
        "state.cron_errors",
        "cron jobs whose last run failed (the store's cron_jobs, or cron/jobs.json)",
    ),
    (
        "service.runtime",
        "service runtime status (running, stopped)",
    ),
    ("service.installed", "a gateway service unit is installed"),
    ("service.exit_code", "the service's last exit code"),
    (
        "service.config_path",
        "the config path in the service unit's environment",
    ),
    (
        "service.config_path_differs",
        "the service uses another config than this CLI",
    ),
    (
        "service.linger_disabled",
        "systemd user unit installed without lingering",
    ),
    ("service.extra_units", "other gateway-like service units"),
    (
        "service.dueling",
        "both a user and a system unit of this gateway are installed",
    ),
    (
        "service.other_units",
        "other gateway-like units that are not legacy",
    ),
    (
        "service.legacy_units",
        "legacy (clawdbot) gateway units of this user, removable by doctor --fix",
    ),
    (
        "service.metadata_drift",
        "the installed unit differs from what this binary would write",
    ),
    ("service.unit_path", "the installed gateway unit file"),
    (
        "service.manager",
        "how the service manager was reached (dbus or systemctl)",
    ),
    (
        "service.drift",
        "the first line where the installed unit differs from what this binary would write",
    ),
];

/// Whether a probe ran.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum ProbeStatus {
    Ok,
    Skipped(String),
    Error(String),
}

/// A log line to scan, with where it came from and whose it is.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub message: String,
    pub time: Option<String>,
    pub source: String,
    /// Whose line it is (`inspect::attribution`); lines of an input given to triage are the
    /// user's gateway's.
    pub origin: Origin,
    /// The gateway's line from before its current run started.
    pub before_start: bool,
    /// What a line of a shared file says about its writer, until it is attributed.
    pub markers: Option<crate::inspect::attribution::Markers>,
}

impl LogLine {
    /// A line of the gateway's own, from its current run.
    pub fn own(message: String, time: Option<String>, source: String) -> LogLine {
        LogLine {
            message,
            time,
            source,
            origin: Origin::Own,
            before_start: false,
            markers: None,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Facts {
    values: BTreeMap<String, Value>,
    pub probes: BTreeMap<String, ProbeStatus>,
    /// Whether log lines were available to scan (live log file or triage input).
    pub logs_available: Option<String>,
    /// Single facts a probe that ran could not establish, with the reason.
    pub unavailable: BTreeMap<String, String>,
}

impl Facts {
    pub fn set(&mut self, key: &str, v: impl Into<Value>) {
        debug_assert!(KNOWN.iter().any(|(k, _)| *k == key), "unknown fact {key}");
        let v = v.into();
        if !v.is_null() {
            self.values.insert(key.to_string(), v);
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Every gathered fact (values never include secrets: probes record sources, not values).
    pub fn all(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    pub fn probe(&mut self, name: &str, status: ProbeStatus) {
        self.probes.insert(name.to_string(), status);
    }

    /// Record that a probe could not establish `key` (checks on it are skipped with `why`).
    pub fn mark_unavailable(&mut self, key: &str, why: impl Into<String>) {
        debug_assert!(KNOWN.iter().any(|(k, _)| *k == key), "unknown fact {key}");
        self.values.remove(key);
        self.unavailable.insert(key.to_string(), why.into());
    }

    /// `Err(reason)` when the namespace's probe did not run or could not establish the fact.
    pub fn available(&self, fact: &str) -> Result<(), String> {
        if let Some(why) = self.unavailable.get(fact) {
            return Err(format!("{fact} unavailable: {why}"));
        }
        let ns = fact.split('.').next().unwrap_or(fact);
        match self.probes.get(ns) {
            Some(ProbeStatus::Ok) => Ok(()),
            Some(ProbeStatus::Skipped(r)) => Err(format!("{ns} facts unavailable: {r}")),
            Some(ProbeStatus::Error(r)) => Err(format!("{ns} probe failed: {r}")),
            None => Err(format!("{ns} facts were not gathered")),
        }
    }
}
