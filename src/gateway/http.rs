//! HTTP on the gateway port, served by hyper 1: the connection limits, the front that sorts
//! each request into a WebSocket upgrade, a refusal or a route, and the route table.
//!
//! The routes are entries of [`ROUTES`] (path, methods, async handler). The probe endpoints
//! (`/health`, `/healthz`, `/ready`, `/readyz`, `/startup`, `/startupz`) are the first;
//! the OpenAI-compatible endpoints, the Control UI and `/metrics` join as entries.

use super::state::Gateway;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Largest request head (request line and headers) accepted; past it hyper answers 431
/// without reading further.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Header lines accepted in a head (more: 431).
pub const MAX_HEADERS: usize = 64;
/// How long a client has to send a whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A response body: whole today; a stream (server-sent events) where a route needs one.
pub type Body = BoxBody<Bytes, Infallible>;
pub type Request = hyper::Request<hyper::body::Incoming>;
pub type Response = hyper::Response<Body>;

/// The HTTP/1.1 connection settings every socket of the port is served with: the bounded
/// head, its read timeout, and one request per connection (a probe connects, asks, goes;
/// an upgrade leaves HTTP behind).
pub fn server() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .max_buf_size(2 * MAX_HEAD_BYTES)
        .keep_alive(false)
        .title_case_headers(true);
    b
}

fn body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A response with the headers every answer of the port carries.
fn respond(status: StatusCode, content_type: &'static str, text: impl Into<Bytes>) -> Response {
    stream(status, content_type, body(text))
}

/// A response with any body (a stream of server-sent events) and the same headers.
pub fn stream(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut r = hyper::Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

pub fn json(status: StatusCode, value: Value) -> Response {
    respond(status, "application/json; charset=utf-8", value.to_string())
}

pub fn text(status: StatusCode, message: &'static str) -> Response {
    respond(status, "text/plain; charset=utf-8", message)
}

fn with_header(mut r: Response, name: header::HeaderName, value: &'static str) -> Response {
    r.headers_mut()
        .insert(name, HeaderValue::from_static(value));
    r
}

/// The whole text of a fixed response, for a socket refused before any HTTP is read (the
/// pre-auth budget is taken at accept).
pub fn raw_response(status: StatusCode, message: &str) -> String {
    format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{message}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        message.len()
    )
}

/// What the front does with a request.
pub enum Front {
    /// A valid WebSocket upgrade.
    Upgrade,
    /// An answer that needs no handler (a bad upgrade, an unknown path, a wrong method).
    Answer(Response),
    /// A route's handler answers.
    Route(&'static Route),
}

/// Sort a request by its method, path and headers (no I/O: the fuzz target calls this).
pub fn front(method: &Method, path: &str, headers: &HeaderMap) -> Front {
    if wants_websocket(headers) {
        return match upgrade_problem(method, headers) {
            Some(r) => Front::Answer(r),
            None => Front::Upgrade,
        };
    }
    match resolve(method, path) {
        Ok(route) => Front::Route(route),
        Err(r) => Front::Answer(r),
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request asks for a WebSocket (valid or not: see [`upgrade_problem`]).
pub fn wants_websocket(headers: &HeaderMap) -> bool {
    header_str(headers, header::UPGRADE).is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// What is wrong with a WebSocket upgrade request (RFC 6455 §4.2.1), as the response to
/// send instead of 101; `None` when it may be upgraded.
pub fn upgrade_problem(method: &Method, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET {
        return Some(with_header(
            text(
                StatusCode::METHOD_NOT_ALLOWED,
                "WebSocket upgrade requires GET",
            ),
            header::ALLOW,
            "GET",
        ));
    }
    let connection_upgrade = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
    });
    if !connection_upgrade {
        return Some(text(
            StatusCode::BAD_REQUEST,
            "Missing or invalid Connection header",
        ));
    }
    if header_str(headers, header::SEC_WEBSOCKET_VERSION).map(str::trim) != Some("13") {
        return Some(with_header(
            text(
                StatusCode::UPGRADE_REQUIRED,
                "Missing or invalid Sec-WebSocket-Version header",
            ),
            header::SEC_WEBSOCKET_VERSION,
            "13",
        ));
    }
    if websocket_key(headers).is_none() {
        return Some(text(
            StatusCode::BAD_REQUEST,
            "Missing or invalid Sec-WebSocket-Key header",
        ));
    }
    None
}

/// The client's `Sec-WebSocket-Key` when it is the base64 of 16 bytes.
fn websocket_key(headers: &HeaderMap) -> Option<&str> {
    use base64::Engine;
    let key = header_str(headers, header::SEC_WEBSOCKET_KEY)?.trim();
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|b| b.len() == 16)
        .then_some(key)
}

/// The `101 Switching Protocols` answer to a checked upgrade request.
pub fn switching_protocols(headers: &HeaderMap) -> Response {
    let key = websocket_key(headers).unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut r = hyper::Response::new(body(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

// ---- routes ----

/// A route's handler: the gateway and the request in, the response out.
pub type Handler = fn(Arc<Gateway>, Request) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// One entry of the route table.
pub struct Route {
    pub path: &'static str,
    pub methods: &'static [Method],
    /// The `Allow` header of a 405 (the methods, as listed).
    pub allow: &'static str,
    pub handler: Handler,
}

const PROBE_METHODS: &[Method] = &[Method::GET, Method::HEAD];

/// The routes of the port. HEAD is answered like GET without the body (hyper drops it).
pub static ROUTES: &[Route] = &[
    probe("/health", live),
    probe("/healthz", live),
    probe("/ready", ready),
    probe("/readyz", ready),
    probe("/startup", startup),
    probe("/startupz", startup),
    Route {
        path: "/v1/chat/completions",
        methods: &[Method::POST],
        allow: "POST",
        handler: |gw, req| Box::pin(super::openai_http::chat_completions(gw, req)),
    },
    Route {
        path: "/v1/models",
        methods: PROBE_METHODS,
        allow: "GET, HEAD",
        handler: |gw, req| Box::pin(super::openai_http::models(gw, req)),
    },
];

/// Paths served by a route for a whole subtree (`/v1/models/{id}`).
const SUBTREES: &[(&str, &str)] = &[("/v1/models/", "/v1/models")];

const fn probe(path: &'static str, handler: Handler) -> Route {
    Route {
        path,
        methods: PROBE_METHODS,
        allow: "GET, HEAD",
        handler,
    }
}

/// The answer for a path nothing serves (also a disabled endpoint's).
pub fn not_found(path: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        json!({"ok": false, "error": "not found", "path": path}),
    )
}

/// The route for a path and method, or the answer when there is none (404, 405).
pub fn resolve(method: &Method, path: &str) -> Result<&'static Route, Response> {
    let path_key = SUBTREES
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix) && path.len() > prefix.len())
        .map_or(path, |(_, route)| route);
    let Some(route) = ROUTES.iter().find(|r| r.path == path_key) else {
        return Err(not_found(path));
    };
    if !route.methods.contains(method) {
        return Err(with_header(
            json(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"ok": false, "error": "method not allowed"}),
            ),
            header::ALLOW,
            route.allow,
        ));
    }
    Ok(route)
}

