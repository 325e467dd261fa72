//! DM pairing for chat senders (spec 8.1, upstream `src/pairing/pairing-store.ts`):
//! `<state>/credentials/<channel>-pairing.json` `{version:1, requests:[{id, code, createdAt,
//! lastSeenAt, meta}]}` and the allowlists `<channel>-allowFrom.json` (default account) or
//! `<channel>-<account>-allowFrom.json` `{version:1, allowFrom:[…]}`. Codes are 8 characters
//! from an alphabet without look-alikes; requests live one hour; at most 3 pending per
//! account. In the SQLite store (upstream 2026.9.6's `channel_pairing_requests` and
//! `channel_pairing_allow_entries`), one transaction per change; the files above are an
//! older installation's, read until the first change imports them (renamed `*.migrated`).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 8;
pub const PENDING_TTL_MS: u64 = 3_600_000;
pub const MAX_PENDING: usize = 3;
pub const DEFAULT_ACCOUNT: &str = "default";

/// Upstream's file-name sanitizer: lowercase; path and shell specials and `..` become `_`.
pub fn safe_name(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .replace("..", "_")
        .chars()
        .map(|c| if "\\/:*?\"<>|".contains(c) { '_' } else { c })
        .collect()
}

/// A channel name as the CLI accepts it.
pub fn valid_channel(c: &str) -> bool {
    !c.is_empty()
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
}

fn account_of(r: &Value) -> String {
    r["meta"]["accountId"]
        .as_str()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| DEFAULT_ACCOUNT.into())
}

fn parse_iso_ms(s: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis().max(0) as u64)
}

