//! The check catalogue: `checks/*.toml` parsed into typed checks and validated. A malformed
//! file is an error naming the file, line and key. Built-in files are embedded at build time;
//! `--checks DIR` adds more.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/embedded_checks.rs"));

/// Runbook sections link here (`#<section id>`).
pub const RUNBOOK_URL: &str = "https://docs.openclaw.ai/gateway/troubleshooting";

pub use crate::contract::doctor::Severity;

/// One condition over a fact. Exactly one operator is set.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub fact: String,
    #[serde(default)]
    pub is: Option<toml::Value>,
    #[serde(default)]
    pub is_not: Option<toml::Value>,
    #[serde(default)]
    pub missing: Option<bool>,
    #[serde(default)]
    pub non_empty: Option<bool>,
    #[serde(default)]
    pub gt: Option<f64>,
    #[serde(default)]
    pub lt: Option<f64>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub matches: Option<String>,
    #[serde(default)]
    pub any_of: Option<Vec<toml::Value>>,
}

/// A log signature: literal text or a regex, with a line that must match and one that must not.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    /// A log line this signature must match (tested).
    pub example: String,
    /// A similar line it must not match (tested).
    pub near_miss: String,
}

impl Signature {
    /// The regex source (literals escaped).
    pub fn pattern(&self) -> String {
        match (&self.text, &self.regex) {
            (Some(t), _) => regex::escape(t),
            (None, Some(r)) => r.clone(),
            (None, None) => String::new(),
        }
    }

    pub fn display(&self) -> String {
        self.text
            .clone()
            .or_else(|| self.regex.clone().map(|r| format!("/{r}/")))
            .unwrap_or_default()
    }
}

/// A fix: a named built-in action with parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSpec {
    pub action: String,
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub id: String,
    pub title: String,
    pub symptoms: Vec<String>,
    pub severity: Severity,
    /// What a firing finding says.
    pub message: String,
    /// All must hold for the check to fire from facts.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// Alternatively, any of these.
    #[serde(default)]
    pub when_any: Vec<Condition>,
    #[serde(default)]
    pub signatures: Vec<Signature>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub remediation: String,
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub fix: Option<FixSpec>,
    /// Set by the loader: the file's section.
    #[serde(skip)]
    pub section: String,
    #[serde(skip)]
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionHeader {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    section: SectionHeader,
    #[serde(default)]
    checks: Vec<Check>,
}

/// A loaded, validated catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub sections: Vec<SectionHeader>,
    pub checks: Vec<Check>,
}

/// A catalogue error naming where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError(pub String);

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    (
        before.matches('\n').count() + 1,
        before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1,
    )
}

/// Parse one file's text.
pub fn parse_file(name: &str, text: &str) -> Result<(SectionHeader, Vec<Check>), CatalogError> {
    let file: CheckFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| line_col(text, s.start));
        match at {
            Some((l, c)) => CatalogError(format!("{name}:{l}:{c}: {}", e.message())),
            None => CatalogError(format!("{name}: {}", e.message())),
        }
    })?;
    let mut checks = file.checks;
    for c in &mut checks {
        c.section = file.section.id.clone();
        c.file = name.to_string();
    }
    Ok((file.section, checks))
}

/// Fix actions the engine implements.
pub const FIX_ACTIONS: &[&str] = &[
    "move-legacy-gateway-token",
    "normalize-bind-alias",
    "set-gateway-mode-local",
    "generate-gateway-token",
    "restore-last-known-good",
    "remove-stale-lock",
    "fix-permissions",
    "reinstall-service",
    "enable-linger",
    "remove-legacy-services",
    "remove-user-unit",
];

