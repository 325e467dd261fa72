//! The profile's SQLite store, as the real OpenClaw 2026.9.6 keeps it:
//! `<state>/state/openclaw.sqlite` (WAL, `STRICT` tables, a `schema_meta` row `primary` with
//! the schema version and the version of the binary that wrote it). The table and column
//! names are upstream's (`fixtures/state/openclaw-2026.9.6-schema.sql`).
//!
//! [`Store::open_read_only`] is the doctor's door: `SQLITE_OPEN_READ_ONLY`, `query_only`, a
//! busy timeout; it never takes a write lock, so it reads while the real gateway runs and
//! holds its WAL. The readers return rows in upstream's own JSON shapes (the ones its
//! `devices list --json` and its legacy files use), so one evaluation serves the store and
//! the legacy files of older installations.
//!
//! The write side (this gateway's devices and DM pairing, cron, exec approvals, config
//! health) goes through the same type as those pieces move here.

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema version this build reads and writes (`schema_meta.schema_version` of the
/// `primary` row as upstream 2026.9.6 writes it).
pub const SCHEMA_VERSION: i64 = 18;
/// The upstream release whose schema this build follows.
pub const SCHEMA_FROM: &str = "2026.9.6";
/// How long a read waits for a writer's lock (a WAL reader waits only on recovery).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a write waits for another writer (the gateway and several CLIs at once).
pub const WRITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Upstream's DDL for the whole store, as 2026.9.6 creates it (the fixture it came from).
const UPSTREAM_SCHEMA: &str = include_str!("../../fixtures/state/openclaw-2026.9.6-schema.sql");

/// `<state>/state/openclaw.sqlite`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("state").join("openclaw.sqlite")
}

/// Run `f` on this process's connection to the store of `state_dir`, opened (read-write,
/// created if absent) on first use and kept: SQLite parses upstream's whole schema (about
/// 2 ms) on every new connection, so a short CLI command opens it once, not per lookup.
pub fn with_shared<T>(
    state_dir: &Path,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    static SHARED: std::sync::Mutex<Vec<Store>> = std::sync::Mutex::new(Vec::new());
    let file = path(state_dir);
    let mut open = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let i = match open.iter().position(|s| s.path == file) {
        Some(i) => i,
        None => {
            open.push(Store::open(state_dir)?);
            open.len() - 1
        }
    };
    f(&mut open[i])
}

/// Why the store could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No store: an installation older than the SQLite state (or never started).
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} is locked by another process (busy for {}s): {detail}", path.display(), BUSY_TIMEOUT.as_secs())]
    Busy { path: PathBuf, detail: String },
    #[error("{} is not a readable SQLite database ({detail}); restore it from a backup or move it aside (openclaw backup, then openclaw doctor)", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{} has no schema_meta row 'primary': not an OpenClaw state store", .0.display())]
    NotAStore(PathBuf),
    /// A schema this build does not write (newer, or older and not yet migrated by
    /// upstream): reads work, writes are refused.
    #[error("{} is read-only for this build: {why}", path.display())]
    ReadOnly { path: PathBuf, why: String },
    #[error("{}: {detail}", path.display())]
    Other { path: PathBuf, detail: String },
}

impl StoreError {
    fn from_sqlite(path: &Path, e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let detail = e.to_string();
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::Busy { path, detail },
            Some(C::DatabaseCorrupt | C::NotADatabase) => StoreError::Corrupt { path, detail },
            _ => StoreError::Other { path, detail },
        }
    }
}

/// What `schema_meta` says about the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaInfo {
    pub version: i64,
    /// The OpenClaw version that last wrote the schema.
    pub app_version: Option<String>,
}

impl SchemaInfo {
    /// The older-binary rule: a store from a newer schema is only read, never migrated.
    pub fn newer_than_this_build(&self) -> bool {
        self.version > SCHEMA_VERSION
    }

    /// The warning for a newer store, naming both versions.
    pub fn newer_warning(&self) -> Option<String> {
        self.newer_than_this_build().then(|| {
            format!(
                "the state store has schema version {} (written by OpenClaw {}); this build knows version {SCHEMA_VERSION} ({SCHEMA_FROM}) and only reads it",
                self.version,
                self.app_version.as_deref().unwrap_or("unknown")
            )
        })
    }
}

