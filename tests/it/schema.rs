//! A JSON Schema (draft-07 subset) validator for the schemas this crate ships: `type`,
//! `enum`, `required`, `properties`, `additionalProperties: false`, `items`, local `$ref`.
//! Small on purpose; a keyword it does not know makes validation fail loudly.

use serde_json::Value;

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "$ref",
    "definitions",
    "minimum",
    "maximum",
    "oneOf",
];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other}"),
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let path = reference
        .strip_prefix("#/")
        .unwrap_or_else(|| panic!("only local refs: {reference}"));
    path.split('/').fold(root, |v, k| &v[k])
}

pub fn validate(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    for k in obj.keys() {
        assert!(
            KNOWN.contains(&k.as_str()),
            "schema keyword {k} is not supported by the test validator"
        );
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        return validate(root, resolve(root, r), v, at, errors);
    }
    if let Some(t) = obj.get("type") {
        let ok = match t {
            Value::String(s) => type_ok(s, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: expected type {t}, got {v}"));
            return;
        }
    }
    if let Some(options) = obj.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| {
                let mut errs = Vec::new();
                validate(root, o, v, at, &mut errs);
                errs.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{at}: {v} matches {matching} of the oneOf options"));
        }
    }
    if let (Some(min), Some(n)) = (obj.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (obj.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if n > max {
            errors.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let Some(map) = v.as_object() {
        for r in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = r.as_str().unwrap();
            if !map.contains_key(key) {
                errors.push(format!("{at}: missing required {key}"));
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, child) in map {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(root, s, child, &format!("{at}/{k}"), errors),
                None if obj.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{at}: unexpected property {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (obj.get("items"), v.as_array()) {
        for (i, child) in arr.iter().enumerate() {
            validate(root, items, child, &format!("{at}/{i}"), errors);
        }
    }
}

/// Validate `v` against the schema file `name` under `schemas/`; panics with every error.
pub fn assert_valid(name: &str, v: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut errors = Vec::new();
    validate(&schema, &schema, v, "", &mut errors);
    assert!(
        errors.is_empty(),
        "{name} violations:\n{}\ndocument: {v:#}",
        errors.join("\n")
    );
}

#[test]
fn every_check_file_follows_the_check_schema() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") || path.ends_with("symptoms.toml") {
            continue;
        }
        let toml: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_valid(
            "checks.schema.json",
            &openclaw::doctor::catalog::to_json(&toml),
        );
        n += 1;
    }
    assert!(n >= 10);
    // And the schema rejects what the loader rejects.
    let bad = serde_json::json!({"section": {"id": "s", "title": "t"}, "checks": [{"id": "x"}]});
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/checks.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let mut errors = Vec::new();
    validate(&schema, &schema, &bad, "", &mut errors);
    assert!(!errors.is_empty());
}

#[test]
fn the_validator_can_fail() {
    let schema = serde_json::json!({"type": "object", "additionalProperties": false, "required": ["a"],
        "properties": {"a": {"type": "integer"}}});
    let mut errors = Vec::new();
    validate(
        &schema,
        &schema,
        &serde_json::json!({"a": "x", "b": 1}),
        "",
        &mut errors,
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

/// The real 2026.9.6's config schema (`openclaw config schema`, refreshed by
/// `scripts/refresh-config-schema.sh`).
pub fn upstream_config_schema() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/config/openclaw-2026.9.6-config-schema.json.gz");
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    serde_json::from_reader(gz).unwrap()
}

/// The top level accepts exactly upstream's keys, with upstream's type for each: a key it
/// accepts is never "Unrecognized" here, a key it rejects never passes.
#[test]
fn the_config_top_level_is_upstreams() {
    let theirs = upstream_config_schema();
    let ours = openclaw::config::schema::json_schema();
    let keys = |v: &Value| -> std::collections::BTreeSet<String> {
        v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "$include")
            .cloned()
            .collect()
    };
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(theirs["additionalProperties"], false);
    for (k, t) in theirs["properties"].as_object().unwrap() {
        if let Some(ty) = t["type"].as_str() {
            assert_eq!(
                ours["properties"][k]["type"].as_str(),
                Some(ty),
                "{k}: ours {:#}",
                ours["properties"][k]
            );
        }
    }
}
