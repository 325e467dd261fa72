//! Every `openclaw` on PATH and the version each reports (split-brain installs).

use super::{ProbeContext, ProbeOutput};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

pub async fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let path = ctx.env.get("PATH").unwrap_or_default().to_string();
    let mut found = Vec::new();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = std::path::Path::new(dir).join("openclaw");
        let executable = std::fs::metadata(&candidate)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if executable
            && !found
                .iter()
                .any(|(p, _): &(std::path::PathBuf, _)| same_file(p, &candidate))
        {
            let canon = std::fs::canonicalize(&candidate).unwrap_or(candidate.clone());
            found.push((candidate, canon));
        }
    }
    let mut entries = Vec::new();
    for (path, canon) in &found {
        let version = version_of(path, ctx.timeout.min(Duration::from_secs(3))).await;
        entries.push(json!({"path": path.display().to_string(), "resolved": canon.display().to_string(), "version": version}));
    }
    let mut versions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["version"].as_str())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    ProbeOutput::ok(vec![
        ("binaries.count", json!(entries.len())),
        ("binaries.versions_differ", json!(versions.len() > 1)),
        ("binaries.openclaw", json!(entries)),
    ])
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `<bin> --version`, first version-looking word, within `limit`.
async fn version_of(bin: &std::path::Path, limit: Duration) -> Option<String> {
    let out = tokio::time::timeout(
        limit,
        tokio::process::Command::new(bin)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
        .map(str::to_string)
}
