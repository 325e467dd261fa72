//! HTTP on the gateway port: request-head parsing, the WebSocket upgrade handshake, and the
//! probe endpoints (`/health`, `/healthz`, `/ready`, `/readyz`, `/startup`, `/startupz`).

use base64::Engine;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Largest request head accepted.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A parsed request head.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        self.method == "GET"
            && self
                .header("upgrade")
                .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
            && self.header("sec-websocket-key").is_some()
    }
}

/// Read and parse the request head. `Ok(None)` when the peer closed or sent garbage.
pub async fn read_head<S: AsyncRead + Unpin>(
    reader: &mut BufReader<S>,
) -> std::io::Result<Option<RequestHead>> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let before = buf.len();
        let n = reader.read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Ok(None);
        }
        let line = &buf[before..];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Ok(None),
    }
    Ok(Some(RequestHead {
        method: req.method.unwrap_or_default().to_string(),
        path: req.path.unwrap_or("/").to_string(),
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    }))
}

/// `Sec-WebSocket-Accept` for a key.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

pub async fn write_upgrade<S: AsyncWrite + Unpin>(
    stream: &mut S,
    key: &str,
) -> std::io::Result<()> {
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.flush().await
}

/// A finished HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: &'static str,
    pub extra_headers: Vec<(&'static str, String)>,
    pub body: String,
    pub content_type: &'static str,
}

impl Response {
    pub fn json(status: u16, reason: &'static str, body: Value) -> Self {
        Response {
            status,
            reason,
            extra_headers: Vec::new(),
            body: body.to_string(),
            content_type: "application/json; charset=utf-8",
        }
    }

    pub fn text(status: u16, reason: &'static str, body: &str) -> Self {
        Response {
            status,
            reason,
            extra_headers: Vec::new(),
            body: body.to_string(),
            content_type: "text/plain; charset=utf-8",
        }
    }

    pub async fn write<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        head_only: bool,
    ) -> std::io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        for (k, v) in &self.extra_headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        if !head_only {
            out.push_str(&self.body);
        }
        stream.write_all(out.as_bytes()).await?;
        stream.flush().await
    }
}

/// What the probe endpoints need to know.
pub struct ProbeState {
    pub ready: bool,
    pub draining: bool,
    pub uptime_ms: u64,
}

/// Route a plain HTTP request.
pub fn route(head: &RequestHead, st: &ProbeState) -> Response {
    let path = head.path.split('?').next().unwrap_or("/");
    let known = matches!(
        path,
        "/health" | "/healthz" | "/ready" | "/readyz" | "/startup" | "/startupz"
    );
    if !known {
        return Response::json(
            404,
            "Not Found",
            json!({"ok": false, "error": "not found", "path": path}),
        );
    }
    if head.method != "GET" && head.method != "HEAD" {
        let mut r = Response::json(
            405,
            "Method Not Allowed",
            json!({"ok": false, "error": "method not allowed"}),
        );
        r.extra_headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    match path {
        "/health" | "/healthz" => Response::json(200, "OK", json!({"ok": true, "status": "live"})),
        "/ready" | "/readyz" => {
            let failing: Vec<&str> = if st.draining {
                vec!["draining"]
            } else {
                vec![]
            };
            let body = json!({"ready": st.ready && !st.draining, "failing": failing, "uptimeMs": st.uptime_ms});
            if st.ready && !st.draining {
                Response::json(200, "OK", body)
            } else {
                Response::json(503, "Service Unavailable", body)
            }
        }
        _ => {
            let status = if st.draining {
                "draining"
            } else if st.ready {
                "started"
            } else {
                "starting"
            };
            Response::json(
                200,
                "OK",
                json!({"ok": true, "status": status, "version": env!("CARGO_PKG_VERSION")}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn routes() {
        let st = ProbeState {
            ready: true,
            draining: false,
            uptime_ms: 1,
        };
        let get = |m: &str, p: &str| RequestHead {
            method: m.into(),
            path: p.into(),
            headers: vec![],
        };
        assert_eq!(
            route(&get("GET", "/healthz"), &st).body,
            r#"{"ok":true,"status":"live"}"#
        );
        let r = route(&get("POST", "/health"), &st);
        assert_eq!(r.status, 405);
        assert_eq!(r.extra_headers, vec![("Allow", "GET, HEAD".to_string())]);
        assert_eq!(route(&get("GET", "/nope"), &st).status, 404);
        let draining = ProbeState {
            ready: true,
            draining: true,
            uptime_ms: 1,
        };
        assert_eq!(route(&get("GET", "/readyz"), &draining).status, 503);
    }
}
