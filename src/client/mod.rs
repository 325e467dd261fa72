//! The WebSocket client used by every command: waits for `connect.challenge`, sends
//! `connect` (optionally signed with the device identity), then runs RPCs. Every step has
//! its own timeout and a failure names the step.

pub mod credentials;
pub mod probe;
pub mod ssh;

use crate::config::secret::Secret;
use crate::protocol::error::ErrorShape;
use crate::protocol::{self, close, device};
use crate::state::identity::DeviceIdentity;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What to connect as.
#[derive(Clone)]
pub struct ConnectOptions<'a> {
    pub url: String,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    /// A device token the gateway issued to this identity (`auth.deviceToken`).
    pub device_token: Option<Secret>,
    pub client_id: &'static str,
    pub mode: &'static str,
    pub scopes: Vec<String>,
    pub identity: Option<&'a DeviceIdentity>,
    /// Budget for the whole connect (TCP, upgrade, challenge, hello).
    pub timeout: Duration,
}

/// The step a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Open,
    Challenge,
    Hello,
    Rpc,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Challenge => "challenge",
            Step::Hello => "hello",
            Step::Rpc => "rpc",
        }
    }
}

/// Why a connect failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    /// TCP or the HTTP upgrade failed (`connect ECONNREFUSED 127.0.0.1:18789`).
    Open(String),
    /// No answer within the budget.
    Timeout(Step),
    /// The gateway refused `connect` (the response error), then usually closed.
    Rejected {
        error: ErrorShape,
        close: Option<(u16, String)>,
    },
    /// The socket closed before `hello-ok`.
    Closed { code: u16, reason: String },
    /// The gateway spoke something this client does not understand.
    Protocol(String),
}

impl ConnectError {
    /// The close frame, as the probe reports it (`1006` when the socket just dropped).
    pub fn close(&self) -> Option<(u16, String)> {
        match self {
            ConnectError::Open(_) => Some((1006, String::new())),
            ConnectError::Rejected { close, .. } => close.clone(),
            ConnectError::Closed { code, reason } => Some((*code, reason.clone())),
            _ => None,
        }
    }

    /// Did the gateway accept the WebSocket (i.e. something is listening and speaking)?
    pub fn transport_ok(&self) -> bool {
        !matches!(
            self,
            ConnectError::Open(_) | ConnectError::Timeout(Step::Open)
        )
    }

    pub fn detail_code(&self) -> Option<&str> {
        match self {
            ConnectError::Rejected { error, .. } => error.detail_code(),
            _ => None,
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Open(e) => f.write_str(e),
            ConnectError::Timeout(step) => write!(f, "timeout (step: {})", step.as_str()),
            ConnectError::Rejected { error, .. } => f.write_str(&error.message),
            ConnectError::Closed { code, reason } => write!(f, "gateway closed ({code}): {reason}"),
            ConnectError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// An RPC failure.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    Error(ErrorShape),
    Timeout,
    Closed { code: u16, reason: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Error(e) => f.write_str(&e.message),
            CallError::Timeout => f.write_str("timeout (step: rpc)"),
            CallError::Closed { code, reason } => write!(f, "gateway closed ({code}): {reason}"),
        }
    }
}

impl CallError {
    pub fn is_missing_scope(&self) -> bool {
        matches!(self, CallError::Error(e) if e.message.starts_with("missing scope: "))
    }
}

/// An open, authenticated connection.
pub struct Connection {
    ws: Ws,
    pub hello: crate::protocol::hello::HelloOk,
    pub protocol: u32,
    /// Scopes the gateway granted (v4 `hello-ok.auth.scopes`; v3: what was asked for).
    pub scopes: Vec<String>,
    pub role: String,
    pub connect_ms: u64,
    /// How the gateway authenticated this connection.
    pub auth: AuthUsed,
    next_id: u64,
}

/// What really authenticated a connection (a probe reports this, not what it was given).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum AuthUsed {
    /// The shared token or password it was given, or no credential at all.
    #[default]
    AsGiven,
    /// This CLI's stored device token, sent because it had no shared secret.
    DeviceToken,
    /// The stored device token, after the gateway refused the shared secret with this
    /// error (upstream's `canRetryWithDeviceToken` retry on a trusted endpoint).
    DeviceTokenAfterRejection(ErrorShape),
}

fn open_error(url: &str, e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    let hostport = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    match e {
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connect ECONNREFUSED {hostport}"),
            std::io::ErrorKind::TimedOut => format!("connect ETIMEDOUT {hostport}"),
            _ => format!("connect {hostport}: {io}"),
        },
        E::Http(resp) => format!(
            "unexpected HTTP {} from {hostport} (not a gateway WebSocket)",
            resp.status()
        ),
        other => format!("connect {hostport}: {other}"),
    }
}

