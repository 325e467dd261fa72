//! Evaluate checks over facts and log hits into findings.

use super::catalog::{self, Catalog, Check, Condition, Severity};
use super::facts::Facts;
use super::matcher::Scan;
use crate::contract::doctor::{Finding, Matches, Remediation, Status};
use serde_json::{Map, Value};
use std::collections::HashMap;

fn num(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_array().map(|a| a.len() as f64))
}

fn holds(c: &Condition, v: Option<&Value>) -> bool {
    let present = v.is_some_and(|v| !v.is_null());
    if let Some(m) = c.missing {
        return m != present;
    }
    if let Some(n) = c.non_empty {
        let non_empty = match v {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        return n == non_empty;
    }
    if let Some(x) = &c.is {
        return v == Some(&catalog::to_json(x));
    }
    if let Some(x) = &c.is_not {
        return v != Some(&catalog::to_json(x));
    }
    if let Some(g) = c.gt {
        return v.and_then(num).is_some_and(|n| n > g);
    }
    if let Some(l) = c.lt {
        return v.and_then(num).is_some_and(|n| n < l);
    }
    if let Some(s) = &c.contains {
        return match v {
            Some(Value::String(t)) => t.contains(s.as_str()),
            Some(Value::Array(a)) => a.iter().any(|e| e.as_str() == Some(s.as_str())),
            _ => false,
        };
    }
    if let Some(r) = &c.matches {
        return v
            .and_then(Value::as_str)
            .is_some_and(|t| regex::Regex::new(r).is_ok_and(|re| re.is_match(t)));
    }
    if let Some(list) = &c.any_of {
        return v.is_some_and(|v| list.iter().any(|x| &catalog::to_json(x) == v));
    }
    false
}

/// `Ok(Some(fired))` when every fact the conditions need is available; `Err(reason)` if not;
/// `Ok(None)` when the check has no conditions.
pub fn conditions(check: &Check, facts: &Facts) -> Result<Option<bool>, String> {
    if check.when.is_empty() && check.when_any.is_empty() {
        return Ok(None);
    }
    for c in check.when.iter().chain(&check.when_any) {
        facts.available(&c.fact)?;
    }
    let all = check.when.iter().all(|c| holds(c, facts.get(&c.fact)));
    let any =
        check.when_any.is_empty() || check.when_any.iter().any(|c| holds(c, facts.get(&c.fact)));
    let fired = if check.when.is_empty() {
        any
    } else if check.when_any.is_empty() {
        all
    } else {
        all && any
    };
    Ok(Some(fired))
}

/// A dependency suppresses its dependents only when it fails on current facts: a skipped
/// dependency (facts unavailable) or one that failed only in old log lines does not hide
/// what the dependent check sees.
fn fails_now(check: &Check, facts: &Facts, finding: &Finding) -> bool {
    matches!(finding.status, Status::Fail | Status::Error)
        && matches!(conditions(check, facts), Ok(Some(true)))
}

pub fn evaluate(cat: &Catalog, facts: &Facts, hits: &Scan) -> Vec<Finding> {
    let mut done: HashMap<String, Finding> = HashMap::new();
    let index: HashMap<&str, usize> = cat
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    fn visit(
        i: usize,
        cat: &Catalog,
        facts: &Facts,
        hits: &Scan,
        index: &HashMap<&str, usize>,
        done: &mut HashMap<String, Finding>,
        stack: &mut Vec<usize>,
    ) {
        let check = &cat.checks[i];
        if done.contains_key(&check.id) || stack.contains(&i) {
            return;
        }
        stack.push(i);
        let mut blocked = None;
        for d in &check.depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                visit(j, cat, facts, hits, index, done, stack);
                if let Some(dep) = done.get(d) {
                    if fails_now(&cat.checks[j], facts, dep) {
                        blocked = Some(format!("depends on {d}, which fails: {}", dep.message));
                        break;
                    }
                }
            }
        }
        stack.pop();
        let finding = match blocked {
            Some(reason) => finding(check, Status::Skipped, facts, None, Some(reason)),
            None => judge(check, facts, hits.now.get(&i), hits.before_start.get(&i)),
        };
        done.insert(check.id.clone(), finding);
    }
    let mut stack = Vec::new();
    for i in 0..cat.checks.len() {
        visit(i, cat, facts, hits, &index, &mut done, &mut stack);
    }
    cat.checks
        .iter()
        .filter_map(|c| done.remove(&c.id))
        .collect()
}

