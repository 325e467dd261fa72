//! DM pairing for chat senders (spec 8.1, upstream `src/pairing/pairing-store.ts`):
//! `<state>/credentials/<channel>-pairing.json` `{version:1, requests:[{id, code, createdAt,
//! lastSeenAt, meta}]}` and the allowlists `<channel>-allowFrom.json` (default account) or
//! `<channel>-<account>-allowFrom.json` `{version:1, allowFrom:[…]}`. Codes are 8 characters
//! from an alphabet without look-alikes; requests live one hour; at most 3 pending per
//! account. Every change is made under a lock and written atomically (0600).

use crate::config::write::atomic_write;
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

/// The stores for one state dir.
#[derive(Debug, Clone)]
pub struct DmPairing {
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

impl DmPairing {
    pub fn at(state_dir: &Path) -> Self {
        DmPairing {
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

    fn read(path: &Path, key: &str) -> Vec<Value> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v[key].as_array().cloned())
            .unwrap_or_default()
    }

    fn write(path: &Path, key: &str, items: &[Value]) -> std::io::Result<()> {
        let mut body = serde_json::to_vec_pretty(&json!({"version": 1, key: items}))
            .map_err(std::io::Error::other)?;
        body.push(b'\n');
        atomic_write(path, &body, 0o600)
    }

    fn live(reqs: Vec<Value>, now_ms: u64) -> (Vec<Value>, bool) {
        let before = reqs.len();
        let kept: Vec<Value> = reqs
            .into_iter()
            .filter(|r| {
                r["createdAt"]
                    .as_str()
                    .and_then(parse_iso_ms)
                    .is_some_and(|t| now_ms.saturating_sub(t) <= PENDING_TTL_MS)
            })
            .collect();
        let pruned = kept.len() != before;
        (kept, pruned)
    }

    /// Pending requests (live ones), oldest first, for one account or all.
    pub fn list(
        &self,
        channel: &str,
        account: Option<&str>,
        now_ms: u64,
    ) -> std::io::Result<Vec<Value>> {
        let path = self.pairing_path(channel);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let _lock = super::DirLock::take(&self.dir)?;
        let (reqs, pruned) = Self::live(Self::read(&path, "requests"), now_ms);
        if pruned {
            Self::write(&path, "requests", &reqs)?;
        }
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
        let _lock = super::DirLock::take(&self.dir)?;
        let path = self.pairing_path(channel);
        let account = account
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| DEFAULT_ACCOUNT.into());
        let (mut reqs, _) = Self::live(Self::read(&path, "requests"), now_ms);
        let mut meta = meta.clone();
        meta.insert("accountId".into(), json!(account));
        let now = iso(now_ms);
        if let Some(r) = reqs
            .iter_mut()
            .find(|r| r["id"].as_str() == Some(sender) && account_of(r) == account)
        {
            r["lastSeenAt"] = json!(now);
            r["meta"] = Value::Object(meta);
            let code = r["code"].as_str().unwrap_or_default().to_string();
            Self::write(&path, "requests", &reqs)?;
            return Ok(Upsert::Existing(code));
        }
        if reqs.iter().filter(|r| account_of(r) == account).count() >= MAX_PENDING {
            Self::write(&path, "requests", &reqs)?;
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
        Self::write(&path, "requests", &reqs)?;
        Ok(Upsert::Created(code))
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
        let _lock = super::DirLock::take(&self.dir)?;
        let path = self.pairing_path(channel);
        let (mut reqs, pruned) = Self::live(Self::read(&path, "requests"), now_ms);
        let want = account.map(|a| a.trim().to_lowercase());
        let Some(i) = reqs.iter().position(|r| {
            r["code"].as_str().map(str::to_uppercase).as_deref() == Some(code.as_str())
                && want.as_deref().is_none_or(|a| account_of(r) == a)
        }) else {
            if pruned {
                Self::write(&path, "requests", &reqs)?;
            }
            return Ok(None);
        };
        let entry = reqs.remove(i);
        let allow_path = self.allow_from_path(channel, Some(&account_of(&entry)));
        let mut allow = Self::read(&allow_path, "allowFrom");
        let id = entry["id"].clone();
        if !allow.contains(&id) {
            allow.push(id);
            Self::write(&allow_path, "allowFrom", &allow)?;
        }
        Self::write(&path, "requests", &reqs)?;
        Ok(Some(entry))
    }

    pub fn allow_from(&self, channel: &str, account: Option<&str>) -> Vec<String> {
        crate::util::string_list(Some(&Value::Array(Self::read(
            &self.allow_from_path(channel, account),
            "allowFrom",
        ))))
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
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.pairing_path("telegram"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
