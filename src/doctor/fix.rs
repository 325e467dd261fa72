//! `doctor --fix`: each fix is a transaction. Plan against the file as it is now, show the
//! diff (`--dry-run` stops there), back up, apply through the config store (compare-and-swap),
//! re-run the originating check on fresh facts, and roll back when it still fires. Only
//! persisted changes are reported as applied.

use super::catalog::Check;
use super::probes::ProbeContext;
use crate::config::{self, edit, store};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// One planned change.
#[derive(Debug, Clone)]
pub enum Change {
    /// Replace the config text (`before` is what was read; the write is CAS on its hash).
    Config {
        path: PathBuf,
        before: Vec<u8>,
        after: String,
    },
    /// Keep a copy of the broken config beside it (`openclaw.json.clobbered.<ts>`).
    Preserve {
        /// The config the copy belongs to (its `.clobbered.*` copies are pruned to 32).
        config: PathBuf,
        path: PathBuf,
        bytes: Vec<u8>,
    },
    RemoveFile {
        path: PathBuf,
    },
    Chmod {
        path: PathBuf,
        mode: u32,
    },
    /// Rewrite the gateway's systemd unit, reload the manager and restart the unit; undone
    /// by putting the old unit back (or removing it), reloading and restarting again.
    Unit(UnitChange),
    /// Stop, disable and set aside another gateway's user unit (or a legacy unit backup):
    /// the file is renamed to `<file>.removed-<ts>`, which systemd and the scan ignore, so
    /// undo is a rename back.
    RemoveService {
        path: PathBuf,
        /// The unit systemd knows it by; `None` for a `.bak` backup.
        unit: Option<String>,
        env: crate::config::env::Env,
    },
    /// `loginctl enable-linger <user>`; undone with `disable-linger`.
    Linger {
        env: crate::config::env::Env,
        user: String,
    },
}

#[derive(Debug, Clone)]
pub struct UnitChange {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: String,
    pub target: crate::service::supervisor::Target,
    pub env: crate::config::env::Env,
    /// How the supervisor was reached when the plan was made (`dbus`, `systemctl`, …).
    pub via: &'static str,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub summary: String,
    pub changes: Vec<Change>,
}

pub use crate::contract::doctor::FixOutcome;

fn read(path: &Path) -> Result<(Vec<u8>, String), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes.clone()).map_err(|_| format!("{} is not UTF-8", path.display()))?;
    Ok((bytes, text))
}

