//! The device pairing store (spec 8.2, upstream `src/infra/device-pairing.ts`), in the
//! profile's SQLite store as the real 2026.9.6 keeps it: `device_pairing_pending` (requests,
//! 5 minute TTL) and `device_pairing_paired` (devices, their tokens in `tokens_json`), read
//! and written as upstream's JSON entries (`pending.json` / `paired.json` shapes). Every
//! change is one `BEGIN IMMEDIATE` transaction, so the gateway and any number of CLIs lose
//! no write. An older installation's `devices/paired.json` is imported on the first change
//! (the store's rows win) and the legacy files are renamed `*.migrated`, as upstream does;
//! until then it is read as it is.

use super::store::{with_shared, StoreError, PAIRED, PENDING};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// A reused device token's `lastUsedAtMs` is refreshed at most this often.
pub const LAST_USED_GRANULARITY_MS: u64 = 60_000;

/// Pending requests expire after five minutes.
pub const PENDING_TTL_MS: u64 = 5 * 60 * 1000;

/// Why a device needs approval (spec 1.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotPaired,
    RoleUpgrade,
    ScopeUpgrade,
    MetadataUpgrade,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotPaired => "not-paired",
            Reason::RoleUpgrade => "role-upgrade",
            Reason::ScopeUpgrade => "scope-upgrade",
            Reason::MetadataUpgrade => "metadata-upgrade",
        }
    }

    /// The v4 requirement text (`pairing required: <requirement>`).
    pub fn requirement(self) -> &'static str {
        match self {
            Reason::NotPaired => "device is not approved yet",
            Reason::RoleUpgrade => "device is asking for a higher role than currently approved",
            Reason::ScopeUpgrade => "device is asking for more scopes than currently approved",
            Reason::MetadataUpgrade => "device identity changed and must be re-approved",
        }
    }

    pub fn remediation_hint(self) -> &'static str {
        match self {
            Reason::NotPaired => "Approve this device from the pending pairing requests.",
            Reason::RoleUpgrade => {
                "Review the requested role upgrade, then approve the pending request."
            }
            Reason::ScopeUpgrade => {
                "Review the requested scopes, then approve the pending upgrade."
            }
            Reason::MetadataUpgrade => {
                "Review the refreshed device details, then approve the pending request."
            }
        }
    }
}

/// What a connecting device asks for.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub device_id: &'a str,
    pub public_key: &'a str,
    pub role: &'a str,
    pub scopes: &'a [String],
    pub client_id: &'a str,
    pub client_mode: &'a str,
    pub display_name: Option<&'a str>,
    pub platform: &'a str,
    pub device_family: Option<&'a str>,
    pub remote_ip: &'a str,
}

/// Roles a paired entry grants (`roles`, else `role`).
pub fn paired_roles(p: &Value) -> Vec<String> {
    let mut roles = crate::util::string_list(p.get("roles"));
    if let Some(r) = p.get("role").and_then(Value::as_str) {
        if !roles.iter().any(|x| x == r) {
            roles.push(r.to_string());
        }
    }
    roles
}

/// Scopes a paired entry grants (`approvedScopes`, else `scopes`).
pub fn paired_scopes(p: &Value) -> Vec<String> {
    match p.get("approvedScopes") {
        Some(v) if v.is_array() => crate::util::string_list(Some(v)),
        _ => crate::util::string_list(p.get("scopes")),
    }
}

fn norm(s: Option<&str>) -> Option<String> {
    s.map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

/// Whether `claim` needs (re-)approval given the paired entry, and why.
pub fn requirement(
    paired: Option<&Value>,
    claim: &Claim<'_>,
    satisfies: impl Fn(&[String], &str) -> bool,
) -> Option<Reason> {
    let Some(p) = paired else {
        return Some(Reason::NotPaired);
    };
    if p.get("publicKey").and_then(Value::as_str) != Some(claim.public_key) {
        return Some(Reason::NotPaired);
    }
    let pinned = |key: &str, claimed: Option<&str>| match norm(p.get(key).and_then(Value::as_str)) {
        Some(pin) => norm(claimed).is_some_and(|c| c != pin),
        None => false,
    };
    if pinned("platform", Some(claim.platform)) || pinned("deviceFamily", claim.device_family) {
        return Some(Reason::MetadataUpgrade);
    }
    if !paired_roles(p).iter().any(|r| r == claim.role) {
        return Some(Reason::RoleUpgrade);
    }
    if !claim.scopes.is_empty() {
        let allowed = paired_scopes(p);
        if allowed.is_empty() || !claim.scopes.iter().all(|s| satisfies(&allowed, s)) {
            return Some(Reason::ScopeUpgrade);
        }
    }
    None
}

/// Why an approval was refused (spec 8.2 denial reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    UnknownRequest,
    /// The caller lacks a scope the request asks for.
    CallerMissingScope(String),
}

