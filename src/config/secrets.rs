//! SecretRef resolution, as upstream's `src/secrets/resolve.ts` does it: `env`, `file` and
//! `exec` providers registered under `secrets.providers`, the built-in `env` reader for the
//! default alias, and upstream's error messages. A `store` ref names upstream's SQLite team
//! store, which this build does not have; it fails with a message saying so.
//!
//! Resolution is synchronous and bounded: a file read and an exec provider each have a
//! timeout (5 s by default) and a byte limit (1 MiB). Callers on a multi-threaded tokio
//! runtime are moved off the reactor with `block_in_place`.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::env::Env;
use super::gateway::SecretSource;
use super::secret::Secret;
use super::LoadedConfig;

pub const DEFAULT_ALIAS: &str = "default";
pub const SINGLE_VALUE_ID: &str = "value";
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
const DEFAULT_MAX_BYTES: u64 = 1_048_576;
/// Error codes an exec provider may report that are safe to show.
const SAFE_EXEC_ERROR_CODES: &[&str] = &["AMBIGUOUS_DUPLICATE_KEY", "NOT_FOUND"];

/// A parsed SecretRef `{source, provider, id}` with the provider alias filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub source: String,
    pub provider: String,
    pub id: String,
}

impl SecretRef {
    /// `source:provider:id`, upstream's `secretRefKey` (names the secret, never its value).
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.source, self.provider, self.id)
    }

    /// Parse a SecretRef object; a missing `provider` takes the source's default alias
    /// (`secrets.defaults.<source>`, else `default`).
    pub fn parse(v: &Value, secrets: Option<&Value>) -> Result<SecretRef, String> {
        let o = v
            .as_object()
            .ok_or_else(|| "SecretRef must be an object {source, provider, id}".to_string())?;
        let source = o.get("source").and_then(Value::as_str).unwrap_or_default();
        if !matches!(source, "env" | "file" | "exec" | "store") {
            return Err(format!(
                "SecretRef source \"{source}\" is not one of env, file, exec, store"
            ));
        }
        let provider = match o.get("provider").and_then(Value::as_str).map(str::trim) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => default_alias(secrets, source),
        };
        if !valid_alias(&provider) {
            return Err(format!(
                "SecretRef provider \"{provider}\" must match ^[a-z][a-z0-9_-]{{0,63}}$"
            ));
        }
        let id = o.get("id").and_then(Value::as_str).unwrap_or_default();
        let r = SecretRef {
            source: source.to_string(),
            provider,
            id: id.to_string(),
        };
        if !valid_id(source, id) {
            return Err(format!(
                "SecretRef {} has an invalid id for source \"{source}\" ({})",
                r.key(),
                match source {
                    "env" => "expected ^[A-Z][A-Z0-9_]{0,127}$",
                    "file" => "expected an absolute JSON pointer such as /providers/openai/apiKey, or \"value\"",
                    _ => "expected ^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,255}$",
                }
            ));
        }
        Ok(r)
    }
}

fn default_alias(secrets: Option<&Value>, source: &str) -> String {
    secrets
        .and_then(|s| s.pointer(&format!("/defaults/{source}")))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_ALIAS)
        .to_string()
}

fn valid_alias(p: &str) -> bool {
    let b = p.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}

fn valid_id(source: &str, id: &str) -> bool {
    let b = id.as_bytes();
    match source {
        "env" => {
            !b.is_empty()
                && b.len() <= 128
                && b[0].is_ascii_uppercase()
                && b[1..]
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
        }
        "file" => id == SINGLE_VALUE_ID || (id.starts_with('/') && !id.contains('\0')),
        _ => {
            !b.is_empty()
                && b.len() <= 256
                && b[0].is_ascii_alphanumeric()
                && b[1..].iter().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, b'.' | b'_' | b':' | b'/' | b'#' | b'-')
                })
        }
    }
}

