//! Loading the config file: read, JSON5 parse, `${VAR}` substitution, schema validation,
//! legacy-key and newer-version detection. Loading never fails: problems become issues, so
//! diagnostic commands can still report on a broken file.

use super::env::Env;
use super::json5::{self, Document};
use super::schema::{self, BIND_ALIASES};
use super::version;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks the gateway from starting.
    Error,
    /// Reported, not blocking.
    Warning,
}

/// What kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueKind {
    Parse,
    Schema,
    Env,
    Legacy,
    NewerVersion,
    Read,
}

/// One problem with the config, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigIssue {
    pub severity: Severity,
    pub kind: IssueKind,
    /// Dotted key path, `<root>` for the whole document.
    pub path: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl ConfigIssue {
    /// `openclaw.json:3:5 gateway.mode: <message>` style, naming the file.
    pub fn render(&self, file: &Path) -> String {
        let name = file.display();
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{name}:{l}:{c}: {}: {}", self.path, self.message),
            _ => format!("{name}: {}: {}", self.path, self.message),
        }
    }
}

pub const LEGACY_GATEWAY_TOKEN: &str =
    "Config uses \"gateway.token\". This key is ignored; use \"gateway.auth.token\" instead.";
pub const LEGACY_BIND_ALIAS: &str = "gateway.bind host aliases (for example 0.0.0.0/localhost) are legacy; use bind modes (lan/loopback/custom/tailnet/auto) instead. Run \"openclaw doctor --fix\".";

/// The result of loading a config file.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
    pub exists: bool,
    pub raw: Option<String>,
    /// The parsed document before env substitution (positions for messages).
    pub document: Option<Document>,
    /// The effective value (after `${VAR}` substitution); `{}` when missing or unparsable.
    pub value: Value,
    pub issues: Vec<ConfigIssue>,
    /// `sha256:<hex>` of the raw bytes.
    pub hash: Option<String>,
}

impl LoadedConfig {
    /// Parsed without errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        !self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &ConfigIssue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &ConfigIssue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
    }

    /// A value by dotted path (`gateway.auth.mode`).
    pub fn get(&self, dotted: &str) -> Option<&Value> {
        get_path(&self.value, dotted)
    }

    pub fn get_str(&self, dotted: &str) -> Option<&str> {
        self.get(dotted).and_then(Value::as_str)
    }

    /// `meta.lastTouchedVersion` when set.
    pub fn last_touched_version(&self) -> Option<&str> {
        self.get_str("meta.lastTouchedVersion")
    }
}

/// Top-level sections this build validates with its own typed schema; every other section
/// is validated against upstream's (`config::upstream_schema`).
const TYPED_SECTIONS: &[&str] = &["$schema", "$include", "meta", "gateway", "logging"];

/// Look up a dotted path in a JSON value; segments may index arrays (`list[0]`).
pub fn get_path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    super::keypath::get(value, &super::keypath::parse(dotted).ok()?)
}

/// `sha256:<hex>` of a config file's raw bytes: what `LoadedConfig::hash` holds and what
/// a write compares against before replacing the file.
pub fn hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Load the config at `path`.
pub fn load(path: &Path, env: &Env) -> LoadedConfig {
    let mut cfg = LoadedConfig {
        path: path.to_path_buf(),
        exists: false,
        raw: None,
        document: None,
        value: Value::Object(Default::default()),
        issues: Vec::new(),
        hash: None,
    };
    let raw = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return cfg,
        Err(e) => {
            cfg.exists = path.exists();
            cfg.issues.push(ConfigIssue {
                severity: Severity::Error,
                kind: IssueKind::Read,
                path: "<root>".into(),
                message: format!("cannot read {}: {e}", path.display()),
                line: None,
                column: None,
            });
            return cfg;
        }
    };
    cfg.exists = true;
    cfg.hash = Some(hash(&raw));
    let text = match String::from_utf8(raw) {
        Ok(t) => t,
        Err(_) => {
            cfg.issues.push(ConfigIssue {
                severity: Severity::Error,
                kind: IssueKind::Parse,
                path: "<root>".into(),
                message: "file is not valid UTF-8".into(),
                line: None,
                column: None,
            });
            return cfg;
        }
    };
    cfg.raw = Some(text.clone());
    apply_text(&mut cfg, &text, env);
    cfg
}

