//! The provider-neutral shape of one model call: the request a run builds, the stream of
//! deltas and the completion it gets back, and the error a provider answered with,
//! classified the way upstream's failover classifies it.

use serde_json::{json, Map, Value};

/// A message's content: a plain string, or content parts (`[{type:"text", text}]`, …).
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

impl Content {
    /// The text of the content (parts' `text` joined).
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(p) => p
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        }
    }

    pub fn from_json(v: &Value) -> Content {
        match v {
            Value::String(s) => Content::Text(s.clone()),
            Value::Array(a) => Content::Parts(a.clone()),
            Value::Null => Content::Text(String::new()),
            other => Content::Text(other.to_string()),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Content::Text(t) => Value::String(t.clone()),
            Content::Parts(p) => Value::Array(p.clone()),
        }
    }
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the JSON text the model wrote.
    pub arguments: String,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `user`, `assistant`, `tool` (the system prompt is [`ChatRequest::system`]).
    pub role: String,
    pub content: Content,
    pub tool_call_id: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: "user".into(),
            content: Content::Text(text.into()),
            tool_call_id: None,
            tool_calls: vec![],
        }
    }

    pub fn assistant(text: impl Into<String>) -> Message {
        Message {
            role: "assistant".into(),
            content: Content::Text(text.into()),
            tool_call_id: None,
            tool_calls: vec![],
        }
    }
}

/// What one call sends.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u64,
    /// OpenAI-shaped function tools (`{type:"function", function:{name, description, parameters}}`).
    pub tools: Vec<Value>,
    /// `tool_choice` as the caller sent it (OpenAI shape).
    pub tool_choice: Option<Value>,
    /// Sampling fields forwarded best-effort (`temperature`, `top_p`, `stop`, `seed`, …).
    pub sampling: Map<String, Value>,
}

/// Token counts a provider reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input + self.output
    }

    pub fn to_json(self) -> Value {
        json!({"input": self.input, "output": self.output, "cacheRead": 0, "cacheWrite": 0, "total": self.total()})
    }
}

/// What a finished call produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// Upstream's stop reasons: `stop`, `length`, `toolUse`, `error`, or the provider's own.
    pub stop_reason: String,
    pub usage: Option<Usage>,
    /// The model id the provider says answered.
    pub response_model: Option<String>,
}

impl Completion {
    /// Nothing the user could see (no text, no tool call): upstream's `payloads=0`.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty() && self.tool_calls.is_empty()
    }
}

/// One streamed piece.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    /// A tool call's fragment: index, and the parts that arrived (id and name come first).
    ToolCall {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
}

/// Why a call failed, in upstream's failover vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Auth,
    Billing,
    RateLimit,
    Overloaded,
    ModelNotFound,
    Timeout,
    ServerError,
    /// The request was refused as malformed (400 without a more specific reading).
    Format,
    /// The prompt does not fit the model's context: compaction's business, not failover's.
    ContextOverflow,
    /// The provider answered 200 and nothing usable.
    EmptyResponse,
    /// Could not reach the provider at all (refused, DNS, TLS).
    Network,
    /// The run was aborted by the caller.
    Aborted,
    Unclassified,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::Billing => "billing",
            Reason::RateLimit => "rate_limit",
            Reason::Overloaded => "overloaded",
            Reason::ModelNotFound => "model_not_found",
            Reason::Timeout => "timeout",
            Reason::ServerError => "server_error",
            Reason::Format => "format",
            Reason::ContextOverflow => "context_overflow",
            Reason::EmptyResponse => "empty_response",
            Reason::Network => "timeout",
            Reason::Aborted => "aborted",
            Reason::Unclassified => "unclassified",
        }
    }

    /// Does a run move on to the next model on this error? (upstream: everything but
    /// explicit aborts and context overflow)
    pub fn fails_over(self) -> bool {
        !matches!(self, Reason::ContextOverflow | Reason::Aborted)
    }
}

/// A provider's refusal or a transport failure.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub reason: Reason,
    pub status: Option<u16>,
    /// The provider's error type (`rate_limit_error`, `invalid_request_error`, …).
    pub error_type: Option<String>,
    /// The provider's error code (`model_not_found`).
    pub code: Option<String>,
    /// The provider's message (or the transport's).
    pub message: String,
    /// The body as received (bounded), for the logs' `rawError=`.
    pub raw: String,
}

