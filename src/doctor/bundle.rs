//! Support bundles: `doctor --bundle FILE.tar.gz`. Config with secrets redacted, doctor /
//! probe / status JSON, recent logs and environment markers, hosts and IPs pseudonymised
//! consistently across files, and a manifest. A final scan refuses to write the bundle if
//! any configured secret still appears in it. `doctor triage` reads bundles back.

use crate::config::{self, redact, Env};
use regex::Regex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Consistent pseudonyms: the same host or IP gets the same stand-in in every file.
#[derive(Default)]
pub struct Pseudonyms {
    hosts: BTreeMap<String, String>,
    ips: BTreeMap<String, String>,
}

fn keep_host(h: &str) -> bool {
    matches!(h, "localhost" | "127.0.0.1" | "0.0.0.0" | "::1" | "[::1]")
        || h.ends_with(".invalid")
        || h == "docs.openclaw.ai"
}

impl Pseudonyms {
    fn ip(&mut self, ip: &str) -> String {
        let n = self.ips.len() + 1;
        self.ips
            .entry(ip.to_string())
            .or_insert_with(|| format!("192.0.2.{}", n.min(254)))
            .clone()
    }

    fn host(&mut self, h: &str) -> String {
        let n = self.hosts.len() + 1;
        self.hosts
            .entry(h.to_string())
            .or_insert_with(|| format!("host-{n}.invalid"))
            .clone()
    }

    /// Learn the hosts named in URLs in `text` (first pass), so that `apply` also replaces
    /// them where they appear outside a URL (`connect gw.example:18789: ...`).
    pub fn learn(&mut self, text: &str) {
        let url_host =
            Regex::new(r"\b(?:wss?|https?)://([A-Za-z0-9][A-Za-z0-9.-]*)").expect("static regex");
        let ipv4 = Regex::new(r"^(?:\d{1,3}\.){3}\d{1,3}$").expect("static regex");
        for c in url_host.captures_iter(text) {
            let h = &c[1];
            if !keep_host(h) && !ipv4.is_match(h) {
                self.host(h);
            }
        }
    }

    /// Replace non-loopback IPv4 addresses, URL hosts and the machine's hostname.
    pub fn apply(&mut self, text: &str, machine: &str) -> String {
        let ipv4 = Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").expect("static regex");
        let url_host =
            Regex::new(r"\b(wss?|https?)://([A-Za-z0-9][A-Za-z0-9.-]*)").expect("static regex");
        let mut out = url_host
            .replace_all(text, |c: &regex::Captures| {
                let h = &c[2];
                if keep_host(h) || ipv4.is_match(h) {
                    c[0].to_string()
                } else {
                    format!("{}://{}", &c[1], self.host(h))
                }
            })
            .into_owned();
        out = ipv4
            .replace_all(&out, |c: &regex::Captures| {
                let ip = &c[0];
                let first: u32 = ip
                    .split('.')
                    .next()
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                if first == 127
                    || ip == "0.0.0.0"
                    || ip.starts_with("192.0.2.")
                    || ip
                        .split('.')
                        .any(|o| o.parse::<u32>().map_or(true, |v| v > 255))
                {
                    ip.to_string()
                } else {
                    self.ip(ip)
                }
            })
            .into_owned();
        if machine.len() >= 3 && !keep_host(machine) {
            self.host(machine);
        }
        // Every known host, wherever it appears (longest first so that sub-domains win).
        let mut known: Vec<(String, String)> = self
            .hosts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        known.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (host, stand_in) in known {
            out = out.replace(&host, &stand_in);
        }
        out
    }
}

/// Every secret this installation knows, to scrub and then to scan for.
pub fn known_secrets(cfg: &config::LoadedConfig, env: &Env) -> Vec<String> {
    let mut found = Vec::new();
    let mut v = cfg.value.clone();
    redact::redact_value(&mut v, &mut found);
    if let Some(doc) = &cfg.document {
        let mut raw = doc.value.clone();
        redact::redact_value(&mut raw, &mut found);
    }
    for k in [config::env::GATEWAY_TOKEN, config::env::GATEWAY_PASSWORD] {
        if let Some(s) = env.get(k) {
            found.push(s.to_string());
        }
    }
    found.retain(|s| s.len() >= 4 && s != redact::REDACTED);
    found.sort();
    found.dedup();
    found
}

/// The files of a bundle, before writing.
pub struct Contents {
    pub files: Vec<(String, Vec<u8>)>,
}

fn tail_lines(path: &Path, n: usize) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let start = text.len().saturating_sub(8 << 20);
    let s = String::from_utf8_lossy(&text[start..]);
    let lines: Vec<&str> = s.lines().collect();
    Some(lines[lines.len().saturating_sub(n)..].join("\n") + "\n")
}