/// Parse and validate `text` as if it were the content of `cfg.path`.
pub fn load_from_str(path: &Path, text: &str, env: &Env) -> LoadedConfig {
    let mut cfg = LoadedConfig {
        path: path.to_path_buf(),
        exists: true,
        raw: Some(text.to_string()),
        document: None,
        value: Value::Object(Default::default()),
        issues: Vec::new(),
        hash: Some(hash(text.as_bytes())),
    };
    apply_text(&mut cfg, text, env);
    cfg
}

fn apply_text(cfg: &mut LoadedConfig, text: &str, env: &Env) {
    let doc = match json5::parse(text) {
        Ok(d) => d,
        Err(e) => {
            cfg.issues.push(ConfigIssue {
                severity: Severity::Error,
                kind: IssueKind::Parse,
                path: "<root>".into(),
                message: format!(
                    "JSON5 parse failed: {} at {}:{}",
                    e.message, e.line, e.column
                ),
                line: Some(e.line),
                column: Some(e.column),
            });
            return;
        }
    };
    if !doc.value.is_object() {
        cfg.issues.push(ConfigIssue {
            severity: Severity::Error,
            kind: IssueKind::Schema,
            path: "<root>".into(),
            message: "config root must be an object".into(),
            line: Some(1),
            column: Some(1),
        });
        return;
    }
    let locate = |path: &str| doc.position_of(path);
    let mut issues = Vec::new();

    // A schema violation as an issue; an unknown key points at the key itself.
    let schema_issue = |path: String, message: String| {
        let key_path = message
            .strip_prefix("Unrecognized key: \"")
            .and_then(|k| k.strip_suffix('"'))
            .map(|k| {
                if path == "<root>" {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                }
            });
        let (line, column) = locate(key_path.as_deref().unwrap_or(&path)).unzip();
        ConfigIssue {
            severity: Severity::Error,
            kind: IssueKind::Schema,
            path,
            message,
            line,
            column,
        }
    };
    let mut violations = Vec::new();
    schema::validate(&schema::root(), &doc.value, "", &mut violations);
    for v in violations {
        issues.push(schema_issue(v.path, v.message));
    }
    // The sections this build does not model: upstream's own schema judges them.
    if let Some(map) = doc.value.as_object() {
        for (key, section) in map {
            if TYPED_SECTIONS.contains(&key.as_str()) {
                continue;
            }
            for v in super::upstream_schema::validate_section(key, section).unwrap_or_default() {
                issues.push(schema_issue(v.path, v.message));
            }
        }
    }

    let mut value = doc.value.clone();
    substitute_env(&mut value, "", env, &mut |path, message| {
        let (line, column) = locate(path).unzip();
        issues.push(ConfigIssue {
            severity: Severity::Error,
            kind: IssueKind::Env,
            path: path.to_string(),
            message,
            line,
            column,
        });
    });

    if get_path(&value, "gateway.token").is_some() {
        let (line, column) = locate("gateway.token").unzip();
        issues.push(ConfigIssue {
            severity: Severity::Warning,
            kind: IssueKind::Legacy,
            path: "gateway.token".into(),
            message: LEGACY_GATEWAY_TOKEN.into(),
            line,
            column,
        });
    }
    if let Some(bind) = get_path(&value, "gateway.bind").and_then(Value::as_str) {
        let (line, column) = locate("gateway.bind").unzip();
        if BIND_ALIASES.iter().any(|(alias, _)| *alias == bind) {
            issues.push(ConfigIssue {
                severity: Severity::Error,
                kind: IssueKind::Legacy,
                path: "gateway.bind".into(),
                message: LEGACY_BIND_ALIAS.into(),
                line,
                column,
            });
        } else if !schema::BIND_MODES.contains(&bind) {
            issues.push(ConfigIssue {
                severity: Severity::Error,
                kind: IssueKind::Schema,
                path: "gateway.bind".into(),
                message: format!(
                    "Invalid option: expected one of {}",
                    schema::BIND_MODES
                        .iter()
                        .map(|m| format!("\"{m}\""))
                        .collect::<Vec<_>>()
                        .join("|")
                ),
                line,
                column,
            });
        }
    }
    if let Some(v) = get_path(&value, "meta.lastTouchedVersion").and_then(Value::as_str) {
        if version::is_newer_than_current(v) {
            let (line, column) = locate("meta.lastTouchedVersion").unzip();
            issues.push(ConfigIssue {
                severity: Severity::Warning,
                kind: IssueKind::NewerVersion,
                path: "meta.lastTouchedVersion".into(),
                message: newer_version_warning(v),
                line,
                column,
            });
        }
    }
    cfg.value = value;
    cfg.document = Some(doc);
    cfg.issues = issues;
}