impl CallError {
    pub fn transport(reason: Reason, message: impl Into<String>) -> CallError {
        let message = message.into();
        CallError {
            reason,
            status: None,
            error_type: None,
            code: None,
            raw: message.clone(),
            message,
        }
    }

    /// From an HTTP error answer: status and body, both API shapes
    /// (`{"error":{message,type,code}}` and `{"type":"error","error":{type,message}}`).
    pub fn from_http(status: u16, body: &str) -> CallError {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let e = v.get("error").unwrap_or(&Value::Null);
        let (message, error_type, code) = match e {
            Value::Object(o) => (
                o.get("message").and_then(Value::as_str).map(str::to_string),
                o.get("type").and_then(Value::as_str).map(str::to_string),
                o.get("code").and_then(|c| match c {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
            ),
            Value::String(s) => (Some(s.clone()), None, None),
            _ => (None, None, None),
        };
        let message = message.unwrap_or_else(|| crate::util::log_safe(body.trim(), 300));
        let reason = classify(status, error_type.as_deref(), code.as_deref(), &message);
        CallError {
            reason,
            status: Some(status),
            error_type,
            code,
            message,
            raw: crate::util::log_safe(body.trim(), 600),
        }
    }

    /// As the runbook quotes it: `HTTP 429: rate_limit_error: Extra usage is required …`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(st) = self.status {
            s.push_str(&format!("HTTP {st}: "));
        }
        if let Some(t) = &self.error_type {
            s.push_str(t);
            s.push_str(": ");
        } else if let Some(c) = &self.code {
            s.push_str(c);
            s.push_str(": ");
        }
        s.push_str(&self.message);
        s
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Upstream's classification of an HTTP error answer.
pub fn classify(
    status: u16,
    error_type: Option<&str>,
    code: Option<&str>,
    message: &str,
) -> Reason {
    let m = message.to_ascii_lowercase();
    let overflow = [
        "exceeds the available context size",
        "context length exceeded",
        "maximum context length",
        "prompt is too long",
        "request_too_large",
        "input token count exceeds",
        "input too long for the model",
        "context_length_exceeded",
    ];
    if overflow.iter().any(|p| m.contains(p)) || code == Some("context_length_exceeded") {
        return Reason::ContextOverflow;
    }
    // Anthropic's long-context refusal is a 429 that no wait fixes: upstream calls it billing.
    if m.contains("extra usage is required")
        || m.contains("credit balance")
        || m.contains("insufficient_quota")
        || code == Some("insufficient_quota")
        || status == 402
    {
        return Reason::Billing;
    }
    if code == Some("model_not_found")
        || (status == 404 && (m.contains("model") || m.contains("not found")))
    {
        return Reason::ModelNotFound;
    }
    match status {
        401 | 403 => Reason::Auth,
        429 => Reason::RateLimit,
        529 => Reason::Overloaded,
        408 | 499 | 504 | 522 | 524 => Reason::Timeout,
        400 | 422 => {
            if error_type == Some("authentication_error") {
                Reason::Auth
            } else {
                Reason::Format
            }
        }
        s if s >= 500 => {
            if error_type == Some("overloaded_error") {
                Reason::Overloaded
            } else {
                Reason::ServerError
            }
        }
        _ => Reason::Unclassified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_classify_as_upstream_fails_over_on_them() {
        let e = CallError::from_http(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Extra usage is required for long context requests"}}"#,
        );
        assert_eq!(e.reason, Reason::Billing);
        assert_eq!(
            e.describe(),
            "HTTP 429: rate_limit_error: Extra usage is required for long context requests"
        );
        let nf = CallError::from_http(
            404,
            r#"{"error":{"message":"model 'x' not found","type":"invalid_request_error","code":"model_not_found"}}"#,
        );
        assert_eq!(
            (nf.reason, nf.code.as_deref()),
            (Reason::ModelNotFound, Some("model_not_found"))
        );
        let ctx = CallError::from_http(
            400,
            r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
        );
        assert_eq!(ctx.reason, Reason::ContextOverflow);
        assert!(!ctx.reason.fails_over());
        assert_eq!(
            CallError::from_http(503, "busy").reason,
            Reason::ServerError
        );
        assert_eq!(CallError::from_http(401, "{}").reason, Reason::Auth);
        assert_eq!(CallError::from_http(429, "{}").reason, Reason::RateLimit);
        let s = CallError::from_http(
            400,
            r#"{"error":{"message":"messages[1].content must be a string"}}"#,
        );
        assert_eq!(s.reason, Reason::Format);
        assert_eq!(s.message, "messages[1].content must be a string");
    }
}
