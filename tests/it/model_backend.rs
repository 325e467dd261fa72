//! A model backend for the tests, speaking the real wire formats: OpenAI chat completions
//! (JSON and SSE, `GET /v1/models`) and Anthropic Messages (SSE, error bodies). The model id
//! picks the behaviour, as the runbook's backends fail:
//! - `tiny`, `claude-ok`: answer "pong" in two streamed pieces;
//! - `missing`: 404 `model_not_found` (OpenAI shape);
//! - `empty`: a stream that ends the turn with no content;
//! - `claude-x`: Anthropic's 429 `Extra usage is required for long context requests`.
//!
//! Hosted APIs cannot run here; this is the fixture the house rules allow for them.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the backend received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Backend {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Backend {
    pub fn start() -> Backend {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let s3 = s2.clone();
                std::thread::spawn(move || serve(conn, &s3));
            }
        });
        Backend { port, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// A `models` + `agents` config fragment pointing two providers at this backend:
    /// `local` (openai-completions) and `anth` (anthropic-messages).
    pub fn providers(&self) -> String {
        format!(
            r#"models: {{ mode: "merge", providers: {{
                local: {{ baseUrl: "{b}/v1", apiKey: "sk-local", api: "openai-completions",
                         models: [ {{ id: "tiny", name: "Tiny", contextWindow: 4096, maxTokens: 256 }}, {{ id: "missing", name: "M" }}, {{ id: "empty", name: "E" }} ] }},
                anth: {{ baseUrl: "{b}/anthropic", apiKey: "sk-ant-test", api: "anthropic-messages",
                         models: [ {{ id: "claude-x", name: "C" }}, {{ id: "claude-ok", name: "C2" }} ] }} }} }}"#,
            b = self.base()
        )
    }
}

fn serve(mut s: TcpStream, seen: &Mutex<Vec<Seen>>) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = vec![];
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![0; len];
    let _ = r.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        headers,
        body: body.clone(),
    });
    if method == "GET" && path.ends_with("/models") {
        let ids = ["tiny", "empty"];
        let data: Vec<Value> = ids
            .iter()
            .map(|i| json!({"id": i, "object": "model", "owned_by": "test"}))
            .collect();
        return respond(
            &mut s,
            200,
            "application/json",
            &json!({"object": "list", "data": data}).to_string(),
        );
    }
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let stream = body["stream"] == true;
    if path.ends_with("/v1/messages") {
        return anthropic(&mut s, &model, stream);
    }
    match model.as_str() {
        "missing" => respond(&mut s, 404, "application/json", &json!({"error": {"message": format!("model '{model}' not found"), "type": "invalid_request_error", "param": null, "code": "model_not_found"}}).to_string()),
        "empty" => {
            let d = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": "stop"}]});
            sse(&mut s, &[format!("data: {d}\n\n"), "data: [DONE]\n\n".into()]);
        }
        _ if stream => {
            let mut events = vec![];
            for (i, piece) in ["po", "ng"].iter().enumerate() {
                let delta = if i == 0 { json!({"role": "assistant", "content": piece}) } else { json!({"content": piece}) };
                events.push(format!("data: {}\n\n", json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})));
            }
            events.push(format!("data: {}\n\n", json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})));
            events.push("data: [DONE]\n\n".into());
            sse(&mut s, &events);
        }
        _ => respond(&mut s, 200, "application/json", &json!({"id": "c1", "object": "chat.completion", "created": 1, "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).to_string()),
    }
}

fn anthropic(s: &mut TcpStream, model: &str, stream: bool) {
    if model == "claude-x" {
        return respond(
            s,
            429,
            "application/json",
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Extra usage is required for long context requests"}}"#,
        );
    }
    if !stream {
        return respond(s, 200, "application/json", &json!({"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [{"type": "text", "text": "pong"}], "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 1}}).to_string());
    }
    let evs = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "po"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ng"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let frames: Vec<String> = evs
        .iter()
        .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
        .collect();
    sse(s, &frames);
}

fn respond(s: &mut TcpStream, status: u16, ctype: &str, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn sse(s: &mut TcpStream, frames: &[String]) {
    let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n");
    for f in frames {
        let _ = s.write_all(f.as_bytes());
        let _ = s.flush();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
