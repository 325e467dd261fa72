//! The symptom catalogue (`checks/symptoms.toml`, a copy of the runbook's symptom list).

use serde::Deserialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symptom {
    pub id: String,
    pub section: String,
    pub signature: String,
    pub meaning: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    symptom: Vec<Symptom>,
}

pub fn all() -> Vec<Symptom> {
    let text = super::catalog::EMBEDDED
        .iter()
        .find(|(n, _)| *n == "symptoms.toml")
        .map(|(_, t)| *t)
        .unwrap_or("symptom = []");
    toml::from_str::<File>(text)
        .map(|f| f.symptom)
        .unwrap_or_default()
}

pub fn ids() -> BTreeSet<String> {
    all().into_iter().map(|s| s.id).collect()
}
