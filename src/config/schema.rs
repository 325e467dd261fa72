//! The config schema as data: strict where this crate owns the semantics (`gateway`,
//! `logging`, `meta`), open objects for sections other subsystems will own later. Unknown keys
//! in strict objects are errors, never silently dropped.

use serde_json::Value;

/// A node of the schema tree.
#[derive(Debug, Clone)]
pub enum Schema {
    Any,
    Bool,
    Str,
    /// Integer in an inclusive range.
    Int(i64, i64),
    Num,
    Enum(&'static [&'static str]),
    /// A string or a SecretRef object `{source, provider, id}`.
    Secret,
    Array(Box<Schema>),
    /// A JSON object with known fields; `open` objects accept other keys too.
    Object {
        fields: Vec<(&'static str, Schema)>,
        open: bool,
    },
}

fn obj(fields: Vec<(&'static str, Schema)>) -> Schema {
    Schema::Object {
        fields,
        open: false,
    }
}

fn open(fields: Vec<(&'static str, Schema)>) -> Schema {
    Schema::Object { fields, open: true }
}

fn arr(s: Schema) -> Schema {
    Schema::Array(Box::new(s))
}

const PORT: Schema = Schema::Int(1, 65535);
const MS: Schema = Schema::Int(0, i64::MAX);

pub const BIND_MODES: &[&str] = &["loopback", "lan", "tailnet", "auto", "custom"];
/// Legacy host spellings of `gateway.bind` and the mode each maps to (spec 3.4).
pub const BIND_ALIASES: &[(&str, &str)] = &[
    ("0.0.0.0", "lan"),
    ("::", "lan"),
    ("[::]", "lan"),
    ("*", "lan"),
    ("127.0.0.1", "loopback"),
    ("localhost", "loopback"),
    ("::1", "loopback"),
    ("[::1]", "loopback"),
];
pub const AUTH_MODES: &[&str] = &["none", "token", "password", "trusted-proxy"];
pub const LOG_LEVELS: &[&str] = &["silent", "fatal", "error", "warn", "info", "debug", "trace"];

fn gateway() -> Schema {
    obj(vec![
        ("mode", Schema::Enum(&["local", "remote"])),
        ("port", PORT),
        ("bind", Schema::Str),
        ("customBindHost", Schema::Str),
        (
            "auth",
            obj(vec![
                ("mode", Schema::Enum(AUTH_MODES)),
                ("token", Schema::Secret),
                ("password", Schema::Secret),
                ("allowTailscale", Schema::Bool),
                (
                    "rateLimit",
                    obj(vec![
                        ("maxAttempts", Schema::Int(1, 1_000_000)),
                        ("windowMs", MS),
                        ("lockoutMs", MS),
                        ("exemptLoopback", Schema::Bool),
                    ]),
                ),
                (
                    "trustedProxy",
                    obj(vec![
                        ("userHeader", Schema::Str),
                        ("requiredHeaders", arr(Schema::Str)),
                        ("allowUsers", arr(Schema::Str)),
                        ("allowLoopback", Schema::Bool),
                    ]),
                ),
            ]),
        ),
        ("trustedProxies", arr(Schema::Str)),
        ("allowRealIpFallback", Schema::Bool),
        (
            "tailscale",
            obj(vec![
                ("mode", Schema::Enum(&["off", "serve", "funnel"])),
                ("resetOnExit", Schema::Bool),
            ]),
        ),
        (
            "controlUi",
            obj(vec![
                ("enabled", Schema::Bool),
                ("basePath", Schema::Str),
                ("root", Schema::Str),
                (
                    "embedSandbox",
                    Schema::Enum(&["strict", "scripts", "trusted"]),
                ),
                ("allowExternalEmbedUrls", Schema::Bool),
                ("allowedOrigins", arr(Schema::Str)),
                ("dangerouslyAllowHostHeaderOriginFallback", Schema::Bool),
                ("allowInsecureAuth", Schema::Bool),
                ("dangerouslyDisableDeviceAuth", Schema::Bool),
            ]),
        ),
        (
            "remote",
            obj(vec![
                ("url", Schema::Str),
                ("transport", Schema::Enum(&["ssh", "direct"])),
                ("token", Schema::Secret),
                ("password", Schema::Secret),
                ("tlsFingerprint", Schema::Str),
                ("sshTarget", Schema::Str),
                ("sshIdentity", Schema::Str),
                ("remotePort", PORT),
                ("sshHostKeyPolicy", Schema::Str),
            ]),
        ),
        (
            "reload",
            obj(vec![
                ("mode", Schema::Enum(&["off", "restart", "hot", "hybrid"])),
                ("debounceMs", MS),
                ("deferralTimeoutMs", MS),
            ]),
        ),
        (
            "tls",
            obj(vec![
                ("enabled", Schema::Bool),
                ("autoGenerate", Schema::Bool),
                ("certPath", Schema::Str),
                ("keyPath", Schema::Str),
                ("caPath", Schema::Str),
            ]),
        ),
        ("http", open(vec![])),
        (
            "tools",
            obj(vec![
                ("allow", arr(Schema::Str)),
                ("deny", arr(Schema::Str)),
            ]),
        ),
        ("nodes", open(vec![])),
        ("channelHealthCheckMinutes", Schema::Int(0, 100_000)),
        ("channelStaleEventThresholdMinutes", Schema::Int(0, 100_000)),
        ("channelMaxRestartsPerHour", Schema::Int(0, 100_000)),
        // Legacy: accepted so that the warning can name it; never used.
        ("token", Schema::Any),
    ])
}

fn logging() -> Schema {
    obj(vec![
        ("level", Schema::Enum(LOG_LEVELS)),
        ("file", Schema::Str),
        ("consoleLevel", Schema::Enum(LOG_LEVELS)),
        ("consoleStyle", Schema::Enum(&["pretty", "compact", "json"])),
        ("redactSensitive", Schema::Enum(&["off", "tools"])),
        ("redactPatterns", arr(Schema::Str)),
        ("maxFileBytes", Schema::Int(1, i64::MAX)),
    ])
}

/// The whole document.
pub fn root() -> Schema {
    let open_section = || open(vec![]);
    obj(vec![
        ("$schema", Schema::Str),
        (
            "meta",
            obj(vec![
                ("lastTouchedVersion", Schema::Str),
                ("lastTouchedAt", Schema::Any),
                // One-time migrations the real 2026.9.6 records after `doctor --fix`
                // (`modelPolicyAllowlist`, `utilityModelSeparation`, …).
                ("migrations", open(vec![])),
            ]),
        ),
        ("gateway", gateway()),
        ("logging", logging()),
        ("commands", open(vec![("restart", Schema::Bool)])),
        (
            "agents",
            open(vec![(
                "defaults",
                open(vec![("heartbeat", open(vec![("every", Schema::Str)]))]),
            )]),
        ),
        // The other top-level keys are exactly upstream's (2026.9.6, checked against
        // fixtures/config/openclaw-2026.9.6-config-schema.json.gz by a test); their contents
        // are not modelled here.
        ("env", open_section()),
        ("wizard", open_section()),
        ("diagnostics", open_section()),
        ("update", open_section()),
        ("telemetry", open_section()),
        ("browser", open_section()),
        ("ui", open_section()),
        ("secrets", open_section()),
        ("auth", open_section()),
        ("accessGroups", open_section()),
        ("acp", open_section()),
        ("models", open_section()),
        ("nodeHost", open_section()),
        ("worktreeRoot", Schema::Str),
        ("worktreeAcceleration", Schema::Bool),
        ("tools", open_section()),
        ("security", open_section()),
        ("bindings", arr(Schema::Any)),
        ("broadcast", open_section()),
        ("attachments", open_section()),
        ("messages", open_section()),
        ("tts", open_section()),
        ("approvals", open_section()),
        ("session", open_section()),
        ("cron", open_section()),
        ("transcripts", open_section()),
        ("hooks", open_section()),
        ("channels", open_section()),
        ("discovery", open_section()),
        ("talk", open_section()),
        ("cloudWorkers", open_section()),
        ("desktop", open_section()),
        ("memory", open_section()),
        ("mcp", open_section()),
        ("skills", open_section()),
        ("plugins", open_section()),
        ("surfaces", open_section()),
        ("proxy", open_section()),
        // Resolved before validation (config includes).
        ("$include", Schema::Any),
    ])
}

/// The schema as JSON Schema (draft-07), generated from the same tree the validator uses.
pub fn json_schema() -> Value {
    fn node(s: &Schema) -> Value {
        match s {
            Schema::Any => serde_json::json!({}),
            Schema::Bool => serde_json::json!({"type": "boolean"}),
            Schema::Str => serde_json::json!({"type": "string"}),
            Schema::Num => serde_json::json!({"type": "number"}),
            Schema::Int(lo, hi) => {
                serde_json::json!({"type": "integer", "minimum": lo, "maximum": hi})
            }
            Schema::Enum(v) => serde_json::json!({"type": "string", "enum": v}),
            Schema::Secret => serde_json::json!({"oneOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": false, "required": ["source", "id"],
                 "properties": {"source": {"enum": ["env", "file", "exec", "store"]}, "provider": {"type": "string"}, "id": {"type": "string"}}}
            ]}),
            Schema::Array(item) => serde_json::json!({"type": "array", "items": node(item)}),
            Schema::Object { fields, open } => {
                let props: serde_json::Map<String, Value> = fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), node(v)))
                    .collect();
                serde_json::json!({"type": "object", "additionalProperties": open, "properties": props})
            }
        }
    }
    let mut root = node(&root());
    root["$schema"] = Value::from("http://json-schema.org/draft-07/schema#");
    root["title"] = Value::from("openclaw.json");
    root
}