fn validate_check(
    c: &Check,
    symptoms: &BTreeSet<String>,
    facts: &BTreeSet<&str>,
) -> Result<(), String> {
    for s in &c.symptoms {
        if !symptoms.contains(s) {
            return Err(format!(
                "symptoms: unknown symptom id {s:?} (see checks/symptoms.toml)"
            ));
        }
    }
    if c.when.is_empty() && c.when_any.is_empty() && c.signatures.is_empty() {
        return Err("a check needs `when`, `when_any` or `signatures`".into());
    }
    for cond in c.when.iter().chain(&c.when_any) {
        let ops = [
            cond.is.is_some(),
            cond.is_not.is_some(),
            cond.missing.is_some(),
            cond.non_empty.is_some(),
            cond.gt.is_some(),
            cond.lt.is_some(),
            cond.contains.is_some(),
            cond.matches.is_some(),
            cond.any_of.is_some(),
        ];
        if ops.iter().filter(|o| **o).count() != 1 {
            return Err(format!(
                "when: condition on {:?} needs exactly one operator",
                cond.fact
            ));
        }
        let ns = cond.fact.split('.').next().unwrap_or("");
        if !facts.contains(cond.fact.as_str()) {
            return Err(format!(
                "when: unknown fact {:?} (namespace {ns:?})",
                cond.fact
            ));
        }
        if let Some(r) = &cond.matches {
            regex::Regex::new(r).map_err(|e| format!("when.matches: {e}"))?;
        }
    }
    for e in &c.evidence {
        if !facts.contains(e.as_str()) {
            return Err(format!("evidence: unknown fact {e:?}"));
        }
    }
    for s in &c.signatures {
        match (&s.text, &s.regex) {
            (Some(_), Some(_)) | (None, None) => {
                return Err("signatures: each needs exactly one of `text` or `regex`".into())
            }
            (None, Some(r)) => {
                regex::Regex::new(r).map_err(|e| format!("signatures.regex: {e}"))?;
            }
            _ => {}
        }
    }
    if let Some(f) = &c.fix {
        if !FIX_ACTIONS.contains(&f.action.as_str()) {
            return Err(format!(
                "fix.action: unknown action {:?} (one of {})",
                f.action,
                FIX_ACTIONS.join(", ")
            ));
        }
    }
    Ok(())
}

/// Load the embedded catalogue plus `extra` files, and validate it as a whole.
pub fn load(
    extra: &[(String, String)],
    symptoms: &BTreeSet<String>,
) -> Result<Catalog, CatalogError> {
    let facts: BTreeSet<&str> = super::facts::KNOWN.iter().map(|(k, _)| *k).collect();
    let mut cat = Catalog::default();
    let files = EMBEDDED
        .iter()
        .filter(|(n, _)| *n != "symptoms.toml")
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .chain(extra.iter().cloned());
    for (name, text) in files {
        let (section, checks) = parse_file(&name, &text)?;
        for c in &checks {
            validate_check(c, symptoms, &facts)
                .map_err(|e| CatalogError(format!("{name}: check {:?}: {e}", c.id)))?;
        }
        if !cat.sections.iter().any(|s| s.id == section.id) {
            cat.sections.push(section);
        }
        cat.checks.extend(checks);
    }
    let mut seen = BTreeSet::new();
    for c in &cat.checks {
        if !seen.insert(c.id.clone()) {
            return Err(CatalogError(format!(
                "{}: duplicate check id {:?}",
                c.file, c.id
            )));
        }
    }
    for c in &cat.checks {
        for d in &c.depends_on {
            if !seen.contains(d) {
                return Err(CatalogError(format!(
                    "{}: check {:?}: depends_on: unknown check {d:?}",
                    c.file, c.id
                )));
            }
        }
    }
    if let Some(cycle) = dependency_cycle(&cat.checks) {
        let first = cat.checks.iter().find(|c| c.id == cycle[0]);
        return Err(CatalogError(format!(
            "{}: check {:?}: depends_on forms a cycle: {}",
            first.map(|c| c.file.as_str()).unwrap_or("?"),
            cycle[0],
            cycle.join(" -> ")
        )));
    }
    Ok(cat)
}