/// Why a device token could not be rotated or revoked (upstream's reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenDenial {
    UnknownDeviceOrRole,
    MissingApprovedScopeBaseline,
    ScopeOutsideApprovedBaseline,
    CallerMissingScope(String),
}

impl TokenDenial {
    pub fn reason(&self) -> &'static str {
        match self {
            TokenDenial::UnknownDeviceOrRole => "unknown-device-or-role",
            TokenDenial::MissingApprovedScopeBaseline => "missing-approved-scope-baseline",
            TokenDenial::ScopeOutsideApprovedBaseline => "scope-outside-approved-baseline",
            TokenDenial::CallerMissingScope(_) => "caller-missing-scope",
        }
    }
}

/// 32 random bytes, base64url without padding (upstream's device token format).
fn new_token() -> std::io::Result<String> {
    use base64::Engine;
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).map_err(std::io::Error::other)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// Constant-time string comparison for tokens.
fn token_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The device pairing tables of a state dir, over the process's shared store connection
/// ([`super::store::with_shared`]).
pub struct DeviceStore {
    state_dir: PathBuf,
    /// The store file was seen (reads then skip the check; it is never removed under us).
    store_seen: std::sync::atomic::AtomicBool,
    warnings: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for DeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStore")
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

/// Both tables, as read in one transaction.
struct Files {
    pending: Map<String, Value>,
    paired: Map<String, Value>,
    pending_dirty: bool,
    paired_dirty: bool,
}

fn read_map(path: &Path, warnings: &mut Vec<String>) -> Map<String, Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Map::new();
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => m,
        _ => {
            warnings.push(format!(
                "{} is not a JSON object; it is left as it is and not imported",
                path.display()
            ));
            Map::new()
        }
    }
}

