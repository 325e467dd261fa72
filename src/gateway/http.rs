//! HTTP on the gateway port: a bounded request-head reader, the WebSocket upgrade checks
//! and reply, and the probe endpoints (`/health`, `/healthz`, `/ready`, `/readyz`,
//! `/startup`, `/startupz`).

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted; a longer one is answered 431 without reading further.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Header lines accepted in a head (more: 431).
const MAX_HEADERS: usize = 64;

/// A parsed request head.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// Why no head could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The peer closed (or the socket failed) before a whole head arrived: nothing to answer.
    Closed,
    /// Over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`]: 431.
    TooLarge,
    /// Not HTTP: 400.
    Malformed,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request asks for a WebSocket (valid or not: see [`RequestHead::upgrade_problem`]).
    pub fn wants_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
    }

    /// What is wrong with a WebSocket upgrade request (RFC 6455 §4.2.1), as the response to
    /// send instead of 101; `None` when it may be upgraded.
    pub fn upgrade_problem(&self) -> Option<Response> {
        if self.method != "GET" {
            let mut r = Response::text(405, "Method Not Allowed", "WebSocket upgrade requires GET");
            r.extra_headers.push(("Allow", "GET".into()));
            return Some(r);
        }
        let connection_upgrade = self.header("connection").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
        if !connection_upgrade {
            return Some(Response::text(
                400,
                "Bad Request",
                "Missing or invalid Connection header",
            ));
        }
        if self.header("sec-websocket-version").map(str::trim) != Some("13") {
            let mut r = Response::text(
                426,
                "Upgrade Required",
                "Missing or invalid Sec-WebSocket-Version header",
            );
            r.extra_headers.push(("Sec-WebSocket-Version", "13".into()));
            return Some(r);
        }
        let key_ok = self.header("sec-websocket-key").is_some_and(|k| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(k.trim())
                .is_ok_and(|b| b.len() == 16)
        });
        if !key_ok {
            return Some(Response::text(
                400,
                "Bad Request",
                "Missing or invalid Sec-WebSocket-Key header",
            ));
        }
        None
    }
}

/// Parse what has arrived of a request head: `Ok(Some((head, len)))` once complete (`len`
/// bytes of `buf` are the head), `Ok(None)` while more may come.
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let head = RequestHead {
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
            };
            Ok(Some((head, len)))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Malformed),
    }
}

/// Read and parse one request head, never holding more than [`MAX_HEAD_BYTES`]. Returns
/// the head and any bytes the client sent after it (the first WebSocket frames).
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let room = (MAX_HEAD_BYTES + 1)
            .saturating_sub(buf.len())
            .min(chunk.len());
        let n = stream
            .read(&mut chunk[..room])
            .await
            .map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some((head, len)) = parse_head(&buf)? {
            return Ok((head, buf.split_off(len)));
        }
    }
}

/// The `101 Switching Protocols` reply for a checked upgrade request.
pub async fn write_upgrade<S: AsyncWrite + Unpin>(
    stream: &mut S,
    key: &str,
) -> std::io::Result<()> {
    let accept =
        tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.trim().as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
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

    #[tokio::test]
    async fn rfc6455_accept_key() {
        let mut out = Vec::new();
        write_upgrade(&mut out, "dGhlIHNhbXBsZSBub25jZQ==")
            .await
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn heads_are_bounded_and_keep_what_follows() {
        let mut input: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x85abc";
        let (head, rest) = read_head(&mut input).await.unwrap();
        assert_eq!((head.method.as_str(), head.path.as_str()), ("GET", "/"));
        assert_eq!(rest, b"\x81\x85abc");
        // A header line that never ends: refused at the cap, not buffered without bound.
        let mut endless = tokio::io::repeat(b'a');
        let mut prefixed =
            tokio::io::AsyncReadExt::chain(&b"GET / HTTP/1.1\r\nX-A: "[..], &mut endless);
        assert_eq!(
            read_head(&mut prefixed).await.unwrap_err(),
            HeadError::TooLarge
        );
        let many: String = (0..80).map(|i| format!("X-{i}: v\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            read_head(&mut text.as_bytes()).await.unwrap_err(),
            HeadError::TooLarge
        );
        assert_eq!(
            read_head(&mut &b"\x16\x03\x01 not http\r\n\r\n"[..])
                .await
                .unwrap_err(),
            HeadError::Malformed
        );
        assert_eq!(
            read_head(&mut &b"GET / HT"[..]).await.unwrap_err(),
            HeadError::Closed
        );
    }

    #[test]
    fn upgrade_requests_are_checked() {
        let head = |extra: &[(&str, &str)]| {
            let mut headers = vec![
                ("Upgrade".to_string(), "websocket".to_string()),
                ("Connection".to_string(), "keep-alive, Upgrade".to_string()),
                ("Sec-WebSocket-Version".to_string(), "13".to_string()),
                (
                    "Sec-WebSocket-Key".to_string(),
                    "dGhlIHNhbXBsZSBub25jZQ==".to_string(),
                ),
            ];
            for (k, v) in extra {
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
                headers.push((k.to_string(), v.to_string()));
            }
            RequestHead {
                method: "GET".into(),
                path: "/".into(),
                headers,
            }
        };
        assert!(head(&[]).upgrade_problem().is_none());
        let v8 = head(&[("Sec-WebSocket-Version", "8")])
            .upgrade_problem()
            .unwrap();
        assert_eq!(v8.status, 426);
        assert_eq!(
            v8.extra_headers,
            vec![("Sec-WebSocket-Version", "13".to_string())]
        );
        for key in ["", "short", "dGhlIHNhbXBsZSBub25jZQ"] {
            let r = head(&[("Sec-WebSocket-Key", key)])
                .upgrade_problem()
                .unwrap();
            assert_eq!(r.status, 400, "{key:?}");
        }
        assert_eq!(
            head(&[("Connection", "close")])
                .upgrade_problem()
                .unwrap()
                .status,
            400
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
