//! Golden files for human output and JSON shapes, with paths, ports, pids and times
//! redacted. Update with `OPENCLAW_UPDATE_SNAPSHOTS=1 cargo test --test it`.

use serde_json::Value;
use std::path::Path;

/// Replace volatile parts: the profile dir, the ports, pids, durations, the binary path.
pub fn redact(text: &str, tmp: &Path, ports: &[u16]) -> String {
    let mut s = text.replace(&tmp.display().to_string(), "[TMP]");
    s = s.replace(env!("CARGO_BIN_EXE_openclaw"), "[BIN]");
    for p in ports {
        s = s
            .replace(&format!(":{p}"), ":[PORT]")
            .replace(&format!("port={p}"), "port=[PORT]");
        s = s.replace(&format!("Port {p} "), "Port [PORT] ");
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    // Numbers followed by `ms`, and `pid <n>`.
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(i);
        let end = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (num, after) = tail.split_at(end);
        out.push_str(head);
        if after.starts_with("ms") || head.ends_with("pid ") {
            out.push_str("[N]");
        } else {
            out.push_str(num);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The structure of a JSON document: every key with the type of its value.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("boolean"),
        Value::Null => Value::from("null"),
    }
}

pub fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(name);
    if std::env::var_os("OPENCLAW_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "snapshot {name} differs (OPENCLAW_UPDATE_SNAPSHOTS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}