fn io(e: StoreError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A legacy paired entry fit for the table (upstream's `normalizeLegacyPairedDevice`).
fn importable(entry: &Value) -> bool {
    entry["publicKey"]
        .as_str()
        .is_some_and(|k| !k.trim().is_empty())
        && entry["createdAtMs"].is_u64()
        && entry["approvedAtMs"].is_u64()
}

impl DeviceStore {
    /// The legacy `devices` directory.
    pub fn dir(state_dir: &Path) -> PathBuf {
        state_dir.join("devices")
    }

    pub fn at(state_dir: &Path) -> DeviceStore {
        DeviceStore {
            state_dir: state_dir.to_path_buf(),
            store_seen: std::sync::atomic::AtomicBool::new(false),
            warnings: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The store file.
    pub fn path(&self) -> PathBuf {
        super::store::path(&self.state_dir)
    }

    /// Problems and migrations found while reading, for the caller to log.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn warn(&self, w: Vec<String>) {
        if !w.is_empty() {
            self.warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(w);
        }
    }

    /// The legacy files of an installation that has no store yet, read as they are.
    fn legacy(&self) -> Files {
        let dir = Self::dir(&self.state_dir);
        let mut warnings = Vec::new();
        let files = Files {
            pending: read_map(&dir.join("pending.json"), &mut warnings),
            paired: read_map(&dir.join("paired.json"), &mut warnings),
            pending_dirty: false,
            paired_dirty: false,
        };
        self.warn(warnings);
        files
    }

    /// Whether the store exists (reads must not create it).
    fn has_store(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.store_seen.load(Ordering::Relaxed) {
            return true;
        }
        let seen = self.path().is_file();
        self.store_seen.store(seen, Ordering::Relaxed);
        seen
    }

    /// Read both tables (no write, and nothing created: without a store, the legacy files).
    fn read<T>(&self, f: impl FnOnce(&mut Files) -> T) -> std::io::Result<T> {
        if !self.has_store() {
            return Ok(f(&mut self.legacy()));
        }
        let mut files = with_shared(&self.state_dir, |store| {
            let conn = store.connection();
            let read = |t: &super::store::Table| t.read(conn).map_err(|e| store.error(e));
            Ok(Files {
                pending: read(&PENDING)?,
                paired: read(&PAIRED)?,
                pending_dirty: false,
                paired_dirty: false,
            })
        })
        .map_err(io)?;
        Ok(f(&mut files))
    }

    /// Run `f` over both tables in one write transaction and write back what it marked
    /// dirty. The first write imports a legacy `paired.json`.
    fn with<T>(&self, f: impl FnOnce(&mut Files) -> T) -> std::io::Result<T> {
        let dir = Self::dir(&self.state_dir);
        let legacy_paired = dir.join("paired.json");
        let legacy_pending = dir.join("pending.json");
        let legacy = legacy_paired.is_file() || legacy_pending.is_file();
        let mut warnings = Vec::new();
        let old = if legacy {
            read_map(&legacy_paired, &mut warnings)
        } else {
            Map::new()
        };
        let (out, migrated) = with_shared(&self.state_dir, |store| {
            store.write(|tx| {
                let mut files = Files {
                    pending: PENDING.read(tx)?,
                    paired: PAIRED.read(tx)?,
                    pending_dirty: false,
                    paired_dirty: false,
                };
                let migrated = legacy.then(|| {
                    let (imported, kept) = files.import(old);
                    format!("device pairing store migrated to SQLite: imported {imported} paired device(s), kept {kept} existing record(s)")
                });
                let out = f(&mut files);
                if files.pending_dirty {
                    PENDING.write(tx, &files.pending)?;
                }
                if files.paired_dirty {
                    PAIRED.write(tx, &files.paired)?;
                }
                Ok((out, migrated))
            })
        })
        .map_err(io)?;
        self.store_seen
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(m) = migrated {
            // As upstream: the legacy files stay, renamed, so the import runs once.
            for p in [&legacy_paired, &legacy_pending, &dir.join("bootstrap.json")] {
                if p.is_file() {
                    let _ = std::fs::rename(p, p.with_extension("json.migrated"));
                }
            }
            warnings.push(m);
        }
        self.warn(warnings);
        Ok(out)
    }

    pub fn paired(&self, device_id: &str) -> std::io::Result<Option<Value>> {
        self.read_one(&PAIRED, device_id, |f| &f.paired)
    }

    pub fn pending(&self, request_id: &str) -> std::io::Result<Option<Value>> {
        self.read_one(&PENDING, request_id, |f| &f.pending)
    }

    /// One row by key (one indexed lookup, not both tables), or the legacy file's entry.
    fn read_one(
        &self,
        table: &super::store::Table,
        key: &str,
        legacy: impl FnOnce(&Files) -> &Map<String, Value>,
    ) -> std::io::Result<Option<Value>> {
        if !self.has_store() {
            return Ok(legacy(&self.legacy()).get(key).cloned());
        }
        with_shared(&self.state_dir, |store| {
            table
                .read_one(store.connection(), key)
                .map_err(|e| store.error(e))
        })
        .map_err(io)
    }

    /// `{pending, paired}` (raw entries; callers redact tokens for display). Expired
    /// requests are left out (and dropped by the next change).
    pub fn list(&self, now_ms: u64) -> std::io::Result<Value> {
        self.read(|f| {
            f.prune(now_ms);
            let mut pending: Vec<Value> = f.pending.values().cloned().collect();
            pending.sort_by_key(|r| r.get("ts").and_then(Value::as_u64).unwrap_or(0));
            let paired: Vec<Value> = f.paired.values().cloned().collect();
            json!({"pending": pending, "paired": paired})
        })
    }

    /// Record (or refresh) the pending request for this device. One request per device:
    /// a newer claim replaces the older one, keeping its id. Returns the request and
    /// whether it is new.
    pub fn request(
        &self,
        claim: &Claim<'_>,
        reason: Reason,
        silent: bool,
        now_ms: u64,
    ) -> std::io::Result<(Value, bool)> {
        self.with(|f| f.request(claim, reason, silent, now_ms))
    }

    /// Approve a pending request. `caller_scopes` is `None` for a trusted local approval
    /// (silent pairing, the local CLI fallback); otherwise the caller must hold every scope
    /// the request asks for.
    pub fn approve(
        &self,
        request_id: &str,
        via: &str,
        caller_scopes: Option<&[String]>,
        satisfies: impl Fn(&[String], &str) -> bool,
        now_ms: u64,
    ) -> std::io::Result<Result<Value, Denial>> {
        self.with(|f| f.approve(request_id, via, caller_scopes, satisfies, now_ms))
    }

    /// Record the request and approve it at once (silent local pairing), under one lock.
    /// `None` when the device turned out to be paired for this claim already (a concurrent
    /// connect approved it).
    pub fn pair_silently(
        &self,
        claim: &Claim<'_>,
        reason: Reason,
        satisfies: impl Fn(&[String], &str) -> bool + Copy,
        now_ms: u64,
    ) -> std::io::Result<Option<String>> {
        self.with(|f| {
            // Already paired for this claim (a concurrent connect approved it): nothing to do.
            requirement(f.paired.get(claim.device_id), claim, satisfies)?;
            let (req, _) = f.request(claim, reason, true, now_ms);
            let id = req["requestId"].as_str().unwrap_or_default().to_string();
            f.approve(&id, "silent", None, satisfies, now_ms).ok()?;
            Some(id)
        })
    }

    pub fn reject(&self, request_id: &str) -> std::io::Result<Option<Value>> {
        self.with(|f| {
            let r = f.pending.remove(request_id);
            f.pending_dirty |= r.is_some();
            r
        })
    }

    pub fn remove(&self, device_id: &str) -> std::io::Result<Option<Value>> {
        self.with(|f| {
            let r = f.paired.remove(device_id);
            f.paired_dirty |= r.is_some();
            r.map(|v| redact_paired(&v, None))
        })
    }
}

impl DeviceStore {
    /// Check a presented device token for `(device, role)`: paired with this public key,
    /// not revoked, equal, and covering the requested scopes. `Err` is upstream's reason.
    pub fn verify_token(
        &self,
        device_id: &str,
        public_key: &str,
        role: &str,
        token: &str,
        scopes: &[String],
        satisfies: impl Fn(&[String], &str) -> bool,
    ) -> std::io::Result<Result<(), &'static str>> {
        let Some(p) = self.paired(device_id)? else {
            return Ok(Err("device-not-paired"));
        };
        if p.get("publicKey").and_then(Value::as_str) != Some(public_key) {
            return Ok(Err("device-key-mismatch"));
        }
        let Some(entry) = p.pointer(&format!("/tokens/{role}")) else {
            return Ok(Err("token-missing"));
        };
        if entry.get("revokedAtMs").is_some_and(|v| !v.is_null()) {
            return Ok(Err("token-revoked"));
        }
        if !token_eq(
            entry.get("token").and_then(Value::as_str).unwrap_or(""),
            token,
        ) {
            return Ok(Err("token-mismatch"));
        }
        let held = crate::util::string_list(entry.get("scopes"));
        if !scopes.iter().all(|s| satisfies(&held, s)) {
            return Ok(Err("scope-mismatch"));
        }
        Ok(Ok(()))
    }

    /// The device token for `(device, role)` after a successful connect: the current one
    /// when it covers `scopes`, else a new one within the approved baseline. `None` when
    /// the device is not paired for that role or asks beyond its approval.
    pub fn ensure_token(
        &self,
        device_id: &str,
        role: &str,
        scopes: &[String],
        satisfies: impl Fn(&[String], &str) -> bool,
        now_ms: u64,
    ) -> std::io::Result<Option<Value>> {
        // The usual connect: the current token covers the scopes and its use was recorded
        // less than a minute ago. One read, no write transaction.
        if let Some(p) = self.paired(device_id)? {
            if let Some(t) = reusable_without_write(&p, role, scopes, &satisfies, now_ms) {
                return Ok(Some(t));
            }
        }
        let fresh = new_token()?;
        self.with(|f| {
            let p = f.paired.get_mut(device_id)?;
            if !paired_roles(p).iter().any(|r| r == role) {
                return None;
            }
            let approved = paired_scopes(p);
            if !scopes.iter().all(|s| satisfies(&approved, s)) {
                return None;
            }
            let o = p.as_object_mut()?;
            let tokens = o
                .entry("tokens")
                .or_insert_with(|| json!({}))
                .as_object_mut()?;
            if let Some(existing) = tokens.get_mut(role) {
                let live = existing.get("revokedAtMs").is_none_or(Value::is_null);
                let held = crate::util::string_list(existing.get("scopes"));
                if live && scopes.iter().all(|s| satisfies(&held, s)) {
                    // Reusing the token: record the use at most once a minute, so a device
                    // that connects often (monitoring probes) does not rewrite the file
                    // (and fsync it) on every connect.
                    let last = existing.get("lastUsedAtMs").and_then(Value::as_u64);
                    if last.is_none_or(|t| now_ms.saturating_sub(t) >= LAST_USED_GRANULARITY_MS) {
                        existing["lastUsedAtMs"] = json!(now_ms);
                        f.paired_dirty = true;
                    }
                    return Some(existing.clone());
                }
            }
            let created = tokens
                .get(role)
                .and_then(|e| e.get("createdAtMs").cloned())
                .unwrap_or(json!(now_ms));
            let rotated = tokens.contains_key(role);
            let mut entry = json!({
                "token": fresh, "role": role, "scopes": scopes, "createdAtMs": created,
            });
            if rotated {
                entry["rotatedAtMs"] = json!(now_ms);
            } else {
                entry["createdAtMs"] = json!(now_ms);
            }
            tokens.insert(role.to_string(), entry.clone());
            f.paired_dirty = true;
            Some(entry)
        })
    }

    /// Replace the token for `(device, role)`; `scopes` default to the current token's.
    pub fn rotate_token(
        &self,
        device_id: &str,
        role: &str,
        scopes: Option<&[String]>,
        caller_scopes: Option<&[String]>,
        satisfies: impl Fn(&[String], &str) -> bool,
        now_ms: u64,
    ) -> std::io::Result<Result<Value, TokenDenial>> {
        let fresh = new_token()?;
        self.with(|f| {
            let Some(p) = f.paired.get_mut(device_id) else {
                return Err(TokenDenial::UnknownDeviceOrRole);
            };
            if !paired_roles(p).iter().any(|r| r == role) {
                return Err(TokenDenial::UnknownDeviceOrRole);
            }
            let existing = p.pointer(&format!("/tokens/{role}")).cloned();
            let requested: Vec<String> = match scopes {
                Some(s) => s.to_vec(),
                None => existing
                    .as_ref()
                    .map(|e| crate::util::string_list(e.get("scopes")))
                    .unwrap_or_else(|| crate::util::string_list(p.get("scopes"))),
            };
            let approved = paired_scopes(p);
            if approved.is_empty() && p.get("approvedScopes").is_none() && p.get("scopes").is_none()
            {
                return Err(TokenDenial::MissingApprovedScopeBaseline);
            }
            if !requested.iter().all(|s| satisfies(&approved, s)) {
                return Err(TokenDenial::ScopeOutsideApprovedBaseline);
            }
            if let Some(held) = caller_scopes {
                if let Some(missing) = requested.iter().find(|s| !satisfies(held, s)) {
                    return Err(TokenDenial::CallerMissingScope(missing.clone()));
                }
            }
            let created = existing
                .as_ref()
                .and_then(|e| e.get("createdAtMs").cloned())
                .unwrap_or(json!(now_ms));
            let entry = json!({
                "token": fresh, "role": role, "scopes": requested,
                "createdAtMs": created, "rotatedAtMs": now_ms,
            });
            let o = p.as_object_mut().expect("paired entry is an object");
            let tokens = o.entry("tokens").or_insert_with(|| json!({}));
            tokens[role] = entry.clone();
            f.paired_dirty = true;
            Ok(entry)
        })
    }

    /// Mark the token for `(device, role)` revoked.
    pub fn revoke_token(
        &self,
        device_id: &str,
        role: &str,
        caller_scopes: Option<&[String]>,
        satisfies: impl Fn(&[String], &str) -> bool,
        now_ms: u64,
    ) -> std::io::Result<Result<Value, TokenDenial>> {
        self.with(|f| {
            let Some(p) = f.paired.get_mut(device_id) else {
                return Err(TokenDenial::UnknownDeviceOrRole);
            };
            let scopes = crate::util::string_list(p.get("scopes"));
            let Some(entry) = p.pointer_mut(&format!("/tokens/{role}")) else {
                return Err(TokenDenial::UnknownDeviceOrRole);
            };
            let target = match entry.get("scopes") {
                Some(v) if v.is_array() => crate::util::string_list(Some(v)),
                _ => scopes,
            };
            if let Some(held) = caller_scopes {
                if let Some(missing) = target.iter().find(|s| !satisfies(held, s)) {
                    return Err(TokenDenial::CallerMissingScope(missing.clone()));
                }
            }
            entry["revokedAtMs"] = json!(now_ms);
            let out = entry.clone();
            f.paired_dirty = true;
            Ok(out)
        })
    }
}

/// The device's current token for `role` when it may be handed back as it is: paired for
/// the role within the approval, live, covering `scopes`, its use recorded within
/// [`LAST_USED_GRANULARITY_MS`].
fn reusable_without_write(
    p: &Value,
    role: &str,
    scopes: &[String],
    satisfies: &impl Fn(&[String], &str) -> bool,
    now_ms: u64,
) -> Option<Value> {
    if !paired_roles(p).iter().any(|r| r == role) {
        return None;
    }
    let approved = paired_scopes(p);
    if !scopes.iter().all(|s| satisfies(&approved, s)) {
        return None;
    }
    let t = p.get("tokens")?.get(role)?;
    let live = t.get("revokedAtMs").is_none_or(Value::is_null);
    let held = crate::util::string_list(t.get("scopes"));
    let recent = t
        .get("lastUsedAtMs")
        .and_then(Value::as_u64)
        .is_some_and(|last| now_ms.saturating_sub(last) < LAST_USED_GRANULARITY_MS);
    (live && recent && scopes.iter().all(|s| satisfies(&held, s))).then(|| t.clone())
}

impl Files {
    /// Add a legacy `paired.json`'s devices the store does not have (the store's rows win,
    /// entries upstream would not import are skipped). Returns (imported, kept).
    fn import(&mut self, legacy: Map<String, Value>) -> (usize, usize) {
        let (mut imported, mut kept) = (0, 0);
        for (id, mut entry) in legacy {
            if self.paired.contains_key(&id) {
                kept += 1;
            } else if importable(&entry) {
                entry["deviceId"] = json!(id);
                self.paired.insert(id, entry);
                imported += 1;
            }
        }
        self.paired_dirty |= imported > 0;
        (imported, kept)
    }

    /// Drop expired requests.
    fn prune(&mut self, now_ms: u64) {
        let before = self.pending.len();
        self.pending.retain(|_, r| {
            r.get("ts")
                .and_then(Value::as_u64)
                .is_some_and(|ts| now_ms.saturating_sub(ts) < PENDING_TTL_MS)
        });
        self.pending_dirty |= before != self.pending.len();
    }

    fn request(
        &mut self,
        claim: &Claim<'_>,
        reason: Reason,
        silent: bool,
        now_ms: u64,
    ) -> (Value, bool) {
        self.prune(now_ms);
        let existing = self
            .pending
            .iter()
            .find(|(_, r)| r.get("deviceId").and_then(Value::as_str) == Some(claim.device_id))
            .map(|(id, _)| id.clone());
        let created = existing.is_none();
        let request_id = existing.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut roles = vec![claim.role.to_string()];
        let is_repair = self.paired.contains_key(claim.device_id);
        if let Some(p) = self.paired.get(claim.device_id) {
            for r in paired_roles(p) {
                if !roles.contains(&r) {
                    roles.push(r);
                }
            }
        }
        let mut r = json!({
            "requestId": request_id,
            "deviceId": claim.device_id,
            "publicKey": claim.public_key,
            "platform": claim.platform,
            "clientId": claim.client_id,
            "clientMode": claim.client_mode,
            "role": claim.role,
            "roles": roles,
            "scopes": claim.scopes,
            "remoteIp": claim.remote_ip,
            "reason": reason.as_str(),
            "silent": silent,
            "isRepair": is_repair,
            "ts": now_ms,
        });
        if let Some(n) = claim.display_name {
            r["displayName"] = json!(n);
        }
        if let Some(fam) = claim.device_family {
            r["deviceFamily"] = json!(fam);
        }
        self.pending.insert(request_id, r.clone());
        self.pending_dirty = true;
        (r, created)
    }

    fn approve(
        &mut self,
        request_id: &str,
        via: &str,
        caller_scopes: Option<&[String]>,
        satisfies: impl Fn(&[String], &str) -> bool,
        now_ms: u64,
    ) -> Result<Value, Denial> {
        self.prune(now_ms);
        let Some(req) = self.pending.get(request_id).cloned() else {
            return Err(Denial::UnknownRequest);
        };
        let scopes = crate::util::string_list(req.get("scopes"));
        if let Some(held) = caller_scopes {
            if let Some(missing) = scopes.iter().find(|s| !satisfies(held, s)) {
                return Err(Denial::CallerMissingScope(missing.clone()));
            }
        }
        let device_id = req
            .get("deviceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut entry = match self.paired.get(&device_id) {
            Some(p) if p.get("publicKey") == req.get("publicKey") => p.clone(),
            _ => json!({"deviceId": device_id, "createdAtMs": now_ms}),
        };
        let o = entry.as_object_mut().expect("paired entry is an object");
        for key in [
            "publicKey",
            "displayName",
            "platform",
            "deviceFamily",
            "clientId",
            "clientMode",
            "role",
            "remoteIp",
        ] {
            if let Some(v) = req.get(key) {
                o.insert(key.to_string(), v.clone());
            }
        }
        let mut roles = paired_roles(&Value::Object(o.clone()));
        for r in crate::util::string_list(req.get("roles")) {
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        let mut approved = crate::util::string_list(o.get("approvedScopes"));
        for s in &scopes {
            if !approved.contains(s) {
                approved.push(s.clone());
            }
        }
        approved.sort();
        o.insert("roles".into(), json!(roles));
        o.insert("scopes".into(), json!(approved));
        o.insert("approvedScopes".into(), json!(approved));
        o.insert("approvedVia".into(), json!(via));
        o.insert("approvedAtMs".into(), json!(now_ms));
        self.paired.insert(device_id, entry.clone());
        self.pending.remove(request_id);
        self.pending_dirty = true;
        self.paired_dirty = true;
        Ok(entry)
    }
}

/// A paired entry as `device.pair.list` shows it (upstream's `redactPairedDevice`): no
/// `approvedScopes`, the `tokens` map (role → record) as a list of summaries without the
/// token values, and `connected` when known.
pub fn redact_paired(entry: &Value, connected: Option<bool>) -> Value {
    let mut e = entry.clone();
    let Some(o) = e.as_object_mut() else { return e };
    o.remove("approvedScopes");
    let tokens: Vec<Value> = match o.remove("tokens") {
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(role, t)| {
                let mut t = t.as_object().cloned().unwrap_or_default();
                t.remove("token");
                t.entry("role").or_insert_with(|| json!(role));
                Value::Object(t)
            })
            .collect(),
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    if let Some(c) = connected {
        o.insert("connected".into(), json!(c));
    }
    o.insert("tokens".into(), Value::Array(tokens));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sat(held: &[String], s: &str) -> bool {
        held.iter().any(|h| h == s || h == "operator.admin")
    }

    fn claim<'a>(scopes: &'a [String]) -> Claim<'a> {
        Claim {
            device_id: "dev1",
            public_key: "pk1",
            role: "operator",
            scopes,
            client_id: "cli",
            client_mode: "probe",
            display_name: None,
            platform: "linux",
            device_family: None,
            remote_ip: "127.0.0.1",
        }
    }

    #[test]
    fn request_approve_and_requirements() {
        let d = tempfile::tempdir().unwrap();
        let s = DeviceStore::at(d.path());
        let read = vec!["operator.read".to_string()];
        let c = claim(&read);
        assert_eq!(requirement(None, &c, sat), Some(Reason::NotPaired));
        let (r, created) = s.request(&c, Reason::NotPaired, false, 1_000).unwrap();
        assert!(created);
        let id = r["requestId"].as_str().unwrap().to_string();
        // One request per device: asking again refreshes the same id.
        let (r2, created) = s.request(&c, Reason::NotPaired, false, 2_000).unwrap();
        assert!(!created);
        assert_eq!(r2["requestId"], id.as_str());
        // A caller without the requested scope cannot approve.
        let none: Vec<String> = vec!["operator.pairing".into()];
        assert_eq!(
            s.approve(&id, "operator", Some(&none), sat, 3_000).unwrap(),
            Err(Denial::CallerMissingScope("operator.read".into()))
        );
        let p = s.approve(&id, "silent", None, sat, 3_000).unwrap().unwrap();
        assert_eq!(p["approvedScopes"], json!(["operator.read"]));
        assert_eq!(
            requirement(s.paired("dev1").unwrap().as_ref(), &c, sat),
            None
        );
        // More scopes, another role, another key, another platform.
        let more = vec!["operator.write".to_string()];
        assert_eq!(
            requirement(s.paired("dev1").unwrap().as_ref(), &claim(&more), sat),
            Some(Reason::ScopeUpgrade)
        );
        let mut node = claim(&[]);
        node.role = "node";
        assert_eq!(
            requirement(s.paired("dev1").unwrap().as_ref(), &node, sat),
            Some(Reason::RoleUpgrade)
        );
        let mut other = claim(&read);
        other.public_key = "pk2";
        assert_eq!(
            requirement(s.paired("dev1").unwrap().as_ref(), &other, sat),
            Some(Reason::NotPaired)
        );
        let mut mac = claim(&read);
        mac.platform = "darwin";
        assert_eq!(
            requirement(s.paired("dev1").unwrap().as_ref(), &mac, sat),
            Some(Reason::MetadataUpgrade)
        );
        // Persisted, private, and reloaded.
        let s2 = DeviceStore::at(d.path());
        assert!(s2.paired("dev1").unwrap().is_some());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(crate::state::store::path(d.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!d.path().join("devices/paired.json").exists());
    }

    #[test]
    fn tokens_are_reused_and_their_use_recorded_at_most_once_a_minute() {
        let d = tempfile::tempdir().unwrap();
        let s = DeviceStore::at(d.path());
        let read = vec!["operator.read".to_string()];
        let (r, _) = s
            .request(&claim(&read), Reason::NotPaired, true, 1_000)
            .unwrap();
        let id = r["requestId"].as_str().unwrap().to_string();
        s.approve(&id, "silent", None, sat, 1_000).unwrap().unwrap();
        let t1 = s
            .ensure_token("dev1", "operator", &read, sat, 2_000)
            .unwrap()
            .unwrap();
        let t2 = s
            .ensure_token("dev1", "operator", &read, sat, 3_000)
            .unwrap()
            .unwrap();
        assert_eq!(t1["token"], t2["token"], "reused");
        let wal = crate::state::store::path(d.path()).with_extension("sqlite-wal");
        let before = std::fs::metadata(&wal).unwrap().len();
        s.ensure_token("dev1", "operator", &read, sat, 30_000)
            .unwrap();
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            before,
            "no write within a minute"
        );
        assert_eq!(
            s.paired("dev1").unwrap().unwrap()["tokens"]["operator"]["lastUsedAtMs"],
            3_000
        );
        s.ensure_token(
            "dev1",
            "operator",
            &read,
            sat,
            3_000 + LAST_USED_GRANULARITY_MS,
        )
        .unwrap();
        let p = s.paired("dev1").unwrap().unwrap();
        assert_eq!(
            p["tokens"]["operator"]["lastUsedAtMs"],
            3_000 + LAST_USED_GRANULARITY_MS
        );
        // More scopes than the token holds (but approved): a new token.
        let rotated = s
            .revoke_token("dev1", "operator", None, sat, 70_000)
            .unwrap()
            .unwrap();
        assert!(rotated["revokedAtMs"].is_u64());
        let t3 = s
            .ensure_token("dev1", "operator", &read, sat, 71_000)
            .unwrap()
            .unwrap();
        assert_ne!(t3["token"], t1["token"], "a revoked token is replaced");
    }

    #[test]
    fn silent_pairing_is_one_step_and_a_second_concurrent_one_finds_it_done() {
        let d = tempfile::tempdir().unwrap();
        let s = DeviceStore::at(d.path());
        let read = vec!["operator.read".to_string()];
        let c = claim(&read);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = DeviceStore::at(d.path());
                let read = read.clone();
                std::thread::spawn(move || {
                    s.pair_silently(&claim(&read), Reason::NotPaired, sat, 1_000)
                        .unwrap()
                })
            })
            .collect();
        let approved: Vec<_> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(
            approved.len(),
            1,
            "exactly one connect approves: {approved:?}"
        );
        assert_eq!(
            requirement(s.paired("dev1").unwrap().as_ref(), &c, sat),
            None
        );
        assert_eq!(s.list(1_000).unwrap()["pending"], json!([]));
    }

    #[test]
    fn expired_requests_are_dropped_and_corrupt_legacy_files_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let s = DeviceStore::at(d.path());
        let read = vec!["operator.read".to_string()];
        s.request(&claim(&read), Reason::NotPaired, false, 1_000)
            .unwrap();
        let l = s.list(1_000 + PENDING_TTL_MS + 1).unwrap();
        assert_eq!(l["pending"], json!([]));
        // An older installation (no store) whose paired.json does not parse.
        let old = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(old.path().join("devices")).unwrap();
        std::fs::write(old.path().join("devices/paired.json"), "{ nope").unwrap();
        let s = DeviceStore::at(old.path());
        assert!(s.paired("x").unwrap().is_none());
        let w = s.take_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("not imported"), "{w:?}");
        assert!(old.path().join("devices/paired.json").exists());
        assert!(
            !crate::state::store::path(old.path()).exists(),
            "reads create nothing"
        );
    }

    #[test]
    fn a_legacy_paired_json_is_read_then_imported_on_the_first_change() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("devices")).unwrap();
        let legacy = json!({
            "old1": {"deviceId": "old1", "publicKey": "pk-old", "role": "operator",
                     "roles": ["operator"], "scopes": ["operator.read"],
                     "approvedScopes": ["operator.read"], "createdAtMs": 5, "approvedAtMs": 6,
                     "tokens": {"operator": {"token": "t-old", "role": "operator",
                                             "scopes": ["operator.read"], "createdAtMs": 6}}},
            "broken": {"deviceId": "broken"},
        });
        std::fs::write(d.path().join("devices/paired.json"), legacy.to_string()).unwrap();
        let s = DeviceStore::at(d.path());
        assert_eq!(s.paired("old1").unwrap().unwrap()["publicKey"], "pk-old");
        let read = vec!["operator.read".to_string()];
        s.request(&claim(&read), Reason::NotPaired, false, 1_000)
            .unwrap();
        let w = s.take_warnings();
        assert!(
            w.iter().any(|w| w == "device pairing store migrated to SQLite: imported 1 paired device(s), kept 0 existing record(s)"),
            "{w:?}"
        );
        assert!(d.path().join("devices/paired.json.migrated").exists());
        assert!(!d.path().join("devices/paired.json").exists());
        let store = crate::state::store::Store::open_read_only(d.path()).unwrap();
        let paired = store.paired_devices().unwrap();
        assert_eq!(paired["old1"]["tokens"]["operator"]["token"], "t-old");
        assert!(!paired.contains_key("broken"));
        // A second change imports nothing again.
        s.request(&claim(&read), Reason::NotPaired, false, 2_000)
            .unwrap();
        assert!(s.take_warnings().is_empty());
    }
}