/// Plan `action` for `check`, or say why it cannot be done here.
pub fn plan(action: &str, ctx: &ProbeContext) -> Result<Plan, String> {
    let path = ctx.paths.config_path.clone();
    let edit_config =
        |f: &dyn Fn(&str) -> Result<String, String>, summary: String| -> Result<Plan, String> {
            let (before, text) = read(&path)?;
            let after = f(&text)?;
            if after == text {
                return Err("nothing to change".into());
            }
            Ok(Plan {
                summary,
                changes: vec![Change::Config {
                    path: path.clone(),
                    before,
                    after,
                }],
            })
        };
    let e = |x: edit::EditError| x.0;
    match action {
        "move-legacy-gateway-token" => {
            let cfg = &ctx.config;
            let legacy = cfg.get("gateway.token").cloned().unwrap_or(Value::Null);
            let keep_existing = cfg.get("gateway.auth.token").is_some();
            edit_config(
                &|t| {
                    let t = if keep_existing || !legacy.is_string() {
                        t.to_string()
                    } else {
                        edit::set(t, "gateway.auth.token", &legacy).map_err(e)?
                    };
                    Ok(edit::remove(&t, "gateway.token").map_err(e)?.unwrap_or(t))
                },
                if keep_existing {
                    "Removed the ignored legacy gateway.token (gateway.auth.token is already set)."
                        .into()
                } else {
                    "Moved gateway.token to gateway.auth.token.".into()
                },
            )
        }
        "normalize-bind-alias" => {
            let raw = ctx
                .config
                .get_str("gateway.bind")
                .unwrap_or_default()
                .to_string();
            let mode = config::schema::BIND_ALIASES
                .iter()
                .find(|(a, _)| *a == raw)
                .map(|(_, m)| *m)
                .ok_or_else(|| format!("gateway.bind {raw:?} is not a legacy alias"))?;
            edit_config(
                &|t| edit::set(t, "gateway.bind", &json!(mode)).map_err(e),
                format!("Normalized gateway.bind \"{raw}\" → \"{mode}\"."),
            )
        }
        "set-gateway-mode-local" => {
            let reason = local_intent(ctx).ok_or_else(|| {
                "cannot tell whether this machine should run a local gateway (no local gateway listening, no backup with gateway.mode=local, no local auth configured); run `openclaw config set gateway.mode local` yourself if it should".to_string()
            })?;
            edit_config(
                &|t| edit::set(t, "gateway.mode", &json!("local")).map_err(e),
                format!("Set gateway.mode=local ({reason})."),
            )
        }
        "generate-gateway-token" => {
            let token = config::secret::Secret::generate_hex(24)
                .map_err(|e| format!("cannot generate a token: {e}"))?;
            let token_value = json!(token.expose());
            edit_config(
                &|t| {
                    let t = edit::set(t, "gateway.auth.mode", &json!("token")).map_err(e)?;
                    edit::set(&t, "gateway.auth.token", &token_value).map_err(e)
                },
                "Gateway token configured (gateway.auth.token, 48 hex characters; the value is not printed).".into(),
            )
        }
        "restore-last-known-good" => {
            let (before, _) = read(&path)?;
            // The gateway's last-known-good copy first, then the backup ring, newest first.
            let good = std::iter::once(config::lkg::last_good_path(&path))
                .chain((0..store::BACKUPS).map(|n| store::backup_path(&path, n)))
                .filter_map(|b| std::fs::read_to_string(&b).ok().map(|t| (b, t)))
                .find(|(b, t)| config::load::load_from_str(b, t, &ctx.env).is_valid())
                .ok_or_else(|| {
                    format!("{} is not parseable and cannot be repaired automatically: no valid last-known-good copy (.last-good, .bak, .bak.1 … .bak.4)", path.display())
                })?;
            let keep = config::lkg::clobbered_path(&path);
            Ok(Plan {
                summary: format!(
                    "Config auto-restored from last-known-good: {} (doctor-invalid-config; from {}; the broken file is kept as {})",
                    path.display(),
                    good.0.display(),
                    keep.display()
                ),
                changes: vec![
                    Change::Preserve { config: path.clone(), path: keep, bytes: before.clone() },
                    Change::Config { path: path.clone(), before, after: good.1 },
                ],
            })
        }
        "remove-stale-lock" => {
            let lock = crate::gateway::lock::lock_path(&path);
            let text = std::fs::read_to_string(&lock).map_err(|_| "no lock file".to_string())?;
            let pid = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["pid"].as_u64())
                .unwrap_or(0);
            if pid > 0 && crate::os::proc::is_alive(pid as u32) {
                return Err(format!("the lock owner (pid {pid}) is alive"));
            }
            Ok(Plan {
                summary: format!(
                    "Removed the stale gateway lock {} (owner pid {pid} is gone).",
                    lock.display()
                ),
                changes: vec![Change::RemoveFile { path: lock }],
            })
        }
        "fix-permissions" => {
            let mut changes = Vec::new();
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(&ctx.paths.state_dir) {
                if m.permissions().mode() & 0o077 != 0 {
                    changes.push(Change::Chmod {
                        path: ctx.paths.state_dir.clone(),
                        mode: 0o700,
                    });
                }
            }
            if let Ok(m) = std::fs::metadata(&path) {
                if m.permissions().mode() & 0o077 != 0 {
                    changes.push(Change::Chmod {
                        path: path.clone(),
                        mode: 0o600,
                    });
                }
            }
            if changes.is_empty() {
                return Err("nothing to change".into());
            }
            Ok(Plan {
                summary: "Restricted the state dir to 0700 and the config to 0600.".into(),
                changes,
            })
        }
        "reinstall-service" => plan_reinstall(ctx),
        "remove-legacy-services" => {
            let changes: Vec<Change> = crate::service::inspect::extra_services(&ctx.env, false)
                .into_iter()
                .filter(|s| s.legacy && s.scope == "user" && s.platform == "linux")
                .map(|s| Change::RemoveService {
                    unit: s.detail.starts_with("unit: ").then(|| s.label.clone()),
                    path: PathBuf::from(&s.path),
                    env: ctx.env.clone(),
                })
                .collect();
            if changes.is_empty() {
                return Err("no legacy gateway service is installed for this user".into());
            }
            Ok(Plan {
                summary: format!(
                    "Stopped, disabled and set aside {} legacy gateway service file(s).",
                    changes.len()
                ),
                changes,
            })
        }
        "remove-user-unit" => {
            let ins = crate::service::inspect::inspect(&ctx.env)?;
            if ins.dueling.is_none() {
                return Err("no system unit beside the user unit: nothing to resolve".into());
            }
            Ok(Plan {
                summary: format!(
                    "Set aside the user unit {}; the system unit stays.",
                    ins.user_path.display()
                ),
                changes: vec![Change::RemoveService {
                    path: ins.user_path.clone(),
                    unit: Some(ins.unit.clone()),
                    env: ctx.env.clone(),
                }],
            })
        }
        "enable-linger" => {
            let user = crate::service::inspect::linger_user(&ctx.env);
            Ok(Plan {
                summary: format!("Enabled lingering for {user}: the gateway's user service keeps running after logout."),
                changes: vec![Change::Linger {
                    env: ctx.env.clone(),
                    user,
                }],
            })
        }
        other => Err(format!("unknown fix action {other:?}")),
    }
}

