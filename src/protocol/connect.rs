//! `ConnectParams` (spec 1.3): a closed object validated with the same error texts the
//! upstream gateway produces (`invalid connect params: <first schema error>`).

use serde_json::{Map, Value};

pub const CLIENT_IDS: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-ios",
    "openclaw-android",
    "node-host",
    "test",
    "fingerprint",
    "openclaw-probe",
    "ios-node",
];

pub const CLIENT_MODES: &[&str] = &["webchat", "cli", "ui", "backend", "node", "probe", "test"];

/// The client block of `connect`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientInfo {
    pub id: String,
    pub display_name: Option<String>,
    pub version: String,
    pub platform: String,
    pub device_family: Option<String>,
    pub model_identifier: Option<String>,
    pub mode: String,
    pub instance_id: Option<String>,
}

/// `device` block: a signed identity.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceParams {
    pub id: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: u64,
    pub nonce: String,
}

/// `auth` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthParams {
    pub token: Option<String>,
    pub bootstrap_token: Option<String>,
    pub device_token: Option<String>,
    pub password: Option<String>,
}

/// Validated connect params.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectParams {
    pub min_protocol: u64,
    pub max_protocol: u64,
    pub client: ClientInfo,
    pub caps: Vec<String>,
    pub role: Option<String>,
    pub scopes: Vec<String>,
    pub device: Option<DeviceParams>,
    pub auth: AuthParams,
    pub locale: Option<String>,
    pub user_agent: Option<String>,
}

impl ConnectParams {
    /// `"<id> <mode> v<version>"`, the client label of log lines.
    /// `<id> <mode> v<version>` for log lines: client-supplied, so escaped and capped.
    pub fn client_label(&self) -> String {
        use crate::util::log_safe;
        format!(
            "{} {} v{}",
            log_safe(&self.client.id, 64),
            log_safe(&self.client.mode, 32),
            log_safe(&self.client.version, 64)
        )
    }
}

const TOP_KEYS: &[&str] = &[
    "minProtocol",
    "maxProtocol",
    "client",
    "caps",
    "commands",
    "permissions",
    "pathEnv",
    "role",
    "scopes",
    "device",
    "auth",
    "locale",
    "userAgent",
];
const CLIENT_KEYS: &[&str] = &[
    "id",
    "displayName",
    "version",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "mode",
    "instanceId",
];
const DEVICE_KEYS: &[&str] = &["id", "publicKey", "signature", "signedAt", "nonce"];
const AUTH_KEYS: &[&str] = &["token", "bootstrapToken", "deviceToken", "password"];

fn at(path: &str, msg: &str) -> String {
    if path.is_empty() {
        msg.to_string()
    } else {
        format!("{path} {msg}")
    }
}

fn closed(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(at(
            path,
            &format!("must NOT have additional properties (additionalProperty: '{k}')"),
        )),
        None => Ok(()),
    }
}

fn required<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, String> {
    obj.get(key)
        .ok_or_else(|| at(path, &format!("must have required property '{key}'")))
}

fn int_min1(v: &Value, path: &str) -> Result<u64, String> {
    match v.as_u64() {
        Some(n) if n >= 1 => Ok(n),
        Some(_) => Err(at(path, "must be >= 1")),
        None => Err(at(path, "must be integer")),
    }
}

fn string(v: &Value, path: &str, non_empty: bool) -> Result<String, String> {
    match v.as_str() {
        Some(s) if non_empty && s.is_empty() => {
            Err(at(path, "must NOT have fewer than 1 characters"))
        }
        Some(s) => Ok(s.to_string()),
        None => Err(at(path, "must be string")),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, String> {
    obj.get(key)
        .map(|v| string(v, &format!("{path}/{key}"), false))
        .transpose()
}

fn string_array(v: &Value, path: &str) -> Result<Vec<String>, String> {
    let arr = v.as_array().ok_or_else(|| at(path, "must be array"))?;
    arr.iter()
        .enumerate()
        .map(|(i, s)| string(s, &format!("{path}/{i}"), false))
        .collect()
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| at(path, "must be object"))
}

fn one_of(v: String, allowed: &[&str], path: &str) -> Result<String, String> {
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(at(path, "must be equal to one of the allowed values"))
    }
}