fn close_of(msg: &Message) -> Option<(u16, String)> {
    match msg {
        Message::Close(Some(f)) => Some((f.code.into(), f.reason.to_string())),
        Message::Close(None) => Some((1005, String::new())),
        _ => None,
    }
}

/// The next JSON text frame before `deadline`; a close or a dropped socket ends the
/// handshake with the close code, a timeout names `step`.
async fn next_json(
    ws: &mut Ws,
    deadline: tokio::time::Instant,
    step: Step,
) -> Result<Value, ConnectError> {
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(ConnectError::Timeout(step)),
            Ok(None) | Ok(Some(Err(_))) => {
                return Err(ConnectError::Closed {
                    code: 1006,
                    reason: String::new(),
                })
            }
            Ok(Some(Ok(m))) => m,
        };
        if let Some((code, reason)) = close_of(&msg) {
            return Err(ConnectError::Closed { code, reason });
        }
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str())
                .map_err(|e| ConnectError::Protocol(e.to_string()));
        }
    }
}

/// Open a connection and complete the handshake.
pub async fn connect(opts: &ConnectOptions<'_>) -> Result<Connection, ConnectError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let (mut ws, _) = match tokio::time::timeout_at(
        deadline,
        tokio_tungstenite::connect_async(&opts.url),
    )
    .await
    {
        Err(_) => return Err(ConnectError::Timeout(Step::Open)),
        Ok(Err(e)) => return Err(ConnectError::Open(open_error(&opts.url, &e))),
        Ok(Ok(x)) => x,
    };
    // 1. challenge
    let nonce = loop {
        let v = next_json(&mut ws, deadline, Step::Challenge).await?;
        if v["type"] == "event" && v["event"] == protocol::methods::EV_CONNECT_CHALLENGE {
            break v["payload"]["nonce"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
    };
    // 2. connect
    let mut auth = serde_json::Map::new();
    if let Some(t) = &opts.token {
        auth.insert("token".into(), json!(t.expose()));
    }
    if let Some(p) = &opts.password {
        auth.insert("password".into(), json!(p.expose()));
    }
    if let Some(d) = &opts.device_token {
        auth.insert("deviceToken".into(), json!(d.expose()));
    }
    let platform = std::env::consts::OS;
    let mut params = json!({
        "minProtocol": protocol::MIN_PROTOCOL_VERSION,
        "maxProtocol": protocol::PROTOCOL_VERSION,
        "client": {
            "id": opts.client_id,
            "version": env!("CARGO_PKG_VERSION"),
            "platform": platform,
            "mode": opts.mode,
            "instanceId": uuid::Uuid::new_v4().to_string(),
        },
        "role": "operator",
        "scopes": opts.scopes,
        "caps": [],
        "auth": auth,
        "userAgent": format!("openclaw-rs/{}", env!("CARGO_PKG_VERSION")),
    });
    if let Some(id) = opts.identity {
        let signed_at = crate::util::now_ms();
        // The signature covers the token that authenticates: shared, else the device token.
        let token = opts
            .token
            .as_ref()
            .or(opts.device_token.as_ref())
            .map(|t| t.expose())
            .unwrap_or("");
        let payload = device::payload_v3(&device::PayloadFields {
            device_id: &id.device_id,
            client_id: opts.client_id,
            client_mode: opts.mode,
            role: "operator",
            scopes: &opts.scopes,
            signed_at_ms: signed_at,
            token,
            nonce: &nonce,
            platform: Some(platform),
            device_family: None,
        });
        params["device"] = json!({
            "id": id.device_id,
            "publicKey": id.public_key_b64url(),
            "signature": id.sign_b64url(&payload),
            "signedAt": signed_at,
            "nonce": nonce,
        });
    }
    let req = json!({"type": "req", "id": "connect", "method": "connect", "params": params});
    if ws.send(Message::text(req.to_string())).await.is_err() {
        return Err(ConnectError::Closed {
            code: 1006,
            reason: String::new(),
        });
    }
    // 3. hello
    let hello = loop {
        let v = next_json(&mut ws, deadline, Step::Hello).await?;
        if v["type"] != "res" || v["id"] != "connect" {
            continue;
        }
        if v["ok"] == true {
            break v["payload"].clone();
        }
        let error: ErrorShape = serde_json::from_value(v["error"].clone())
            .unwrap_or_else(|_| ErrorShape::invalid(v["error"].to_string()));
        // The gateway closes right after a refusal; pick the close up if it comes promptly.
        let close = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Ok(Some(Ok(m))) => close_of(&m),
            _ => None,
        };
        return Err(ConnectError::Rejected { error, close });
    };
    let hello: crate::protocol::hello::HelloOk = serde_json::from_value(hello).unwrap_or_default();
    let protocol = hello.protocol;
    let scopes = hello
        .auth
        .as_ref()
        .map_or_else(|| opts.scopes.clone(), |a| a.scopes.clone());
    let role = hello
        .auth
        .as_ref()
        .map(|a| a.role.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "operator".to_string());
    Ok(Connection {
        ws,
        hello,
        protocol,
        scopes,
        role,
        connect_ms: started.elapsed().as_millis() as u64,
        auth: AuthUsed::AsGiven,
        next_id: 0,
    })
}