/// `gateway install --force` + restart, as one transaction.
fn plan_reinstall(ctx: &ProbeContext) -> Result<Plan, String> {
    use crate::service::supervisor::{Supervisor, Target};
    use crate::service::{inspect, ServiceSpec};
    let ins = inspect::inspect(&ctx.env)?;
    let target = Target::new(&ctx.env, ins.platform, ins.system, &ctx.paths.state_dir);
    let path = ins.path.clone().unwrap_or(ins.user_path.clone());
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| format!("cannot locate this binary: {e}"))?;
    let mut spec = ServiceSpec::gateway(&ctx.env, &binary, ctx.port, ctx.paths.state_dir.clone());
    if ins.system {
        spec.system_user = ins
            .text
            .lines()
            .find_map(|l| l.strip_prefix("User="))
            .map(String::from);
    }
    let after = target.render(&spec).map_err(|e| e.to_string())?;
    if ins.installed() && ins.text == after {
        return Err("the installed service file is already what this binary writes".into());
    }
    let via = Supervisor::connect(&ctx.env, &target)?.via();
    Ok(Plan {
        summary: format!(
            "Reinstalled {} from this binary and restarted {}.",
            path.display(),
            ins.unit
        ),
        changes: vec![Change::Unit(UnitChange {
            before: ins.installed().then(|| ins.text.clone().into_bytes()),
            path,
            after,
            target,
            env: ctx.env.clone(),
            via,
        })],
    })
}

/// Fixes that infer intent rather than normalise: refused with `--non-interactive`.
pub fn needs_judgement(action: &str) -> bool {
    matches!(action, "set-gateway-mode-local" | "restore-last-known-good")
}

/// Why setting gateway.mode=local is the right repair, if it is.
fn local_intent(ctx: &ProbeContext) -> Option<String> {
    let path = &ctx.paths.config_path;
    for n in 0..store::BACKUPS {
        let b = store::backup_path(path, n);
        if let Ok(t) = std::fs::read_to_string(&b) {
            if config::json5::parse(&t)
                .ok()
                .is_some_and(|d| d.value["gateway"]["mode"] == "local")
            {
                return Some(format!("{} had gateway.mode=local", b.display()));
            }
        }
    }
    if crate::os::proc::listeners_on_port(ctx.port)
        .iter()
        .any(|l| l.gateway_like)
    {
        return Some(format!("a local gateway listens on port {}", ctx.port));
    }
    let cfg = &ctx.config;
    if cfg.get("gateway.auth.token").is_some() && cfg.get("gateway.remote.url").is_none() {
        return Some("local gateway auth is configured and no remote URL is".into());
    }
    None
}