fn ready_now(gw: &Gateway) -> Response {
    let draining = gw.draining.load(std::sync::atomic::Ordering::SeqCst);
    let failing: Vec<&str> = if draining { vec!["draining"] } else { vec![] };
    let body = json!({"ready": !draining, "failing": failing, "uptimeMs": gw.uptime_ms()});
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    json(status, body)
}

fn startup_now(gw: &Gateway) -> Response {
    let draining = gw.draining.load(std::sync::atomic::Ordering::SeqCst);
    // A gateway answers HTTP only once it is serving: "starting" is never seen here.
    let status = if draining { "draining" } else { "started" };
    json(
        StatusCode::OK,
        json!({"ok": true, "status": status, "version": env!("CARGO_PKG_VERSION")}),
    )
}

fn live(_: Arc<Gateway>, _: Request) -> Pin<Box<dyn Future<Output = Response> + Send>> {
    Box::pin(async { json(StatusCode::OK, json!({"ok": true, "status": "live"})) })
}

fn ready(gw: Arc<Gateway>, _: Request) -> Pin<Box<dyn Future<Output = Response> + Send>> {
    Box::pin(async move { ready_now(&gw) })
}

fn startup(gw: Arc<Gateway>, _: Request) -> Pin<Box<dyn Future<Output = Response> + Send>> {
    Box::pin(async move { startup_now(&gw) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade_headers(extra: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
        .iter()
        .chain(extra)
        {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn rfc6455_accept_key() {
        let r = switching_protocols(&upgrade_headers(&[]));
        assert_eq!(r.status(), 101);
        assert_eq!(
            r.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn upgrade_requests_are_checked() {
        let get = Method::GET;
        assert!(upgrade_problem(&get, &upgrade_headers(&[])).is_none());
        let v8 =
            upgrade_problem(&get, &upgrade_headers(&[("sec-websocket-version", "8")])).unwrap();
        assert_eq!(v8.status(), 426);
        assert_eq!(v8.headers()["sec-websocket-version"], "13");
        for key in ["", "short", "dGhlIHNhbXBsZSBub25jZQ"] {
            let r = upgrade_problem(&get, &upgrade_headers(&[("sec-websocket-key", key)])).unwrap();
            assert_eq!(r.status(), 400, "{key:?}");
        }
        let r = upgrade_problem(&get, &upgrade_headers(&[("connection", "close")])).unwrap();
        assert_eq!(r.status(), 400);
        let r = upgrade_problem(&Method::POST, &upgrade_headers(&[])).unwrap();
        assert_eq!(
            (r.status().as_u16(), r.headers()["allow"].to_str().unwrap()),
            (405, "GET")
        );
    }

    #[test]
    fn the_front_sorts_requests() {
        let none = HeaderMap::new();
        assert!(matches!(
            front(&Method::GET, "/", &upgrade_headers(&[])),
            Front::Upgrade
        ));
        assert!(
            matches!(front(&Method::HEAD, "/healthz", &none), Front::Route(r) if r.path == "/healthz")
        );
        let Front::Answer(r) = front(&Method::POST, "/health", &none) else {
            panic!("a POST to a probe has no handler")
        };
        assert_eq!(
            (r.status().as_u16(), r.headers()["allow"].to_str().unwrap()),
            (405, "GET, HEAD")
        );
        let Front::Answer(r) = front(&Method::GET, "/nope", &none) else {
            panic!("unknown paths have no handler")
        };
        assert_eq!(r.status(), 404);
        // Every route's path is unique and serves GET.
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(ROUTES[..i].iter().all(|o| o.path != r.path), "{}", r.path);
            assert!(r.methods.contains(&Method::GET) || r.methods.contains(&Method::POST));
        }
    }

    #[test]
    fn the_refusal_at_accept_is_whole_http() {
        let r = raw_response(StatusCode::SERVICE_UNAVAILABLE, "busy");
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
        assert!(r.ends_with(
            "Content-Length: 4\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nbusy"
        ));
    }
}
