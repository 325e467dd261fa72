//! Last-known-good config. The gateway keeps a copy of the last config that loaded cleanly
//! (`<config>.last-good`, mode 0600) and its fingerprint (hash, bytes, has-meta,
//! gateway.mode) in `<state>/logs/config-health.json`. A new config that loads but looks
//! clobbered (size drop, lost `meta`, lost `gateway.mode`) is not promoted. An invalid
//! config is replaced by the last-known-good copy; the rejected bytes are kept beside it as
//! `<config>.clobbered.<ts>` (newest 32 kept) and every recovery is appended to
//! `<state>/logs/config-audit.jsonl`.

use super::env::Env;
use super::load::{self, LoadedConfig};
use super::{store, write};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// How many `.clobbered.*` copies are kept per config path.
pub const CLOBBERED_KEEP: usize = 32;
/// A size drop is suspicious only from a baseline at least this large…
const SIZE_DROP_MIN_BASELINE: u64 = 512;

/// The runbook's log signatures.
pub const RESTORED_AT_STARTUP: &str =
    "gateway: invalid config was restored from last-known-good backup";
pub const RESTORED_AT_RELOAD: &str =
    "config reload restored last-known-good config after invalid-config";
pub const PROMOTION_SKIPPED: &str = "Config last-known-good promotion skipped";

/// `Config auto-restored from last-known-good: <path> (<reason>); Rejected validation details: <why>.`
pub fn auto_restored_line(path: &Path, reason: &str, why: &str) -> String {
    format!(
        "Config auto-restored from last-known-good: {} ({reason}); Rejected validation details: {why}.",
        path.display()
    )
}

/// `Config observe anomaly: <path> (<reasons>)`.
pub fn anomaly_line(path: &Path, reasons: &[String]) -> String {
    format!(
        "Config observe anomaly: {} ({})",
        path.display(),
        reasons.join(", ")
    )
}

/// The system event raised for the main session after a recovery.
pub fn recovery_event(path: &Path, clobbered: &Path) -> String {
    format!(
        "Config recovery warning: {} was invalid and was restored from last-known-good; the rejected file is kept as {}. Run `openclaw config validate` and reapply the intended change.",
        path.display(),
        clobbered.display()
    )
}

/// What identifies a config for clobber detection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprint {
    pub hash: String,
    pub bytes: u64,
    pub has_meta: bool,
    pub gateway_mode: Option<String>,
}