/// A small line diff of two texts (`-`/`+` lines with a little context).
pub fn diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let (n, m) = (a.len(), b.len());
    if n * m > 4_000_000 {
        return format!("(files too large to diff: {n} → {m} lines)");
    }
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    // Keep changed lines with one line of context.
    let keep: Vec<bool> = (0..out.len())
        .map(|k| {
            (k.saturating_sub(1)..=(k + 1).min(out.len() - 1)).any(|x| !out[x].starts_with("  "))
        })
        .collect();
    out.into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(l, _)| l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Secrets never reach a diff: replace their values.
fn scrub(text: &str) -> String {
    let mut secrets = Vec::new();
    if let Ok(doc) = config::json5::parse(text) {
        let mut v = doc.value;
        config::redact::redact_value(&mut v, &mut secrets);
    }
    config::redact::scrub_text(text, &secrets)
}

pub fn plan_diff(plan: &Plan) -> String {
    let mut out = Vec::new();
    for c in &plan.changes {
        match c {
            Change::Config {
                path,
                before,
                after,
            } => {
                out.push(format!("--- {}\n+++ {}", path.display(), path.display()));
                out.push(diff(
                    &scrub(&String::from_utf8_lossy(before)),
                    &scrub(after),
                ));
            }
            Change::Preserve { path, .. } => out.push(format!(
                "create {} (copy of the broken config, mode 0600)",
                path.display()
            )),
            Change::RemoveFile { path } => out.push(format!("remove {}", path.display())),
            Change::Chmod { path, mode } => out.push(format!("chmod {mode:o} {}", path.display())),
            Change::Unit(u) => {
                out.push(format!(
                    "--- {}\n+++ {}",
                    u.path.display(),
                    u.path.display()
                ));
                out.push(diff(
                    &String::from_utf8_lossy(u.before.as_deref().unwrap_or_default()),
                    &u.after,
                ));
                out.extend(
                    crate::service::supervisor::Supervisor::describe_file_change(&u.target, u.via),
                );
            }
            Change::RemoveService { path, unit, .. } => {
                if let Some(u) = unit {
                    out.push(format!("systemctl --user disable --now {u}"));
                }
                out.push(format!("mv {0} {0}.removed-<timestamp>", path.display()));
            }
            Change::Linger { user, .. } => {
                out.push(format!("loginctl enable-linger {user}"));
            }
        }
    }
    out.join("\n")
}

/// What `apply` did, so it can be undone.
pub struct Applied {
    undo: Vec<Box<dyn FnOnce() -> Result<(), String>>>,
    pub backups: Vec<String>,
    pub files: Vec<String>,
}