/// Assemble, redact, pseudonymise and verify a bundle's files.
pub fn assemble(
    cfg: &config::LoadedConfig,
    env: &Env,
    state_dir: &Path,
    log_file: &Path,
    doctor_json: &Value,
    probe_json: &Value,
    status_json: &Value,
) -> Result<Contents, String> {
    let secrets = known_secrets(cfg, env);
    let machine = crate::logging::record::hostname();
    let mut names = Pseudonyms::default();
    let mut files: Vec<(String, String)> = Vec::new();
    let config_text = match &cfg.raw {
        Some(raw) => redact::scrub_text(raw, &secrets),
        None => "// no config file\n".to_string(),
    };
    files.push(("config/openclaw.json".into(), config_text));
    for (name, v) in [
        ("doctor.json", doctor_json),
        ("probe.json", probe_json),
        ("status.json", status_json),
    ] {
        files.push((
            name.into(),
            serde_json::to_string_pretty(v).unwrap_or_default(),
        ));
    }
    // The state rows the doctor reads (store or legacy files), token values fingerprinted.
    files.push((
        "state.json".into(),
        serde_json::to_string_pretty(&crate::doctor::probes::state::export(state_dir))
            .unwrap_or_default(),
    ));
    for (name, path) in [
        ("logs/openclaw.log", log_file.to_path_buf()),
        (
            "logs/gateway.log",
            state_dir.join("logs").join("gateway.log"),
        ),
        (
            "logs/gateway.err.log",
            state_dir.join("logs").join("gateway.err.log"),
        ),
    ] {
        if let Some(t) = tail_lines(&path, 2000) {
            files.push((name.into(), t));
        }
    }
    let env_lines: Vec<String> = env
        .keys()
        .filter(|k| k.starts_with("OPENCLAW_"))
        .map(|k| {
            let v = env.get(k).unwrap_or_default();
            if redact::is_sensitive_key(k) {
                format!("{k}={}", redact::REDACTED)
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    let mut env_sorted = env_lines;
    env_sorted.sort();
    files.push(("env.txt".into(), env_sorted.join("\n") + "\n"));
    files.push((
        "service.txt".into(),
        "service manager inspection is not available in this build yet; no unit files collected\n"
            .into(),
    ));
    // Redact, then pseudonymise every file with one shared map (hosts learned from all
    // files first, so a host is replaced everywhere, not only inside URLs).
    for (_, t) in &files {
        names.learn(t);
    }
    let mut out: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                names
                    .apply(&redact::scrub_text(&t, &secrets), &machine)
                    .into_bytes(),
            )
        })
        .collect();
    verify_no_secrets(&out, &secrets)?;
    let manifest = json!({
        "schema_version": crate::contract::SCHEMA_VERSION,
        "kind": "openclaw-support-bundle",
        "version": config::version::CURRENT,
        "createdAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "redaction": {"secretsReplaced": secrets.len(), "hostsPseudonymised": names.hosts.len(), "ipsPseudonymised": names.ips.len()},
        "files": out.iter().map(|(n, b)| json!({"name": n, "bytes": b.len(), "sha256": hex::encode(Sha256::digest(b))})).collect::<Vec<_>>(),
    });
    out.insert(
        0,
        (
            "manifest.json".into(),
            serde_json::to_string_pretty(&manifest)
                .unwrap_or_default()
                .into_bytes(),
        ),
    );
    Ok(Contents { files: out })
}

/// The final scan: no configured secret may remain in any file (the file is named, the
/// secret is not).
pub fn verify_no_secrets(files: &[(String, Vec<u8>)], secrets: &[String]) -> Result<(), String> {
    for (name, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        if secrets.iter().any(|s| text.contains(s.as_str())) {
            return Err(format!(
                "refusing to write the bundle: a configured secret still appears in {name}"
            ));
        }
    }
    Ok(())
}

/// Write `contents` as a gzip'd tar at `path` (mode 0600, atomically).
pub fn write(contents: &Contents, path: &Path) -> Result<(), String> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    {
        let mut tar = tar::Builder::new(&mut gz);
        for (name, bytes) in &contents.files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o600);
            h.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
            h.set_cksum();
            tar.append_data(&mut h, format!("openclaw-bundle/{name}"), bytes.as_slice())
                .map_err(|e| format!("cannot build the bundle: {e}"))?;
        }
        tar.finish()
            .map_err(|e| format!("cannot build the bundle: {e}"))?;
    }
    let data = gz
        .finish()
        .map_err(|e| format!("cannot compress the bundle: {e}"))?;
    config::write::atomic_write(path, &data, 0o600)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_scan_refuses_a_leak_and_names_the_file() {
        let files = vec![
            ("a.txt".to_string(), b"fine".to_vec()),
            ("logs/x.log".to_string(), b"token=s3cr3t-value".to_vec()),
        ];
        let e = verify_no_secrets(&files, &["s3cr3t-value".to_string()]).unwrap_err();
        assert_eq!(
            e,
            "refusing to write the bundle: a configured secret still appears in logs/x.log"
        );
        assert!(!e.contains("s3cr3t"));
        assert!(verify_no_secrets(&files, &["absent".to_string()]).is_ok());
    }

    #[test]
    fn pseudonyms_are_consistent_and_keep_loopback() {
        let mut p = Pseudonyms::default();
        let a = p.apply(
            "connect 10.1.2.3 and ws://gw.corp.example:18789 and 127.0.0.1",
            "myhost",
        );
        let b = p.apply(
            "again 10.1.2.3 via wss://gw.corp.example/x on myhost",
            "myhost",
        );
        assert_eq!(
            a,
            "connect 192.0.2.1 and ws://host-1.invalid:18789 and 127.0.0.1"
        );
        assert_eq!(
            b,
            "again 192.0.2.1 via wss://host-1.invalid/x on host-2.invalid"
        );
    }
}