/// Resolve a string-or-SecretRef config value ("SecretInput"). `Ok(None)` when empty or
/// not a secret; `Err` says why it could not resolve, naming the ref but never a value.
pub fn resolve_input(
    cfg: &LoadedConfig,
    v: &Value,
    env: &Env,
) -> Result<Option<(Secret, SecretSource)>, String> {
    match v {
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some((Secret::new(s.clone()), SecretSource::Config))),
        Value::Object(_) => {
            let secrets = cfg.get("secrets");
            let r = SecretRef::parse(v, secrets)?;
            let value = off_reactor(|| resolve_ref(&r, secrets, env))?;
            match value {
                Value::String(s) if !s.is_empty() => {
                    Ok(Some((Secret::new(s), SecretSource::ConfigRef(r.key()))))
                }
                _ => Err(format!(
                    "Secret reference \"{}\" resolved to a non-string or empty value.",
                    r.key()
                )),
            }
        }
        _ => Ok(None),
    }
}

/// Run blocking resolution without stalling a multi-threaded tokio runtime's reactor.
fn off_reactor<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Which reader serves a ref.
enum Provider<'a> {
    BuiltinEnv,
    BuiltinStore,
    Configured(&'a Map<String, Value>),
}

fn provider_for<'a>(r: &SecretRef, secrets: Option<&'a Value>) -> Result<Provider<'a>, String> {
    let pc = secrets
        .and_then(|s| s.get("providers"))
        .and_then(|p| p.get(&r.provider))
        .and_then(Value::as_object);
    let configured_source = pc.and_then(|p| p.get("source")).and_then(Value::as_str);
    let builtin = configured_source != Some(r.source.as_str())
        && matches!(r.source.as_str(), "env" | "store")
        && r.provider == default_alias(secrets, &r.source);
    if builtin {
        return Ok(if r.source == "env" {
            Provider::BuiltinEnv
        } else {
            Provider::BuiltinStore
        });
    }
    let Some(pc) = pc else {
        return Err(format!(
            "Secret provider \"{}\" is not configured (ref: {}).",
            r.provider,
            r.key()
        ));
    };
    match configured_source {
        Some(s) if s == r.source => Ok(Provider::Configured(pc)),
        other => Err(format!(
            "Secret provider \"{}\" has source \"{}\" but ref requests \"{}\".",
            r.provider,
            other.unwrap_or(""),
            r.source
        )),
    }
}

/// Resolve one ref to its raw value (usually a string).
pub fn resolve_ref(r: &SecretRef, secrets: Option<&Value>, env: &Env) -> Result<Value, String> {
    match provider_for(r, secrets)? {
        Provider::BuiltinEnv => env_value(r, None, env),
        Provider::BuiltinStore => Err(store_unsupported(r)),
        Provider::Configured(pc) => match r.source.as_str() {
            "env" => env_value(r, Some(pc), env),
            "file" => file_value(r, pc, env),
            "exec" => exec_value(r, pc, env),
            _ => Err(store_unsupported(r)),
        },
    }
}

fn store_unsupported(r: &SecretRef) -> String {
    format!(
        "Store provider \"{}\": the SQLite secret store is not available in this build (ref: {}); use an env, file or exec provider, or a plain value.",
        r.provider,
        r.key()
    )
}

fn env_value(r: &SecretRef, pc: Option<&Map<String, Value>>, env: &Env) -> Result<Value, String> {
    if let Some(allow) = pc
        .and_then(|p| p.get("allowlist"))
        .and_then(Value::as_array)
    {
        if !allow.iter().any(|a| a.as_str() == Some(r.id.as_str())) {
            return Err(format!(
                "Environment variable \"{}\" is not allowlisted in secrets.providers.{}.allowlist.",
                r.id, r.provider
            ));
        }
    }
    match env.get(&r.id) {
        Some(v) => Ok(Value::String(v.to_string())),
        None => Err(format!(
            "Environment variable \"{}\" is missing or empty.",
            r.id
        )),
    }
}

fn positive(pc: &Map<String, Value>, key: &str, default: u64) -> u64 {
    pc.get(key)
        .and_then(Value::as_f64)
        .filter(|n| n.is_finite() && *n >= 1.0)
        .map(|n| n as u64)
        .unwrap_or(default)
}