/// A loopback URL: the only endpoint this client retries with its stored device token.
fn trusted_endpoint(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or("");
    let host = match rest.strip_prefix('[') {
        Some(r) => r.split(']').next().unwrap_or(""),
        None => rest.split([':', '/']).next().unwrap_or(""),
    };
    crate::config::gateway::is_loopback_host(host)
}

/// [`connect`] with the device-token cache in `state_dir` (upstream's client behaviour):
/// without a shared secret the stored token for this identity is sent; after
/// `AUTH_TOKEN_MISMATCH` with `canRetryWithDeviceToken` one retry uses it (loopback only);
/// a token in `hello-ok.auth` is stored, and one the gateway rejects is forgotten.
pub async fn connect_with_device_auth(
    opts: &ConnectOptions<'_>,
    state_dir: &std::path::Path,
) -> Result<Connection, ConnectError> {
    use crate::state::device_auth;
    let Some(id) = opts.identity else {
        return connect(opts).await;
    };
    let role = "operator";
    let stored = device_auth::load(state_dir, &id.device_id, role);
    let mut first = opts.clone();
    let mut sent_stored = false;
    if first.token.is_none() && first.password.is_none() && first.device_token.is_none() {
        if let Some(s) = &stored {
            first.device_token = Some(s.token.clone());
            // A stored token covers the scopes it was issued for; ask for those.
            if !s.scopes.is_empty() {
                first.scopes = s.scopes.clone();
            }
            sent_stored = true;
        }
    }
    let mut result = connect(&first).await;
    let mut used = if sent_stored {
        AuthUsed::DeviceToken
    } else {
        AuthUsed::AsGiven
    };
    if let (Err(ConnectError::Rejected { error, .. }), Some(s)) = (&result, &stored) {
        let can_retry = error.detail_code() == Some("AUTH_TOKEN_MISMATCH")
            && error
                .details
                .as_ref()
                .and_then(|d| d.get("canRetryWithDeviceToken"))
                .and_then(Value::as_bool)
                == Some(true);
        if can_retry && first.device_token.is_none() && trusted_endpoint(&opts.url) {
            let mut retry = opts.clone();
            retry.device_token = Some(s.token.clone());
            sent_stored = true;
            used = AuthUsed::DeviceTokenAfterRejection(error.clone());
            result = connect(&retry).await;
        }
    }
    if let Ok(c) = &mut result {
        c.auth = used;
    }
    match &result {
        Ok(c) => {
            if let Some(t) = c
                .hello
                .auth
                .as_ref()
                .and_then(|a| a.device_token.as_deref())
            {
                let _ = device_auth::save(state_dir, &id.device_id, role, t, &c.scopes);
            }
        }
        // Refused although the stored token was presented: the gateway no longer knows it.
        Err(e)
            if sent_stored
                && matches!(
                    e.detail_code(),
                    Some("AUTH_DEVICE_TOKEN_MISMATCH" | "AUTH_TOKEN_MISMATCH")
                ) =>
        {
            let _ = device_auth::forget(state_dir, &id.device_id, role);
        }
        Err(_) => {}
    }
    result
}