impl Fingerprint {
    /// `value` is the parsed document, `None` when it does not parse.
    pub fn of(raw: &[u8], value: Option<&Value>) -> Self {
        Fingerprint {
            hash: load::hash(raw),
            bytes: raw.len() as u64,
            has_meta: value.is_some_and(|v| v.get("meta").is_some_and(Value::is_object)),
            gateway_mode: value
                .and_then(|v| load::get_path(v, "gateway.mode"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    pub fn of_loaded(cfg: &LoadedConfig) -> Option<Self> {
        let raw = cfg.raw.as_deref()?;
        let parsed = cfg.document.is_some().then_some(&cfg.value);
        Some(Self::of(raw.as_bytes(), parsed))
    }
}

/// Why `new` looks like a clobbered version of `base` (empty: it does not).
pub fn suspicious(base: &Fingerprint, new: &Fingerprint) -> Vec<String> {
    let mut out = Vec::new();
    if base.bytes >= SIZE_DROP_MIN_BASELINE && new.bytes * 2 < base.bytes {
        out.push(format!(
            "size-drop-vs-last-good:{}->{}",
            base.bytes, new.bytes
        ));
    }
    if base.has_meta && !new.has_meta {
        out.push("missing-meta-vs-last-good".into());
    }
    if base.gateway_mode.is_some() && new.gateway_mode.is_none() {
        out.push("gateway-mode-missing-vs-last-good".into());
    }
    out
}

pub fn last_good_path(config: &Path) -> PathBuf {
    sibling(config, "last-good")
}

pub fn health_path(state_dir: &Path) -> PathBuf {
    state_dir.join("logs").join("config-health.json")
}

pub fn audit_path(state_dir: &Path) -> PathBuf {
    state_dir.join("logs").join("config-audit.jsonl")
}

fn sibling(config: &Path, suffix: &str) -> PathBuf {
    let name = config
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("openclaw.json");
    config.with_file_name(format!("{name}.{suffix}"))
}

/// The baseline a new config is compared with: the recorded fingerprint for this path, else
/// the `.last-good` copy, else the newest backup.
pub fn baseline(config: &Path, state_dir: &Path, env: &Env) -> Option<Fingerprint> {
    let recorded = std::fs::read_to_string(health_path(state_dir))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| {
            v.get("configs")?
                .get(config.to_string_lossy().as_ref())?
                .get("lastGood")
                .cloned()
        })
        .and_then(|v| serde_json::from_value::<Fingerprint>(v).ok());
    recorded.or_else(|| {
        [last_good_path(config), store::backup_path(config, 0)]
            .iter()
            .find_map(|p| {
                let text = std::fs::read_to_string(p).ok()?;
                let cfg = load::load_from_str(p, &text, env);
                cfg.is_valid()
                    .then(|| Fingerprint::of(text.as_bytes(), Some(&cfg.value)))
            })
    })
}

/// What [`promote`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Promotion {
    /// `.last-good` now holds this config.
    Promoted,
    /// It already did.
    Unchanged,
    /// Not promoted: the config looks clobbered compared with the last good one.
    Skipped(Vec<String>),
}

/// Record `cfg` (which loaded cleanly) as last-known-good, unless it looks clobbered.
pub fn promote(cfg: &LoadedConfig, state_dir: &Path, env: &Env) -> std::io::Result<Promotion> {
    let (Some(raw), Some(fp)) = (cfg.raw.as_deref(), Fingerprint::of_loaded(cfg)) else {
        return Ok(Promotion::Unchanged);
    };
    let base = baseline(&cfg.path, state_dir, env);
    if let Some(base) = &base {
        if base.hash == fp.hash && last_good_path(&cfg.path).exists() {
            return Ok(Promotion::Unchanged);
        }
        let reasons = suspicious(base, &fp);
        if !reasons.is_empty() {
            return Ok(Promotion::Skipped(reasons));
        }
    }
    write::atomic_write(&last_good_path(&cfg.path), raw.as_bytes(), 0o600)?;
    record_health(&cfg.path, state_dir, &fp)?;
    Ok(Promotion::Promoted)
}

fn record_health(config: &Path, state_dir: &Path, fp: &Fingerprint) -> std::io::Result<()> {
    let path = health_path(state_dir);
    let mut doc = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if !doc.get("configs").is_some_and(Value::is_object) {
        doc["configs"] = json!({});
    }
    doc["configs"][config.to_string_lossy().as_ref()] = json!({
        "lastGood": fp,
        "lastGoodAt": now_iso(),
    });
    if let Some(dir) = path.parent() {
        write::ensure_private_dir(dir)?;
    }
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    write::atomic_write(&path, text.as_bytes(), 0o600)
}

/// A finished recovery.
#[derive(Debug)]
pub struct Restored {
    /// The copy of the rejected config.
    pub clobbered: PathBuf,
    /// Where the good content came from.
    pub from: PathBuf,
}

/// A recovery of an invalid loaded config, with what to log about it.
#[derive(Debug)]
pub struct Recovery {
    pub clobbered: PathBuf,
    /// The first validation error of the rejected file.
    pub why: String,
    /// Clobber reasons of the rejected file against the last good one.
    pub anomaly: Vec<String>,
}

/// Restore the invalid `loaded` config from `<config>.last-good`. `Err(None)`: there is no
/// last-known-good copy; `Err(Some(why))`: there is one but it could not be restored.
pub fn recover(
    loaded: &LoadedConfig,
    state_dir: &Path,
    env: &Env,
    reason: &str,
) -> Result<Recovery, Option<String>> {
    if !last_good_path(&loaded.path).exists() {
        return Err(None);
    }
    // A newer OpenClaw may have written keys this binary does not know: that is not a
    // clobber, and restoring would undo the newer install's write.
    if let Some(written) = loaded.last_touched_version() {
        if super::version::is_newer_than_current(written)
            && !env.is_truthy(super::env::ALLOW_OLDER_BINARY)
        {
            return Err(Some(format!(
                "the config was last written by a newer OpenClaw ({written}) than this binary ({}); not restoring over it. Run the newer openclaw binary, or set {}=1 for an intentional downgrade",
                super::version::CURRENT,
                super::env::ALLOW_OLDER_BINARY
            )));
        }
    }
    let why = loaded
        .errors()
        .next()
        .map(|i| i.render(&loaded.path))
        .unwrap_or_default();
    let anomaly = match (
        baseline(&loaded.path, state_dir, env),
        Fingerprint::of_loaded(loaded),
    ) {
        (Some(base), Some(now)) => suspicious(&base, &now),
        _ => Vec::new(),
    };
    let restored =
        restore(&loaded.path, state_dir, env, reason, loaded.hash.as_deref()).map_err(Some)?;
    Ok(Recovery {
        clobbered: restored.clobbered,
        why,
        anomaly,
    })
}

/// Replace the invalid config at `config` with the last-known-good copy. The rejected bytes
/// are kept as `.clobbered.<ts>`; the replace is a compare-and-swap on the rejected bytes,
/// so an edit made meanwhile is never overwritten. `reason` goes to the audit log.
/// `expected`: the hash of the rejected bytes as they were judged invalid (`None`: as they
/// are now).
pub fn restore(
    config: &Path,
    state_dir: &Path,
    env: &Env,
    reason: &str,
    expected: Option<&str>,
) -> Result<Restored, String> {
    if env.is_truthy(super::env::NIX_MODE) {
        return Err("OPENCLAW_NIX_MODE=1: the config is immutable here".into());
    }
    let from = last_good_path(config);
    let good = std::fs::read_to_string(&from)
        .map_err(|e| format!("no last-known-good copy ({}: {e})", from.display()))?;
    if !load::load_from_str(&from, &good, env).is_valid() {
        return Err(format!(
            "the last-known-good copy {} does not validate either",
            from.display()
        ));
    }
    let rejected =
        std::fs::read(config).map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    if expected.is_some_and(|h| h != load::hash(&rejected)) {
        return Err(format!(
            "{} changed on disk since it was read; not restored",
            config.display()
        ));
    }
    let clobbered = preserve_clobbered(config, &rejected)
        .map_err(|e| format!("cannot keep the rejected config: {e}"))?;
    store::restore(config, &load::hash(&rejected), good.as_bytes()).map_err(|e| e.to_string())?;
    audit(
        state_dir,
        json!({
            "event": "config.restored",
            "reason": reason,
            "path": config.display().to_string(),
            "from": from.display().to_string(),
            "clobbered": clobbered.display().to_string(),
            "rejected": Fingerprint::of(&rejected, None),
        }),
    );
    Ok(Restored { clobbered, from })
}

/// Append one event to `<state>/logs/config-audit.jsonl` (best effort: the audit log never
/// blocks a recovery).
pub fn audit(state_dir: &Path, mut event: Value) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    event["ts"] = json!(now_iso());
    event["pid"] = json!(std::process::id());
    let path = audit_path(state_dir);
    if let Some(dir) = path.parent() {
        let _ = write::ensure_private_dir(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
    {
        let _ = writeln!(f, "{event}");
    }
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `.clobbered.<ts>` timestamp: ISO 8601 with `:` and `.` replaced by `-`.
pub fn clobber_stamp() -> String {
    now_iso().replace([':', '.'], "-")
}

/// The path a rejected copy of `config` is kept at now.
pub fn clobbered_path(config: &Path) -> PathBuf {
    sibling(config, &format!("clobbered.{}", clobber_stamp()))
}

/// Keep `bytes` as a new `.clobbered.<ts>` file (never overwriting one; mode 0600) and
/// prune to the newest [`CLOBBERED_KEEP`].
pub fn preserve_clobbered(config: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut path = clobbered_path(config);
    let mut n = 1;
    let mut file = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => break f,
            // Two recoveries in the same millisecond: add a counter.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                path = sibling(config, &format!("clobbered.{}-{n}", clobber_stamp()));
                n += 1;
            }
            Err(e) => return Err(e),
        }
    };
    file.write_all(bytes)?;
    file.sync_all()?;
    prune_clobbered(config);
    Ok(path)
}

/// The `.clobbered.*` copies of `config`, oldest first.
pub fn clobbered_files(config: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (config.parent(), config.file_name().and_then(|n| n.to_str()))
    else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{name}.clobbered.");
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default();
    all.sort();
    all
}

/// Delete all but the newest [`CLOBBERED_KEEP`] `.clobbered.*` copies of `config`.
pub fn prune_clobbered(config: &Path) {
    let all = clobbered_files(config);
    let excess = all.len().saturating_sub(CLOBBERED_KEEP);
    for old in &all[..excess] {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(bytes: u64, meta: bool, mode: Option<&str>) -> Fingerprint {
        Fingerprint {
            hash: format!("h{bytes}"),
            bytes,
            has_meta: meta,
            gateway_mode: mode.map(str::to_string),
        }
    }

    #[test]
    fn suspicious_reasons_match_the_spec_forms() {
        let base = fp(537, true, Some("local"));
        assert_eq!(
            suspicious(&base, &fp(58, false, None)),
            vec![
                "size-drop-vs-last-good:537->58",
                "missing-meta-vs-last-good",
                "gateway-mode-missing-vs-last-good"
            ]
        );
        // Small baselines never count as a size drop; half or more is not a drop.
        assert!(suspicious(
            &fp(280, false, Some("local")),
            &fp(10, false, Some("local"))
        )
        .is_empty());
        assert!(suspicious(&base, &fp(269, true, Some("local"))).is_empty());
        assert_eq!(
            suspicious(&base, &fp(268, true, Some("local"))),
            vec!["size-drop-vs-last-good:537->268"]
        );
    }

    #[test]
    fn fingerprint_of_unparsable_bytes_has_no_meta_or_mode() {
        let f = Fingerprint::of(b"{ gateway: {,, ", None);
        assert!(!f.has_meta && f.gateway_mode.is_none());
        assert_eq!(f.bytes, 15);
    }

    #[test]
    fn clobber_stamp_is_the_iso_form_with_dashes() {
        let s = clobber_stamp();
        assert_eq!(s.len(), "2026-11-23T18-28-02-946Z".len(), "{s}");
        assert!(!s.contains(':') && !s.contains('.') && s.ends_with('Z'));
    }

    #[test]
    fn promote_then_restore_keeps_the_rejected_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let cfg = dir.path().join("openclaw.json");
        let env = Env::default();
        let good = "{ meta: { lastTouchedVersion: '2026.9.6' }, gateway: { mode: 'local' } }\n";
        std::fs::write(&cfg, good).unwrap();
        let loaded = load::load(&cfg, &env);
        assert_eq!(promote(&loaded, &state, &env).unwrap(), Promotion::Promoted);
        assert_eq!(
            promote(&loaded, &state, &env).unwrap(),
            Promotion::Unchanged
        );
        assert_eq!(std::fs::read_to_string(last_good_path(&cfg)).unwrap(), good);

        // A valid config that lost gateway.mode is not promoted.
        std::fs::write(&cfg, "{ meta: {} }").unwrap();
        let lost = load::load(&cfg, &env);
        assert_eq!(
            promote(&lost, &state, &env).unwrap(),
            Promotion::Skipped(vec!["gateway-mode-missing-vs-last-good".into()])
        );

        std::fs::write(&cfg, "{ gateway: {,, ").unwrap();
        let r = restore(&cfg, &state, &env, "test", None).unwrap();
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), good);
        assert_eq!(
            std::fs::read_to_string(&r.clobbered).unwrap(),
            "{ gateway: {,, "
        );
        let audit = std::fs::read_to_string(audit_path(&state)).unwrap();
        assert!(audit.contains("\"config.restored\""), "{audit}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&r.clobbered)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn clobbered_copies_are_pruned_to_the_newest_32() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("openclaw.json");
        for i in 0..40 {
            std::fs::write(
                dir.path().join(format!(
                    "openclaw.json.clobbered.2026-01-01T00-00-{i:02}-000Z"
                )),
                "x",
            )
            .unwrap();
        }
        preserve_clobbered(&cfg, b"y").unwrap();
        let left = clobbered_files(&cfg);
        assert_eq!(left.len(), CLOBBERED_KEEP);
        assert!(!left
            .iter()
            .any(|p| p.to_string_lossy().ends_with("00-00-00-000Z")));
    }
}
