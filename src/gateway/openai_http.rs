//! The OpenAI-compatible HTTP surface on the gateway port: `POST /v1/chat/completions`,
//! `GET /v1/models`, `GET /v1/models/{id}`. Off unless
//! `gateway.http.endpoints.chatCompletions.enabled` is true (a disabled endpoint is a 404,
//! as an unknown path); bearer auth with the gateway's shared secret; each completion is an
//! agent run of the gateway (the same path as `agent`), streamed as server-sent events with
//! `stream: true`. Error bodies are upstream's: `{"error":{"message","type"}}`.

use super::agent::{self, Input, RunEvent, RunRequest};
use super::http::{self, Request, Response};
use super::state::Gateway;
use crate::models::catalog::ModelRef;
use crate::models::chat::{Content, Delta, Message};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::{header, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Largest request body (upstream's built-in limit).
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

pub fn enabled(gw: &Gateway) -> bool {
    gw.config()
        .loaded
        .get("gateway.http.endpoints.chatCompletions.enabled")
        .and_then(Value::as_bool)
        == Some(true)
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    http::json(
        status,
        json!({"error": {"message": message.into(), "type": kind}}),
    )
}

/// The shared secret as a bearer token (none needed in `auth.mode = none`).
fn authorized(gw: &Gateway, req: &Request) -> Result<(), Response> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let ok = gw.config().auth.accepts_shared_secret(presented);
    if ok {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
        ))
    }
}

/// `openclaw`, `openclaw/default` → the default agent; `openclaw/<id>`, `openclaw:<id>`,
/// `agent:<id>` → that agent.
pub fn agent_target(model: &str) -> Option<String> {
    let m = model.trim();
    if m == "openclaw" || m == "openclaw/default" {
        return Some("main".into());
    }
    m.strip_prefix("openclaw/")
        .or_else(|| m.strip_prefix("openclaw:"))
        .or_else(|| m.strip_prefix("agent:"))
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
}

/// The agent ids `/v1/models` lists: the default and `agents.list[].id`.
fn agent_ids(gw: &Gateway) -> Vec<String> {
    let mut ids = vec!["main".to_string()];
    if let Some(list) = gw
        .config()
        .loaded
        .get("agents.list")
        .and_then(Value::as_array)
    {
        for a in list {
            if let Some(id) = a.get("id").and_then(Value::as_str) {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

fn model_entry(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "openclaw", "permission": []})
}

pub async fn models(gw: Arc<Gateway>, req: Request) -> Response {
    if !enabled(&gw) {
        return http::not_found(req.uri().path());
    }
    if let Err(r) = authorized(&gw, &req) {
        return r;
    }
    let mut data = vec![model_entry("openclaw"), model_entry("openclaw/default")];
    for id in agent_ids(&gw) {
        data.push(model_entry(&format!("openclaw/{id}")));
    }
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/v1/models/") {
        let id = percent_decode(rest);
        return match data.into_iter().find(|m| m["id"] == id.as_str()) {
            Some(m) => http::json(StatusCode::OK, m),
            None => error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("Model '{id}' not found"),
            ),
        };
    }
    http::json(StatusCode::OK, json!({"object": "list", "data": data}))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read the body up to the limit.
async fn read_body(req: Request) -> Result<Bytes, Response> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES);
    match limited.collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("request body larger than {MAX_BODY_BYTES} bytes"),
        )),
    }
}

/// The parsed request.
struct Completion {
    agent_id: String,
    model_label: String,
    system: Option<String>,
    messages: Vec<Message>,
    stream: bool,
    include_usage: bool,
    tools: Vec<Value>,
    tool_choice: Option<Value>,
    sampling: Map<String, Value>,
    user: Option<String>,
}

fn bad(msg: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", msg)
}