fn path_setting(
    pc: &Map<String, Value>,
    key: &str,
    label: &str,
    env: &Env,
) -> Result<PathBuf, String> {
    let raw = pc.get(key).and_then(Value::as_str).unwrap_or_default();
    let p = env.expand_home(raw.trim());
    if raw.trim().is_empty() || !p.is_absolute() {
        return Err(format!("{label} must be an absolute path."));
    }
    Ok(p)
}

/// Read a secrets file the way upstream's `readSecureFile` does: absolute, a regular file,
/// not a symlink, one hard link, not readable or writable by group or others, owned by the
/// effective user, at most `max` bytes.
fn read_secure_file(path: &Path, label: &str, max: u64) -> Result<Vec<u8>, String> {
    let pre = std::fs::symlink_metadata(path)
        .map_err(|_| format!("{label} is not readable: {}", path.display()))?;
    if pre.file_type().is_symlink() {
        return Err(format!("{label} must not be a symlink: {}", path.display()));
    }
    if !pre.is_file() {
        return Err(format!("{label} must be a file: {}", path.display()));
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("{label} is not readable: {}: {e}", path.display()))?;
    let m = f
        .metadata()
        .map_err(|e| format!("{label} is not readable: {}: {e}", path.display()))?;
    if !m.is_file() {
        return Err(format!("{label} must be a file: {}", path.display()));
    }
    if m.nlink() > 1 {
        return Err(format!(
            "{label} must not be hardlinked: {}",
            path.display()
        ));
    }
    if m.dev() != pre.dev() || m.ino() != pre.ino() {
        return Err(format!(
            "{label} changed while it was being opened: {}",
            path.display()
        ));
    }
    if m.len() > max {
        return Err(format!("{label} exceeded maxBytes ({max})."));
    }
    if m.mode() & 0o077 != 0 {
        return Err(format!(
            "{label} permissions are too open: {} (mode {:o}; run chmod 600 {})",
            path.display(),
            m.mode() & 0o777,
            path.display()
        ));
    }
    let uid = crate::os::proc::current_euid();
    if m.uid() != uid {
        return Err(format!(
            "{label} must be owned by the effective user (uid={uid}): {}",
            path.display()
        ));
    }
    let mut buf = Vec::with_capacity(m.len() as usize);
    (&mut f)
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{label} is not readable: {}: {e}", path.display()))?;
    if buf.len() as u64 > max {
        return Err(format!("{label} exceeded maxBytes ({max})."));
    }
    Ok(buf)
}

fn file_value(r: &SecretRef, pc: &Map<String, Value>, env: &Env) -> Result<Value, String> {
    let p = &r.provider;
    let label = format!("secrets.providers.{p}.path");
    let path = path_setting(pc, "path", &label, env)?;
    let timeout_ms = positive(pc, "timeoutMs", DEFAULT_TIMEOUT_MS);
    let max = positive(pc, "maxBytes", DEFAULT_MAX_BYTES);
    // A stalled network filesystem must not hang the caller: read on a helper thread.
    let (tx, rx) = mpsc::channel();
    let (path2, label2) = (path.clone(), label.clone());
    std::thread::spawn(move || {
        let _ = tx.send(read_secure_file(&path2, &label2, max));
    });
    let bytes = match rx.recv_timeout(Duration::from_millis(timeout_ms)) {
        Ok(r) => r?,
        Err(_) => {
            return Err(format!(
                "File provider \"{p}\" timed out after {timeout_ms}ms."
            ))
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if pc.get("mode").and_then(Value::as_str) == Some("singleValue") {
        if r.id != SINGLE_VALUE_ID {
            return Err(format!(
                "singleValue file provider \"{p}\" expects ref id \"{SINGLE_VALUE_ID}\"."
            ));
        }
        let v = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        return Ok(Value::String(v.to_string()));
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "File provider \"{p}\" payload is not valid JSON ({}): {e}",
            path.display()
        )
    })?;
    if !doc.is_object() {
        return Err(format!(
            "File provider \"{p}\" payload is not a JSON object."
        ));
    }
    read_json_pointer(&doc, &r.id).cloned()
}

