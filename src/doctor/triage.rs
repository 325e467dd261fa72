//! Offline triage: facts and log lines from files a user sent (logs in JSON-lines or plain
//! text, a config file, `gateway probe --json` or `gateway status --json` output).

use super::facts::{Facts, LogLine, ProbeStatus};
use super::probes::{config as config_probe, ProbeContext};
use crate::config::{self, Env};
use crate::os::file::open_regular;
use serde_json::{json, Value};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// A log line longer than this is scanned by its head; the rest is skipped and counted.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// What one support-bundle entry may expand to before the rest of it is skipped.
pub const MAX_BUNDLE_ENTRY_BYTES: u64 = 32 << 20;
/// What a whole support bundle may expand to (a bundle this build writes is a few MB).
pub const MAX_BUNDLE_BYTES: u64 = 128 << 20;
/// JSON documents (config, probe, status) read whole at most this large.
const MAX_DOCUMENT_BYTES: u64 = 8 << 20;

/// What the first bytes of a file say it is.
enum Container {
    Plain,
    /// A gzip stream holding a tar archive: a support bundle.
    Bundle,
    /// Any other gzip stream: a rotated or pasted `.log.gz`.
    Gzip,
}

/// Look at the first bytes of `f`; it is rewound afterwards.
fn container(f: &mut std::fs::File) -> std::io::Result<Container> {
    let mut magic = [0u8; 2];
    let gzip = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    f.rewind()?;
    if !gzip {
        return Ok(Container::Plain);
    }
    let mut head = Vec::with_capacity(512);
    let _ = flate2::read::GzDecoder::new(&mut *f)
        .take(512)
        .read_to_end(&mut head);
    f.rewind()?;
    Ok(if head.len() >= 262 && &head[257..262] == b"ustar" {
        Container::Bundle
    } else {
        Container::Gzip
    })
}

/// A reader that stops after `limit` bytes and remembers that it did.
struct Capped<R> {
    inner: R,
    left: u64,
    hit: bool,
}

