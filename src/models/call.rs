//! One HTTP call to a provider: the request its API wants, the answer read chunk by chunk
//! with every size bounded, errors as [`CallError`]s classified for failover.

use super::catalog::{Api, Provider};
use super::chat::{CallError, ChatRequest, Completion, Delta, Reason};
use super::{anthropic, openai, sse};
use std::time::Duration;

/// Largest non-streamed answer read.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest error body kept (the rest is not read).
pub const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest streamed answer read in all.
pub const MAX_STREAM: usize = 64 * 1024 * 1024;
/// Connecting to a provider.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How one call goes.
#[derive(Debug, Clone)]
pub struct CallOptions {
    pub stream: bool,
    /// The whole call (connect to last byte).
    pub timeout: Duration,
    /// Anthropic betas beyond the defaults.
    pub extra_betas: Vec<&'static str>,
}

impl CallOptions {
    pub fn streaming(timeout: Duration) -> Self {
        CallOptions {
            stream: true,
            timeout,
            extra_betas: vec![],
        }
    }
}

/// The HTTP client every model call shares (connection pooling per provider host).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Client {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("openclaw/", env!("CARGO_PKG_VERSION")))
            // Provider URLs are taken as configured; no proxy from the environment.
            .no_proxy()
            .build()
            .unwrap_or_default();
        Client { http }
    }

    /// Send `req` to `model` of provider `p`; `on_delta` sees each streamed piece.
    pub async fn complete(
        &self,
        p: &Provider,
        model: &str,
        req: &ChatRequest,
        opts: &CallOptions,
        on_delta: &mut (dyn FnMut(Delta) + Send),
    ) -> Result<Completion, CallError> {
        if let Api::Unsupported(a) = &p.api {
            return Err(CallError::transport(
                Reason::Format,
                format!("provider \"{}\" uses api \"{a}\", which this build does not speak (supported: openai-completions, anthropic-messages, ollama)", p.id),
            ));
        }
        if let Some(e) = &p.key_error {
            return Err(CallError::transport(
                Reason::Auth,
                format!("provider \"{}\" key: {e}", p.id),
            ));
        }
        let call = self.call(p, model, req, opts, on_delta);
        match tokio::time::timeout(opts.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(CallError::transport(
                Reason::Timeout,
                format!(
                    "LLM request timed out after {} s ({} {})",
                    opts.timeout.as_secs(),
                    p.id,
                    model
                ),
            )),
        }
    }

    async fn call(
        &self,
        p: &Provider,
        model: &str,
        req: &ChatRequest,
        opts: &CallOptions,
        on_delta: &mut (dyn FnMut(Delta) + Send),
    ) -> Result<Completion, CallError> {
        let (url, body) = if p.api == Api::AnthropicMessages {
            (anthropic::url(p), anthropic::body(req, model, opts.stream))
        } else {
            (
                openai::url(p, "chat/completions"),
                openai::body(req, model, opts.stream),
            )
        };
        let mut rb = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header(
                "accept",
                if opts.stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            );
        rb = self.auth(rb, p, &opts.extra_betas);
        let resp = rb
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| transport_error(p, &e))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = read_bounded(resp, MAX_ERROR_BODY).await.unwrap_or_default();
            return Err(CallError::from_http(
                status,
                &String::from_utf8_lossy(&body),
            ));
        }
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            let bytes = read_bounded(resp, MAX_BODY)
                .await
                .map_err(|e| transport_error(p, &e))?;
            let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                CallError::transport(Reason::ServerError, format!("malformed response ({e})"))
            })?;
            let c = if p.api == Api::AnthropicMessages {
                anthropic::parse_full(&v)
            } else {
                openai::parse_full(&v)
            }
            .map_err(|e| CallError::transport(Reason::ServerError, e))?;
            if !c.text.is_empty() {
                on_delta(Delta::Text(c.text.clone()));
            }
            return Ok(c);
        }
        self.read_stream(p, resp, on_delta).await
    }

    async fn read_stream(
        &self,
        p: &Provider,
        mut resp: reqwest::Response,
        on_delta: &mut (dyn FnMut(Delta) + Send),
    ) -> Result<Completion, CallError> {
        let mut parser = sse::Parser::new();
        let mut events = Vec::new();
        let mut deltas = Vec::new();
        let mut total = 0usize;
        let mut oa = openai::Stream::default();
        let mut an = anthropic::Stream::default();
        let anth = p.api == Api::AnthropicMessages;
        loop {
            let chunk = resp.chunk().await.map_err(|e| transport_error(p, &e))?;
            let Some(chunk) = chunk else {
                // The server closed: an event without its blank line still counts.
                parser.finish(&mut events);
                self.dispatch(&mut events, &mut deltas, anth, &mut oa, &mut an, on_delta)?;
                break;
            };
            total += chunk.len();
            if total > MAX_STREAM {
                return Err(CallError::transport(
                    Reason::ServerError,
                    format!("stream larger than {MAX_STREAM} bytes"),
                ));
            }
            parser
                .push(&chunk, &mut events)
                .map_err(|e| CallError::transport(Reason::ServerError, e.to_string()))?;
            if self.dispatch(&mut events, &mut deltas, anth, &mut oa, &mut an, on_delta)? {
                break;
            }
        }
        Ok(if anth { an.finish() } else { oa.finish() })
    }

    /// Feed parsed events to the stream state; true once the stream says it is done.
    fn dispatch(
        &self,
        events: &mut Vec<sse::Event>,
        deltas: &mut Vec<Delta>,
        anth: bool,
        oa: &mut openai::Stream,
        an: &mut anthropic::Stream,
        on_delta: &mut (dyn FnMut(Delta) + Send),
    ) -> Result<bool, CallError> {
        for ev in events.drain(..) {
            if anth {
                an.event(&ev.data, deltas)?;
            } else {
                oa.data(&ev.data, deltas)
                    .map_err(|m| CallError::transport(Reason::ServerError, m))?;
            }
            for d in deltas.drain(..) {
                on_delta(d);
            }
        }
        Ok(if anth { an.done } else { oa.done })
    }

    /// `GET {baseUrl}/models` of an OpenAI-compatible provider: the ids it lists.
    pub async fn list_models(
        &self,
        p: &Provider,
        timeout: Duration,
    ) -> Result<Vec<String>, CallError> {
        let url = openai::url(p, "models");
        let rb = self.auth(self.http.get(&url), p, &[]);
        let fut = async {
            let resp = rb.send().await.map_err(|e| transport_error(p, &e))?;
            let status = resp.status().as_u16();
            let body = read_bounded(resp, MAX_BODY)
                .await
                .map_err(|e| transport_error(p, &e))?;
            if !(200..300).contains(&status) {
                return Err(CallError::from_http(
                    status,
                    &String::from_utf8_lossy(&body),
                ));
            }
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                CallError::transport(
                    Reason::ServerError,
                    format!("malformed /models answer ({e})"),
                )
            })?;
            // OpenAI's `{data:[{id}]}`; Ollama's `{models:[{name|model}]}` on its native path.
            let ids = v["data"]
                .as_array()
                .or_else(|| v["models"].as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|m| {
                            m.get("id")
                                .or_else(|| m.get("model"))
                                .or_else(|| m.get("name"))
                                .and_then(|x| x.as_str())
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(ids)
        };
        tokio::time::timeout(timeout, fut)
            .await
            .unwrap_or_else(|_| {
                Err(CallError::transport(
                    Reason::Timeout,
                    format!("GET {url} timed out"),
                ))
            })
    }

    fn auth(
        &self,
        mut rb: reqwest::RequestBuilder,
        p: &Provider,
        extra_betas: &[&'static str],
    ) -> reqwest::RequestBuilder {
        if p.api == Api::AnthropicMessages {
            rb = rb.header("anthropic-version", anthropic::VERSION);
            let mut betas = anthropic::DEFAULT_BETAS.to_string();
            for b in extra_betas {
                betas.push(',');
                betas.push_str(b);
            }
            rb = rb.header("anthropic-beta", betas);
            if let Some(k) = &p.api_key {
                rb = rb.header("x-api-key", k.expose());
            }
        } else if let Some(k) = &p.api_key {
            rb = rb.bearer_auth(k.expose());
        }
        for (k, v) in &p.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        rb
    }
}

/// Read a body up to `max` bytes (the rest is dropped with the connection).
async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

fn transport_error(p: &Provider, e: &reqwest::Error) -> CallError {
    let reason = if e.is_timeout() {
        Reason::Timeout
    } else {
        Reason::Network
    };
    // reqwest's Display omits the cause ("error sending request"); the chain names it.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    CallError::transport(reason, format!("{} ({}): {msg}", p.id, p.base_url))
}