/// RFC 6901 lookup with upstream's messages.
pub fn read_json_pointer<'a>(root: &'a Value, pointer: &str) -> Result<&'a Value, String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("File-backed secret ids must be absolute JSON pointers (for example: \"/providers/openai/apiKey\").".into());
    };
    let mut cur = root;
    for raw in rest.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Array(a) => {
                let idx = token
                    .parse::<usize>()
                    .ok()
                    .filter(|_| token == "0" || !token.starts_with('0'));
                match idx.and_then(|i| a.get(i)) {
                    Some(v) => v,
                    None => {
                        return Err(format!(
                            "JSON pointer segment \"{token}\" is out of bounds."
                        ))
                    }
                }
            }
            Value::Object(o) => match o.get(&token) {
                Some(v) => v,
                None => return Err(format!("JSON pointer segment \"{token}\" does not exist.")),
            },
            _ => return Err(format!("JSON pointer segment \"{token}\" does not exist.")),
        };
    }
    Ok(cur)
}

/// Upstream's `assertSecureExecCommandPath`.
fn secure_command(pc: &Map<String, Value>, label: &str, env: &Env) -> Result<PathBuf, String> {
    let path = path_setting(pc, "command", label, env)?;
    let m = std::fs::symlink_metadata(&path)
        .map_err(|_| format!("{label} is not readable: {}", path.display()))?;
    if m.is_dir() {
        return Err(format!("{label} must be a file: {}", path.display()));
    }
    if m.file_type().is_symlink() {
        return Err(format!("{label} must not be a symlink: {}", path.display()));
    }
    if let Some(dirs) = pc.get("trustedDirs").and_then(Value::as_array) {
        let dirs: Vec<PathBuf> = dirs
            .iter()
            .filter_map(Value::as_str)
            .map(|d| env.expand_home(d))
            .collect();
        if !dirs.is_empty() && !dirs.iter().any(|d| path.starts_with(d)) {
            return Err(format!(
                "{label} is outside trustedDirs: {}",
                path.display()
            ));
        }
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!(
            "{label} permissions are too open: {} (mode {:o}; run chmod go-w {})",
            path.display(),
            m.mode() & 0o777,
            path.display()
        ));
    }
    let uid = crate::os::proc::current_uid();
    if m.uid() != uid {
        return Err(format!(
            "{label} must be owned by the current user (uid={uid}): {}",
            path.display()
        ));
    }
    Ok(path)
}

/// An exec provider's settings, validated.
struct ExecSpec {
    command: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
    no_output: Duration,
    max_output: u64,
}

/// How an exec provider run ended.
struct ExecOutput {
    stdout: Vec<u8>,
    status: std::process::ExitStatus,
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) on the child's own process group (it was started with
    // process_group(0)); a stale pid group at worst gets ESRCH.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