fn fired_status(sev: Severity) -> Status {
    match sev {
        Severity::Error => Status::Fail,
        Severity::Warning | Severity::Info => Status::Warn,
    }
}

fn matches(h: &super::matcher::Hits) -> Matches {
    Matches {
        count: h.count,
        first_seen: h.first_seen.clone(),
        last_seen: h.last_seen.clone(),
        lines: h.lines.clone(),
    }
}

fn judge(
    check: &Check,
    facts: &Facts,
    hits: Option<&super::matcher::Hits>,
    earlier: Option<&super::matcher::Hits>,
) -> Finding {
    let cond = conditions(check, facts);
    let logs = !check.signatures.is_empty() && facts.logs_available.is_some();
    let matched = hits.filter(|h| h.count > 0);
    let m = matched.map(matches);
    // Only the gateway's earlier runs logged it (and it does not fire now): history, info.
    if let Some(h) = earlier.filter(|h| h.count > 0) {
        if matched.is_none() && !matches!(cond, Ok(Some(true))) {
            let mut f = finding(check, Status::Warn, facts, Some(matches(h)), None);
            f.message = format!(
                "{} (seen in the logs before the gateway's current start; not since)",
                f.message
            );
            f.severity = Severity::Info;
            return f;
        }
    }
    match (&cond, matched) {
        (Ok(Some(true)), _) => finding(check, fired_status(check.severity), facts, m, None),
        // Seen in the logs but not observed now: a past incident. Shown, but as info, so it
        // does not keep the exit code up once the cause is fixed.
        (Ok(Some(false)), Some(_)) => {
            let mut f = finding(check, Status::Warn, facts, m, None);
            f.message = format!("{} (seen in the logs; not observed now)", f.message);
            f.severity = Severity::Info;
            f
        }
        (Ok(None) | Err(_), Some(_)) => {
            finding(check, fired_status(check.severity), facts, m, None)
        }
        (Ok(Some(false)), None) => finding(check, Status::Ok, facts, None, None),
        (Ok(None), None) if logs => finding(check, Status::Ok, facts, None, None),
        (Ok(None), None) => finding(
            check,
            Status::Skipped,
            facts,
            None,
            Some("no log lines to scan for its signatures".into()),
        ),
        // The facts could not be established: the logs alone do not make it ok.
        (Err(reason), None) if logs => finding(
            check,
            Status::Skipped,
            facts,
            None,
            Some(format!("{reason}; its log signatures did not match")),
        ),
        (Err(reason), None) => finding(check, Status::Skipped, facts, None, Some(reason.clone())),
    }
}

fn finding(
    check: &Check,
    status: Status,
    facts: &Facts,
    matches: Option<Matches>,
    skipped: Option<String>,
) -> Finding {
    let mut evidence = Map::new();
    if !matches!(status, Status::Ok | Status::Skipped) {
        for e in &check.evidence {
            evidence.insert(e.clone(), facts.get(e).cloned().unwrap_or(Value::Null));
        }
    }
    Finding {
        check_id: check.id.clone(),
        title: check.title.clone(),
        section: check.section.clone(),
        symptoms: check.symptoms.clone(),
        status,
        severity: check.severity,
        message: if status == Status::Ok {
            String::new()
        } else {
            check.message.clone()
        },
        evidence: Value::Object(evidence),
        matches,
        remediation: Remediation {
            text: check.remediation.clone(),
            commands: check.commands.clone(),
        },
        runbook: format!("{}#{}", catalog::RUNBOOK_URL, check.section),
        fixable: check.fix.is_some(),
        skipped_reason: skipped,
    }
}
