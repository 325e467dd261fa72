//! `openclaw doctor --json` and `doctor triage --json`: one document, even on failure.
//! Field names follow the upstream doctor (`schemaVersion`, `checksRun`, `findings[].checkId`)
//! where they fit; the rest is what the runbook-driven engine adds.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }

    /// Marker that reads without colour.
    pub fn marker(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail | Status::Error => "✗",
            Status::Skipped => "-",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Matches {
    pub count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Remediation {
    pub text: String,
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check_id: String,
    pub title: String,
    pub section: String,
    pub symptoms: Vec<String>,
    pub status: Status,
    pub severity: Severity,
    pub message: String,
    pub evidence: Value,
    pub matches: Option<Matches>,
    pub remediation: Remediation,
    pub runbook: String,
    pub fixable: bool,
    pub skipped_reason: Option<String>,
}

/// What happened to one fix of `doctor --fix`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FixOutcome {
    pub check_id: String,
    pub action: String,
    /// `applied`, `rolled-back`, `refused`, `failed`, or `planned` (`--dry-run`).
    pub status: String,
    pub summary: String,
    pub files: Vec<String>,
    pub backups: Vec<String>,
    /// The change as a diff (secrets replaced), for `--dry-run` and applied fixes.
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Counts {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub skipped: usize,
    pub error: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    #[serde(rename = "schema_version")]
    pub schema_version: u32,
    /// Upstream's name for the same number.
    pub schema_version_upstream: u32,
    /// `live` or `triage`.
    pub mode: String,
    /// No failing finding.
    pub ok: bool,
    /// `healthy`, `warnings`, `errors` or `could-not-run`.
    pub verdict: String,
    pub version: String,
    pub config_path: Option<String>,
    pub inputs: Vec<String>,
    pub checks_run: usize,
    pub checks_skipped: usize,
    pub counts: Counts,
    pub probes: BTreeMap<String, Value>,
    /// Every fact the probes gathered (or the triage inputs provided).
    pub facts: BTreeMap<String, Value>,
    pub findings: Vec<Finding>,
    /// Present after `--fix` or `--dry-run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixes: Option<Vec<FixOutcome>>,
    /// Signatures matched in lines of the shared file log that other processes on this
    /// host wrote (or that name no writer): listed, never counted, never in the exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_processes: Option<OtherProcesses>,
    pub error: Option<String>,
}

/// What the doctor saw in other processes' log lines.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OtherProcesses {
    /// Lines written by other processes.
    pub lines: u64,
    /// Lines that name no writer while other processes write to the same file.
    pub unattributed_lines: u64,
    pub matched: Vec<OtherMatch>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OtherMatch {
    pub check_id: String,
    pub symptoms: Vec<String>,
    pub matches: Matches,
}

impl DoctorReport {
    pub fn exit_code(&self) -> i32 {
        use crate::contract::exit::doctor;
        if self.error.is_some() {
            doctor::COULD_NOT_RUN
        } else if self.counts.fail > 0 {
            doctor::ERRORS
        } else if self
            .findings
            .iter()
            .any(|f| f.status == Status::Warn && f.severity >= Severity::Warning)
        {
            doctor::WARNINGS
        } else {
            doctor::HEALTHY
        }
    }
}