fn parse(body: &[u8]) -> Result<Completion, Response> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))?;
    let o = v
        .as_object()
        .ok_or_else(|| bad("body must be a JSON object"))?;
    let model_label = o
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("openclaw")
        .to_string();
    let agent_id = agent_target(&model_label).ok_or_else(|| {
        bad(format!(
            "model \"{model_label}\" is not an OpenClaw agent target (use openclaw/default, openclaw/<agentId> or agent:<agentId>; pick a backend model with x-openclaw-model)"
        ))
    })?;
    let msgs = o.get("messages").and_then(Value::as_array).ok_or_else(|| {
        bad(match o.get("messages") {
            None => "messages: Invalid input: expected array, received undefined".to_string(),
            Some(other) => format!(
                "messages: Invalid input: expected array, received {}",
                crate::config::schema::type_name(other)
            ),
        })
    })?;
    let mut system: Vec<String> = vec![];
    let mut messages = vec![];
    for (i, m) in msgs.iter().enumerate() {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("messages[{i}].role: required")))?;
        let content = Content::from_json(m.get("content").unwrap_or(&Value::Null));
        match role {
            "system" | "developer" => system.push(content.text()),
            "user" | "assistant" | "tool" | "function" => {
                let tool_calls = crate::models::openai::tool_calls_of(m);
                messages.push(Message {
                    role: if role == "function" {
                        "tool".into()
                    } else {
                        role.into()
                    },
                    content,
                    tool_call_id: m
                        .get("tool_call_id")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    tool_calls,
                });
            }
            other => {
                return Err(bad(format!(
                    "messages[{i}].role: unsupported role \"{other}\""
                )))
            }
        }
    }
    if !messages.iter().any(|m| m.role == "user") {
        return Err(bad("messages: at least one user message is required"));
    }
    let tools = match o.get("tools") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => {
            for (i, t) in a.iter().enumerate() {
                if t.get("type").and_then(Value::as_str) != Some("function")
                    || t["function"].get("name").and_then(Value::as_str).is_none()
                {
                    return Err(bad(format!(
                        "tools[{i}]: only function tools with function.name are supported"
                    )));
                }
            }
            a.clone()
        }
        Some(_) => return Err(bad("tools: must be an array")),
    };
    let tool_choice = o.get("tool_choice").filter(|v| !v.is_null()).cloned();
    if let Some(tc) = &tool_choice {
        let ok = match tc {
            Value::String(s) => matches!(s.as_str(), "auto" | "none" | "required"),
            Value::Object(c) => {
                let name = c
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str);
                c.get("type").and_then(Value::as_str) == Some("function")
                    && name.is_some_and(|n| tools.iter().any(|t| t["function"]["name"] == n))
            }
            _ => false,
        };
        if !ok {
            return Err(bad("tool_choice: unsupported value"));
        }
    }
    let mut sampling = Map::new();
    for (k, lo, hi) in [
        ("temperature", 0.0, 2.0),
        ("top_p", 0.0, 1.0),
        ("frequency_penalty", -2.0, 2.0),
        ("presence_penalty", -2.0, 2.0),
    ] {
        if let Some(v) = o.get(k).filter(|v| !v.is_null()) {
            match v.as_f64() {
                Some(x) if (lo..=hi).contains(&x) => {
                    sampling.insert(k.into(), v.clone());
                }
                _ => return Err(bad(format!("{k}: must be a number between {lo} and {hi}"))),
            }
        }
    }
    if let Some(v) = o.get("seed").filter(|v| !v.is_null()) {
        if !v.is_i64() && !v.is_u64() {
            return Err(bad("seed: must be an integer"));
        }
        sampling.insert("seed".into(), v.clone());
    }
    if let Some(v) = o.get("stop").filter(|v| !v.is_null()) {
        let ok = match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => {
                a.len() <= 4 && a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty()))
            }
            _ => false,
        };
        if !ok {
            return Err(bad(
                "stop: must be a string or an array of up to 4 non-empty strings",
            ));
        }
        sampling.insert("stop".into(), v.clone());
    }
    Ok(Completion {
        agent_id,
        model_label,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages,
        stream: o.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: o
            .get("stream_options")
            .and_then(|s| s.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        tools,
        tool_choice,
        sampling,
        user: o
            .get("user")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_string),
    })
}

pub async fn chat_completions(gw: Arc<Gateway>, req: Request) -> Response {
    if !enabled(&gw) {
        return http::not_found(req.uri().path());
    }
    if let Err(r) = authorized(&gw, &req) {
        return r;
    }
    let headers = req.headers().clone();
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let c = match parse(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let header_str = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let model = match header_str("x-openclaw-model") {
        None => None,
        Some(m) => match ModelRef::parse(m) {
            Some(r) => Some(r),
            None => return bad(format!("x-openclaw-model: \"{m}\" is not provider/model")),
        },
    };
    let agent_id = header_str("x-openclaw-agent-id").map_or(c.agent_id.clone(), str::to_string);
    let session_key = match header_str("x-openclaw-session-key") {
        Some(k)
            if ["subagent:", "cron:", "acp:"]
                .iter()
                .any(|p| k.starts_with(p) || k.contains(&format!(":{p}"))) =>
        {
            return bad(format!(
                "x-openclaw-session-key: \"{k}\" uses a reserved namespace"
            ))
        }
        Some(k) => k.to_string(),
        None => match &c.user {
            Some(u) => format!(
                "agent:{agent_id}:openai-user:{}",
                crate::util::log_safe(u, 120)
            ),
            None => format!("agent:{agent_id}:openai:{}", uuid::Uuid::new_v4()),
        },
    };
    let id = format!("chatcmpl_{}", uuid::Uuid::new_v4());
    let run = RunRequest {
        run_id: id.clone(),
        agent_id,
        session_key,
        input: Input::Conversation {
            system: c.system.clone(),
            messages: c.messages.clone(),
        },
        model,
        timeout: None,
        extra_system_prompt: None,
        tools: c.tools.clone(),
        tool_choice: c.tool_choice.clone(),
        sampling: c.sampling.clone(),
        chat_events: false,
    };
    let (tx, rx) = mpsc::channel::<RunEvent>(64);
    let slot = match agent::start(&gw, run, Some(tx)) {
        Ok((s, _)) => s,
        Err(e) => {
            return error(StatusCode::SERVICE_UNAVAILABLE, "server_error", e.message);
        }
    };
    let created = crate::util::now_ms() / 1000;
    if c.stream {
        return stream_response(id, created, c.model_label, c.include_usage, rx, slot);
    }
    // Not streamed: wait for the end (a client that leaves aborts the run: the sink drops).
    let mut rx = rx;
    let mut end = None;
    while let Some(ev) = rx.recv().await {
        if let RunEvent::End(e) = ev {
            end = Some(e);
            break;
        }
    }
    let Some(end) = end else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "agent run ended without a result",
        );
    };
    if end.status != "ok" {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            end.text.clone(),
        );
    }
    let usage = end.usage.unwrap_or_default();
    let tool_calls = end_tool_calls(&end);
    let mut message = json!({"role": "assistant", "content": end.text});
    let finish = if tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    http::json(
        StatusCode::OK,
        json!({
            "id": id, "object": "chat.completion", "created": created, "model": c.model_label,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": usage.input, "completion_tokens": usage.output, "total_tokens": usage.total()},
        }),
    )
}