/// Apply every change; on the first failure, undo what was done and report the error.
pub fn apply(plan: &Plan) -> Result<Applied, String> {
    let mut done = Applied {
        undo: Vec::new(),
        backups: Vec::new(),
        files: Vec::new(),
    };
    for c in &plan.changes {
        let r: Result<(), String> =
            match c {
                Change::Config {
                    path,
                    before,
                    after,
                } => {
                    let expected = store::hash(before);
                    match store::commit(path, Some(&expected), after) {
                        Ok(backup) => {
                            let written = std::fs::read(path)
                                .map(|b| store::hash(&b))
                                .unwrap_or_default();
                            let (p, old) = (path.clone(), before.clone());
                            done.undo.push(Box::new(move || {
                                store::restore(&p, &written, &old).map_err(|e| e.to_string())
                            }));
                            done.backups.extend(backup.map(|b| b.display().to_string()));
                            done.files.push(path.display().to_string());
                            Ok(())
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
                Change::Preserve {
                    config,
                    path,
                    bytes,
                } => {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                        .and_then(|mut f| f.write_all(bytes))
                        .map(|_| {
                            done.files.push(path.display().to_string());
                            config::lkg::prune_clobbered(config);
                        })
                        .map_err(|e| format!("cannot keep {}: {e}", path.display()))
                }
                Change::RemoveFile { path } => std::fs::remove_file(path)
                    .map(|_| done.files.push(path.display().to_string()))
                    .map_err(|e| format!("cannot remove {}: {e}", path.display())),
                Change::Chmod { path, mode } => {
                    use std::os::unix::fs::PermissionsExt;
                    let old = std::fs::metadata(path)
                        .map(|m| m.permissions().mode() & 0o7777)
                        .unwrap_or(0o600);
                    let p = path.clone();
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                        .map(|_| {
                            done.undo.push(Box::new(move || {
                                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(old))
                                    .map_err(|e| e.to_string())
                            }));
                            done.files.push(path.display().to_string());
                        })
                        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
                }
                Change::Unit(u) => apply_unit(u).map(|undo| {
                    done.undo.push(undo);
                    done.files.push(u.path.display().to_string());
                }),
                Change::RemoveService { path, unit, env } => set_aside(path, unit.as_deref(), env)
                    .map(|(aside, undo)| {
                        done.backups.push(aside.display().to_string());
                        done.files.push(path.display().to_string());
                        done.undo.push(undo);
                    }),
                Change::Linger { env, user } => crate::service::inspect::enable_linger(env, user)
                    .map(|_| {
                        let (env, user) = (env.clone(), user.clone());
                        done.undo.push(Box::new(move || {
                            crate::service::inspect::disable_linger(&env, &user)
                        }));
                    }),
            };
        if let Err(e) = r {
            let _ = rollback(done);
            return Err(e);
        }
    }
    Ok(done)
}

type Undo = Box<dyn FnOnce() -> Result<(), String>>;

/// Write `text` as the service file (or remove it), then have the supervisor pick it up.
fn put_unit(u: &UnitChange, text: Option<&[u8]>) -> Result<(), String> {
    let path = &u.path;
    match text {
        Some(t) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            config::write::atomic_write(path, t, 0o644)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
    crate::service::supervisor::Supervisor::connect(&u.env, &u.target)?
        .file_changed(&u.target, text.is_some())
}

/// Stop and disable `unit` when a manager answers (only the file goes otherwise, as
/// upstream does), then rename the file aside and reload.
fn set_aside(
    path: &Path,
    unit: Option<&str>,
    env: &crate::config::env::Env,
) -> Result<(PathBuf, Undo), String> {
    use crate::service::{bus::Job, manager::Manager};
    let manager = Manager::connect(env, false).ok();
    if let (Some(m), Some(u)) = (&manager, unit) {
        if m.show(u).is_ok_and(|s| !s.missing()) {
            m.job(Job::Stop, u)?;
            m.disable(u)?;
        }
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let aside = PathBuf::from(format!("{}.removed-{stamp}", path.display()));
    std::fs::rename(path, &aside)
        .map_err(|e| format!("cannot move {} aside: {e}", path.display()))?;
    if let Some(m) = &manager {
        let _ = m.reload();
    }
    let (from, to) = (aside.clone(), path.to_path_buf());
    let undo: Undo = Box::new(move || {
        std::fs::rename(&from, &to).map_err(|e| format!("cannot restore {}: {e}", to.display()))?;
        if let Some(m) = manager {
            m.reload()?;
        }
        Ok(())
    });
    Ok((aside, undo))
}

fn apply_unit(u: &UnitChange) -> Result<Undo, String> {
    let undo = {
        let u = u.clone();
        Box::new(move || put_unit(&u, u.before.as_deref())) as Undo
    };
    if let Err(e) = put_unit(u, Some(u.after.as_bytes())) {
        let _ = undo();
        return Err(e);
    }
    Ok(undo)
}

/// Undo in reverse order.
pub fn rollback(applied: Applied) -> Result<(), String> {
    let mut errors = Vec::new();
    for u in applied.undo.into_iter().rev() {
        if let Err(e) = u() {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Does `check` still fire on these facts (its conditions, not old log lines)?
pub fn still_fires(check: &Check, facts: &super::facts::Facts) -> bool {
    matches!(super::eval::conditions(check, facts), Ok(Some(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let d = diff("a\nb\nc\nd\n", "a\nB\nc\nd\n");
        assert_eq!(d, "  a\n- b\n+ B\n  c");
        assert!(config::lkg::clobber_stamp().ends_with('Z'));
    }
}
