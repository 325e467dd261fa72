//! The sections of `openclaw.json` this build does not model are validated against the real
//! 2026.9.6's own schema (`openclaw config schema`, checked in as
//! `fixtures/config/openclaw-2026.9.6-config-schema.json.gz`; `build.rs` splits it per
//! top-level key, without titles and descriptions, so a config pays only for the sections it
//! has). The validator covers the draft-07 keywords that schema uses; a keyword it cannot
//! evaluate (a JavaScript-only regex) passes, so it never calls a config invalid that
//! upstream accepts for that reason. Messages follow upstream's (zod) wording.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

include!(concat!(env!("OUT_DIR"), "/upstream_schema.rs"));

/// The upstream version the schema came from.
pub const VERSION: &str = "2026.9.6";

/// One violation: upstream's dot-joined path and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

fn section(key: &str) -> Option<&'static Value> {
    static PARSED: LazyLock<Mutex<HashMap<&'static str, &'static Value>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let (name, text) = SECTIONS.iter().find(|(k, _)| *k == key)?;
    let mut cache = PARSED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(name) {
        return Some(v);
    }
    let v: &'static Value = Box::leak(Box::new(serde_json::from_str(text).ok()?));
    cache.insert(name, v);
    Some(v)
}

/// Validate the value of top-level `key` against upstream's schema for it; `None` when the
/// schema has no such section.
pub fn validate_section(key: &str, value: &Value) -> Option<Vec<Violation>> {
    let schema = section(key)?;
    let mut out = Vec::new();
    check(schema, None, value, key, &mut out);
    Some(out)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => type_name(v) == other,
    }
}

fn regex(pattern: &str) -> Option<&'static regex::Regex> {
    static CACHE: LazyLock<Mutex<HashMap<String, Option<&'static regex::Regex>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    *cache.entry(pattern.to_string()).or_insert_with(|| {
        regex::Regex::new(pattern)
            .ok()
            .map(|r| &*Box::leak(Box::new(r)))
    })
}

