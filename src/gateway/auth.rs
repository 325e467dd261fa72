//! Connect-time checks after params validation: protocol negotiation, role, device
//! signature (spec 1.6), and shared-secret auth (spec 1.7). Pure: no sockets, no clock reads
//! beyond the `now_ms` passed in.

use crate::config::gateway::{AuthMode, AuthSettings};
use crate::protocol::auth::{self as pauth, AuthFailure, ClientKind};
use crate::protocol::connect::ConnectParams;
use crate::protocol::error::ErrorShape;
use crate::protocol::{self, close, device, scopes};
use serde_json::json;

/// A refused connect: the response error, then the close.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub error: ErrorShape,
    pub close_code: u16,
    pub close_reason: String,
}

impl Rejection {
    fn policy(error: ErrorShape) -> Self {
        let reason = close::truncate_reason(&error.message);
        Rejection {
            error,
            close_code: close::POLICY,
            close_reason: reason,
        }
    }
}

/// What an accepted connect is granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted {
    pub protocol: u32,
    pub role: String,
    pub scopes: Vec<String>,
    /// `token`, `password`, `none`.
    pub method: &'static str,
    pub device_id: Option<String>,
    /// The device token record issued or reused for this connection (`hello-ok.auth`).
    pub device_token: Option<serde_json::Value>,
}

fn device_error(code: &str, reason: &str, message: &str) -> Rejection {
    Rejection::policy(
        ErrorShape::invalid(message).with_details(json!({"code": code, "reason": reason})),
    )
}

/// Verify the `device` block against the challenge nonce.
fn verify_device(
    p: &ConnectParams,
    nonce: &str,
    role: &str,
    now_ms: u64,
) -> Result<Option<String>, Rejection> {
    let Some(d) = &p.device else { return Ok(None) };
    let Some(raw) = device::decode_public_key(&d.public_key) else {
        return Err(device_error(
            "DEVICE_AUTH_PUBLIC_KEY_INVALID",
            "device-public-key",
            "device public key invalid",
        ));
    };
    if device::device_id(&raw) != d.id {
        return Err(device_error(
            "DEVICE_AUTH_DEVICE_ID_MISMATCH",
            "device-id-mismatch",
            "device identity mismatch",
        ));
    }
    if now_ms.abs_diff(d.signed_at) > device::SIGNATURE_SKEW_MS {
        return Err(device_error(
            "DEVICE_AUTH_SIGNATURE_EXPIRED",
            "device-signature-stale",
            "device signature expired",
        ));
    }
    if d.nonce.is_empty() {
        return Err(device_error(
            "DEVICE_AUTH_NONCE_REQUIRED",
            "device-nonce-missing",
            "device nonce required",
        ));
    }
    if d.nonce != nonce {
        return Err(device_error(
            "DEVICE_AUTH_NONCE_MISMATCH",
            "device-nonce-mismatch",
            "device nonce mismatch",
        ));
    }
    let token = p
        .auth
        .token
        .as_deref()
        .or(p.auth.device_token.as_deref())
        .or(p.auth.bootstrap_token.as_deref())
        .unwrap_or("");
    let fields = device::PayloadFields {
        device_id: &d.id,
        client_id: &p.client.id,
        client_mode: &p.client.mode,
        role,
        scopes: &p.scopes,
        signed_at_ms: d.signed_at,
        token,
        nonce: &d.nonce,
        platform: Some(&p.client.platform),
        device_family: p.client.device_family.as_deref(),
    };
    let ok = device::verify(&raw, &device::payload_v3(&fields), &d.signature)
        || device::verify(&raw, &device::payload_v2(&fields), &d.signature);
    if !ok {
        return Err(device_error(
            "DEVICE_AUTH_SIGNATURE_INVALID",
            "device-signature",
            "device signature invalid",
        ));
    }
    Ok(Some(d.id.clone()))
}