impl<R: Read> Capped<R> {
    fn new(inner: R, limit: u64) -> Self {
        Capped {
            inner,
            left: limit,
            hit: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more tells a stream that ends exactly at the limit from a longer one.
            let mut probe = [0u8; 1];
            if !self.hit && self.inner.read(&mut probe)? > 0 {
                self.hit = true;
            }
            return Ok(0);
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// What an input file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    Config,
    ProbeJson,
    StatusJson,
    /// A support bundle's `state.json` (the state rows the doctor read, tokens fingerprinted).
    StateJson,
    /// A copy of a state store (`openclaw.sqlite`).
    Store,
    Log,
}

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Set the state facts from a state export or a store copy, or leave them unknown with the
/// reason.
fn apply_state(result: Result<Vec<(&'static str, Value)>, String>, facts: &mut Facts) {
    match result {
        Ok(found) => {
            for (k, v) in found {
                facts.set(k, v);
            }
            facts.probe("state", ProbeStatus::Ok);
        }
        Err(why) => facts.probe("state", ProbeStatus::Error(why)),
    }
}

/// A store copy inside a bundle: SQLite reads files, so it goes to a private temporary
/// file for the read and is removed after.
fn store_from_bytes(bytes: &[u8], source: &str) -> Result<Vec<(&'static str, Value)>, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut nonce = [0u8; 8];
    getrandom::getrandom(&mut nonce).map_err(|e| e.to_string())?;
    let path = std::env::temp_dir().join(format!(
        "openclaw-triage-{}-{}.sqlite",
        std::process::id(),
        hex::encode(nonce)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(bytes));
    let result = written
        .map_err(|e| format!("{source}: cannot stage the store copy: {e}"))
        .and_then(|()| {
            super::probes::state::facts_from_store_file(&path)
                .map_err(|e| e.replace(&path.display().to_string(), source))
        });
    let _ = std::fs::remove_file(&path);
    result
}

/// What a plain file is; `f` is rewound afterwards.
fn classify(f: &mut std::fs::File) -> std::io::Result<(InputKind, Option<Value>)> {
    // The first line as bytes (bounded): a log whose first line is not UTF-8 is still a log.
    let mut first = Vec::new();
    (&mut *f).take(64 * 1024).read_to_end(&mut first)?;
    f.rewind()?;
    if first.starts_with(SQLITE_MAGIC) {
        return Ok((InputKind::Store, None));
    }
    if let Some(i) = memchr::memchr(b'\n', &first) {
        first.truncate(i + 1);
    }
    let head = String::from_utf8_lossy(&first);
    let trimmed = head.trim_start();
    // A log's first line is a complete JSON object or plain text; a document spans lines.
    let one_line_json = serde_json::from_str::<Value>(head.trim()).is_ok();
    if (trimmed.starts_with('{') || trimmed.starts_with("//")) && !one_line_json {
        let mut bytes = Vec::new();
        (&mut *f)
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)?;
        f.rewind()?;
        if bytes.len() as u64 <= MAX_DOCUMENT_BYTES {
            if let Some(kind) = document_kind(&String::from_utf8_lossy(&bytes)) {
                return Ok(kind);
            }
        }
    }
    Ok((InputKind::Log, None))
}

/// A JSON document's kind: probe or status output (parsed), or a config.
fn document_kind(text: &str) -> Option<(InputKind, Option<Value>)> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        if v.get("targets").is_some() && v.get("primaryTargetId").is_some() {
            return Some((InputKind::ProbeJson, Some(v)));
        }
        if v.get("rpc").is_some() && v.get("port").is_some() {
            return Some((InputKind::StatusJson, Some(v)));
        }
        if v.get("source").is_some() && (v.get("rows").is_some() || v.get("error").is_some()) {
            return Some((InputKind::StateJson, Some(v)));
        }
    }
    if let Ok(doc) = config::json5::parse(text) {
        if doc.value.get("gateway").is_some() || doc.value.get("meta").is_some() {
            return Some((InputKind::Config, None));
        }
    }
    None
}

/// Facts from `gateway probe --json` (primary target, or the first one).
fn facts_from_probe(v: &Value, facts: &mut Facts) {
    let targets = v["targets"].as_array().cloned().unwrap_or_default();
    let t = targets
        .iter()
        .find(|t| Some(t["id"].as_str().unwrap_or("")) == v["primaryTargetId"].as_str())
        .or_else(|| targets.first())
        .cloned()
        .unwrap_or(Value::Null);
    let c = &t["connect"];
    let warnings: Vec<Value> = v["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w["code"].clone())
        .collect();
    facts.set("gateway.url", t["url"].clone());
    facts.set("gateway.reachable", c["ok"].clone());
    facts.set("gateway.rpc_ok", c["rpcOk"].clone());
    facts.set("gateway.error", c["error"].clone());
    // Upstream's probe JSON names the refusal only in its message and close reason.
    let derived = [c["error"].as_str(), c["close"]["reason"].as_str()]
        .into_iter()
        .flatten()
        .find_map(crate::protocol::auth::failure_from_message)
        .map(|f| f.detail_code());
    let code = match &c["errorCode"] {
        Value::String(s) => Some(s.clone()),
        _ => derived.map(str::to_string),
    };
    facts.set("gateway.error_code", json!(code));
    // A refusal at connect: upstream reports the target reachable with failed reads.
    let step = c["failedStep"]
        .as_str()
        .map(str::to_string)
        .or_else(|| derived.map(|_| "connect".to_string()));
    facts.set("gateway.failed_step", json!(step));
    facts.set("gateway.close_code", c["close"]["code"].clone());
    facts.set("gateway.close_reason", c["close"]["reason"].clone());
    facts.set("gateway.capability", t["auth"]["capability"].clone());
    facts.set("gateway.scope_limited", c["scopeLimited"].clone());
    facts.set(
        "gateway.pairing_required",
        json!(t["auth"]["capability"] == "pairing_pending"),
    );
    facts.set("gateway.version", t["server"]["version"].clone());
    facts.set(
        "gateway.multiple_gateways",
        json!(warnings.contains(&json!("multiple_gateways"))),
    );
    facts.set("gateway.warnings", Value::Array(warnings));
    facts.probe("gateway", ProbeStatus::Ok);
}

/// Cuts a byte stream into chunks of whole lines. A line that runs past `max_line` with
/// no end is kept by its head (ended with a newline) and the rest of it skipped, so memory
/// stays bounded whatever the input; such lines are counted.
struct Chunker {
    carry: Vec<u8>,
    skipping: bool,
    max_line: usize,
    truncated: u64,
}

impl Chunker {
    fn new(max_line: usize) -> Self {
        Chunker {
            carry: Vec::new(),
            skipping: false,
            max_line,
            truncated: 0,
        }
    }

    /// Add bytes read from the input; a chunk of whole lines when one is ready.
    fn push(&mut self, mut data: &[u8]) -> Option<Vec<u8>> {
        if self.skipping {
            let i = memchr::memchr(b'\n', data)?;
            data = &data[i + 1..];
            self.skipping = false;
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(data);
        match memchr::memrchr(b'\n', &buf) {
            Some(i) => {
                self.carry = buf.split_off(i + 1);
                if let Some(head) = self.cap_carry() {
                    buf.extend_from_slice(&head);
                }
                Some(buf)
            }
            None => {
                self.carry = buf;
                self.cap_carry()
            }
        }
    }

    /// A carried (unfinished) line past the cap becomes its head; the rest is skipped.
    fn cap_carry(&mut self) -> Option<Vec<u8>> {
        if self.carry.len() <= self.max_line {
            return None;
        }
        let mut head = std::mem::take(&mut self.carry);
        head.truncate(self.max_line);
        head.push(b'\n');
        self.truncated += 1;
        self.skipping = true;
        Some(head)
    }

    /// What is left at the end of the input.
    fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.carry);
        (!rest.is_empty()).then_some(rest)
    }

    /// Read `f` to its end through `buf`, handing each chunk of whole lines to `emit`
    /// (which returns false to stop early). Returns how many lines were cut.
    fn drive(
        mut self,
        f: &mut impl std::io::Read,
        buf: &mut [u8],
        mut emit: impl FnMut(Vec<u8>) -> bool,
    ) -> std::io::Result<u64> {
        loop {
            let n = match f.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let ready = if n == 0 {
                self.finish()
            } else {
                self.push(&buf[..n])
            };
            if let Some(c) = ready {
                if !emit(c) {
                    return Ok(self.truncated);
                }
            }
            if n == 0 {
                return Ok(self.truncated);
            }
        }
    }
}

/// Read a log in large chunks cut at line ends and scan each chunk once. Returns how many
/// over-long lines were scanned by their head only.
fn scan_file(
    f: &mut (impl std::io::Read + Send),
    src: &str,
    matcher: &super::matcher::Matcher,
    hits: &mut super::matcher::Results,
) -> std::io::Result<u64> {
    scan_chunks(f, src, matcher, hits, 8 << 20, MAX_LINE_BYTES)
}

fn scan_chunks(
    f: &mut (impl std::io::Read + Send),
    src: &str,
    matcher: &super::matcher::Matcher,
    hits: &mut super::matcher::Results,
    chunk: usize,
    max_line: usize,
) -> std::io::Result<u64> {
    // A reader thread cuts the input into line-aligned chunks while this thread scans the
    // previous one (I/O and matching overlap on two cores; at most 3 chunks in memory).
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            Chunker::new(max_line).drive(f, &mut vec![0u8; chunk], |c| tx.send(c).is_ok())
        });
        for buf in rx {
            matcher.scan_buffer_parallel(&buf, src, hits);
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("log reader thread panicked")))
    })
}

