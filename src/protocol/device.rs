//! Device identity on the wire (spec 1.6): payload strings that are signed, the device id
//! derivation, public-key decoding and signature verification. Pure functions.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Clock skew allowed between `signedAt` and the gateway's clock.
pub const SIGNATURE_SKEW_MS: u64 = 120_000;
/// DER prefix of an Ed25519 SubjectPublicKeyInfo.
pub const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an Ed25519 PKCS#8 private key.
pub const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Fields that go into the signed payload.
#[derive(Debug, Clone, Default)]
pub struct PayloadFields<'a> {
    pub device_id: &'a str,
    pub client_id: &'a str,
    pub client_mode: &'a str,
    pub role: &'a str,
    pub scopes: &'a [String],
    pub signed_at_ms: u64,
    pub token: &'a str,
    pub nonce: &'a str,
    pub platform: Option<&'a str>,
    pub device_family: Option<&'a str>,
}

/// Trim, then lowercase ASCII letters only (non-ASCII untouched).
pub fn normalize_meta(v: Option<&str>) -> String {
    v.map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default()
}

/// `v3|deviceId|clientId|mode|role|scopes|signedAt|token|nonce|platform|family`
pub fn payload_v3(f: &PayloadFields<'_>) -> String {
    format!(
        "v3|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        f.device_id,
        f.client_id,
        f.client_mode,
        f.role,
        f.scopes.join(","),
        f.signed_at_ms,
        f.token,
        f.nonce,
        normalize_meta(f.platform),
        normalize_meta(f.device_family)
    )
}

/// `v2|deviceId|clientId|mode|role|scopes|signedAt|token|nonce` (legacy, still accepted).
pub fn payload_v2(f: &PayloadFields<'_>) -> String {
    format!(
        "v2|{}|{}|{}|{}|{}|{}|{}|{}",
        f.device_id,
        f.client_id,
        f.client_mode,
        f.role,
        f.scopes.join(","),
        f.signed_at_ms,
        f.token,
        f.nonce
    )
}

/// Lowercase hex SHA-256 of the raw 32-byte public key.
pub fn device_id(raw_public_key: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(raw_public_key))
}

/// Decode base64url (no padding) or standard base64.
pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let t = s.trim();
    URL_SAFE_NO_PAD
        .decode(t.trim_end_matches('='))
        .ok()
        .or_else(|| STANDARD.decode(t).ok())
}

pub fn encode_b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Accept a raw base64url key or an SPKI PEM; return the 32 raw bytes.
pub fn decode_public_key(s: &str) -> Option<[u8; 32]> {
    let bytes = if s.contains("BEGIN PUBLIC KEY") {
        let body: String = s.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body.trim()).ok()?;
        der.strip_prefix(&SPKI_PREFIX[..])?.to_vec()
    } else {
        decode_b64(s)?
    };
    bytes.try_into().ok()
}

/// Verify a signature over `payload`.
pub fn verify(raw_public_key: &[u8; 32], payload: &str, signature_b64: &str) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(raw_public_key) else {
        return false;
    };
    let Some(sig) = decode_b64(signature_b64) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&sig) else {
        return false;
    };
    key.verify(payload.as_bytes(), &sig).is_ok()
}

/// PEM encodings used by `<state>/identity/device.json`.
pub fn public_key_pem(raw: &[u8; 32]) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(raw);
    pem("PUBLIC KEY", &der)
}

pub fn private_key_pem(seed: &[u8; 32]) -> String {
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend_from_slice(seed);
    pem("PRIVATE KEY", &der)
}

/// Extract the 32-byte seed from a PKCS#8 PEM private key.
pub fn decode_private_key_pem(s: &str) -> Option<[u8; 32]> {
    let body: String = s.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body.trim()).ok()?;
    der.strip_prefix(&PKCS8_PREFIX[..])?.try_into().ok()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_test_vector_from_the_spec() {
        let scopes = vec!["operator.admin".to_string(), "operator.read".to_string()];
        let f = PayloadFields {
            device_id: "dev-1",
            client_id: "openclaw-macos",
            client_mode: "ui",
            role: "operator",
            scopes: &scopes,
            signed_at_ms: 1_700_000_000_000,
            token: "tok-123",
            nonce: "nonce-abc",
            platform: Some("  IOS  "),
            device_family: Some("  iPhone  "),
        };
        assert_eq!(
            payload_v3(&f),
            "v3|dev-1|openclaw-macos|ui|operator|operator.admin,operator.read|1700000000000|tok-123|nonce-abc|ios|iphone"
        );
        let empty = PayloadFields {
            signed_at_ms: 1_700_000_000_001,
            token: "",
            nonce: "nonce-def",
            platform: None,
            device_family: None,
            ..f
        };
        assert!(payload_v3(&empty).ends_with("|1700000000001||nonce-def||"));
    }

    #[test]
    fn captured_device_id_matches_key() {
        // From the real gateway capture (device-token scenario).
        let raw = decode_public_key("t1Cf_ZhERBrF6_FIWBqPUVDOpHE6hLTuw9wJjSJ_UNU").unwrap();
        assert_eq!(
            device_id(&raw),
            "f5cb64bba6af2aaa99129c3ba1762c6b37ae12ed58c545d00d6857f2927a3f4d"
        );
        let payload = "v2|f5cb64bba6af2aaa99129c3ba1762c6b37ae12ed58c545d00d6857f2927a3f4d|cli|cli|operator|operator.read|1795458847835|peer-test-token-0123456789|ca2a43fc-a86f-4c4e-8b6a-e4279e684b78";
        let sig = "AxjaiHV4bZv4g2tEZuaJ7DQu3mSIyndn8AzN5Ba_KkHGvIUTEOiPnAbu4ppsj1xbmEkOICPRcphBwJ3T-QSuCg";
        assert!(verify(&raw, payload, sig));
        assert!(!verify(&raw, &payload.replace("cli|cli", "cli|ui"), sig));
    }

    #[test]
    fn pem_round_trip() {
        let raw = [7u8; 32];
        assert_eq!(decode_public_key(&public_key_pem(&raw)), Some(raw));
        assert_eq!(decode_private_key_pem(&private_key_pem(&raw)), Some(raw));
    }
}