/// Decide a connect (no device token presented or it did not verify).
pub fn authorize(
    p: &ConnectParams,
    nonce: &str,
    auth: &AuthSettings,
    now_ms: u64,
) -> Result<Granted, Rejection> {
    authorize_with(p, nonce, auth, now_ms, false)
}

/// Decide a connect. `device_token_ok` says the presented `auth.deviceToken` verified
/// against the pairing store for this device and role (checked by the caller, which owns
/// the store); it stands in for the shared secret, as upstream's device-token auth does.
pub fn authorize_with(
    p: &ConnectParams,
    nonce: &str,
    auth: &AuthSettings,
    now_ms: u64,
    device_token_ok: bool,
) -> Result<Granted, Rejection> {
    let Some(proto) = protocol::negotiate(p.min_protocol, p.max_protocol) else {
        return Err(Rejection {
            error: ErrorShape::invalid(close::REASON_PROTOCOL_MISMATCH).with_details(json!({
                "code": "PROTOCOL_MISMATCH",
                "clientMinProtocol": p.min_protocol,
                "clientMaxProtocol": p.max_protocol,
                "expectedProtocol": protocol::PROTOCOL_VERSION,
                "minimumProbeProtocol": protocol::MIN_PROTOCOL_VERSION,
            })),
            close_code: close::PROTOCOL_ERROR,
            close_reason: close::REASON_PROTOCOL_MISMATCH.into(),
        });
    };
    let role = p
        .role
        .clone()
        .unwrap_or_else(|| scopes::ROLE_OPERATOR.to_string());
    if role != scopes::ROLE_OPERATOR && role != scopes::ROLE_NODE {
        return Err(Rejection {
            error: ErrorShape::invalid(close::REASON_INVALID_ROLE),
            close_code: close::POLICY,
            close_reason: close::REASON_INVALID_ROLE.into(),
        });
    }
    let device_id = verify_device(p, nonce, &role, now_ms)?;
    let kind = ClientKind::of(&p.client.id, &p.client.mode);
    let fail = |f: AuthFailure| {
        // A signed device without an explicit device token may retry once with its stored one.
        let can_retry = device_id.is_some() && p.auth.device_token.is_none();
        Err(Rejection::policy(pauth::error_shape(
            f, kind, proto, can_retry, None,
        )))
    };
    let method = match auth.mode {
        AuthMode::None => "none",
        AuthMode::Token => {
            let Some((expected, _)) = &auth.token else {
                if device_token_ok {
                    return granted(p, proto, role, "device-token", device_id);
                }
                return fail(AuthFailure::TokenNotConfigured);
            };
            match p.auth.token.as_deref().filter(|t| !t.is_empty()) {
                Some(t) if expected.matches(t) => "token",
                _ if device_token_ok => "device-token",
                Some(_) => return fail(AuthFailure::TokenMismatch),
                None if p.auth.device_token.is_some() => {
                    return fail(AuthFailure::DeviceTokenMismatch)
                }
                None => return fail(AuthFailure::TokenMissing),
            }
        }
        AuthMode::Password => {
            let Some((expected, _)) = &auth.password else {
                return fail(AuthFailure::PasswordNotConfigured);
            };
            match p.auth.password.as_deref().filter(|t| !t.is_empty()) {
                Some(t) if expected.matches(t) => "password",
                _ if device_token_ok => "device-token",
                Some(_) => return fail(AuthFailure::PasswordMismatch),
                None => return fail(AuthFailure::PasswordMissing),
            }
        }
        AuthMode::TrustedProxy => return fail(AuthFailure::Unauthorized),
    };
    granted(p, proto, role, method, device_id)
}

