//! The three frame kinds (`req`, `res`, `event`) and their validation (spec 1.1).

use super::error::ErrorShape;
use serde::Serialize;
use serde_json::{json, Value};

/// A validated inbound request frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub method: String,
    pub params: Value,
}

/// Why an inbound text frame is not a request.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    /// Not JSON at all.
    Malformed,
    /// JSON, but not a `req` frame; `id` is the frame's id when it had a usable one.
    Invalid { id: Option<String>, why: String },
}

const MAX_TRACEPARENT: usize = 128;

/// Parse and validate a `req` frame (closed object, non-empty id and method).
pub fn parse_request(text: &str) -> Result<Request, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::Malformed)?;
    let Value::Object(obj) = value else {
        return Err(FrameError::Invalid {
            id: None,
            why: "must be object".into(),
        });
    };
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let invalid = |why: String| FrameError::Invalid {
        id: id.clone(),
        why,
    };
    if obj.get("type").and_then(Value::as_str) != Some("req") {
        return Err(invalid("must have type \"req\"".into()));
    }
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "type" | "id" | "method" | "params" | "traceparent"
        ) {
            return Err(invalid(format!(
                "must NOT have additional properties ({key})"
            )));
        }
    }
    let Some(req_id) = id.clone() else {
        return Err(invalid("must have required property 'id'".into()));
    };
    let method = match obj.get("method") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err(invalid("/method must be a non-empty string".into())),
        None => return Err(invalid("must have required property 'method'".into())),
    };
    if let Some(tp) = obj.get("traceparent") {
        match tp {
            Value::String(s) if s.len() <= MAX_TRACEPARENT => {}
            _ => {
                return Err(invalid(
                    "/traceparent must be a string of at most 128 characters".into(),
                ))
            }
        }
    }
    Ok(Request {
        id: req_id,
        method,
        params: obj.get("params").cloned().unwrap_or(Value::Null),
    })
}

/// A successful response frame.
pub fn response_ok(id: &str, payload: Value) -> String {
    json!({"type": "res", "id": id, "ok": true, "payload": payload}).to_string()
}

/// A failed response frame.
pub fn response_err(id: &str, error: &ErrorShape) -> String {
    json!({"type": "res", "id": id, "ok": false, "error": error}).to_string()
}

/// An event frame. `seq` is set for broadcasts, absent for targeted sends.
#[derive(Debug, Clone, Serialize)]
pub struct EventFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(rename = "stateVersion", skip_serializing_if = "Option::is_none")]
    pub state_version: Option<&'a Value>,
}

pub fn event(
    event: &str,
    payload: Option<&Value>,
    seq: Option<u64>,
    state_version: Option<&Value>,
) -> String {
    let frame = EventFrame {
        kind: "event",
        event,
        payload,
        seq,
        state_version,
    };
    serde_json::to_string(&frame).unwrap_or_default()
}

/// An event frame from pre-serialized parts, so a broadcast serializes its payload once
/// and only the per-connection `seq` differs between recipients.
pub fn event_from_parts(
    event_json: &str,
    payload_json: &str,
    seq: u64,
    state_version_json: Option<&str>,
) -> String {
    match state_version_json {
        Some(sv) => format!(
            r#"{{"type":"event","event":{event_json},"payload":{payload_json},"seq":{seq},"stateVersion":{sv}}}"#
        ),
        None => format!(
            r#"{{"type":"event","event":{event_json},"payload":{payload_json},"seq":{seq}}}"#
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_request() {
        let r = parse_request(r#"{"type":"req","id":"1","method":"health","params":{}}"#).unwrap();
        assert_eq!(r.method, "health");
        assert_eq!(r.id, "1");
    }

    #[test]
    fn rejects_non_frames() {
        assert_eq!(
            parse_request("this is not json {"),
            Err(FrameError::Malformed)
        );
        assert!(matches!(
            parse_request("[1,2,3]"),
            Err(FrameError::Invalid { id: None, .. })
        ));
        assert!(matches!(
            parse_request(r#"{"type":"event","event":"hello"}"#),
            Err(FrameError::Invalid { .. })
        ));
        assert!(matches!(
            parse_request(r#"{"type":"req","id":"x","method":"a","extra":1}"#),
            Err(FrameError::Invalid { id: Some(_), .. })
        ));
        assert!(matches!(
            parse_request(r#"{"type":"req","id":"","method":"a"}"#),
            Err(FrameError::Invalid { id: None, .. })
        ));
    }

    #[test]
    fn event_parts_match_the_serializer() {
        let payload = serde_json::json!({"ts": 1});
        let sv = serde_json::json!({"presence": 1, "health": 2});
        let a = event("tick", Some(&payload), Some(7), Some(&sv));
        let b = event_from_parts("\"tick\"", &payload.to_string(), 7, Some(&sv.to_string()));
        assert_eq!(
            serde_json::from_str::<Value>(&a).unwrap(),
            serde_json::from_str::<Value>(&b).unwrap()
        );
    }

    #[test]
    fn over_long_traceparent_is_invalid() {
        let tp = "x".repeat(129);
        let text = format!(r#"{{"type":"req","id":"1","method":"health","traceparent":"{tp}"}}"#);
        assert!(parse_request(&text).is_err());
    }
}