fn iso(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn random_code() -> std::io::Result<String> {
    let mut b = [0u8; CODE_LEN];
    getrandom::getrandom(&mut b).map_err(std::io::Error::other)?;
    // 256 is a multiple of 32: taking the low five bits is unbiased.
    Ok(b.iter()
        .map(|x| CODE_ALPHABET[(*x as usize) % CODE_ALPHABET.len()] as char)
        .collect())
}

/// The DM pairing state of one state dir: the store's `channel_pairing_requests` and
/// `channel_pairing_allow_entries` (upstream's tables), or an older installation's files
/// until its first change imports them.
#[derive(Debug, Clone)]
pub struct DmPairing {
    state_dir: PathBuf,
    dir: PathBuf,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert {
    /// A new request: reply to the sender with this code.
    Created(String),
    /// The sender already has a pending request (no second reply).
    Existing(String),
    /// The account already has the maximum pending requests.
    Full,
}

/// One channel's state, as read in a transaction.
struct Channel {
    requests: Vec<Value>,
    /// Allowlists by account id.
    allow: std::collections::BTreeMap<String, Vec<String>>,
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl DmPairing {
    pub fn at(state_dir: &Path) -> Self {
        DmPairing {
            state_dir: state_dir.to_path_buf(),
            dir: state_dir.join("credentials"),
        }
    }

    pub fn pairing_path(&self, channel: &str) -> PathBuf {
        self.dir
            .join(format!("{}-pairing.json", safe_name(channel)))
    }

    pub fn allow_from_path(&self, channel: &str, account: Option<&str>) -> PathBuf {
        let channel = safe_name(channel);
        match account
            .map(safe_name)
            .filter(|a| !a.is_empty() && a != DEFAULT_ACCOUNT)
        {
            Some(a) => self.dir.join(format!("{channel}-{a}-allowFrom.json")),
            None => self.dir.join(format!("{channel}-allowFrom.json")),
        }
    }

    fn read_file(path: &Path, key: &str) -> Vec<Value> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v[key].as_array().cloned())
            .unwrap_or_default()
    }

    /// The legacy allowlist files of `channel`: `(account, path)`.
    fn legacy_allow_files(&self, channel: &str) -> Vec<(String, PathBuf)> {
        let channel = safe_name(channel);
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == format!("{channel}-allowFrom.json") {
                out.push((DEFAULT_ACCOUNT.to_string(), e.path()));
            } else if let Some(account) = name
                .strip_prefix(&format!("{channel}-"))
                .and_then(|r| r.strip_suffix("-allowFrom.json"))
            {
                out.push((account.to_string(), e.path()));
            }
        }
        out
    }

    /// A channel as its legacy files hold it.
    fn legacy(&self, channel: &str) -> Channel {
        let mut allow = std::collections::BTreeMap::new();
        for (account, path) in self.legacy_allow_files(channel) {
            let list =
                crate::util::string_list(Some(&Value::Array(Self::read_file(&path, "allowFrom"))));
            allow.insert(account, list);
        }
        Channel {
            requests: Self::read_file(&self.pairing_path(channel), "requests"),
            allow,
        }
    }

    fn read_store(c: &rusqlite::Connection, channel: &str) -> rusqlite::Result<Channel> {
        let key = safe_name(channel);
        let requests = super::store::channel_requests(c, Some(&key))?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let mut st = c.prepare(
            "SELECT account_id, entry FROM channel_pairing_allow_entries WHERE channel_key = ?1 \
             ORDER BY account_id, sort_order, entry",
        )?;
        let mut allow: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for row in st.query_map([&key], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })? {
            let (account, entry) = row?;
            allow.entry(account).or_default().push(entry);
        }
        Ok(Channel { requests, allow })
    }

    fn write_store(
        c: &rusqlite::Connection,
        channel: &str,
        state: &Channel,
        now_ms: u64,
    ) -> rusqlite::Result<()> {
        let key = safe_name(channel);
        c.execute(
            "DELETE FROM channel_pairing_requests WHERE channel_key = ?1",
            [&key],
        )?;
        let mut ins = c.prepare(
            "INSERT OR REPLACE INTO channel_pairing_requests (channel_key, account_id, request_id, code, created_at, last_seen_at, meta_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for r in &state.requests {
            ins.execute(rusqlite::params![
                key,
                account_of(r),
                r["id"].as_str().unwrap_or_default(),
                r["code"].as_str().unwrap_or_default(),
                r["createdAt"].as_str().unwrap_or_default(),
                r["lastSeenAt"]
                    .as_str()
                    .or(r["createdAt"].as_str())
                    .unwrap_or_default(),
                r["meta"].to_string(),
            ])?;
        }
        c.execute(
            "DELETE FROM channel_pairing_allow_entries WHERE channel_key = ?1",
            [&key],
        )?;
        let mut ins = c.prepare(
            "INSERT OR IGNORE INTO channel_pairing_allow_entries (channel_key, account_id, entry, sort_order, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (account, entries) in &state.allow {
            for (i, e) in entries.iter().enumerate() {
                ins.execute(rusqlite::params![key, account, e, i as i64, now_ms as i64])?;
            }
        }
        Ok(())
    }

    /// Read a channel (no write, nothing created: without a store, the legacy files).
    fn read(&self, channel: &str) -> std::io::Result<Channel> {
        if !super::store::path(&self.state_dir).is_file() {
            return Ok(self.legacy(channel));
        }
        let mut state = super::store::with_shared(&self.state_dir, |store| {
            Self::read_store(store.connection(), channel).map_err(|e| store.error(e))
        })
        .map_err(io)?;
        // Legacy files not imported yet (this build's older CLI wrote them) still count.
        let old = self.legacy(channel);
        Self::merge(&mut state, old);
        Ok(state)
    }

    /// The store's state wins; what only the legacy files hold is added.
    fn merge(state: &mut Channel, old: Channel) {
        for r in old.requests {
            if !state
                .requests
                .iter()
                .any(|s| s["id"] == r["id"] && account_of(s) == account_of(&r))
            {
                state.requests.push(r);
            }
        }
        for (account, entries) in old.allow {
            let list = state.allow.entry(account).or_default();
            for e in entries {
                if !list.contains(&e) {
                    list.push(e);
                }
            }
        }
    }

    /// Run `f` over a channel in one write transaction and write it back. The legacy files
    /// of the channel are imported by the first change and renamed `*.migrated`.
    fn change<T>(
        &self,
        channel: &str,
        now_ms: u64,
        f: impl FnOnce(&mut Channel) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let old = self.legacy(channel);
        let mut legacy_files: Vec<PathBuf> = self
            .legacy_allow_files(channel)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if self.pairing_path(channel).is_file() {
            legacy_files.push(self.pairing_path(channel));
        }
        let mut failure = None;
        let out = super::store::with_shared(&self.state_dir, |store| {
            store.write(|tx| {
                let mut state = Self::read_store(tx, channel)?;
                Self::merge(&mut state, old);
                match f(&mut state) {
                    Ok(out) => {
                        Self::write_store(tx, channel, &state, now_ms)?;
                        Ok(Some(out))
                    }
                    Err(e) => {
                        failure = Some(e);
                        Ok(None)
                    }
                }
            })
        })
        .map_err(io)?;
        if let Some(e) = failure {
            return Err(e);
        }
        for p in legacy_files {
            let _ = std::fs::rename(&p, p.with_extension("json.migrated"));
        }
        Ok(out.expect("set when f succeeded"))
    }

    fn live(reqs: &mut Vec<Value>, now_ms: u64) {
        reqs.retain(|r| {
            r["createdAt"]
                .as_str()
                .and_then(parse_iso_ms)
                .is_some_and(|t| now_ms.saturating_sub(t) <= PENDING_TTL_MS)
        });
    }

    /// Pending requests (live ones), oldest first, for one account or all.
    pub fn list(
        &self,
        channel: &str,
        account: Option<&str>,
        now_ms: u64,
    ) -> std::io::Result<Vec<Value>> {
        let mut reqs = self.read(channel)?.requests;
        Self::live(&mut reqs, now_ms);
        let want = account.map(|a| a.trim().to_lowercase());
        let mut out: Vec<Value> = reqs
            .into_iter()
            .filter(|r| want.as_deref().is_none_or(|a| account_of(r) == a))
            .collect();
        out.sort_by(|a, b| {
            a["createdAt"]
                .as_str()
                .cmp(&b["createdAt"].as_str())
                .then(a["id"].as_str().cmp(&b["id"].as_str()))
        });
        Ok(out)
    }

    /// Record a sender asking for access (what a channel does on an unknown DM).
    pub fn upsert(
        &self,
        channel: &str,
        account: Option<&str>,
        sender: &str,
        meta: &serde_json::Map<String, Value>,
        now_ms: u64,
    ) -> std::io::Result<Upsert> {
        let account = account
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| DEFAULT_ACCOUNT.into());
        let mut meta = meta.clone();
        meta.insert("accountId".into(), json!(account));
        self.change(channel, now_ms, |state| {
            let reqs = &mut state.requests;
            Self::live(reqs, now_ms);
            let now = iso(now_ms);
            if let Some(r) = reqs
                .iter_mut()
                .find(|r| r["id"].as_str() == Some(sender) && account_of(r) == account)
            {
                r["lastSeenAt"] = json!(now);
                r["meta"] = Value::Object(meta);
                return Ok(Upsert::Existing(
                    r["code"].as_str().unwrap_or_default().to_string(),
                ));
            }
            if reqs.iter().filter(|r| account_of(r) == account).count() >= MAX_PENDING {
                return Ok(Upsert::Full);
            }
            let taken: Vec<String> = reqs
                .iter()
                .filter_map(|r| r["code"].as_str().map(str::to_uppercase))
                .collect();
            let mut code = random_code()?;
            while taken.contains(&code) {
                code = random_code()?;
            }
            reqs.push(json!({
                "id": sender, "code": code, "createdAt": now, "lastSeenAt": now, "meta": meta,
            }));
            Ok(Upsert::Created(code))
        })
    }

    /// Approve by code: the request leaves the pending list and its sender joins the
    /// account's allowlist. `None` when no live request has that code.
    pub fn approve(
        &self,
        channel: &str,
        code: &str,
        account: Option<&str>,
        now_ms: u64,
    ) -> std::io::Result<Option<Value>> {
        let code = code.trim().to_uppercase();
        if code.is_empty() {
            return Ok(None);
        }
        let want = account.map(|a| a.trim().to_lowercase());
        self.change(channel, now_ms, |state| {
            Self::live(&mut state.requests, now_ms);
            let Some(i) = state.requests.iter().position(|r| {
                r["code"].as_str().map(str::to_uppercase).as_deref() == Some(code.as_str())
                    && want.as_deref().is_none_or(|a| account_of(r) == a)
            }) else {
                return Ok(None);
            };
            let entry = state.requests.remove(i);
            let list = state.allow.entry(account_of(&entry)).or_default();
            if let Some(id) = entry["id"].as_str() {
                if !list.iter().any(|e| e == id) {
                    list.push(id.to_string());
                }
            }
            Ok(Some(entry))
        })
    }

    pub fn allow_from(&self, channel: &str, account: Option<&str>) -> Vec<String> {
        let account = account
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| DEFAULT_ACCOUNT.into());
        self.read(channel)
            .ok()
            .and_then(|mut s| s.allow.remove(&account))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        assert_eq!(safe_name("Tele/gram..x"), "tele_gram_x");
        assert!(valid_channel("telegram") && !valid_channel("Tele gram"));
        let c = random_code().unwrap();
        assert_eq!(c.len(), 8);
        assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert!(!c.contains('0') && !c.contains('O') && !c.contains('1') && !c.contains('I'));
    }

    #[test]
    fn upsert_list_approve_ttl_and_cap() {
        let d = tempfile::tempdir().unwrap();
        let s = DmPairing::at(d.path());
        let m = serde_json::Map::new();
        let t0 = 1_800_000_000_000;
        let Upsert::Created(code) = s.upsert("telegram", None, "u1", &m, t0).unwrap() else {
            panic!()
        };
        assert_eq!(
            s.upsert("telegram", None, "u1", &m, t0 + 1).unwrap(),
            Upsert::Existing(code.clone())
        );
        for u in ["u2", "u3"] {
            assert!(matches!(
                s.upsert("telegram", None, u, &m, t0).unwrap(),
                Upsert::Created(_)
            ));
        }
        assert_eq!(
            s.upsert("telegram", None, "u4", &m, t0).unwrap(),
            Upsert::Full
        );
        // Another account has its own cap.
        assert!(matches!(
            s.upsert("telegram", Some("work"), "u4", &m, t0).unwrap(),
            Upsert::Created(_)
        ));
        assert_eq!(s.list("telegram", None, t0).unwrap().len(), 4);
        assert_eq!(s.list("telegram", Some("work"), t0).unwrap().len(), 1);
        // Approve (case-insensitive) moves the sender to the allowlist.
        let e = s
            .approve("telegram", &code.to_lowercase(), None, t0)
            .unwrap()
            .unwrap();
        assert_eq!(e["id"], "u1");
        assert_eq!(s.allow_from("telegram", None), vec!["u1".to_string()]);
        assert!(s.approve("telegram", &code, None, t0).unwrap().is_none());
        // Everything expires after an hour.
        assert!(s
            .list("telegram", None, t0 + PENDING_TTL_MS + 1)
            .unwrap()
            .is_empty());
        // In the store, under upstream's table and column names.
        let store = crate::state::store::Store::open_read_only(d.path()).unwrap();
        assert!(store
            .dm_pairing_requests()
            .unwrap()
            .iter()
            .all(|(c, _)| c == "telegram"));
        assert!(!s.pairing_path("telegram").exists());
    }

    #[test]
    fn legacy_files_are_read_then_imported_by_the_first_change() {
        let d = tempfile::tempdir().unwrap();
        let s = DmPairing::at(d.path());
        std::fs::create_dir_all(d.path().join("credentials")).unwrap();
        let t0 = 1_800_000_000_000u64;
        std::fs::write(
            s.pairing_path("telegram"),
            json!({"version": 1, "requests": [{"id": "old", "code": "ABCDEFGH",
                "createdAt": iso(t0), "lastSeenAt": iso(t0), "meta": {"accountId": "default"}}]})
            .to_string(),
        )
        .unwrap();
        std::fs::write(
            s.allow_from_path("telegram", Some("work")),
            json!({"version": 1, "allowFrom": ["friend"]}).to_string(),
        )
        .unwrap();
        assert_eq!(s.list("telegram", None, t0).unwrap()[0]["id"], "old");
        assert_eq!(
            s.allow_from("telegram", Some("work")),
            vec!["friend".to_string()]
        );
        assert!(
            !crate::state::store::path(d.path()).exists(),
            "reads create nothing"
        );
        s.approve("telegram", "abcdefgh", None, t0)
            .unwrap()
            .unwrap();
        assert!(!s.pairing_path("telegram").exists());
        assert!(d
            .path()
            .join("credentials/telegram-pairing.json.migrated")
            .exists());
        assert_eq!(s.allow_from("telegram", None), vec!["old".to_string()]);
        assert_eq!(
            s.allow_from("telegram", Some("work")),
            vec!["friend".to_string()]
        );
    }
}
