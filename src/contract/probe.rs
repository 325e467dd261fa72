//! `openclaw gateway probe --json`: the document monitoring reads. Field names follow the
//! upstream CLI's output; `schema_version` is ours. Schema: `schemas/gateway-probe.schema.json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the probing credentials can do on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    AdminCapable,
    WriteCapable,
    ReadOnly,
    PairingPending,
    ConnectedNoOperatorScope,
    Unknown,
}

impl Capability {
    /// The human spelling (`admin-capable`).
    pub fn human(self) -> &'static str {
        match self {
            Capability::AdminCapable => "admin-capable",
            Capability::WriteCapable => "write-capable",
            Capability::ReadOnly => "read-only",
            Capability::PairingPending => "pairing-pending",
            Capability::ConnectedNoOperatorScope => "connected-no-operator-scope",
            Capability::Unknown => "unknown",
        }
    }

    pub fn from_scopes(scopes: &[String]) -> Self {
        let has = |s: &str| scopes.iter().any(|x| x == s);
        if has("operator.admin") {
            Capability::AdminCapable
        } else if has("operator.write") {
            Capability::WriteCapable
        } else if has("operator.read") {
            Capability::ReadOnly
        } else {
            Capability::ConnectedNoOperatorScope
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    pub code: String,
    pub message: String,
    pub target_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Connect {
    /// The gateway accepted the WebSocket (something is listening and speaking the protocol).
    pub ok: bool,
    /// `hello-ok` and every read diagnostic succeeded.
    pub rpc_ok: bool,
    /// Connected, but read diagnostics need `operator.read`.
    pub scope_limited: bool,
    pub latency_ms: Option<u64>,
    pub error: Option<String>,
    /// `open`, `challenge`, `hello` or `rpc` when `error` is set.
    pub failed_step: Option<String>,
    /// `error.details.code` of a refused connect (`AUTH_TOKEN_MISMATCH`…).
    pub error_code: Option<String>,
    pub close: Option<Close>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetAuth {
    pub role: Option<String>,
    pub scopes: Vec<String>,
    pub capability: Capability,
    /// Where the credentials came from (`--token`, `gateway.auth.token`…), never the value.
    #[serde(rename = "credentialSource")]
    pub credential_source: Option<String>,
    /// Whether the connect was signed with this CLI's device identity.
    #[serde(rename = "deviceIdentity")]
    pub device_identity: bool,
    /// The shared secret the gateway refused before the device token got in, if it did.
    #[serde(rename = "rejectedCredential", skip_serializing_if = "Option::is_none")]
    pub rejected_credential: Option<RejectedCredential>,
}

/// A credential the gateway refused (never its value).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RejectedCredential {
    /// Where it came from (`--token`, `gateway.auth.token`…).
    pub source: Option<String>,
    pub error: String,
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub version: Option<String>,
    pub conn_id: Option<String>,
    pub protocol: Option<u32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tunnel {
    pub kind: String,
    pub target: String,
    pub local_port: u16,
    pub remote_port: u16,
    pub pid: Option<u32>,
}

/// One probed gateway address.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    /// `explicit`, `sshTunnel`, `configRemote`, `localLoopback`.
    pub id: String,
    pub kind: String,
    pub url: String,
    pub active: bool,
    pub tunnel: Option<Tunnel>,
    pub connect: Connect,
    pub auth: TargetAuth,
    pub server: Server,
    /// The gateway's own presence entry (`reason: self`).
    #[serde(rename = "self")]
    pub self_: Option<Value>,
    /// `{path, exists, valid, hash, issues}` from `config.get` (never the config itself).
    pub config: Option<Value>,
    pub health: Option<Value>,
    /// The `status` payload.
    pub summary: Option<Value>,
    pub presence: Option<Value>,
    /// Results of the request's `extra_reads`, in order (`None`: the call failed). In-process
    /// only (the doctor's `logs.tail` and `last-heartbeat`): never part of the JSON contract.
    #[serde(skip)]
    pub extra_reads: Vec<Option<Value>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub local_loopback_url: String,
    pub local_tailnet_url: Option<String>,
    #[serde(rename = "tailnetIPv4")]
    pub tailnet_ipv4: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// Always `skipped`: this build does not browse mDNS (no multicast leaves the host).
    pub status: String,
    pub reason: String,
    pub count: u32,
    pub beacons: Vec<Value>,
}

/// The whole `gateway probe --json` document.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    #[serde(rename = "schema_version")]
    pub schema_version: u32,
    /// At least one target accepted the connection.
    pub ok: bool,
    /// Reachable, but the primary target's diagnostics are incomplete, or warnings exist.
    pub degraded: bool,
    pub capability: Capability,
    pub ts: u64,
    pub duration_ms: u64,
    pub timeout_ms: u64,
    pub primary_target_id: Option<String>,
    pub warnings: Vec<Warning>,
    pub network: Network,
    pub discovery: Discovery,
    pub targets: Vec<Target>,
    /// Set when the probe itself could not run (exit 3); then `targets` is empty.
    pub error: Option<String>,
}

impl ProbeReport {
    pub fn primary(&self) -> Option<&Target> {
        let id = self.primary_target_id.as_deref()?;
        self.targets.iter().find(|t| t.id == id)
    }

    /// Exit code per the monitoring contract (see [`super::exit::probe`]).
    pub fn exit_code(&self) -> i32 {
        use super::exit::probe;
        if self.error.is_some() {
            probe::COULD_NOT_RUN
        } else if !self.ok {
            probe::UNREACHABLE
        } else if self.degraded {
            probe::DEGRADED
        } else {
            probe::HEALTHY
        }
    }

    /// A one-word failure reason for metrics labels (empty when healthy).
    pub fn failure_reason(&self) -> &'static str {
        if self.error.is_some() {
            return "probe_error";
        }
        let Some(t) = self.primary().or_else(|| self.targets.first()) else {
            return "no_targets";
        };
        let c = &t.connect;
        if c.rpc_ok && self.warnings.is_empty() {
            ""
        } else if t.auth.capability == Capability::PairingPending {
            "pairing_required"
        } else if c.scope_limited {
            "scope_limited"
        } else if c
            .error_code
            .as_deref()
            .is_some_and(|e| e.starts_with("AUTH_"))
        {
            "auth_failed"
        } else if c
            .error
            .as_deref()
            .is_some_and(|e| e.contains("ECONNREFUSED"))
        {
            "connection_refused"
        } else if c.error.as_deref().is_some_and(|e| e.starts_with("timeout")) {
            "timeout"
        } else if !c.ok {
            "unreachable"
        } else if !c.rpc_ok {
            "rpc_failed"
        } else {
            "warning"
        }
    }
}