/// Validate connect params; `Err` is the text after `invalid connect params: `.
pub fn parse(params: &Value) -> Result<ConnectParams, String> {
    let obj = object(params, "")?;
    let min_protocol = int_min1(required(obj, "minProtocol", "")?, "/minProtocol")?;
    let max_protocol = int_min1(required(obj, "maxProtocol", "")?, "/maxProtocol")?;
    let client_v = object(required(obj, "client", "")?, "/client")?;
    closed(obj, TOP_KEYS, "")?;

    closed(client_v, CLIENT_KEYS, "/client")?;
    let client = ClientInfo {
        id: one_of(
            string(required(client_v, "id", "/client")?, "/client/id", true)?,
            CLIENT_IDS,
            "/client/id",
        )?,
        display_name: opt_string(client_v, "displayName", "/client")?,
        version: string(
            required(client_v, "version", "/client")?,
            "/client/version",
            true,
        )?,
        platform: string(
            required(client_v, "platform", "/client")?,
            "/client/platform",
            true,
        )?,
        device_family: opt_string(client_v, "deviceFamily", "/client")?,
        model_identifier: opt_string(client_v, "modelIdentifier", "/client")?,
        mode: one_of(
            string(required(client_v, "mode", "/client")?, "/client/mode", true)?,
            CLIENT_MODES,
            "/client/mode",
        )?,
        instance_id: opt_string(client_v, "instanceId", "/client")?,
    };

    let caps = obj
        .get("caps")
        .map(|v| string_array(v, "/caps"))
        .transpose()?
        .unwrap_or_default();
    if let Some(v) = obj.get("commands") {
        string_array(v, "/commands")?;
    }
    if let Some(v) = obj.get("permissions") {
        let perms = object(v, "/permissions")?;
        for (k, b) in perms {
            if !b.is_boolean() {
                return Err(at(&format!("/permissions/{k}"), "must be boolean"));
            }
        }
    }
    opt_string(obj, "pathEnv", "")?;
    let role = opt_string(obj, "role", "")?;
    let scopes = obj
        .get("scopes")
        .map(|v| string_array(v, "/scopes"))
        .transpose()?
        .unwrap_or_default();

    let device = match obj.get("device") {
        None => None,
        Some(v) => {
            let d = object(v, "/device")?;
            let id = string(required(d, "id", "/device")?, "/device/id", true)?;
            let public_key = string(
                required(d, "publicKey", "/device")?,
                "/device/publicKey",
                true,
            )?;
            let signature = string(
                required(d, "signature", "/device")?,
                "/device/signature",
                true,
            )?;
            let signed_at = required(d, "signedAt", "/device")?
                .as_u64()
                .ok_or_else(|| at("/device/signedAt", "must be integer"))?;
            let nonce = string(required(d, "nonce", "/device")?, "/device/nonce", false)?;
            closed(d, DEVICE_KEYS, "/device")?;
            Some(DeviceParams {
                id,
                public_key,
                signature,
                signed_at,
                nonce,
            })
        }
    };

    let auth = match obj.get("auth") {
        None => AuthParams::default(),
        Some(v) => {
            let a = object(v, "/auth")?;
            closed(a, AUTH_KEYS, "/auth")?;
            AuthParams {
                token: opt_string(a, "token", "/auth")?,
                bootstrap_token: opt_string(a, "bootstrapToken", "/auth")?,
                device_token: opt_string(a, "deviceToken", "/auth")?,
                password: opt_string(a, "password", "/auth")?,
            }
        }
    };

    Ok(ConnectParams {
        min_protocol,
        max_protocol,
        client,
        caps,
        role,
        scopes,
        device,
        auth,
        locale: opt_string(obj, "locale", "")?,
        user_agent: opt_string(obj, "userAgent", "")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"minProtocol": 3, "maxProtocol": 4,
               "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "probe"},
               "scopes": ["operator.read"], "auth": {"token": "t"}})
    }

    #[test]
    fn accepts_a_cli_probe() {
        let p = parse(&good()).unwrap();
        assert_eq!(p.client.mode, "probe");
        assert_eq!(p.auth.token.as_deref(), Some("t"));
    }

    #[test]
    fn first_missing_property_matches_upstream_text() {
        let e = parse(&json!({"auth": {"token": "x"}})).unwrap_err();
        assert_eq!(e, "must have required property 'minProtocol'");
    }

    #[test]
    fn closed_objects_and_enums() {
        let mut v = good();
        v["bogus"] = json!(1);
        assert!(parse(&v)
            .unwrap_err()
            .contains("must NOT have additional properties"));
        let mut v = good();
        v["client"]["id"] = json!("nope");
        assert_eq!(
            parse(&v).unwrap_err(),
            "/client/id must be equal to one of the allowed values"
        );
        let mut v = good();
        v["minProtocol"] = json!(0);
        assert_eq!(parse(&v).unwrap_err(), "/minProtocol must be >= 1");
    }
}