/// One schema violation at a dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The JSON type of a value as validation messages name it (`string`, `array`, …).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_secret_ref(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    matches!(
        o.get("source").and_then(Value::as_str),
        Some("env" | "file" | "exec" | "store")
    ) && o.get("id").is_some_and(Value::is_string)
        && o.keys()
            .all(|k| matches!(k.as_str(), "source" | "provider" | "id"))
}

/// Validate `value` against `schema`, appending violations.
pub fn validate(schema: &Schema, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let mut fail = |message: String| {
        out.push(Violation {
            path: if path.is_empty() {
                "<root>".into()
            } else {
                path.to_string()
            },
            message,
        })
    };
    match schema {
        Schema::Any => {}
        Schema::Bool if value.is_boolean() => {}
        Schema::Str if value.is_string() => {}
        Schema::Num if value.is_number() => {}
        Schema::Int(lo, hi) => match value.as_i64() {
            Some(n) if n >= *lo && n <= *hi => {}
            Some(n) => fail(format!("Number must be between {lo} and {hi} (got {n})")),
            None => fail(format!("Expected integer, received {}", type_name(value))),
        },
        Schema::Enum(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) => {}
            _ => fail(format!(
                "Invalid option: expected one of {}",
                allowed
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join("|")
            )),
        },
        Schema::Secret => {
            if !(value.is_string() || is_secret_ref(value)) {
                fail("Expected string or SecretRef {source, provider, id}".into());
            }
        }
        Schema::Array(item) => match value.as_array() {
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    validate(item, v, &format!("{path}[{i}]"), out);
                }
            }
            None => fail(format!("Expected array, received {}", type_name(value))),
        },
        Schema::Object { fields, open } => match value.as_object() {
            Some(map) => {
                for (k, v) in map {
                    match fields.iter().find(|(name, _)| name == k) {
                        Some((_, s)) => validate(s, v, &join(path, k), out),
                        None if *open => {}
                        None => out.push(Violation {
                            path: if path.is_empty() {
                                "<root>".into()
                            } else {
                                path.to_string()
                            },
                            message: format!("Unrecognized key: \"{k}\""),
                        }),
                    }
                }
            }
            None => fail(format!("Expected object, received {}", type_name(value))),
        },
        Schema::Bool => fail(format!("Expected boolean, received {}", type_name(value))),
        Schema::Str => fail(format!("Expected string, received {}", type_name(value))),
        Schema::Num => fail(format!("Expected number, received {}", type_name(value))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Vec<Violation> {
        let mut out = Vec::new();
        validate(&root(), &v, "", &mut out);
        out
    }

    #[test]
    fn peer_config_is_valid() {
        let v = json!({"gateway": {"mode": "local", "port": 28789, "bind": "loopback",
            "auth": {"mode": "token", "token": "t"}},
            "update": {"checkOnStart": false}, "discovery": {"mdns": {"mode": "off"}},
            "models": {"catalogRefresh": {"enabled": false}}});
        assert!(check(v).is_empty());
    }

    #[test]
    fn unknown_keys_and_types() {
        let out = check(json!({"gateway": {"mode": "lokal", "prot": 1, "port": "x"}, "bogus": 1}));
        let text: Vec<String> = out
            .iter()
            .map(|v| format!("{}: {}", v.path, v.message))
            .collect();
        assert!(
            text.contains(
                &"gateway.mode: Invalid option: expected one of \"local\"|\"remote\"".to_string()
            ),
            "{text:?}"
        );
        assert!(text.contains(&"gateway: Unrecognized key: \"prot\"".to_string()));
        assert!(text.contains(&"gateway.port: Expected integer, received string".to_string()));
        assert!(text.contains(&"<root>: Unrecognized key: \"bogus\"".to_string()));
    }

    #[test]
    fn secret_refs_are_accepted() {
        let v = json!({"gateway": {"auth": {"token": {"source": "env", "provider": "default", "id": "TOK"}}}});
        assert!(check(v).is_empty());
        let v = json!({"gateway": {"auth": {"token": {"source": "nope", "id": "TOK"}}}});
        assert_eq!(check(v).len(), 1);
    }
}
