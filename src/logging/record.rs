//! One log record in the upstream tslog JSON shape, and parsing such lines back.

use super::level::Level;
use chrono::{DateTime, Local, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Local ISO-8601 time with offset and milliseconds (`2026-04-13T11:48:42.123+05:30`).
pub fn local_time(t: DateTime<Local>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Render a record of this process as one JSON line (no trailing newline).
pub fn render(
    level: Level,
    subsystem: &str,
    message: &str,
    host: &str,
    now: DateTime<Local>,
) -> String {
    render_for(std::process::id(), level, subsystem, message, host, now)
}

/// Render a record written by process `pid`. Upstream's records carry no pid; ours add a
/// top-level `pid` (readers ignore keys they do not know), so a reader of the shared file
/// log can tell whose line it is (`inspect::attribution`).
pub fn render_for(
    pid: u32,
    level: Level,
    subsystem: &str,
    message: &str,
    host: &str,
    now: DateTime<Local>,
) -> String {
    let name = json!({ "subsystem": subsystem }).to_string();
    json!({
        "0": name,
        "1": message,
        "_meta": {
            "runtime": "rust",
            "runtimeVersion": env!("CARGO_PKG_VERSION"),
            "hostname": host,
            "name": name,
            "parentNames": ["openclaw"],
            "date": now.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true),
            "logLevelId": level.id(),
            "logLevelName": level.name(),
        },
        "time": local_time(now),
        "hostname": host,
        "message": message,
        "pid": pid,
    })
    .to_string()
}

/// The human console form: `<time> [subsystem] message`, one line whatever the message
/// holds (control characters are escaped, so no input can drive the terminal or forge a
/// line).
pub fn console_line(subsystem: &str, message: &str, now: DateTime<Local>) -> String {
    format!(
        "{} [{}] {}",
        local_time(now),
        crate::util::escape_controls(subsystem),
        crate::util::escape_controls(message)
    )
}

/// A log line read back: JSON records are decoded, anything else is kept as plain text.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub time: Option<String>,
    pub level: Option<String>,
    pub subsystem: Option<String>,
    pub message: String,
    /// The writer's pid, when the record names it (this build's records do).
    pub pid: Option<u32>,
}

