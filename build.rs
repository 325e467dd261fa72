//! Embeds `checks/*.toml` into the binary (the doctor's built-in catalogue).

use std::fmt::Write;

/// Keywords that only annotate a schema node (`default` stays: a required property with a
/// default may be absent, zod fills it in).
const ANNOTATIONS: &[&str] = &["title", "description", "examples", "$schema"];

/// A schema node without its annotations (names inside `properties` maps are kept).
fn strip(node: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let Value::Object(m) = node else {
        return node.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, v) in m {
        if ANNOTATIONS.contains(&k.as_str()) {
            continue;
        }
        let v = match k.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" => match v {
                Value::Object(props) => {
                    Value::Object(props.iter().map(|(n, s)| (n.clone(), strip(s))).collect())
                }
                other => other.clone(),
            },
            "anyOf" | "oneOf" | "allOf" => match v {
                Value::Array(list) => Value::Array(list.iter().map(strip).collect()),
                other => other.clone(),
            },
            "items" => match v {
                Value::Array(list) => Value::Array(list.iter().map(strip).collect()),
                other => strip(other),
            },
            "additionalProperties"
            | "propertyNames"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "additionalItems" => strip(v),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// Splits upstream's checked-in config schema per top-level key (see
/// `src/config/upstream_schema.rs`).
fn upstream_schema() {
    let src = "fixtures/config/openclaw-2026.9.6-config-schema.json.gz";
    println!("cargo:rerun-if-changed={src}");
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(src).unwrap());
    let schema: serde_json::Value = serde_json::from_reader(gz).unwrap();
    let mut table = String::from(
        "/// (section or `section/property`, upstream's schema for it without annotations, as\n/// JSON); a section refers to its properties as `{\"$lazy\": id}`.\npub const SECTIONS: &[(&str, &str)] = &[\n",
    );
    let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
    for (key, node) in schema["properties"].as_object().unwrap() {
        // A section's direct properties are stored apart (`{"$lazy": "channels/telegram"}` in
        // the section), so a config parses only the parts of a big section it uses.
        let mut node = strip(node);
        if let Some(props) = node.get_mut("properties").and_then(|p| p.as_object_mut()) {
            for (name, child) in props.iter_mut() {
                let id = format!("{key}/{name}");
                entries.push((id.clone(), child.take()));
                *child = serde_json::json!({ "$lazy": id });
            }
        }
        entries.push((key.clone(), node));
    }
    for (i, (id, node)) in entries.iter().enumerate() {
        let file = format!("upstream-schema-{i}.json");
        std::fs::write(out_dir.join(&file), node.to_string()).unwrap();
        let _ = writeln!(
            table,
            "    ({id:?}, include_str!(concat!(env!(\"OUT_DIR\"), \"/{file}\"))),"
        );
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("upstream_schema.rs"), table).unwrap();
}

fn main() {
    upstream_schema();
    println!("cargo:rerun-if-changed=checks");
    let mut files: Vec<_> = std::fs::read_dir("checks")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("/// (file name, contents) of every embedded `checks/*.toml`.\npub const EMBEDDED: &[(&str, &str)] = &[\n");
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // Relative to the crate, not an absolute path: the generated file stays valid when
        // the same target dir builds another checkout.
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/checks/{name}\"))),"
        );
        println!("cargo:rerun-if-changed={}", p.display());
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_checks.rs");
    std::fs::write(dest, out).unwrap();
}
