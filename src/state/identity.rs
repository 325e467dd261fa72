//! The Ed25519 device identity at `<state>/identity/device.json` (mode 0600):
//! `{version:1, deviceId, publicKeyPem, privateKeyPem, createdAtMs}` (spec 1.6).

use crate::config::write::{atomic_write, ensure_private_dir};
use crate::protocol::device;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("cannot read device identity {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("device identity {path} is not valid: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("cannot write device identity {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityFile {
    version: u32,
    device_id: String,
    public_key_pem: String,
    private_key_pem: String,
    created_at_ms: u64,
}

/// A loaded identity. The signing key never leaves this type.
pub struct DeviceIdentity {
    pub device_id: String,
    pub public_key_raw: [u8; 32],
    pub created_at_ms: u64,
    key: SigningKey,
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("device_id", &self.device_id)
            .finish()
    }
}

impl DeviceIdentity {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("identity").join("device.json")
    }

    /// The public key as sent on the wire (raw, base64url).
    pub fn public_key_b64url(&self) -> String {
        device::encode_b64url(&self.public_key_raw)
    }

    pub fn sign_b64url(&self, payload: &str) -> String {
        device::encode_b64url(&self.key.sign(payload.as_bytes()).to_bytes())
    }

    /// Load the identity: `identity/device.json`, or on a 2026.9.6+ installation the store's
    /// `device_identities` row `primary` (read-only), so this CLI signs as the device the
    /// real gateway knows. `None` when neither exists.
    pub fn load(state_dir: &Path) -> Result<Option<Self>, IdentityError> {
        let path = Self::path(state_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Self::load_from_store(state_dir)
            }
            Err(source) => return Err(IdentityError::Read { path, source }),
        };
        let invalid = |why: &str| IdentityError::Invalid {
            path: path.clone(),
            why: why.to_string(),
        };
        let file: IdentityFile =
            serde_json::from_str(&text).map_err(|e| invalid(&e.to_string()))?;
        Self::from_pem(
            &path,
            file.device_id,
            &file.public_key_pem,
            &file.private_key_pem,
            file.created_at_ms,
        )
        .map(Some)
    }

    /// The store's `primary` identity. A store that exists but cannot be read is an error:
    /// creating a second identity beside it would split the device in two.
    fn load_from_store(state_dir: &Path) -> Result<Option<Self>, IdentityError> {
        let store_path = super::store::path(state_dir);
        if !store_path.is_file() {
            return Ok(None);
        }
        // The process's one connection: the token cache is read from it next.
        let row = super::store::with_shared(state_dir, |s| s.primary_identity()).map_err(|e| {
            IdentityError::Invalid {
                path: store_path.clone(),
                why: e.to_string(),
            }
        })?;
        row.map(|row| {
            Self::from_pem(
                &store_path,
                row.device_id,
                &row.public_key_pem,
                &row.private_key_pem,
                row.created_at_ms,
            )
        })
        .transpose()
    }

    fn from_pem(
        path: &Path,
        device_id: String,
        public_key_pem: &str,
        private_key_pem: &str,
        created_at_ms: u64,
    ) -> Result<Self, IdentityError> {
        let invalid = |why: &str| IdentityError::Invalid {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        let seed = device::decode_private_key_pem(private_key_pem)
            .ok_or_else(|| invalid("privateKeyPem is not an Ed25519 PKCS#8 key"))?;
        let key = SigningKey::from_bytes(&seed);
        let raw = key.verifying_key().to_bytes();
        if device::decode_public_key(public_key_pem) != Some(raw) {
            return Err(invalid("publicKeyPem does not match privateKeyPem"));
        }
        if device::device_id(&raw) != device_id {
            return Err(invalid("deviceId is not the SHA-256 of the public key"));
        }
        Ok(DeviceIdentity {
            device_id,
            public_key_raw: raw,
            created_at_ms,
            key,
        })
    }

    /// Load the identity, creating it (mode 0600, dir 0700) when missing.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, IdentityError> {
        if let Some(id) = Self::load(state_dir)? {
            return Ok(id);
        }
        let path = Self::path(state_dir);
        let write_err = |source| IdentityError::Write {
            path: path.clone(),
            source,
        };
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| write_err(std::io::Error::other(e)))?;
        let key = SigningKey::from_bytes(&seed);
        let raw = key.verifying_key().to_bytes();
        let created_at_ms = crate::util::now_ms();
        let file = IdentityFile {
            version: 1,
            device_id: device::device_id(&raw),
            public_key_pem: device::public_key_pem(&raw),
            private_key_pem: device::private_key_pem(&seed),
            created_at_ms,
        };
        // A store-backed state dir keeps the identity where the real CLI looks for it: the
        // store's `primary` row. Another process may create it first: then that one is used.
        if super::store::path(state_dir).is_file() {
            let store_err = |e: super::store::StoreError| IdentityError::Invalid {
                path: super::store::path(state_dir),
                why: e.to_string(),
            };
            super::store::with_shared(state_dir, |s| {
                s.write(|tx| {
                    tx.execute(
                        "INSERT INTO device_identities (identity_key, device_id, public_key_pem, private_key_pem, created_at_ms, updated_at_ms) \
                         VALUES ('primary', ?1, ?2, ?3, ?4, ?4) ON CONFLICT (identity_key) DO NOTHING",
                        rusqlite::params![
                            file.device_id,
                            file.public_key_pem,
                            file.private_key_pem,
                            created_at_ms as i64
                        ],
                    )
                    .map(|_| ())
                })
            })
            .map_err(store_err)?;
            return Self::load_from_store(state_dir)?.ok_or_else(|| IdentityError::Invalid {
                path: super::store::path(state_dir),
                why: "the primary identity vanished after it was written".into(),
            });
        }
        ensure_private_dir(state_dir).map_err(write_err)?;
        ensure_private_dir(&state_dir.join("identity")).map_err(write_err)?;
        let body =
            serde_json::to_vec_pretty(&file).map_err(|e| write_err(std::io::Error::other(e)))?;
        atomic_write(&path, &body, 0o600).map_err(write_err)?;
        Ok(DeviceIdentity {
            device_id: file.device_id,
            public_key_raw: raw,
            created_at_ms,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn create_then_load_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let a = DeviceIdentity::load_or_create(dir.path()).unwrap();
        let b = DeviceIdentity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.device_id, b.device_id);
        let mode = std::fs::metadata(DeviceIdentity::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let sig = a.sign_b64url("hello");
        assert!(device::verify(&a.public_key_raw, "hello", &sig));
    }

    #[test]
    fn a_store_backed_state_dir_keeps_the_identity_in_the_primary_row() {
        let dir = tempfile::tempdir().unwrap();
        drop(crate::state::store::Store::open(dir.path()).unwrap());
        let a = DeviceIdentity::load_or_create(dir.path()).unwrap();
        assert!(!DeviceIdentity::path(dir.path()).exists(), "no legacy file");
        let store = crate::state::store::Store::open_read_only(dir.path()).unwrap();
        assert_eq!(
            store.device_identity_ids().unwrap()["primary"],
            a.device_id.as_str()
        );
        let b = DeviceIdentity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.device_id, b.device_id);
        let sig = b.sign_b64url("hello");
        assert!(device::verify(&a.public_key_raw, "hello", &sig));
    }
}