/// Scan a reader on this thread (support-bundle entries cannot move to another thread).
fn scan_inline(
    f: &mut impl std::io::Read,
    src: &str,
    matcher: &super::matcher::Matcher,
    hits: &mut super::matcher::Results,
) -> std::io::Result<u64> {
    Chunker::new(MAX_LINE_BYTES).drive(f, &mut vec![0u8; 4 << 20], |c| {
        matcher.scan_buffer_parallel(&c, src, hits);
        true
    })
}

/// Facts from a config file's text (`source` names it in the findings).
/// A config sent for triage, judged as the user's: `${VAR}` refs are never resolved from the
/// triage host's environment (nor are SecretRefs); a ref is a fact about the input
/// (`config.unresolved_refs`), not a reason to call the config invalid, so every check over
/// the config still runs.
fn apply_config(mut loaded: config::LoadedConfig, facts: &mut Facts) {
    use crate::config::load::IssueKind;
    let refs: Vec<Value> = loaded
        .issues
        .iter()
        .filter(|i| i.kind == IssueKind::Env)
        .map(|i| {
            json!({
                "path": i.path,
                "var": i.message.split('"').nth(1),
            })
        })
        .collect();
    loaded.issues.retain(|i| i.kind != IssueKind::Env);
    let p = loaded.path.clone();
    let offline = Env::default();
    let ctx = ProbeContext {
        env: offline,
        paths: config::Paths {
            profile: None,
            state_dir: p.parent().unwrap_or(Path::new(".")).to_path_buf(),
            config_path: p,
        },
        config: loaded,
        port: 0,
        timeout: std::time::Duration::from_secs(1),
        log_window_secs: None,
        url: None,
        token: None,
        password: None,
        deep: false,
    };
    let out = config_probe::probe(&ctx);
    facts.probe("config", out.status);
    for (k, v) in out.facts {
        facts.set(k, v);
    }
    facts.set("config.unresolved_refs", Value::Array(refs));
}