fn end_tool_calls(end: &agent::RunEnd) -> Vec<Value> {
    end.payload["result"]["meta"]["toolCalls"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn chunk(id: &str, created: u64, model: &str, delta: Value, finish: Option<&str>) -> Bytes {
    let v = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(crate::models::sse::frame(None, &v.to_string()))
}

fn stream_response(
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    mut rx: mpsc::Receiver<RunEvent>,
    slot: Arc<agent::RunSlot>,
) -> Response {
    let (btx, brx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let _ = btx
            .send(chunk(
                &id,
                created,
                &model,
                json!({"role": "assistant"}),
                None,
            ))
            .await;
        let mut saw_tool = false;
        while let Some(ev) = rx.recv().await {
            let out = match ev {
                RunEvent::Delta(Delta::Text(t)) => {
                    chunk(&id, created, &model, json!({"content": t}), None)
                }
                RunEvent::Delta(Delta::ToolCall {
                    index,
                    id: cid,
                    name,
                    arguments,
                }) => {
                    saw_tool = true;
                    let mut call = json!({"index": index, "function": {"arguments": arguments}});
                    if let Some(cid) = cid {
                        call["id"] = Value::from(cid);
                        call["type"] = Value::from("function");
                    }
                    if let Some(n) = name {
                        call["function"]["name"] = Value::from(n);
                    }
                    chunk(&id, created, &model, json!({"tool_calls": [call]}), None)
                }
                RunEvent::End(end) => {
                    let mut tail = Vec::new();
                    if end.status == "ok" {
                        let finish = if saw_tool { "tool_calls" } else { "stop" };
                        tail.push(chunk(&id, created, &model, json!({}), Some(finish)));
                        if include_usage {
                            let u = end.usage.unwrap_or_default();
                            let v = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
                                           "usage": {"prompt_tokens": u.input, "completion_tokens": u.output, "total_tokens": u.total()}});
                            tail.push(Bytes::from(crate::models::sse::frame(None, &v.to_string())));
                        }
                    } else {
                        let v = json!({"error": {"message": end.text, "type": "server_error"}});
                        tail.push(Bytes::from(crate::models::sse::frame(None, &v.to_string())));
                    }
                    tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
                    for b in tail {
                        if btx.send(b).await.is_err() {
                            break;
                        }
                    }
                    return;
                }
            };
            if btx.send(out).await.is_err() {
                // The HTTP client left: cancel the run.
                slot.abort();
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(brx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    });
    http::stream(
        StatusCode::OK,
        "text/event-stream",
        http_body_util::combinators::BoxBody::new(http_body_util::StreamBody::new(stream)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_targets_and_request_checks() {
        assert_eq!(agent_target("openclaw").as_deref(), Some("main"));
        assert_eq!(agent_target("openclaw/default").as_deref(), Some("main"));
        assert_eq!(agent_target("openclaw:ops").as_deref(), Some("ops"));
        assert_eq!(agent_target("agent:ops").as_deref(), Some("ops"));
        assert_eq!(agent_target("gpt-4"), None);
        assert!(parse(br#"{"messages":"x"}"#).is_err());
        assert!(parse(b"notjson").is_err());
        assert!(parse(
            br#"{"model":"openclaw","messages":[{"role":"user","content":"hi"}],"temperature":3}"#
        )
        .is_err());
        assert!(parse(br#"{"model":"openclaw","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}"#).is_err());
        let ok = parse(br#"{"model":"openclaw/default","stream":true,"stream_options":{"include_usage":true},
            "messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#)
            .unwrap_or_else(|_| panic!("valid"));
        assert!(ok.stream && ok.include_usage);
        assert_eq!(ok.system.as_deref(), Some("be brief"));
        assert_eq!(ok.messages[0].content.text(), "hi");
        assert_eq!(percent_decode("openclaw%2Fdefault"), "openclaw/default");
        let plain = parse(br#"{"model":"openclaw","messages":[{"role":"user","content":"hi"}]}"#)
            .unwrap_or_else(|_| panic!("valid"));
        assert!(!plain.stream && !plain.include_usage);
    }
}
