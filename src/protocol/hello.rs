//! `hello-ok`, the payload of a successful `connect` (spec 1.x): built by the gateway and
//! read by the client through the same types. Reading is lenient (a real gateway sends
//! much more; unknown fields are ignored, missing ones default), writing is exact.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloOk {
    /// Always `hello-ok`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub protocol: u32,
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub features: Features,
    #[serde(default)]
    pub snapshot: Snapshot,
    #[serde(default)]
    pub policy: Policy,
    /// v3: only when a device token was issued; v4: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HelloAuth>,
}

impl Default for HelloOk {
    fn default() -> Self {
        HelloOk {
            kind: "hello-ok".into(),
            protocol: 0,
            server: Server::default(),
            features: Features::default(),
            snapshot: Snapshot::default(),
            policy: Policy::default(),
            auth: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub conn_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(default)]
    pub presence: Vec<Value>,
    #[serde(default)]
    pub health: Value,
    #[serde(default)]
    pub state_version: Value,
    #[serde(default)]
    pub uptime_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<String>,
    #[serde(default)]
    pub session_defaults: Value,
    /// Admin connections only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    pub max_payload: u64,
    #[serde(default)]
    pub max_buffered_bytes: u64,
    #[serde(default)]
    pub tick_interval_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloAuth {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// v4: how the connection authenticated (`token`, `password`, `device-token`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// With a device token: when it was issued or last rotated (null when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_real_2026_9_6_hello_and_ignores_what_it_does_not_know() {
        let real = serde_json::json!({
            "type": "hello-ok", "protocol": 4,
            "server": {"version": "2026.9.6", "buildId": "x", "connId": "c1", "bootId": "b"},
            "features": {"methods": ["health"], "events": ["tick"], "capabilities": ["y"]},
            "snapshot": {"suspension": {"phase": "accepting"}, "presence": [], "uptimeMs": 5},
            "auth": {"method": "token", "role": "operator", "scopes": ["operator.read"],
                     "deviceToken": "dt", "issuedAtMs": 7, "recoveryScope": "z"},
            "policy": {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": 30000,
                       "attachments": {"maxBytes": 1}},
        });
        let h: HelloOk = serde_json::from_value(real).unwrap();
        assert_eq!(h.server.version, "2026.9.6");
        assert_eq!(h.server.conn_id, "c1");
        let auth = h.auth.unwrap();
        assert_eq!(auth.device_token.as_deref(), Some("dt"));
        assert_eq!(auth.scopes, vec!["operator.read"]);
        assert_eq!(h.policy.tick_interval_ms, 30000);
        // Missing everything: defaults, no panic.
        let empty: HelloOk = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(empty.protocol, 0);
        assert!(empty.auth.is_none());
    }
}