/// Split-brain is judged against the user's binary (the version a status, probe or bundle
/// input shows), never against the binary running the triage.
fn judge_versions(facts: &mut Facts) {
    let Some(written) = facts
        .get("config.last_touched_version")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let user = ["triage.user_version", "gateway.version"]
        .iter()
        .find_map(|k| facts.get(k).and_then(Value::as_str).map(str::to_string));
    match user {
        Some(v) => facts.set(
            "config.newer_than_binary",
            json!(crate::config::version::compare(&written, &v) == std::cmp::Ordering::Greater),
        ),
        None => facts.mark_unavailable(
            "config.newer_than_binary",
            "the user's OpenClaw version is not in the triage inputs (add their gateway status or probe JSON, or a bundle)",
        ),
    }
}

/// Facts and evidence from `gateway status --json`.
fn apply_status(
    v: &Value,
    source: &str,
    matcher: &super::matcher::Matcher,
    facts: &mut Facts,
    hits: &mut super::matcher::Results,
) {
    if let Some(cli) = v["cli"]["version"].as_str() {
        facts.set("triage.user_version", json!(cli));
    }
    facts.set("port.number", v["port"]["port"].clone());
    facts.set("port.listeners", v["port"]["listeners"].clone());
    let listeners = v["port"]["listeners"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    facts.set("port.busy", json!(!listeners.is_empty()));
    facts.set(
        "port.foreign_holder",
        json!(!listeners.is_empty() && !listeners.iter().any(|l| l["gatewayLike"] == true)),
    );
    facts.probe("port", ProbeStatus::Ok);
    // Its last error and probe error are log-like evidence.
    for text in [v["lastError"]["line"].as_str(), v["rpc"]["error"].as_str()]
        .into_iter()
        .flatten()
    {
        let line = LogLine::own(text.to_string(), None, source.to_string());
        matcher.scan(&line, hits);
    }
}

/// How an over-long line was handled, for the inputs list.
fn truncation_note(lines: u64) -> String {
    match lines {
        0 => String::new(),
        n => format!(
            "; {n} line(s) over {} MiB scanned by their first {} MiB",
            MAX_LINE_BYTES >> 20,
            MAX_LINE_BYTES >> 20
        ),
    }
}

/// A support bundle, read as a stream: documents are parsed in memory, logs scanned as
/// they are unpacked; nothing is written to disk. Expansion is capped per entry and in all.
fn gather_bundle(
    p: &Path,
    f: std::fs::File,
    matcher: &super::matcher::Matcher,
    facts: &mut Facts,
    hits: &mut super::matcher::Results,
    described: &mut Vec<String>,
) -> Result<(), String> {
    let mut archive = tar::Archive::new(Capped::new(
        flate2::read::GzDecoder::new(f),
        MAX_BUNDLE_BYTES,
    ));
    let mut notes = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("{} is not a support bundle: {e}", p.display()))?;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                notes.push(format!("stopped reading: {e}"));
                break;
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name: PathBuf = match entry.path() {
            Ok(n) => n
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(s) => Some(s.to_os_string()),
                    _ => None,
                })
                .collect(),
            Err(_) => continue,
        };
        let name = name.to_string_lossy().into_owned();
        let source = format!("{}:{name}", p.display());
        let kind = if name.ends_with("config/openclaw.json") {
            InputKind::Config
        } else if name.ends_with("probe.json") {
            InputKind::ProbeJson
        } else if name.ends_with("status.json") {
            InputKind::StatusJson
        } else if name.ends_with("state.json") {
            InputKind::StateJson
        } else if name.ends_with(".sqlite") {
            InputKind::Store
        } else if name.contains("logs/") {
            InputKind::Log
        } else {
            continue; // manifest, doctor.json, env.txt, service.txt: context, not evidence
        };
        if kind == InputKind::Log {
            let mut capped = Capped::new(&mut entry, MAX_BUNDLE_ENTRY_BYTES);
            let truncated = scan_inline(&mut capped, &source, matcher, hits)
                .map_err(|e| format!("{source}: {e}"))?;
            if capped.hit {
                notes.push(format!(
                    "{name} expands past {} MiB; the rest of it was not read",
                    MAX_BUNDLE_ENTRY_BYTES >> 20
                ));
            }
            described.push(format!("{source} (log{})", truncation_note(truncated)));
            continue;
        }
        let cap = if kind == InputKind::Store {
            MAX_BUNDLE_ENTRY_BYTES
        } else {
            MAX_DOCUMENT_BYTES
        };
        let mut bytes = Vec::new();
        let mut capped = Capped::new(&mut entry, cap);
        capped
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{source}: {e}"))?;
        if capped.hit {
            notes.push(format!("{name} is over {} MiB; not read", cap >> 20));
            continue;
        }
        if kind == InputKind::Store {
            described.push(format!("{source} (state store copy)"));
            apply_state(store_from_bytes(&bytes, &source), facts);
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        described.push(format!("{source} ({})", format!("{kind:?}").to_lowercase()));
        match kind {
            InputKind::Config => apply_config(
                config::load::load_from_str(Path::new(&source), &text, &Env::default()),
                facts,
            ),
            InputKind::ProbeJson => {
                facts_from_probe(&serde_json::from_str(&text).unwrap_or(Value::Null), facts)
            }
            InputKind::StateJson => apply_state(
                super::probes::state::facts_from_export(
                    &serde_json::from_str(&text).unwrap_or(Value::Null),
                ),
                facts,
            ),
            _ => {
                let v = serde_json::from_str(&text).unwrap_or(Value::Null);
                apply_status(&v, &source, matcher, facts, hits);
            }
        }
    }
    if archive.into_inner().hit {
        notes.push(format!(
            "the bundle expands past {} MiB; the rest was not read",
            MAX_BUNDLE_BYTES >> 20
        ));
    }
    let mut line = format!("{} (support bundle)", p.display());
    if !notes.is_empty() {
        line.push_str(&format!(": {}", notes.join("; ")));
    }
    described.insert(0, line);
    Ok(())
}