/// Spawn `command` without a shell, feed `input` on stdin and collect stdout within the
/// limits. The child runs in its own process group so a timeout kills the whole tree.
fn run_provider(p: &str, spec: &ExecSpec, input: &[u8]) -> Result<ExecOutput, String> {
    let (command, timeout, no_output, max_output) =
        (&spec.command, spec.timeout, spec.no_output, spec.max_output);
    let mut cmd = Command::new(command);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(command.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    // ETXTBSY: the command was just written and another thread's fork still holds it open
    // for writing; that clears within milliseconds.
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 10 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(format!(
                    "Exec provider \"{p}\" could not start {}: {e}",
                    command.display()
                ))
            }
        }
    };
    let pid = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        std::thread::spawn(move || {
            // A provider that exits without reading stdin closes the pipe: not an error.
            let _ = stdin.write_all(&input);
        });
    }
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last_output = start;
    let mut out = Vec::new();
    let fail = |child: &mut std::process::Child, msg: String| {
        kill_group(pid);
        let _ = child.wait();
        Err(msg)
    };
    loop {
        let now = Instant::now();
        let wake = deadline.min(last_output + no_output);
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(chunk) => {
                last_output = Instant::now();
                out.extend_from_slice(&chunk);
                if out.len() as u64 > max_output {
                    return fail(
                        &mut child,
                        format!("Exec provider output exceeded maxOutputBytes ({max_output})."),
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let msg = if Instant::now() >= deadline {
                    format!(
                        "Exec provider \"{p}\" timed out after {}ms.",
                        timeout.as_millis()
                    )
                } else {
                    format!(
                        "Exec provider \"{p}\" produced no output for {}ms.",
                        no_output.as_millis()
                    )
                };
                return fail(&mut child, msg);
            }
        }
    }
    // stdout closed: wait for the exit within what is left of the budget.
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Ok(ExecOutput {
                    stdout: out,
                    status,
                })
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                return fail(
                    &mut child,
                    format!(
                        "Exec provider \"{p}\" timed out after {}ms.",
                        timeout.as_millis()
                    ),
                )
            }
            Err(e) => {
                return fail(
                    &mut child,
                    format!("Exec provider \"{p}\" wait failed: {e}"),
                )
            }
        }
    }
}

fn exec_value(r: &SecretRef, pc: &Map<String, Value>, env: &Env) -> Result<Value, String> {
    let p = &r.provider;
    let command = secure_command(pc, &format!("secrets.providers.{p}.command"), env)?;
    let args = crate::util::string_list(pc.get("args"));
    let mut child_env: Vec<(String, String)> = Vec::new();
    for k in pc
        .get("passEnv")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(v) = env.get(k) {
            child_env.push((k.to_string(), v.to_string()));
        }
    }
    if let Some(extra) = pc.get("env").and_then(Value::as_object) {
        for (k, v) in extra {
            if let Some(v) = v.as_str() {
                child_env.retain(|(kk, _)| kk != k);
                child_env.push((k.clone(), v.to_string()));
            }
        }
    }
    let timeout_ms = positive(pc, "timeoutMs", DEFAULT_TIMEOUT_MS);
    let no_output_ms = positive(pc, "noOutputTimeoutMs", timeout_ms);
    let max_output = positive(pc, "maxOutputBytes", DEFAULT_MAX_BYTES);
    let json_only = pc.get("jsonOnly").and_then(Value::as_bool).unwrap_or(true);
    let input = serde_json::json!({"protocolVersion": 1, "provider": p, "ids": [r.id]}).to_string();
    let spec = ExecSpec {
        command,
        args,
        env: child_env,
        timeout: Duration::from_millis(timeout_ms),
        no_output: Duration::from_millis(no_output_ms),
        max_output,
    };
    let out = run_provider(p, &spec, input.as_bytes())?;
    match (out.status.code(), out.status.signal()) {
        (Some(0), _) => {}
        (Some(c), _) => return Err(format!("Exec provider \"{p}\" exited with code {c}.")),
        (None, s) => {
            return Err(format!(
                "Exec provider \"{p}\" was killed by signal {}.",
                s.unwrap_or_default()
            ))
        }
    }
    parse_exec_values(p, &r.id, &String::from_utf8_lossy(&out.stdout), json_only)
}