/// A `device_identities` row (key material: never logged, never exported).
pub struct IdentityRow {
    pub device_id: String,
    pub public_key_pem: String,
    pub private_key_pem: String,
    pub created_at_ms: u64,
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    schema: SchemaInfo,
}

impl Store {
    /// Open the store of `state_dir` for reading only: no write lock, no WAL checkpoint, no
    /// migration, whatever the schema version.
    pub fn open_read_only(state_dir: &Path) -> Result<Store, StoreError> {
        Self::open_file_read_only(&path(state_dir))
    }

    /// Open a store file (a copy from a support bundle, say) for reading only.
    pub fn open_file_read_only(file: &Path) -> Result<Store, StoreError> {
        match std::fs::metadata(file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing(file.to_path_buf()))
            }
            Err(e) => {
                return Err(StoreError::Other {
                    path: file.to_path_buf(),
                    detail: e.to_string(),
                })
            }
            Ok(m) if !m.is_file() => {
                return Err(StoreError::Other {
                    path: file.to_path_buf(),
                    detail: "not a regular file".into(),
                })
            }
            Ok(_) => {}
        }
        let err = |e| StoreError::from_sqlite(file, e);
        let conn = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        conn.pragma_update(None, "query_only", true).map_err(err)?;
        let schema = read_schema(&conn, file)?;
        Ok(Store {
            conn,
            path: file.to_path_buf(),
            schema,
        })
    }

    /// Open the store of `state_dir` for reading and writing, creating it with upstream's
    /// whole schema (`PRAGMA user_version` and the `schema_meta` row `primary` at
    /// [`SCHEMA_VERSION`], so the real gateway takes it as its own) when it does not exist.
    /// WAL, a busy timeout, `synchronous=FULL`; the file is private (0600, dir 0700).
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        // Processes that create a new store at the same moment can meet in the switch to
        // WAL, where SQLite answers `database is locked` without waiting: try again, bounded.
        let deadline = std::time::Instant::now() + WRITE_BUSY_TIMEOUT;
        loop {
            match Self::open_once(state_dir) {
                Err(StoreError::Busy { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(state_dir: &Path) -> Result<Store, StoreError> {
        let file = path(state_dir);
        let io = |e: std::io::Error| StoreError::Other {
            path: file.clone(),
            detail: e.to_string(),
        };
        crate::config::write::ensure_private_dir(state_dir).map_err(io)?;
        crate::config::write::ensure_private_dir(&state_dir.join("state")).map_err(io)?;
        let err = |e| StoreError::from_sqlite(&file, e);
        let mut conn = Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(WRITE_BUSY_TIMEOUT).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "wal")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "full")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(err)?;
        let count = |c: &Connection| -> rusqlite::Result<i64> {
            c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
        };
        // Only a new (empty) file takes the write lock here, to create the schema once.
        if count(&conn).map_err(err)? == 0 {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            if count(&tx).map_err(err)? == 0 {
                let now = crate::util::now_ms() as i64;
                tx.execute_batch(UPSTREAM_SCHEMA).map_err(err)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(err)?;
                tx.execute(
                    "INSERT INTO schema_meta (meta_key, role, schema_version, agent_id, app_version, created_at, updated_at) \
                     VALUES ('primary', 'global', ?1, NULL, ?2, ?3, ?3)",
                    rusqlite::params![SCHEMA_VERSION, env!("CARGO_PKG_VERSION"), now],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
        }
        let schema = read_schema(&conn, &file)?;
        Ok(Store {
            conn,
            path: file,
            schema,
        })
    }

    /// Whether this build may write the store: only at the schema version it knows.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        let why = match self.schema.version.cmp(&SCHEMA_VERSION) {
            std::cmp::Ordering::Equal => return Ok(()),
            std::cmp::Ordering::Greater => self.schema.newer_warning().unwrap_or_default(),
            std::cmp::Ordering::Less => format!(
                "the state store has schema version {}; this build knows version {SCHEMA_VERSION} ({SCHEMA_FROM}) and does not migrate it (run the real OpenClaw {SCHEMA_FROM} once, or its `openclaw doctor --fix`)",
                self.schema.version
            ),
        };
        Err(StoreError::ReadOnly {
            path: self.path.clone(),
            why,
        })
    }

    /// Run `f` in a write transaction (`BEGIN IMMEDIATE`: the write lock first, so a
    /// read-modify-write never interleaves with another process's); committed when `f`
    /// returns `Ok`, rolled back otherwise.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.check_writable()?;
        let path = self.path.clone();
        let err = |e| StoreError::from_sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let out = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema(&self) -> &SchemaInfo {
        &self.schema
    }

    /// The connection, for the table readers of this module's users.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// A SQLite error on this store, as a [`StoreError`] naming the file.
    pub(crate) fn error(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(&self.path, e)
    }

    /// `PRAGMA quick_check`: `ok`, or the first problems SQLite reports.
    pub fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("PRAGMA quick_check(5)")
            .map_err(|e| self.error(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Pending device pairing requests keyed by request id, as upstream's
    /// `devices/pending.json` entries (`requestId`, `deviceId`, `publicKey`, `role`,
    /// `roles`, `scopes`, `clientId`, `clientMode`, `remoteIp`, `silent`, `isRepair`, `ts`).
    pub fn pending_devices(&self) -> Result<Map<String, Value>, StoreError> {
        PENDING.read(&self.conn).map_err(|e| self.error(e))
    }

    /// Paired devices keyed by device id, as upstream's `devices/paired.json` entries (the
    /// token values included: callers redact what they show).
    pub fn paired_devices(&self) -> Result<Map<String, Value>, StoreError> {
        PAIRED.read(&self.conn).map_err(|e| self.error(e))
    }

    /// The CLI's cached device tokens (upstream's `identity/device-auth.json`, moved to
    /// `device_auth_tokens`): `{deviceId, tokens: {role: {token, role, scopes,
    /// updatedAtMs}}}` per device id.
    pub fn device_auth_tokens(&self) -> Result<Map<String, Value>, StoreError> {
        let sql =
            "SELECT device_id, role, token, scopes_json, updated_at_ms FROM device_auth_tokens \
                   ORDER BY device_id, role";
        let rows = self.rows(sql, |r| {
            let device: String = r.get(0)?;
            let role: String = r.get(1)?;
            let mut t = Map::new();
            put(&mut t, "token", r.get::<_, Option<String>>(2)?);
            put(&mut t, "role", Some(role.clone()));
            put_json(&mut t, "scopes", r.get::<_, Option<String>>(3)?);
            put(&mut t, "updatedAtMs", r.get::<_, Option<i64>>(4)?);
            Ok((format!("{device}\u{0}{role}"), Value::Object(t)))
        })?;
        let mut out = Map::new();
        for (key, token) in rows {
            let (device, role) = key.split_once('\u{0}').unwrap_or((&key, ""));
            let entry = out
                .entry(device.to_string())
                .or_insert_with(|| json!({"deviceId": device, "tokens": {}}));
            entry["tokens"][role] = token;
        }
        Ok(out)
    }

    /// The device ids of this host's identities (`device_identities`; upstream's `primary`
    /// row is the CLI's and the gateway's own). Key material is never read.
    pub fn device_identity_ids(&self) -> Result<Map<String, Value>, StoreError> {
        self.keyed(
            "SELECT identity_key, device_id FROM device_identities ORDER BY identity_key",
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Value::String(r.get::<_, String>(1)?),
                ))
            },
        )
    }

    /// The `primary` device identity with its key pair: the one this host's CLI signs with
    /// (upstream's `identity/device.json`, moved to `device_identities`).
    pub fn primary_identity(&self) -> Result<Option<IdentityRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT device_id, public_key_pem, private_key_pem, created_at_ms \
                 FROM device_identities WHERE identity_key = 'primary'",
                [],
                |r| {
                    Ok(IdentityRow {
                        device_id: r.get(0)?,
                        public_key_pem: r.get(1)?,
                        private_key_pem: r.get(2)?,
                        created_at_ms: r.get::<_, i64>(3)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// DM pairing requests per channel, as upstream's `credentials/<channel>-pairing.json`
    /// requests (`id`, `code`, `createdAt`, `lastSeenAt`, `meta` with `accountId`).
    pub fn dm_pairing_requests(&self) -> Result<Vec<(String, Value)>, StoreError> {
        channel_requests(&self.conn, None).map_err(|e| self.error(e))
    }

    /// Cron jobs (`cron_jobs.job_json` with its `state_json`), in upstream's order.
    pub fn cron_jobs(&self) -> Result<Vec<Value>, StoreError> {
        let sql = "SELECT job_id, name, enabled, job_json, state_json FROM cron_jobs \
                   ORDER BY store_key, sort_order ASC, updated_at ASC, job_id";
        let rows = self.rows(sql, |r| {
            let id: String = r.get(0)?;
            let mut job = serde_json::from_str::<Value>(&r.get::<_, String>(3)?)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            job["id"] = Value::String(id.clone());
            if job.get("name").is_none() {
                job["name"] = Value::String(r.get(1)?);
            }
            job["enabled"] = Value::Bool(r.get::<_, i64>(2)? != 0);
            let state =
                serde_json::from_str::<Value>(&r.get::<_, String>(4)?).unwrap_or(Value::Null);
            if state.is_object() {
                job["state"] = state;
            }
            Ok((id, job))
        })?;
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }

    /// Run `sql` and collect `(key, value)` rows in order.
    fn rows<F>(&self, sql: &str, f: F) -> Result<Vec<(String, Value)>, StoreError>
    where
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<(String, Value)>,
    {
        let mut st = self.conn.prepare(sql).map_err(|e| self.error(e))?;
        let rows = st.query_map([], f).map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// [`Store::rows`] keyed by their first column.
    fn keyed<F>(&self, sql: &str, f: F) -> Result<Map<String, Value>, StoreError>
    where
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<(String, Value)>,
    {
        Ok(self.rows(sql, f)?.into_iter().collect())
    }
}

/// `channel_pairing_requests` (of one channel, or all) as `(channel, request)` in the
/// legacy file's request shape (`id`, `code`, `createdAt`, `lastSeenAt`, `meta` with the
/// row's `accountId`), oldest first.
pub(crate) fn channel_requests(
    c: &Connection,
    channel: Option<&str>,
) -> rusqlite::Result<Vec<(String, Value)>> {
    let mut st = c.prepare_cached(
        "SELECT channel_key, account_id, request_id, code, created_at, last_seen_at, meta_json \
         FROM channel_pairing_requests WHERE ?1 IS NULL OR channel_key = ?1 \
         ORDER BY channel_key, created_at, request_id",
    )?;
    let rows = st.query_map([channel], |r| {
        let mut meta = r
            .get::<_, Option<String>>(6)?
            .and_then(|m| serde_json::from_str::<Value>(&m).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        meta["accountId"] = Value::String(r.get(1)?);
        let request = json!({
            "id": r.get::<_, String>(2)?,
            "code": r.get::<_, String>(3)?,
            "createdAt": r.get::<_, String>(4)?,
            "lastSeenAt": r.get::<_, String>(5)?,
            "meta": meta,
        });
        Ok((r.get::<_, String>(0)?, request))
    })?;
    rows.collect()
}

fn read_schema(conn: &Connection, file: &Path) -> Result<SchemaInfo, StoreError> {
    let row = conn
        .query_row(
            "SELECT schema_version, app_version FROM schema_meta WHERE meta_key = 'primary'",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)),
        )
        .optional();
    match row {
        Ok(Some((version, app_version))) => Ok(SchemaInfo {
            version,
            app_version,
        }),
        Ok(None) => Err(StoreError::NotAStore(file.to_path_buf())),
        Err(e) if e.to_string().contains("no such table") => {
            Err(StoreError::NotAStore(file.to_path_buf()))
        }
        Err(e) => Err(StoreError::from_sqlite(file, e)),
    }
}

/// How a column becomes a JSON field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Text,
    Int,
    /// 0/1 as a boolean.
    Bool,
    /// A `*_json` column: its parsed value (one that does not parse is left out).
    Json,
}

/// A table whose rows are JSON objects keyed by their first column, in upstream's shapes:
/// the one description both reads and writes it.
pub(crate) struct Table {
    name: &'static str,
    /// `(column, JSON key, kind)`; the first is the key.
    cols: &'static [(&'static str, &'static str, Col)],
    order: &'static str,
}

/// `device_pairing_pending` as `pending.json` entries.
pub(crate) const PENDING: Table = Table {
    name: "device_pairing_pending",
    cols: &[
        ("request_id", "requestId", Col::Text),
        ("device_id", "deviceId", Col::Text),
        ("public_key", "publicKey", Col::Text),
        ("display_name", "displayName", Col::Text),
        ("platform", "platform", Col::Text),
        ("device_family", "deviceFamily", Col::Text),
        ("client_id", "clientId", Col::Text),
        ("client_mode", "clientMode", Col::Text),
        ("browser_origin", "browserOrigin", Col::Text),
        ("role", "role", Col::Text),
        ("roles_json", "roles", Col::Json),
        ("scopes_json", "scopes", Col::Json),
        ("remote_ip", "remoteIp", Col::Text),
        ("silent", "silent", Col::Bool),
        ("is_repair", "isRepair", Col::Bool),
        ("ts", "ts", Col::Int),
        ("refreshed_at_ms", "refreshedAtMs", Col::Int),
    ],
    order: "ts, request_id",
};

/// `device_pairing_paired` as `paired.json` entries (node surfaces kept as they are).
pub(crate) const PAIRED: Table = Table {
    name: "device_pairing_paired",
    cols: &[
        ("device_id", "deviceId", Col::Text),
        ("public_key", "publicKey", Col::Text),
        ("display_name", "displayName", Col::Text),
        ("operator_label", "operatorLabel", Col::Text),
        ("platform", "platform", Col::Text),
        ("device_family", "deviceFamily", Col::Text),
        ("client_id", "clientId", Col::Text),
        ("client_mode", "clientMode", Col::Text),
        ("browser_origin", "browserOrigin", Col::Text),
        ("role", "role", Col::Text),
        ("roles_json", "roles", Col::Json),
        ("scopes_json", "scopes", Col::Json),
        ("approved_scopes_json", "approvedScopes", Col::Json),
        ("remote_ip", "remoteIp", Col::Text),
        ("tokens_json", "tokens", Col::Json),
        ("approved_via", "approvedVia", Col::Text),
        ("node_surface_json", "nodeSurface", Col::Json),
        ("pending_node_surface_json", "pendingNodeSurface", Col::Json),
        ("created_at_ms", "createdAtMs", Col::Int),
        ("approved_at_ms", "approvedAtMs", Col::Int),
        ("last_seen_at_ms", "lastSeenAtMs", Col::Int),
        ("last_seen_reason", "lastSeenReason", Col::Text),
    ],
    order: "approved_at_ms DESC, device_id",
};

impl Table {
    fn columns(&self) -> String {
        self.cols
            .iter()
            .map(|(c, _, _)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A row as `(key, object of its non-null columns)`.
    fn object(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Value)> {
        let mut o = Map::new();
        for (i, (_, key, col)) in self.cols.iter().enumerate() {
            match col {
                Col::Text => put(&mut o, key, r.get::<_, Option<String>>(i)?),
                Col::Int => put(&mut o, key, r.get::<_, Option<i64>>(i)?),
                Col::Bool => put_bool(&mut o, key, r.get::<_, Option<i64>>(i)?),
                Col::Json => put_json(&mut o, key, r.get::<_, Option<String>>(i)?),
            }
        }
        Ok((r.get::<_, String>(0)?, Value::Object(o)))
    }

    /// Every row, keyed by the first column.
    pub(crate) fn read(&self, c: &Connection) -> rusqlite::Result<Map<String, Value>> {
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.columns(),
            self.name,
            self.order
        );
        let mut st = c.prepare_cached(&sql)?;
        let rows = st.query_map([], |r| self.object(r))?;
        rows.collect()
    }

    /// The row with key `key`.
    pub(crate) fn read_one(&self, c: &Connection, key: &str) -> rusqlite::Result<Option<Value>> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ?1",
            self.columns(),
            self.name,
            self.cols[0].0
        );
        let mut st = c.prepare_cached(&sql)?;
        st.query_row([key], |r| self.object(r).map(|(_, v)| v))
            .optional()
    }

    /// Make the table hold exactly `rows` (keyed as [`Table::read`] returns them): rows
    /// whose key is gone are deleted, the others written whole. JSON keys without a column
    /// are not kept. A row missing a `NOT NULL` column fails the write (and its
    /// transaction).
    pub(crate) fn write(&self, c: &Connection, rows: &Map<String, Value>) -> rusqlite::Result<()> {
        let key = self.cols[0].0;
        let existing: Vec<String> = {
            let mut st = c.prepare_cached(&format!("SELECT {key} FROM {}", self.name))?;
            let keys = st.query_map([], |r| r.get::<_, String>(0))?;
            keys.collect::<rusqlite::Result<_>>()?
        };
        let mut delete =
            c.prepare_cached(&format!("DELETE FROM {} WHERE {key} = ?1", self.name))?;
        for k in existing.iter().filter(|k| !rows.contains_key(*k)) {
            delete.execute([k])?;
        }
        let marks: Vec<String> = (1..=self.cols.len()).map(|i| format!("?{i}")).collect();
        let mut upsert = c.prepare_cached(&format!(
            "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
            self.name,
            self.columns(),
            marks.join(", ")
        ))?;
        for (k, row) in rows {
            let values: Vec<rusqlite::types::Value> = self
                .cols
                .iter()
                .enumerate()
                .map(|(i, (_, json_key, col))| {
                    if i == 0 {
                        return rusqlite::types::Value::Text(k.clone());
                    }
                    to_sql(row.get(*json_key), *col)
                })
                .collect();
            upsert.execute(rusqlite::params_from_iter(values))?;
        }
        Ok(())
    }
}

fn to_sql(v: Option<&Value>, col: Col) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match (v, col) {
        (None | Some(Value::Null), _) => V::Null,
        (Some(Value::String(s)), Col::Text) => V::Text(s.clone()),
        (Some(Value::Number(n)), Col::Int) => n.as_i64().map_or(V::Null, V::Integer),
        (Some(Value::Bool(b)), Col::Bool) => V::Integer(i64::from(*b)),
        (Some(v), Col::Json) => V::Text(v.to_string()),
        // A value of another type than the column's is left out, as upstream's import does.
        _ => V::Null,
    }
}

