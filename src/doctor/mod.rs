//! The doctor engine: probes gather facts once, checks are data (`checks/*.toml`) evaluated
//! over the facts and the log lines, findings carry the runbook's symptom ids. The same
//! catalogue runs live (`doctor`) and offline (`doctor triage`).

pub mod catalog;
pub mod eval;
pub mod facts;
pub mod matcher;
pub mod probes;
pub mod symptoms;
pub mod triage;

use crate::contract::doctor::{Counts, DoctorReport, Finding, Severity, Status};
use crate::contract::SCHEMA_VERSION;
use catalog::Catalog;
use facts::Facts;

/// Which checks to run and show.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub severity_min: Option<Severity>,
}

impl Selection {
    fn keeps(&self, f: &Finding) -> bool {
        let named = |ids: &[String]| {
            ids.iter().any(|id| {
                f.check_id == *id || f.symptoms.iter().any(|s| s == id) || f.section == *id
            })
        };
        (self.only.is_empty() || named(&self.only))
            && !named(&self.skip)
            && self.severity_min.is_none_or(|min| f.severity >= min)
    }
}

/// Load the catalogue (embedded plus extra files).
pub fn load_catalog(extra: &[(String, String)]) -> Result<Catalog, catalog::CatalogError> {
    catalog::load(extra, &symptoms::ids())
}

/// Evaluate `cat` over facts and signature hits into a report.
pub fn report(
    cat: &Catalog,
    facts: &Facts,
    hits: &matcher::Results,
    sel: &Selection,
    mode: &str,
    config_path: Option<String>,
    inputs: Vec<String>,
) -> DoctorReport {
    let findings: Vec<Finding> = eval::evaluate(cat, facts, hits)
        .into_iter()
        .filter(|f| sel.keeps(f))
        .collect();
    let mut counts = Counts::default();
    for f in &findings {
        match f.status {
            Status::Ok => counts.ok += 1,
            Status::Warn => counts.warn += 1,
            Status::Fail => counts.fail += 1,
            Status::Skipped => counts.skipped += 1,
            Status::Error => counts.error += 1,
        }
    }
    let probes = facts
        .probes
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    let mut r = DoctorReport {
        schema_version: SCHEMA_VERSION,
        schema_version_upstream: SCHEMA_VERSION,
        mode: mode.into(),
        ok: counts.fail == 0,
        verdict: String::new(),
        version: crate::config::version::CURRENT.into(),
        config_path,
        inputs,
        checks_run: findings.len() - counts.skipped,
        checks_skipped: counts.skipped,
        counts,
        probes,
        findings,
        error: None,
    };
    r.verdict = match r.exit_code() {
        0 => "healthy",
        1 => "warnings",
        _ => "errors",
    }
    .into();
    r
}

pub fn could_not_run(mode: &str, error: String) -> DoctorReport {
    DoctorReport {
        schema_version: SCHEMA_VERSION,
        schema_version_upstream: SCHEMA_VERSION,
        mode: mode.into(),
        ok: false,
        verdict: "could-not-run".into(),
        version: crate::config::version::CURRENT.into(),
        config_path: None,
        inputs: Vec::new(),
        checks_run: 0,
        checks_skipped: 0,
        counts: Counts::default(),
        probes: Default::default(),
        findings: Vec::new(),
        error: Some(error),
    }
}

/// Run the live doctor (read-only).
pub async fn run_live(cat: &Catalog, ctx: &probes::ProbeContext, sel: &Selection) -> DoctorReport {
    let matcher = match matcher::Matcher::new(cat) {
        Ok(m) => m,
        Err(e) => return could_not_run("live", format!("cannot compile log signatures: {e}")),
    };
    let (facts, lines) = probes::run_all(ctx).await;
    let hits = matcher.scan_all(&lines);
    report(
        cat,
        &facts,
        &hits,
        sel,
        "live",
        Some(ctx.config.path.display().to_string()),
        Vec::new(),
    )
}

/// Run offline triage over `inputs`; the log is matched while it is read (one pass).
pub fn run_triage(
    cat: &Catalog,
    inputs: &[std::path::PathBuf],
    env: &crate::config::Env,
    sel: &Selection,
) -> DoctorReport {
    let matcher = match matcher::Matcher::new(cat) {
        Ok(m) => m,
        Err(e) => return could_not_run("triage", format!("cannot compile log signatures: {e}")),
    };
    match triage::gather(inputs, env, &matcher) {
        Ok((facts, hits, described)) => report(cat, &facts, &hits, sel, "triage", None, described),
        Err(e) => could_not_run("triage", e),
    }
}