/// Operator auth by shared secret, device token or open mode keeps the requested scopes;
/// nodes get no operator scopes.
fn granted(
    p: &ConnectParams,
    protocol: u32,
    role: String,
    method: &'static str,
    device_id: Option<String>,
) -> Result<Granted, Rejection> {
    let scopes = if role == scopes::ROLE_OPERATOR {
        p.scopes.clone()
    } else {
        Vec::new()
    };
    Ok(Granted {
        protocol,
        role,
        scopes,
        method,
        device_id,
        device_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gateway::SecretSource;
    use crate::config::secret::Secret;
    use crate::protocol::connect;
    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::{json, Value};

    fn token_auth() -> AuthSettings {
        AuthSettings {
            mode: AuthMode::Token,
            mode_explicit: true,
            token: Some((Secret::new("good"), SecretSource::Config)),
            password: None,
        }
    }

    fn params(v: Value) -> ConnectParams {
        connect::parse(&v).unwrap()
    }

    fn base(token: Option<&str>) -> Value {
        let mut v = json!({"minProtocol": 3, "maxProtocol": 4,
            "client": {"id": "gateway-client", "version": "1", "platform": "linux", "mode": "backend"},
            "scopes": ["operator.read"]});
        if let Some(t) = token {
            v["auth"] = json!({"token": t});
        }
        v
    }

    #[test]
    fn token_paths() {
        let g = authorize(&params(base(Some("good"))), "n", &token_auth(), 0).unwrap();
        assert_eq!((g.protocol, g.method), (4, "token"));
        assert_eq!(g.scopes, vec!["operator.read"]);
        let r = authorize(&params(base(Some("bad"))), "n", &token_auth(), 0).unwrap_err();
        assert_eq!(r.error.detail_code(), Some("AUTH_TOKEN_MISMATCH"));
        assert_eq!(r.close_code, 1008);
        let r = authorize(&params(base(None)), "n", &token_auth(), 0).unwrap_err();
        assert_eq!(r.error.detail_code(), Some("AUTH_TOKEN_MISSING"));
    }

    #[test]
    fn protocol_mismatch_closes_1002() {
        let mut v = base(Some("good"));
        v["minProtocol"] = json!(99);
        v["maxProtocol"] = json!(99);
        let r = authorize(&params(v), "n", &token_auth(), 0).unwrap_err();
        assert_eq!(
            (r.close_code, r.close_reason.as_str()),
            (1002, "protocol mismatch")
        );
    }

    #[test]
    fn device_signature_checks() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let raw = key.verifying_key().to_bytes();
        let id = device::device_id(&raw);
        let now = 1_795_458_847_835u64;
        let mut v = base(Some("good"));
        v["client"] = json!({"id": "cli", "version": "1", "platform": "linux", "mode": "cli"});
        let scopes = vec!["operator.read".to_string()];
        let payload = device::payload_v3(&device::PayloadFields {
            device_id: &id,
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &scopes,
            signed_at_ms: now,
            token: "good",
            nonce: "abc",
            platform: Some("linux"),
            device_family: None,
        });
        let sig = device::encode_b64url(&key.sign(payload.as_bytes()).to_bytes());
        v["device"] = json!({"id": id, "publicKey": device::encode_b64url(&raw), "signature": sig, "signedAt": now, "nonce": "abc"});
        let g = authorize(&params(v.clone()), "abc", &token_auth(), now).unwrap();
        assert_eq!(g.device_id.as_deref(), Some(id.as_str()));
        let r = authorize(&params(v.clone()), "other", &token_auth(), now).unwrap_err();
        assert_eq!(r.error.message, "device nonce mismatch");
        let r = authorize(&params(v.clone()), "abc", &token_auth(), now + 200_000).unwrap_err();
        assert_eq!(r.error.message, "device signature expired");
        let mut bad = v.clone();
        bad["scopes"] = json!(["operator.admin"]);
        let r = authorize(&params(bad), "abc", &token_auth(), now).unwrap_err();
        assert_eq!(r.error.message, "device signature invalid");
        let mut wrong = v.clone();
        wrong["auth"] = json!({"token": "bad"});
        // Signature covers the token, so re-sign is needed for a pure mismatch; the
        // invalid signature is reported first.
        assert!(authorize(&params(wrong), "abc", &token_auth(), now).is_err());
    }
}