/// Gather facts and lines from `inputs`. `Err` names an unreadable input. Nothing of the
/// triage host is read (its environment, its binaries, its state): the inputs are the
/// user's installation.
pub fn gather(
    inputs: &[std::path::PathBuf],
    matcher: &super::matcher::Matcher,
) -> Result<(Facts, super::matcher::Results, Vec<String>), String> {
    let mut facts = Facts::default();
    let mut hits = super::matcher::Results::new();
    let mut described = Vec::new();
    for p in inputs {
        let src = p.display().to_string();
        let unreadable = |e: std::io::Error| format!("cannot read {src}: {e}");
        // Each input is opened once (and refused unless it is a regular file).
        let mut f = open_regular(p)?;
        match container(&mut f).map_err(unreadable)? {
            Container::Bundle => {
                let mut lines = Vec::new();
                gather_bundle(p, f, matcher, &mut facts, &mut hits, &mut lines)?;
                described.extend(lines);
                continue;
            }
            Container::Gzip => {
                let mut gz = flate2::read::GzDecoder::new(f);
                let truncated = scan_file(&mut gz, &src, matcher, &mut hits).map_err(unreadable)?;
                described.push(format!("{src} (gzip log{})", truncation_note(truncated)));
                continue;
            }
            Container::Plain => {}
        }
        let (kind, doc) = classify(&mut f).map_err(unreadable)?;
        match kind {
            InputKind::Config => apply_config(config::load(p, &Env::default()), &mut facts),
            InputKind::ProbeJson => {
                facts_from_probe(doc.as_ref().unwrap_or(&Value::Null), &mut facts)
            }
            InputKind::StatusJson => {
                if let Some(v) = &doc {
                    apply_status(v, &src, matcher, &mut facts, &mut hits);
                }
            }
            InputKind::StateJson => apply_state(
                super::probes::state::facts_from_export(doc.as_ref().unwrap_or(&Value::Null)),
                &mut facts,
            ),
            InputKind::Store => {
                apply_state(super::probes::state::facts_from_store_file(p), &mut facts)
            }
            InputKind::Log => {
                let truncated = scan_file(&mut f, &src, matcher, &mut hits).map_err(unreadable)?;
                described.push(format!("{src} (log{})", truncation_note(truncated)));
                continue;
            }
        }
        described.push(format!("{src} ({})", format!("{kind:?}").to_lowercase()));
    }
    if !inputs.is_empty() {
        facts.logs_available = Some("triage inputs".into());
    }
    judge_versions(&mut facts);
    for ns in [
        "config", "env", "binaries", "port", "process", "gateway", "logs", "state", "service",
    ] {
        if !facts.probes.contains_key(ns) {
            facts.probe(
                ns,
                ProbeStatus::Skipped("not available offline (no such input given)".into()),
            );
        }
    }
    Ok((facts, hits, described))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_across_chunk_boundaries_and_long_lines_are_found() {
        let cat = crate::doctor::load_catalog(&[]).unwrap();
        let m = crate::doctor::matcher::Matcher::new(&cat).unwrap();
        let filler = "x".repeat(50);
        let long = format!(
            "{} another gateway instance is already listening {}",
            "y".repeat(300),
            "z".repeat(300)
        );
        let text = format!(
            "{filler}\ncron: timer tick failed: boom\n{filler}\n{long}\n{filler}\nheartbeat: unknown accountId bot\n"
        );
        for chunk in [16, 64, 100, 4096] {
            let mut hits = crate::doctor::matcher::Results::new();
            scan_chunks(&mut text.as_bytes(), "t", &m, &mut hits, chunk, 1 << 20).unwrap();
            let fired: Vec<&str> = hits.keys().map(|i| cat.checks[*i].id.as_str()).collect();
            for id in [
                "cron.tick-failed",
                "port.in-use",
                "heartbeat.unknown-account",
            ] {
                assert!(fired.contains(&id), "chunk {chunk}: {id} not in {fired:?}");
            }
            assert_eq!(
                hits.values().map(|h| h.count).sum::<u64>(),
                3,
                "chunk {chunk}"
            );
        }
    }
}