/// A `depends_on` cycle, as the ids around it (the first repeated at the end).
fn dependency_cycle(checks: &[Check]) -> Option<Vec<String>> {
    let deps: std::collections::HashMap<&str, &[String]> = checks
        .iter()
        .map(|c| (c.id.as_str(), c.depends_on.as_slice()))
        .collect();
    // 0 unvisited, 1 on the current path, 2 done.
    let mut state: std::collections::HashMap<&str, u8> = Default::default();
    fn visit<'a>(
        id: &'a str,
        deps: &std::collections::HashMap<&'a str, &'a [String]>,
        state: &mut std::collections::HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(id) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(id, 1);
        path.push(id);
        for d in deps.get(id).copied().unwrap_or_default() {
            if let Some(c) = visit(d.as_str(), deps, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(id, 2);
        None
    }
    for c in checks {
        if let Some(cycle) = visit(c.id.as_str(), &deps, &mut state, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// Read every `*.toml` in a directory (for `--checks DIR`).
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, CatalogError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| CatalogError(format!("{}: {e}", dir.display())))?;
    let mut paths: Vec<_> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut crate::os::file::open_regular(&p).map_err(CatalogError)?,
            &mut text,
        )
        .map_err(|e| CatalogError(format!("{}: {e}", p.display())))?;
        out.push((p.display().to_string(), text));
    }
    Ok(out)
}

/// Convert a TOML value to JSON for comparisons.
pub fn to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::from(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        toml::Value::Datetime(d) => Value::from(d.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogue_loads() {
        let cat = crate::doctor::load_catalog(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(cat.checks.len() > 70, "{}", cat.checks.len());
    }

    #[test]
    fn every_symptom_id_is_detected_by_a_check() {
        let cat = crate::doctor::load_catalog(&[]).unwrap();
        let covered: BTreeSet<&str> = cat
            .checks
            .iter()
            .flat_map(|c| c.symptoms.iter().map(String::as_str))
            .collect();
        let missing: Vec<String> = crate::doctor::symptoms::ids()
            .into_iter()
            .filter(|s| !covered.contains(s.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "symptom ids without a check: {missing:?}"
        );
    }

    #[test]
    fn every_signature_matches_its_example_and_not_its_near_miss() {
        let cat = crate::doctor::load_catalog(&[]).unwrap();
        let mut n = 0;
        for c in &cat.checks {
            for s in &c.signatures {
                let re = regex::Regex::new(&s.pattern()).unwrap();
                assert!(
                    re.is_match(&s.example),
                    "{}: {:?} does not match example {:?}",
                    c.id,
                    s.display(),
                    s.example
                );
                assert!(
                    !re.is_match(&s.near_miss),
                    "{}: {:?} matches near-miss {:?}",
                    c.id,
                    s.display(),
                    s.near_miss
                );
                n += 1;
            }
        }
        assert!(n > 60);
    }

    #[test]
    fn malformed_files_name_file_line_and_key() {
        let ids = crate::doctor::symptoms::ids();
        let bad_key = "[section]\nid = \"s\"\ntitle = \"t\"\n\n[[checks]]\nid = \"x\"\ntitle = \"t\"\nsymptoms = [\"mode-unset\"]\nseverity = \"error\"\nmessage = \"m\"\nremediation = \"r\"\nwhen = [{ fact = \"config.exists\", is = true }]\ncolour = \"red\"\n";
        let e = load(&[("extra.toml".into(), bad_key.into())], &ids)
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("extra.toml:5:1:") || e.starts_with("extra.toml:"),
            "{e}"
        );
        assert!(e.contains("unknown field `colour`"), "{e}");
        let bad_sev = bad_key
            .replace("colour = \"red\"\n", "")
            .replace("\"error\"", "\"fatal\"");
        let e = load(&[("extra.toml".into(), bad_sev)], &ids).unwrap_err().0;
        assert!(e.contains("extra.toml:9:") && e.contains("fatal"), "{e}");
        let bad_fact = bad_key
            .replace("colour = \"red\"\n", "")
            .replace("config.exists", "config.nope");
        let e = load(&[("extra.toml".into(), bad_fact)], &ids)
            .unwrap_err()
            .0;
        assert!(
            e.contains("check \"x\": when: unknown fact \"config.nope\""),
            "{e}"
        );
        let bad_symptom = bad_key
            .replace("colour = \"red\"\n", "")
            .replace("mode-unset", "no-such-symptom");
        let e = load(&[("extra.toml".into(), bad_symptom)], &ids)
            .unwrap_err()
            .0;
        assert!(e.contains("unknown symptom id \"no-such-symptom\""), "{e}");
    }
}