/// Parse a line as upstream's reader does: level from `_meta.logLevelName`, subsystem from
/// the JSON in `_meta.name`, message = numeric keys joined by spaces (or `message`).
pub fn parse_line(line: &str) -> Parsed {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
        return Parsed {
            time: None,
            level: None,
            subsystem: None,
            message: line.to_string(),
            pid: None,
        };
    };
    let meta = obj.get("_meta");
    let level = meta
        .and_then(|m| m.get("logLevelName"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let subsystem = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .and_then(|n| serde_json::from_str::<Value>(n).ok())
        .and_then(|v| {
            v.get("subsystem")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let mut parts = Vec::new();
    let mut i = 0;
    while let Some(v) = obj.get(&i.to_string()) {
        let is_bindings = i == 0
            && v.as_str()
                .is_some_and(|s| s.starts_with('{') && s.contains("\"subsystem\""));
        if !is_bindings {
            parts.push(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        i += 1;
    }
    let message = if parts.is_empty() {
        obj.get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    } else {
        parts.join(" ")
    };
    Parsed {
        time: obj.get("time").and_then(Value::as_str).map(str::to_string),
        level,
        subsystem,
        message,
        pid: obj
            .get("pid")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok()),
    }
}

/// A line as upstream's `parseLogLine` reads it: what `openclaw logs --json` emits as a
/// `log` record (`None` for a line that is not a JSON object: a `raw` record).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct View {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsystem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    pub message: String,
    pub raw: String,
}

impl View {
    /// The label upstream shows before the message.
    pub fn label(&self) -> &str {
        self.subsystem
            .as_deref()
            .or(self.module.as_deref())
            .or(self.plugin.as_deref())
            .unwrap_or("")
    }
}

/// `{subsystem, module, plugin}` from a logger-name JSON string.
fn bindings(v: Option<&Value>) -> [Option<String>; 3] {
    let parsed = v
        .and_then(Value::as_str)
        .filter(|s| s.trim_start().starts_with('{'))
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    let get = |k: &str| {
        parsed
            .as_ref()
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    [get("subsystem"), get("module"), get("plugin")]
}

pub fn view(raw: &str) -> Option<View> {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(raw) else {
        return None;
    };
    let meta = obj.get("_meta").filter(|m| m.is_object());
    let meta_name = meta.and_then(|m| m.get("name"));
    let [mut subsystem, mut module, mut plugin] = bindings(meta_name);
    if meta_name != obj.get("0") {
        let [s, m, p] = bindings(obj.get("0"));
        subsystem = subsystem.or(s);
        module = module.or(m);
        plugin = plugin.or(p);
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let level = text(meta.and_then(|m| m.get("logLevelName")))
        .or_else(|| text(obj.get("level")))
        .map(|l| l.to_lowercase())
        .filter(|l| !l.is_empty());
    let message = match obj.get("message") {
        Some(Value::String(m)) => m.clone(),
        _ => {
            let mut keys: Vec<(u64, &Value)> = obj
                .iter()
                .filter_map(|(k, v)| {
                    (!k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| k.parse().ok().map(|n| (n, v)))
                        .flatten()
                })
                .collect();
            keys.sort_by_key(|(n, _)| *n);
            keys.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(_, v)| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    Some(View {
        time: text(obj.get("time")).or_else(|| text(meta.and_then(|m| m.get("date")))),
        level,
        subsystem: subsystem.or_else(|| text(obj.get("subsystem"))),
        module,
        plugin,
        message,
        raw: raw.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let line = render(Level::Warn, "gateway", "hello", "vm", Local::now());
        let p = parse_line(&line);
        assert_eq!(p.level.as_deref(), Some("WARN"));
        assert_eq!(p.subsystem.as_deref(), Some("gateway"));
        assert_eq!(p.message, "hello");
    }

    #[test]
    fn parses_an_upstream_line() {
        let line = r#"{"0":"{\"subsystem\":\"gateway\"}","1":"loading configuration…","_meta":{"runtime":"node","logLevelId":3,"logLevelName":"INFO","name":"{\"subsystem\":\"gateway\"}","parentNames":["openclaw"]},"time":"2026-11-23T18:18:36.785+00:00","hostname":"vm","message":"loading configuration…"}"#;
        let p = parse_line(line);
        assert_eq!(p.message, "loading configuration…");
        assert_eq!(p.subsystem.as_deref(), Some("gateway"));
        assert_eq!(parse_line("plain text").message, "plain text");
    }

    #[test]
    fn views_a_line_as_upstreams_log_reader() {
        let line = r#"{"0":"{\"subsystem\":\"gateway/ws\"}","1":"← open conn=1","_meta":{"runtime":"node","logLevelId":3,"logLevelName":"INFO","name":"{\"subsystem\":\"gateway/ws\"}","parentNames":["openclaw"]},"time":"2026-11-23T18:21:02.107+00:00","hostname":"vm","message":"← open conn=1"}"#;
        let v = view(line).unwrap();
        assert_eq!(v.level.as_deref(), Some("info"));
        assert_eq!(v.label(), "gateway/ws");
        assert_eq!(v.message, "← open conn=1");
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            format!(
                r#"{{"time":"2026-11-23T18:21:02.107+00:00","level":"info","subsystem":"gateway/ws","message":"← open conn=1","raw":{}}}"#,
                serde_json::to_string(line).unwrap()
            )
        );
        // A console record: the message is its positional text; no subsystem.
        let c = r#"{"0":"Config valid: /p.json","_meta":{"logLevelName":"INFO","name":"openclaw"},"time":"t"}"#;
        let v = view(c).unwrap();
        assert_eq!(
            (v.message.as_str(), v.label()),
            ("Config valid: /p.json", "")
        );
        let cron = r#"{"0":"{\"module\":\"cron\"}","1":{"jobs":1},"2":"cron: started","_meta":{"logLevelName":"INFO","name":"{\"module\":\"cron\"}"}}"#;
        let v = view(cron).unwrap();
        assert_eq!(v.label(), "cron");
        assert!(view("plain text").is_none());
    }
}