/// A length outside the node's `(min, max)` keywords, as zod words it.
fn length_violation(
    s: &serde_json::Map<String, Value>,
    len: u64,
    (min, max): (&str, &str),
    kind: &str,
    unit: &str,
) -> Option<String> {
    let bound = |k: &str| s.get(k).and_then(Value::as_u64);
    match (bound(min), bound(max)) {
        (Some(m), _) if len < m => Some(format!("Too small: expected {kind} to have >={m} {unit}")),
        (_, Some(m)) if len > m => Some(format!("Too big: expected {kind} to have <={m} {unit}")),
        _ => None,
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether `value` passes `schema` (no messages: for anyOf/oneOf branches).
fn passes(schema: &Value, defs: Option<&Value>, value: &Value) -> bool {
    let mut v = Vec::new();
    check(schema, defs, value, "", &mut v);
    v.is_empty()
}

fn check(schema: &Value, defs: Option<&Value>, v: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(s) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            out.push(Violation {
                path: path.into(),
                message: "Invalid input".into(),
            });
        }
        return;
    };
    if let Some(id) = s.get("$lazy").and_then(Value::as_str) {
        if let Some(part) = section(id) {
            check(part, defs, v, path, out);
        }
        return;
    }
    // An embedded plugin schema carries its own `$defs`; its `$ref`s resolve there.
    let defs = s.get("$defs").or(s.get("definitions")).or(defs);
    let at = |out: &mut Vec<Violation>, message: String| {
        out.push(Violation {
            path: if path.is_empty() {
                "<root>".into()
            } else {
                path.into()
            },
            message,
        })
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/$defs/")
            .or_else(|| r.strip_prefix("#/definitions/"))
            .and_then(|name| defs.and_then(|d| d.get(name)));
        if let Some(t) = target {
            check(t, defs, v, path, out);
        }
        return;
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => is_type(v, t),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| is_type(v, t)),
            _ => true,
        };
        if !ok {
            let expected = match t {
                Value::String(t) => t.clone(),
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" | "),
                _ => String::new(),
            };
            at(
                out,
                format!(
                    "Invalid input: expected {expected}, received {}",
                    type_name(v)
                ),
            );
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            at(out, format!("Invalid input: expected {c}"));
            return;
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(v) {
            at(
                out,
                format!(
                    "Invalid option: expected one of {}",
                    options
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("|")
                ),
            );
            return;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = s.get(key) {
            // oneOf as anyOf: a branch this validator cannot fully evaluate (a skipped
            // pattern) must not make two branches "both match" and the value invalid.
            if !branches.iter().any(|b| passes(b, defs, v)) {
                at(out, "Invalid input".into());
                return;
            }
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for b in all {
            check(b, defs, v, path, out);
        }
    }
    if let Some(not) = s.get("not") {
        if passes(not, defs, v) {
            at(out, "Invalid input".into());
        }
    }
    if let (Some(cond), Some(then)) = (s.get("if"), s.get("then")) {
        if passes(cond, defs, v) {
            check(then, defs, v, path, out);
        }
    }
    match v {
        Value::String(text) => {
            let len = text.chars().count() as u64;
            if let Some(m) =
                length_violation(s, len, ("minLength", "maxLength"), "string", "characters")
            {
                at(out, m);
            }
            if let Some(re) = s.get("pattern").and_then(Value::as_str).and_then(regex) {
                if !re.is_match(text) {
                    at(
                        out,
                        format!(
                            "Invalid string: must match pattern {}",
                            s["pattern"].as_str().unwrap_or("")
                        ),
                    );
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            let num = |k: &str| s.get(k).and_then(Value::as_f64);
            if num("minimum").is_some_and(|m| x < m)
                || num("exclusiveMinimum").is_some_and(|m| x <= m)
            {
                at(
                    out,
                    format!(
                        "Too small: expected number to be {}{}",
                        if s.contains_key("exclusiveMinimum") {
                            ">"
                        } else {
                            ">="
                        },
                        num("minimum").or(num("exclusiveMinimum")).unwrap_or(0.0)
                    ),
                );
            }
            if num("maximum").is_some_and(|m| x > m)
                || num("exclusiveMaximum").is_some_and(|m| x >= m)
            {
                at(
                    out,
                    format!(
                        "Too big: expected number to be <={}",
                        num("maximum").or(num("exclusiveMaximum")).unwrap_or(0.0)
                    ),
                );
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(m) = length_violation(s, len, ("minItems", "maxItems"), "array", "items") {
                at(out, m);
            }
            match s.get("items") {
                Some(Value::Array(tuple)) => {
                    for (i, (item, sch)) in items.iter().zip(tuple).enumerate() {
                        check(sch, defs, item, &format!("{path}.{i}"), out);
                    }
                }
                Some(sch) => {
                    for (i, item) in items.iter().enumerate() {
                        check(sch, defs, item, &format!("{path}.{i}"), out);
                    }
                }
                None => {}
            }
        }
        Value::Object(map) => {
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(req)) = s.get("required") {
                for r in req.iter().filter_map(Value::as_str) {
                    // Upstream's schema lists fields with defaults as required: zod fills them.
                    let defaulted = props
                        .and_then(|p| p.get(r))
                        .is_some_and(|p| p.get("default").is_some());
                    if !map.contains_key(r) && !defaulted {
                        let expected = props
                            .and_then(|p| p.get(r))
                            .and_then(|p| p.get("type"))
                            .and_then(Value::as_str)
                            .unwrap_or("value");
                        out.push(Violation {
                            path: child(path, r),
                            message: format!(
                                "Invalid input: expected {expected}, received undefined"
                            ),
                        });
                    }
                }
            }
            let names = s.get("propertyNames");
            for (k, val) in map {
                if let Some(n) = names {
                    if !passes(n, defs, &Value::String(k.clone())) {
                        out.push(Violation {
                            path: child(path, k),
                            message: "Invalid key in record".into(),
                        });
                        continue;
                    }
                }
                match props.and_then(|p| p.get(k)) {
                    Some(sch) => check(sch, defs, val, &child(path, k), out),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => at(out, format!("Unrecognized key: \"{k}\"")),
                        Some(sch @ Value::Object(_)) => check(sch, defs, val, &child(path, k), out),
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_of_the_real_schema_judge_like_upstream() {
        assert!(validate_section("agents", &json!({"defaults": {}}))
            .unwrap()
            .is_empty());
        let v = validate_section("agents", &json!({"defaults": {"bogus": 1}})).unwrap();
        assert_eq!(
            v,
            vec![Violation {
                path: "agents.defaults".into(),
                message: "Unrecognized key: \"bogus\"".into()
            }]
        );
        let v = validate_section("telemetry", &json!("on")).unwrap();
        assert_eq!(
            v[0].message,
            "Invalid input: expected object, received string"
        );
        assert!(validate_section("worktreeRoot", &json!("/tmp/w"))
            .unwrap()
            .is_empty());
        assert!(validate_section("nope", &json!({})).is_none());
    }
}