/// `Config was last written by a newer OpenClaw (<v>); current version is <v>.`
pub fn newer_version_warning(config_version: &str) -> String {
    format!(
        "Config was last written by a newer OpenClaw ({config_version}); current version is {}.",
        version::CURRENT
    )
}

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Replace `${VAR}` in every string (`$${VAR}` escapes). Missing or empty variables are
/// reported with the upstream message and left as written.
fn substitute_env(value: &mut Value, path: &str, env: &Env, report: &mut dyn FnMut(&str, String)) {
    match value {
        Value::String(s) if s.contains("${") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                let escaped = i > 0 && rest.as_bytes()[i - 1] == b'$';
                let Some(end) = rest[i..].find('}') else {
                    break;
                };
                let name = &rest[i + 2..i + end];
                if escaped {
                    out.push_str(&rest[..i - 1]);
                    out.push_str(&rest[i..i + end + 1]);
                } else if is_var_name(name) {
                    out.push_str(&rest[..i]);
                    match env.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            report(
                                path,
                                format!(
                                    "Missing env var \"{name}\" referenced at config path: {path}"
                                ),
                            );
                            out.push_str(&rest[i..i + end + 1]);
                        }
                    }
                } else {
                    out.push_str(&rest[..i + end + 1]);
                }
                rest = &rest[i + end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                substitute_env(v, &format!("{path}[{i}]"), env, report);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                substitute_env(v, &child, env, report);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &Env) -> LoadedConfig {
        load_from_str(Path::new("/x/openclaw.json"), text, env)
    }

    #[test]
    fn unknown_key_is_located() {
        let cfg = load_str(
            "{\n  gateway: {\n    mode: 'local',\n    prot: 1,\n  },\n}",
            &Env::default(),
        );
        let e = cfg.errors().next().unwrap();
        assert_eq!(e.message, "Unrecognized key: \"prot\"");
        assert_eq!((e.line, e.column), (Some(4), Some(5)));
        assert_eq!(
            e.render(Path::new("/x/openclaw.json")),
            "/x/openclaw.json:4:5: gateway: Unrecognized key: \"prot\""
        );
    }

    #[test]
    fn env_substitution() {
        let env = Env::from_pairs([("TOK", "abc")]);
        let cfg = load_str(
            r#"{"gateway": {"auth": {"token": "${TOK}", "password": "$${TOK}"}}}"#,
            &env,
        );
        assert!(cfg.is_valid(), "{:?}", cfg.issues);
        assert_eq!(cfg.get_str("gateway.auth.token"), Some("abc"));
        assert_eq!(cfg.get_str("gateway.auth.password"), Some("${TOK}"));
        let cfg = load_str(
            r#"{"gateway": {"auth": {"token": "${NOPE}"}}}"#,
            &Env::default(),
        );
        assert_eq!(
            cfg.errors().next().unwrap().message,
            "Missing env var \"NOPE\" referenced at config path: gateway.auth.token"
        );
    }

    #[test]
    fn legacy_and_newer_version() {
        let cfg = load_str(
            r#"{"gateway": {"token": "x", "bind": "0.0.0.0"}, "meta": {"lastTouchedVersion": "2099.1.1"}}"#,
            &Env::default(),
        );
        let msgs: Vec<&str> = cfg.issues.iter().map(|i| i.message.as_str()).collect();
        assert!(msgs.contains(&LEGACY_GATEWAY_TOKEN));
        assert!(msgs.contains(&LEGACY_BIND_ALIAS));
        assert!(msgs.iter().any(|m| m.starts_with(
            "Config was last written by a newer OpenClaw (2099.1.1); current version is "
        )));
    }
}