fn put<T: Into<Value>>(o: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        o.insert(k.to_string(), v.into());
    }
}

fn put_bool(o: &mut Map<String, Value>, k: &str, v: Option<i64>) {
    if let Some(v) = v {
        o.insert(k.to_string(), Value::Bool(v != 0));
    }
}

/// A `*_json` column: its parsed value (a column that does not parse is left out).
fn put_json(o: &mut Map<String, Value>, k: &str, v: Option<String>) {
    if let Some(v) = v.and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
        o.insert(k.to_string(), v);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn processes_creating_the_store_at_once_all_open_it() {
        for _ in 0..5 {
            let d = tempfile::tempdir().unwrap();
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let p = d.path().to_path_buf();
                    std::thread::spawn(move || Store::open(&p).map(|s| s.schema().version))
                })
                .collect();
            for t in threads {
                assert_eq!(t.join().unwrap().unwrap(), SCHEMA_VERSION);
            }
        }
    }

    /// A store with upstream's schema and a `primary` row of `version`.
    pub fn upstream_store(dir: &Path, version: i64) -> Connection {
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let c = Connection::open(path(dir)).unwrap();
        c.pragma_update(None, "journal_mode", "wal").unwrap();
        c.execute_batch(UPSTREAM_SCHEMA).unwrap();
        c.execute(
            "INSERT INTO schema_meta VALUES ('primary', 'global', ?1, NULL, '2026.9.6', 1, 1)",
            [version],
        )
        .unwrap();
        c
    }

    #[test]
    fn rows_come_back_in_upstream_shapes() {
        let d = tempfile::tempdir().unwrap();
        let c = upstream_store(d.path(), SCHEMA_VERSION);
        c.execute_batch(
            r#"INSERT INTO device_pairing_pending VALUES ('r1', 'dev1', 'pk', 'pixel', 'android', NULL,
                 'openclaw-android', 'ui', NULL, 'operator', '["operator"]', '["operator.read"]',
                 '192.0.2.5', 0, 1, 1000, NULL);
               INSERT INTO device_pairing_paired (device_id, public_key, role, scopes_json,
                 approved_scopes_json, tokens_json, created_at_ms, approved_at_ms)
                 VALUES ('dev2', 'pk2', 'operator', '["operator.read"]', '["operator.read"]',
                 '{"operator":{"token":"t","role":"operator","scopes":["operator.read"]}}', 1, 2);
               INSERT INTO device_auth_tokens VALUES ('dev2', 'operator', 't', '["operator.read"]', 3);
               INSERT INTO channel_pairing_requests VALUES ('telegram', 'work', '42', 'ABCD2345',
                 '2026-12-03T11:55:43.693Z', '2026-12-03T11:55:43.693Z', '{"username":"alice"}');
               INSERT INTO cron_jobs (store_key, job_id, name, enabled, payload_kind, job_json,
                 state_json, updated_at) VALUES ('main', 'j1', 'nightly', 1, 'agentTurn',
                 '{"schedule":{"kind":"cron","expr":"0 3 * * *"}}', '{"lastStatus":"error","lastError":"boom"}', 5);"#,
        )
        .unwrap();
        let s = Store::open_read_only(d.path()).unwrap();
        assert_eq!(s.schema().version, 18);
        assert!(s.schema().newer_warning().is_none());
        let p = s.pending_devices().unwrap();
        assert_eq!(p["r1"]["deviceId"], "dev1");
        assert_eq!(p["r1"]["scopes"], json!(["operator.read"]));
        assert_eq!(p["r1"]["isRepair"], true);
        assert_eq!(p["r1"]["ts"], 1000);
        let paired = s.paired_devices().unwrap();
        assert_eq!(paired["dev2"]["tokens"]["operator"]["token"], "t");
        assert_eq!(paired["dev2"]["approvedScopes"], json!(["operator.read"]));
        assert_eq!(
            s.device_auth_tokens().unwrap()["dev2"]["tokens"]["operator"]["scopes"],
            json!(["operator.read"])
        );
        let dm = s.dm_pairing_requests().unwrap();
        assert_eq!(dm[0].0, "telegram");
        assert_eq!(dm[0].1["code"], "ABCD2345");
        assert_eq!(dm[0].1["meta"]["accountId"], "work");
        let jobs = s.cron_jobs().unwrap();
        assert_eq!(jobs[0]["id"], "j1");
        assert_eq!(jobs[0]["name"], "nightly");
        assert_eq!(jobs[0]["state"]["lastStatus"], "error");
        assert_eq!(s.quick_check().unwrap(), vec!["ok"]);
    }

    #[test]
    fn a_newer_schema_is_read_with_a_warning_naming_both_versions() {
        let d = tempfile::tempdir().unwrap();
        upstream_store(d.path(), 19);
        let s = Store::open_read_only(d.path()).unwrap();
        let w = s.schema().newer_warning().unwrap();
        assert!(
            w.contains("schema version 19") && w.contains("version 18"),
            "{w}"
        );
        assert!(s.pending_devices().unwrap().is_empty());
    }

    #[test]
    fn missing_corrupt_and_foreign_files_are_named_errors() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            Store::open_read_only(d.path()),
            Err(StoreError::Missing(_))
        ));
        std::fs::create_dir_all(d.path().join("state")).unwrap();
        std::fs::write(path(d.path()), vec![0x5a; 8192]).unwrap();
        let e = Store::open_read_only(d.path()).err().unwrap();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("openclaw.sqlite"), "{e}");
        std::fs::remove_file(path(d.path())).unwrap();
        Connection::open(path(d.path()))
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(matches!(
            Store::open_read_only(d.path()),
            Err(StoreError::NotAStore(_))
        ));
    }

    #[test]
    fn reading_never_writes_and_works_while_a_writer_holds_a_transaction() {
        let d = tempfile::tempdir().unwrap();
        let writer = upstream_store(d.path(), SCHEMA_VERSION);
        writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO device_pairing_pending (request_id, device_id, public_key, ts) VALUES ('r9', 'd9', 'pk', 1);").unwrap();
        let s = Store::open_read_only(d.path()).unwrap();
        // The uncommitted row is not seen; the read does not wait for the writer.
        assert!(s.pending_devices().unwrap().is_empty());
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(s.pending_devices().unwrap().len(), 1);
        assert!(s
            .conn
            .execute("DELETE FROM device_pairing_pending", [])
            .is_err());
    }
}