/// Upstream's `parseExecValues` for a single id.
fn parse_exec_values(p: &str, id: &str, stdout: &str, json_only: bool) -> Result<Value, String> {
    let trimmed = stdout.trim();
    if trimmed.is_empty() {
        return Err(format!("Exec provider \"{p}\" returned empty stdout."));
    }
    let parsed: Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        Err(_) if !json_only => return Ok(Value::String(trimmed.to_string())),
        Err(_) => return Err(format!("Exec provider \"{p}\" returned invalid JSON.")),
    };
    let Some(o) = parsed.as_object() else {
        if let (false, Value::String(s)) = (json_only, &parsed) {
            return Ok(Value::String(s.clone()));
        }
        return Err(format!("Exec provider \"{p}\" response must be an object."));
    };
    if o.get("protocolVersion").and_then(Value::as_f64) != Some(1.0) {
        return Err(format!("Exec provider \"{p}\" protocolVersion must be 1."));
    }
    let Some(values) = o.get("values").and_then(Value::as_object) else {
        return Err(format!(
            "Exec provider \"{p}\" response missing \"values\"."
        ));
    };
    if let Some(entry) = o
        .get("errors")
        .and_then(Value::as_object)
        .and_then(|e| e.get(id))
    {
        let code = entry
            .get("code")
            .and_then(Value::as_str)
            .filter(|c| SAFE_EXEC_ERROR_CODES.contains(c));
        return Err(match code {
            Some(c) => format!("Exec provider \"{p}\" failed for id \"{id}\" ({c})."),
            None => format!("Exec provider \"{p}\" failed for id \"{id}\"."),
        });
    }
    values
        .get(id)
        .cloned()
        .ok_or_else(|| format!("Exec provider \"{p}\" response missing id \"{id}\"."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn env() -> Env {
        Env::from_pairs([
            ("GW_TOKEN", "from-env"),
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/nonexistent"),
        ])
    }

    fn resolve(secrets: Value, r: Value) -> Result<Value, String> {
        let r = SecretRef::parse(&r, Some(&secrets))?;
        resolve_ref(&r, Some(&secrets), &env())
    }

    fn private(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn env_refs_use_the_builtin_reader_for_the_default_alias_and_honour_allowlists() {
        let none = json!({});
        assert_eq!(
            resolve(none.clone(), json!({"source":"env","id":"GW_TOKEN"})).unwrap(),
            "from-env"
        );
        assert_eq!(
            resolve(
                none.clone(),
                json!({"source":"env","provider":"default","id":"NOPE"})
            )
            .unwrap_err(),
            "Environment variable \"NOPE\" is missing or empty."
        );
        let listed = json!({"providers": {"default": {"source": "env", "allowlist": ["OTHER"]}}});
        assert_eq!(
            resolve(listed, json!({"source":"env","provider":"default","id":"GW_TOKEN"})).unwrap_err(),
            "Environment variable \"GW_TOKEN\" is not allowlisted in secrets.providers.default.allowlist."
        );
        assert_eq!(
            resolve(
                none,
                json!({"source":"env","provider":"corp","id":"GW_TOKEN"})
            )
            .unwrap_err(),
            "Secret provider \"corp\" is not configured (ref: env:corp:GW_TOKEN)."
        );
    }

    #[test]
    fn file_and_exec_refs_need_a_registered_same_source_provider() {
        assert_eq!(
            resolve(
                json!({}),
                json!({"source":"file","provider":"default","id":"/a"})
            )
            .unwrap_err(),
            "Secret provider \"default\" is not configured (ref: file:default:/a)."
        );
        let s = json!({"providers": {"vault": {"source": "exec", "command": "/bin/true"}}});
        assert_eq!(
            resolve(s, json!({"source":"file","provider":"vault","id":"/a"})).unwrap_err(),
            "Secret provider \"vault\" has source \"exec\" but ref requests \"file\"."
        );
        assert!(resolve(json!({}), json!({"source":"store","id":"x"}))
            .unwrap_err()
            .contains("not available in this build"));
        assert!(
            SecretRef::parse(&json!({"source":"env","id":"lower"}), None)
                .unwrap_err()
                .contains("invalid id")
        );
        assert!(
            SecretRef::parse(&json!({"source":"env","provider":"Bad","id":"X"}), None)
                .unwrap_err()
                .contains("must match")
        );
    }

    #[test]
    fn file_provider_reads_json_pointers_and_single_values_from_private_files() {
        let d = tempfile::tempdir().unwrap();
        let j = private(
            d.path(),
            "s.json",
            r#"{"gw":{"a/b":"slash","t~x":"tilde","list":["zero","one"]}}"#,
            0o600,
        );
        let s = json!({"providers": {"main": {"source": "file", "path": j}}});
        let get = |id: &str| {
            resolve(
                s.clone(),
                json!({"source":"file","provider":"main","id":id}),
            )
        };
        assert_eq!(get("/gw/a~1b").unwrap(), "slash");
        assert_eq!(get("/gw/t~0x").unwrap(), "tilde");
        assert_eq!(get("/gw/list/1").unwrap(), "one");
        assert_eq!(
            get("/gw/missing").unwrap_err(),
            "JSON pointer segment \"missing\" does not exist."
        );
        assert_eq!(
            get("/gw/list/7").unwrap_err(),
            "JSON pointer segment \"7\" is out of bounds."
        );
        let v = private(d.path(), "token", "s3cret\n", 0o400);
        let s = json!({"providers": {"one": {"source": "file", "path": v, "mode": "singleValue"}}});
        assert_eq!(
            resolve(
                s.clone(),
                json!({"source":"file","provider":"one","id":"value"})
            )
            .unwrap(),
            "s3cret"
        );
        assert_eq!(
            resolve(s, json!({"source":"file","provider":"one","id":"/x"})).unwrap_err(),
            "singleValue file provider \"one\" expects ref id \"value\"."
        );
    }

    #[test]
    fn file_provider_refuses_open_links_and_oversize_files() {
        let d = tempfile::tempdir().unwrap();
        let open = private(d.path(), "open", "{}", 0o644);
        let get = |path: &Path, extra: Value| {
            let mut pc = json!({"source": "file", "path": path});
            pc.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            resolve(
                json!({"providers": {"f": pc}}),
                json!({"source":"file","provider":"f","id":"/a"}),
            )
            .unwrap_err()
        };
        assert!(get(&open, json!({}))
            .starts_with("secrets.providers.f.path permissions are too open: "));
        let ok = private(d.path(), "ok", r#"{"a":"b"}"#, 0o600);
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&ok, &link).unwrap();
        assert!(
            get(&link, json!({})).starts_with("secrets.providers.f.path must not be a symlink: ")
        );
        let hard = d.path().join("hard");
        std::fs::hard_link(&ok, &hard).unwrap();
        assert!(
            get(&hard, json!({})).starts_with("secrets.providers.f.path must not be hardlinked: ")
        );
        std::fs::remove_file(&hard).unwrap();
        assert_eq!(
            get(&ok, json!({"maxBytes": 3})),
            "secrets.providers.f.path exceeded maxBytes (3)."
        );
        assert!(get(d.path(), json!({})).starts_with("secrets.providers.f.path must be a file: "));
        assert!(get(&d.path().join("absent"), json!({}))
            .starts_with("secrets.providers.f.path is not readable: "));
        assert_eq!(
            get(Path::new("relative.json"), json!({})),
            "secrets.providers.f.path must be an absolute path."
        );
    }

    fn script(dir: &Path, body: &str) -> PathBuf {
        private(dir, "provider.sh", &format!("#!/bin/sh\n{body}\n"), 0o700)
    }

    fn exec(dir: &Path, body: &str, extra: Value, id: &str) -> Result<Value, String> {
        let cmd = script(dir, body);
        let mut pc = json!({"source": "exec", "command": cmd});
        pc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        resolve(
            json!({"providers": {"vault": pc}}),
            json!({"source":"exec","provider":"vault","id":id}),
        )
    }

    #[test]
    fn exec_provider_speaks_the_json_protocol_on_stdin_and_stdout() {
        let d = tempfile::tempdir().unwrap();
        // Echo the request back inside the value, so the test sees what was sent.
        let body = r#"req=$(cat); printf '{"protocolVersion":1,"values":{"gw/token":"%s|%s|%s"}}' "$(printf %s "$req" | tr -d '"')" "$PASSED" "$(pwd)""#;
        let v = exec(
            d.path(),
            body,
            json!({"passEnv": ["GW_TOKEN"], "env": {"PASSED": "yes"}}),
            "gw/token",
        )
        .unwrap();
        let s = v.as_str().unwrap();
        assert!(
            s.starts_with("{protocolVersion:1,provider:vault,ids:[gw/token]}|yes|"),
            "{s}"
        );
        assert!(
            s.ends_with(&d.path().display().to_string()),
            "cwd is the command's dir: {s}"
        );
        // The child sees only passEnv and env, not the caller's environment.
        let v = exec(d.path(), r#"cat >/dev/null; printf '{"protocolVersion":1,"values":{"k":"%s-%s"}}' "$GW_TOKEN" "${HOME:-unset}""#, json!({"passEnv": ["GW_TOKEN"]}), "k").unwrap();
        assert_eq!(v, "from-env-unset");
    }

    #[test]
    fn exec_provider_errors_carry_upstreams_messages() {
        let d = tempfile::tempdir().unwrap();
        let e = |body: &str, extra: Value| exec(d.path(), body, extra, "k").unwrap_err();
        assert_eq!(
            e(
                r#"echo '{"protocolVersion":1,"values":{},"errors":{"k":{"code":"NOT_FOUND","message":"leak"}}}'"#,
                json!({})
            ),
            "Exec provider \"vault\" failed for id \"k\" (NOT_FOUND)."
        );
        assert_eq!(
            e(
                r#"echo '{"protocolVersion":1,"values":{},"errors":{"k":{"code":"SECRET_DETAIL"}}}'"#,
                json!({})
            ),
            "Exec provider \"vault\" failed for id \"k\"."
        );
        assert_eq!(
            e("echo '{\"protocolVersion\":2,\"values\":{}}'", json!({})),
            "Exec provider \"vault\" protocolVersion must be 1."
        );
        assert_eq!(
            e("echo '{\"protocolVersion\":1}'", json!({})),
            "Exec provider \"vault\" response missing \"values\"."
        );
        assert_eq!(
            e("echo '{\"protocolVersion\":1,\"values\":{}}'", json!({})),
            "Exec provider \"vault\" response missing id \"k\"."
        );
        assert_eq!(
            e("echo plain", json!({})),
            "Exec provider \"vault\" returned invalid JSON."
        );
        assert_eq!(
            e("true", json!({})),
            "Exec provider \"vault\" returned empty stdout."
        );
        assert_eq!(
            e("echo '{}'; exit 3", json!({})),
            "Exec provider \"vault\" exited with code 3."
        );
        assert_eq!(
            e("sleep 5", json!({"timeoutMs": 200})),
            "Exec provider \"vault\" timed out after 200ms."
        );
        assert_eq!(
            e(
                "sleep 5",
                json!({"timeoutMs": 3000, "noOutputTimeoutMs": 150})
            ),
            "Exec provider \"vault\" produced no output for 150ms."
        );
        assert_eq!(
            e(
                "head -c 5000 /dev/zero | tr '\\0' a",
                json!({"maxOutputBytes": 1000})
            ),
            "Exec provider output exceeded maxOutputBytes (1000)."
        );
        // jsonOnly:false accepts a plain value.
        assert_eq!(
            exec(
                d.path(),
                "echo plain-token",
                json!({"jsonOnly": false}),
                "k"
            )
            .unwrap(),
            "plain-token"
        );
    }

    #[test]
    fn exec_provider_command_must_be_private_owned_and_trusted() {
        let d = tempfile::tempdir().unwrap();
        let cmd = script(d.path(), "echo x");
        let run = |pc: Value| {
            resolve(
                json!({"providers": {"vault": pc}}),
                json!({"source":"exec","provider":"vault","id":"k"}),
            )
            .unwrap_err()
        };
        std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(run(json!({"source":"exec","command":cmd}))
            .starts_with("secrets.providers.vault.command permissions are too open: "));
        std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&cmd, &link).unwrap();
        assert!(run(json!({"source":"exec","command":link}))
            .starts_with("secrets.providers.vault.command must not be a symlink: "));
        assert!(
            run(json!({"source":"exec","command":cmd,"trustedDirs":["/opt/none"]}))
                .starts_with("secrets.providers.vault.command is outside trustedDirs: ")
        );
        assert_eq!(
            run(json!({"source":"exec","command":"provider.sh"})),
            "secrets.providers.vault.command must be an absolute path."
        );
    }
}
