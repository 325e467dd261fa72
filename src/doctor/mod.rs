//! The doctor engine: probes gather facts once, checks are data (`checks/*.toml`) evaluated
//! over the facts and the log lines, findings carry the runbook's symptom ids. The same
//! catalogue runs live (`doctor`) and offline (`doctor triage`).

pub mod bundle;
pub mod catalog;
pub mod eval;
pub mod facts;
pub mod fix;
pub mod matcher;
pub mod probes;
pub mod selftest;
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
    hits: &matcher::Scan,
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
        facts: facts.all().clone(),
        findings,
        fixes: None,
        other_processes: other_processes(cat, facts, hits),
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

/// Other processes' lines, when the logs had any.
fn other_processes(
    cat: &Catalog,
    facts: &Facts,
    hits: &matcher::Scan,
) -> Option<crate::contract::doctor::OtherProcesses> {
    use crate::contract::doctor::{Matches, OtherMatch, OtherProcesses};
    let count = |k: &str| {
        facts
            .get(k)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let (lines, unattributed) = (count("logs.other_lines"), count("logs.unattributed_lines"));
    if lines == 0 && unattributed == 0 && hits.other.is_empty() {
        return None;
    }
    let matched = hits
        .other
        .iter()
        .filter(|(_, h)| h.count > 0)
        .filter_map(|(i, h)| {
            let c = cat.checks.get(*i)?;
            Some(OtherMatch {
                check_id: c.id.clone(),
                symptoms: c.symptoms.clone(),
                matches: Matches {
                    count: h.count,
                    first_seen: h.first_seen.clone(),
                    last_seen: h.last_seen.clone(),
                    lines: h.lines.clone(),
                },
            })
        })
        .collect();
    Some(OtherProcesses {
        lines,
        unattributed_lines: unattributed,
        matched,
    })
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
        facts: Default::default(),
        findings: Vec::new(),
        fixes: None,
        other_processes: None,
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
    let hits = matcher.scan_attributed(&lines);
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
pub fn run_triage(cat: &Catalog, inputs: &[std::path::PathBuf], sel: &Selection) -> DoctorReport {
    let matcher = match matcher::Matcher::new(cat) {
        Ok(m) => m,
        Err(e) => return could_not_run("triage", format!("cannot compile log signatures: {e}")),
    };
    match triage::gather(inputs, &matcher) {
        Ok((facts, hits, described)) => report(
            cat,
            &facts,
            &matcher::Scan::own(hits),
            sel,
            "triage",
            None,
            described,
        ),
        Err(e) => could_not_run("triage", e),
    }
}

/// Fixes that replace a whole file run after the surgical ones.
fn fix_priority(action: &str) -> u8 {
    match action {
        "restore-last-known-good" => 2,
        _ => 1,
    }
}

/// `doctor --fix` / `--dry-run`: plan, (show,) apply, re-check, roll back; then report again.
/// Fixes run in rounds (at most 3): a fix can make another check evaluable (a legacy key
/// behind a config that did not validate). A dry run shows the first round only.
pub async fn run_fix(
    cat: &Catalog,
    ctx: &probes::ProbeContext,
    sel: &Selection,
    dry_run: bool,
    non_interactive: bool,
) -> DoctorReport {
    let first = run_live(cat, ctx, sel).await;
    if first.error.is_some() {
        return first;
    }
    let guard = crate::config::guard::check_destructive(
        &ctx.config,
        &ctx.env,
        "apply doctor fixes to the config",
    )
    .err();
    let mut outcomes: Vec<fix::FixOutcome> = Vec::new();
    let mut attempted: Vec<String> = Vec::new();
    let mut current = ctx.reload();
    let mut report = first;
    for _round in 0..3 {
        let mut todo: Vec<&catalog::Check> = report
            .findings
            .iter()
            .filter(|f| {
                matches!(f.status, Status::Warn | Status::Fail) && f.severity >= Severity::Warning
            })
            .filter_map(|f| cat.checks.iter().find(|c| c.id == f.check_id))
            .filter(|c| {
                c.fix
                    .as_ref()
                    .is_some_and(|fx| !attempted.contains(&fx.action))
            })
            .collect();
        todo.sort_by_key(|c| c.fix.as_ref().map(|f| fix_priority(&f.action)).unwrap_or(0));
        if todo.is_empty() {
            break;
        }
        // Facts gathered after the last fix this round kept (`None`: `report` is current).
        let mut since_report: Option<Facts> = None;
        for check in todo {
            let Some(spec) = &check.fix else { continue };
            if attempted.contains(&spec.action) {
                continue;
            }
            attempted.push(spec.action.clone());
            let mut outcome = fix::FixOutcome {
                check_id: check.id.clone(),
                action: spec.action.clone(),
                status: String::new(),
                summary: String::new(),
                files: Vec::new(),
                backups: Vec::new(),
                diff: None,
            };
            // An earlier fix may have resolved this one already.
            if let Some(facts) = &since_report {
                if matches!(eval::conditions(check, facts), Ok(Some(false))) {
                    continue;
                }
            }
            if let Some(lines) = &guard {
                outcome.status = "refused".into();
                outcome.summary = lines.join(" ");
                outcomes.push(outcome);
                continue;
            }
            if non_interactive && fix::needs_judgement(&spec.action) {
                outcome.status = "refused".into();
                outcome.summary =
                    "needs a judgement call; not applied with --non-interactive".into();
                outcomes.push(outcome);
                continue;
            }
            let plan = match fix::plan(&spec.action, &current) {
                Ok(p) => p,
                Err(why) => {
                    outcome.status = "refused".into();
                    outcome.summary = why;
                    outcomes.push(outcome);
                    continue;
                }
            };
            outcome.summary = plan.summary.clone();
            outcome.diff = Some(fix::plan_diff(&plan));
            if dry_run {
                outcome.status = "planned".into();
                outcomes.push(outcome);
                continue;
            }
            match fix::apply(&plan) {
                Err(e) => {
                    outcome.status = "failed".into();
                    outcome.summary = format!("{} — not applied: {e}", plan.summary);
                }
                Ok(applied) => {
                    let next = current.reload();
                    let (facts, _) = probes::run_all(&next).await;
                    if fix::still_fires(check, &facts) {
                        outcome.files = applied.files.clone();
                        match fix::rollback(applied) {
                            Ok(()) => {
                                outcome.status = "rolled-back".into();
                                outcome.summary = format!(
                                    "{} — rolled back: {} still fires after the change",
                                    plan.summary, check.id
                                );
                            }
                            Err(e) => {
                                outcome.status = "failed".into();
                                outcome.summary = format!(
                                    "{} — the check still fires and the rollback failed: {e}",
                                    plan.summary
                                );
                            }
                        }
                        current = current.reload();
                    } else {
                        outcome.status = "applied".into();
                        outcome.files = applied.files;
                        outcome.backups = applied.backups;
                        current = next;
                        since_report = Some(facts);
                    }
                }
            }
            outcomes.push(outcome);
        }
        if dry_run {
            break;
        }
        // Every round ends with a report of the current state; the loop stops on one.
        report = run_live(cat, &current, sel).await;
    }
    report.fixes = Some(outcomes);
    report
}
