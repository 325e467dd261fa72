//! Recent log lines: the service's logs and the gateway's file log, newest window only.

use super::{ProbeContext, ProbeOutput};
use crate::doctor::facts::{LogLine, ProbeStatus};
use crate::inspect::attribution::{self, Origin, Owner};
use crate::logging::file::LogSettings;
use crate::logging::record;
use serde_json::json;
use std::io::{Read, Seek, SeekFrom};

/// At most this much of the end of each file is scanned live.
const TAIL_BYTES: u64 = 4 * 1024 * 1024;

fn tail(path: &std::path::Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some(if start > 0 {
        text.split_once('\n')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default()
    } else {
        text
    })
}

/// Lines newer than `window_secs` (lines without a time are kept).
pub fn recent(line: &record::Parsed, window_secs: Option<u64>) -> bool {
    let (Some(w), Some(t)) = (window_secs, line.time.as_deref()) else {
        return true;
    };
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(when) => (chrono::Local::now().fixed_offset() - when).num_seconds() <= w as i64,
        Err(_) => true,
    }
}

pub fn probe(ctx: &ProbeContext) -> ProbeOutput {
    let file_log = LogSettings::from_config(&ctx.config, &ctx.env, ctx.paths.profile.as_deref())
        .current_file();
    let files = crate::inspect::last_error::candidate_files(&ctx.paths.state_dir, &file_log);
    let mut lines = Vec::new();
    let mut sources = Vec::new();
    for f in &files {
        let Some(text) = tail(f) else { continue };
        sources.push(f.display().to_string());
        // Only the shared file's lines need attributing; the service's logs are the profile's.
        let shared = !attribution::private_source(f, &ctx.paths.state_dir);
        for raw in text.lines() {
            let p = record::parse_line(raw);
            if recent(&p, ctx.log_window_secs) {
                let markers = shared.then(|| attribution::markers(&p));
                let mut line = LogLine::own(p.message, p.time, f.display().to_string());
                line.markers = markers;
                lines.push(line);
            }
        }
    }
    if sources.is_empty() {
        return ProbeOutput {
            status: ProbeStatus::Skipped(format!(
                "no log file found (looked at {})",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            facts: Vec::new(),
            lines: Vec::new(),
            unavailable: Vec::new(),
        };
    }
    let n = lines.len();
    ProbeOutput {
        status: ProbeStatus::Ok,
        facts: vec![("logs.source", json!(sources)), ("logs.lines", json!(n))],
        lines,
        unavailable: Vec::new(),
    }
}

/// Attribute the lines that carry markers to `owner` (the gateway as the port and process
/// probes saw it), mark its lines from before its current run, and return the counts.
pub fn attribute(
    lines: &mut [LogLine],
    mut owner: Owner,
) -> Vec<(&'static str, serde_json::Value)> {
    let marked: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].markers.is_some())
        .collect();
    let marks: Vec<attribution::Markers> = marked
        .iter()
        .filter_map(|i| lines[*i].markers.take())
        .collect();
    let times: Vec<Option<&str>> = marked.iter().map(|i| lines[*i].time.as_deref()).collect();
    let origins = owner.attribute(&marks, &times);
    for (i, origin) in marked.iter().zip(origins) {
        lines[*i].origin = origin;
    }
    for l in lines.iter_mut() {
        l.before_start = l.origin == Origin::Own && !owner.current(l.time.as_deref());
    }
    let count = |o: Origin| lines.iter().filter(|l| l.origin == o).count();
    vec![
        ("logs.own_lines", json!(count(Origin::Own))),
        ("logs.other_lines", json!(count(Origin::Other))),
        (
            "logs.unattributed_lines",
            json!(count(Origin::Unattributed)),
        ),
        (
            "logs.run_started",
            json!(owner
                .since
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))),
        ),
    ]
}
