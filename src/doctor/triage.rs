//! Offline triage: facts and log lines from files a user sent (logs in JSON-lines or plain
//! text, a config file, `gateway probe --json` or `gateway status --json` output).

use super::facts::{Facts, LogLine, ProbeStatus};
use super::probes::{config as config_probe, ProbeContext};
use crate::config::{self, Env};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// What an input file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    Config,
    ProbeJson,
    StatusJson,
    Log,
}

fn classify(path: &Path) -> std::io::Result<(InputKind, Option<Value>)> {
    let head = {
        let mut f = BufReader::new(std::fs::File::open(path)?);
        let mut buf = String::new();
        let _ = f.read_line(&mut buf)?;
        buf
    };
    let trimmed = head.trim_start();
    // A log's first line is a complete JSON object or plain text; a document spans lines.
    let one_line_json = serde_json::from_str::<Value>(head.trim()).is_ok();
    if (trimmed.starts_with('{') || trimmed.starts_with("//")) && !one_line_json {
        let meta = std::fs::metadata(path)?;
        if meta.len() < 8 * 1024 * 1024 {
            let text = std::fs::read_to_string(path)?;
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if v.get("targets").is_some() && v.get("primaryTargetId").is_some() {
                    return Ok((InputKind::ProbeJson, Some(v)));
                }
                if v.get("rpc").is_some() && v.get("port").is_some() {
                    return Ok((InputKind::StatusJson, Some(v)));
                }
            }
            if let Ok(doc) = config::json5::parse(&text) {
                if doc.value.get("gateway").is_some() || doc.value.get("meta").is_some() {
                    return Ok((InputKind::Config, None));
                }
            }
        }
    }
    Ok((InputKind::Log, None))
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
    facts.set("gateway.error_code", c["errorCode"].clone());
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

/// Read a log in large chunks cut at line ends and scan each chunk once.
fn scan_file(
    f: &mut (impl std::io::Read + Send),
    src: &str,
    matcher: &super::matcher::Matcher,
    hits: &mut super::matcher::Results,
) -> std::io::Result<()> {
    scan_chunks(f, src, matcher, hits, 8 << 20)
}

fn scan_chunks(
    f: &mut (impl std::io::Read + Send),
    src: &str,
    matcher: &super::matcher::Matcher,
    hits: &mut super::matcher::Results,
    chunk: usize,
) -> std::io::Result<()> {
    // A reader thread cuts the input into line-aligned chunks while this thread scans the
    // previous one (I/O and matching overlap on two cores; at most 3 chunks in memory).
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> std::io::Result<()> {
            let mut carry: Vec<u8> = Vec::new();
            loop {
                let mut buf = std::mem::take(&mut carry);
                let start = buf.len();
                buf.resize(start.max(chunk).max(start + chunk / 2), 0);
                let n = f.read(&mut buf[start..])?;
                buf.truncate(start + n);
                if n == 0 {
                    if !buf.is_empty() {
                        let _ = tx.send(buf);
                    }
                    return Ok(());
                }
                match buf.iter().rposition(|b| *b == b'\n') {
                    Some(i) => {
                        carry = buf.split_off(i + 1);
                        if tx.send(buf).is_err() {
                            return Ok(());
                        }
                    }
                    // No line end yet: keep reading into the same (growing) buffer.
                    None => carry = buf,
                }
            }
        });
        for buf in rx {
            matcher.scan_buffer_parallel(&buf, src, hits);
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("log reader thread panicked")))
    })
}

/// Gather facts and lines from `inputs`. `Err` names an unreadable input.
pub fn gather(
    inputs: &[std::path::PathBuf],
    env: &Env,
    matcher: &super::matcher::Matcher,
) -> Result<(Facts, super::matcher::Results, Vec<String>), String> {
    let mut facts = Facts::default();
    let mut hits = super::matcher::Results::new();
    let mut described = Vec::new();
    // Support bundles are unpacked; their entries are classified by name.
    let mut expanded: Vec<(std::path::PathBuf, Option<InputKind>)> = Vec::new();
    let mut unpacked = Vec::new();
    for p in inputs {
        if super::bundle::is_bundle(p) {
            let dir = super::selftest::tempdir_for("bundle")?;
            for f in super::bundle::extract(p, dir.path())? {
                let name = f.to_string_lossy().into_owned();
                let kind = if name.ends_with("/config/openclaw.json") {
                    Some(InputKind::Config)
                } else if name.ends_with("/probe.json") {
                    Some(InputKind::ProbeJson)
                } else if name.ends_with("/status.json") {
                    Some(InputKind::StatusJson)
                } else if name.contains("/logs/") {
                    Some(InputKind::Log)
                } else {
                    None // manifest, doctor.json, env.txt, service.txt: context, not evidence
                };
                if let Some(k) = kind {
                    expanded.push((f, Some(k)));
                }
            }
            described.push(format!("{} (support bundle)", p.display()));
            unpacked.push(dir);
        } else {
            expanded.push((p.clone(), None));
        }
    }
    for (p, known) in &expanded {
        let (kind, doc) = match known {
            Some(InputKind::Config) | Some(InputKind::Log) => {
                (known.clone().unwrap_or(InputKind::Log), None)
            }
            _ => classify(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        };
        described.push(format!(
            "{} ({})",
            p.display(),
            format!("{kind:?}").to_lowercase()
        ));
        match kind {
            InputKind::Config => {
                let loaded = config::load(p, env);
                let ctx = ProbeContext {
                    env: env.clone(),
                    paths: config::Paths {
                        profile: None,
                        state_dir: p.parent().unwrap_or(Path::new(".")).to_path_buf(),
                        config_path: p.clone(),
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
            }
            InputKind::ProbeJson => {
                facts_from_probe(doc.as_ref().unwrap_or(&Value::Null), &mut facts)
            }
            InputKind::StatusJson => {
                if let Some(v) = &doc {
                    facts.set("port.number", v["port"]["port"].clone());
                    facts.set("port.listeners", v["port"]["listeners"].clone());
                    let listeners = v["port"]["listeners"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    facts.set("port.busy", json!(!listeners.is_empty()));
                    facts.set(
                        "port.foreign_holder",
                        json!(
                            !listeners.is_empty()
                                && !listeners.iter().any(|l| l["gatewayLike"] == true)
                        ),
                    );
                    facts.probe("port", ProbeStatus::Ok);
                    // Its last error and probe error are log-like evidence.
                    for text in [v["lastError"]["line"].as_str(), v["rpc"]["error"].as_str()]
                        .into_iter()
                        .flatten()
                    {
                        let line = LogLine {
                            message: text.to_string(),
                            time: None,
                            source: p.display().to_string(),
                        };
                        matcher.scan(&line, &mut hits);
                    }
                }
            }
            InputKind::Log => {
                let mut f = std::fs::File::open(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                let src = p.display().to_string();
                scan_file(&mut f, &src, matcher, &mut hits)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            }
        }
    }
    if !inputs.is_empty() {
        facts.logs_available = Some("triage inputs".into());
    }
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
            scan_chunks(&mut text.as_bytes(), "t", &m, &mut hits, chunk).unwrap();
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