impl Connection {
    /// Send several requests at once and collect their responses (events are skipped).
    pub async fn call_many(
        &mut self,
        calls: &[(&str, Value)],
        timeout: Duration,
    ) -> Vec<Result<Value, CallError>> {
        let mut ids = Vec::with_capacity(calls.len());
        for (method, params) in calls {
            self.next_id += 1;
            let id = format!("r{}", self.next_id);
            let req = json!({"type": "req", "id": id, "method": method, "params": params});
            if self.ws.send(Message::text(req.to_string())).await.is_err() {
                return calls
                    .iter()
                    .map(|_| {
                        Err(CallError::Closed {
                            code: 1006,
                            reason: String::new(),
                        })
                    })
                    .collect();
            }
            ids.push(id);
        }
        let mut results: HashMap<String, Result<Value, CallError>> = HashMap::new();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut closed: Option<CallError> = None;
        while results.len() < ids.len() && closed.is_none() {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => break,
                Ok(None) | Ok(Some(Err(_))) => {
                    closed = Some(CallError::Closed {
                        code: 1006,
                        reason: String::new(),
                    });
                    break;
                }
                Ok(Some(Ok(m))) => m,
            };
            if let Some((code, reason)) = close_of(&msg) {
                closed = Some(CallError::Closed { code, reason });
                break;
            }
            let Message::Text(t) = msg else { continue };
            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                continue;
            };
            let Some(id) = v["id"].as_str().filter(|_| v["type"] == "res") else {
                continue;
            };
            let r = if v["ok"] == true {
                Ok(v["payload"].clone())
            } else {
                Err(CallError::Error(
                    serde_json::from_value(v["error"].clone())
                        .unwrap_or_else(|_| ErrorShape::invalid(v["error"].to_string())),
                ))
            };
            results.insert(id.to_string(), r);
        }
        ids.iter()
            .map(|id| {
                results
                    .remove(id)
                    .unwrap_or_else(|| Err(closed.clone().unwrap_or(CallError::Timeout)))
            })
            .collect()
    }

    pub async fn call(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        self.call_many(&[(method, params)], timeout).await.remove(0)
    }

    /// A two-phase call (`agent`): an `accepted` response is skipped and the next response
    /// with the same id is the result (upstream's `expectFinal`). `on_event` sees every
    /// event that arrives meanwhile (`agent`, `chat`).
    pub async fn call_final(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
        on_event: &mut (dyn FnMut(&str, &Value) + Send),
    ) -> Result<Value, CallError> {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let req = json!({"type": "req", "id": id, "method": method, "params": params});
        if self.ws.send(Message::text(req.to_string())).await.is_err() {
            return Err(CallError::Closed {
                code: 1006,
                reason: String::new(),
            });
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(CallError::Timeout),
                Ok(None) | Ok(Some(Err(_))) => {
                    return Err(CallError::Closed {
                        code: 1006,
                        reason: String::new(),
                    })
                }
                Ok(Some(Ok(m))) => m,
            };
            if let Some((code, reason)) = close_of(&msg) {
                return Err(CallError::Closed { code, reason });
            }
            let Message::Text(t) = msg else { continue };
            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                continue;
            };
            if v["type"] == "event" {
                if let Some(name) = v["event"].as_str() {
                    on_event(name, &v["payload"]);
                }
                continue;
            }
            if v["type"] != "res" || v["id"].as_str() != Some(id.as_str()) {
                continue;
            }
            if v["ok"] != true {
                return Err(CallError::Error(
                    serde_json::from_value(v["error"].clone())
                        .unwrap_or_else(|_| ErrorShape::invalid(v["error"].to_string())),
                ));
            }
            if v["payload"]["status"] == "accepted" {
                continue;
            }
            return Ok(v["payload"].clone());
        }
    }

    /// Close politely (bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(200), self.ws.close(None)).await;
    }
}

/// Scopes a read-only probe asks for.
pub fn probe_scopes() -> Vec<String> {
    vec![protocol::scopes::READ.to_string()]
}

/// Scopes ordinary CLI calls ask for.
pub fn cli_scopes() -> Vec<String> {
    protocol::scopes::CLI_DEFAULT_SCOPES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The `PAIRING_REQUIRED` / `pairing required` signal.
/// The CLI's device identity in `state_dir`: used when present, created when the CLI holds
/// credentials (so a real gateway can pair this CLI silently on loopback).
pub fn cli_identity(state_dir: &std::path::Path, has_credentials: bool) -> Option<DeviceIdentity> {
    match DeviceIdentity::load(state_dir) {
        Ok(Some(id)) => Some(id),
        Ok(None) if has_credentials => DeviceIdentity::load_or_create(state_dir).ok(),
        _ => None,
    }
}

pub fn is_pairing_required(e: &ConnectError) -> bool {
    e.detail_code() == Some("PAIRING_REQUIRED")
        || matches!(e, ConnectError::Rejected { error, .. } if error.code == crate::protocol::error::NOT_PAIRED && error.message.starts_with("pairing required"))
        || matches!(e.close(), Some((c, r)) if c == close::POLICY && r.starts_with("pairing required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_required_is_recognised_in_v3_and_v4_shapes() {
        let v3 = ConnectError::Rejected {
            error: ErrorShape::new("NOT_PAIRED", "pairing required").with_details(
                json!({"code": "PAIRING_REQUIRED", "requestId": "r1", "reason": "not-paired"}),
            ),
            close: Some((1008, "pairing required".into())),
        };
        assert!(is_pairing_required(&v3));
        let v4_close_only = ConnectError::Closed {
            code: 1008,
            reason: "pairing required: device is not approved yet (requestId: r2)".into(),
        };
        assert!(is_pairing_required(&v4_close_only));
        assert_eq!(
            v4_close_only.to_string(),
            "gateway closed (1008): pairing required: device is not approved yet (requestId: r2)"
        );
        let other = ConnectError::Closed {
            code: 1008,
            reason: "device identity required".into(),
        };
        assert!(!is_pairing_required(&other));
    }
}
