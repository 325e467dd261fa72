//! One TCP connection: plain HTTP probes, or a WebSocket session with the challenge,
//! the `connect` handshake, and the request loop.

use super::auth;
use super::frame_guard::{self, Guarded};
use super::http;
use super::methods::{self, Caller};
use super::state::{ClientHandle, Drain, Gateway, Next, Outbound, Outlet};
use crate::protocol::connect;
use crate::protocol::error::{ErrorShape, FORBIDDEN, INVALID_REQUEST};
use crate::protocol::frame::{self, FrameError};
use crate::protocol::methods as m;
use crate::protocol::scopes::{self, Requirement};
use crate::protocol::{self, close};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<Guarded<TokioIo<hyper::upgrade::Upgraded>>>;

/// How long a closing socket waits for the writer to flush, and for the peer's close echo.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);
const CLOSE_ECHO: Duration = Duration::from_secs(1);

/// Serve one accepted connection until it ends: hyper reads the (bounded) request head;
/// the front answers it, runs a route, or upgrades it to a WebSocket session.
pub async fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    gw: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // Every socket counts against its address's pre-auth budget from accept until its
    // handshake finishes, so a flood of slow heads cannot hold memory or sockets.
    let max = gw.config().preauth_max_per_ip;
    let Some(slot) = super::guard::PreauthBudget::acquire(&gw, peer.ip(), max) else {
        gw.logger.warn(
            "gateway/ws",
            format!(
                "pre-auth budget exceeded remote={} (max {max} unauthenticated sockets per IP)",
                peer.ip()
            ),
        );
        refuse(
            stream,
            http::raw_response(
                hyper::StatusCode::SERVICE_UNAVAILABLE,
                super::guard::PREAUTH_BUDGET_EXCEEDED,
            ),
        )
        .await;
        return;
    };
    // The slot moves into the WebSocket session on upgrade; a plain request drops it with
    // the connection.
    let slot = Arc::new(std::sync::Mutex::new(Some(slot)));
    let service = {
        let (gw, shutdown) = (gw.clone(), shutdown.clone());
        hyper::service::service_fn(move |req| {
            let (gw, shutdown, slot) = (gw.clone(), shutdown.clone(), slot.clone());
            async move {
                Ok::<_, std::convert::Infallible>(
                    serve_request(req, peer, gw, slot, shutdown).await,
                )
            }
        })
    };
    let conn = http::server()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::select! {
        _ = conn => {}
        _ = shutdown.changed() => {}
    }
}

/// One request: a refusal, a route, or the 101 that starts a WebSocket session.
async fn serve_request(
    mut req: http::Request,
    peer: SocketAddr,
    gw: Arc<Gateway>,
    slot: Arc<std::sync::Mutex<Option<super::guard::PreauthSlot>>>,
    shutdown: watch::Receiver<bool>,
) -> http::Response {
    let route = match http::front(req.method(), req.uri().path(), req.headers()) {
        http::Front::Answer(r) => return r,
        http::Front::Route(route) => route,
        http::Front::Upgrade => {
            let Some(slot) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
                return http::text(hyper::StatusCode::BAD_REQUEST, "Bad Request");
            };
            let response = http::switching_protocols(req.headers());
            let ingress = super::pairing::Ingress::from_headers(req.headers());
            let upgrade = hyper::upgrade::on(&mut req);
            gw.tasks.clone().spawn(async move {
                // Resolves once the 101 is written; the bytes the client sent after its
                // head are served first by the upgraded socket.
                let Ok(upgraded) = upgrade.await else {
                    return;
                };
                // Until `hello-ok`, no message may exceed the pre-auth cap; the guard
                // refuses one as soon as its frame header says so.
                let limit = frame_guard::Limit::new(protocol::MAX_PREAUTH_PAYLOAD_BYTES);
                let guarded = Guarded::new(TokioIo::new(upgraded), limit.clone());
                let ws = WebSocketStream::from_raw_socket(guarded, Role::Server, Some(ws_config()))
                    .await;
                session(ws, peer, ingress, slot, limit, gw, shutdown).await;
            });
            return response;
        }
    };
    (route.handler)(gw, req).await
}

/// The read buffer is allocated eagerly per socket; 8 KiB keeps idle clients cheap (the
/// 128 KiB default cost ~150 KiB RSS per connection) and grows for large frames.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .max_message_size(Some(protocol::MAX_PAYLOAD_BYTES))
        .max_frame_size(Some(protocol::MAX_PAYLOAD_BYTES))
}

/// Answer a socket that is not served, then let the client read the answer: shut the
/// write side and drain what it still sends for a moment (closing with unread input would
/// reset the connection and lose the response).
async fn refuse(mut stream: TcpStream, response: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let mut total = 0usize;
        while let Ok(n) = stream.read(&mut sink).await {
            total += n;
            if n == 0 || total > 256 * 1024 {
                break;
            }
        }
    })
    .await;
}

fn close_msg(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: close::truncate_reason(reason).into(),
    }))
}

/// The close code and reason for a read that failed: RFC 6455 §7.4.1 (1002 protocol
/// error, 1007 invalid UTF-8, 1009 too big). `None` when the socket itself is gone.
fn read_failure(
    e: &WsError,
    limit: &frame_guard::Limit,
    preauth: bool,
) -> Option<(u16, &'static str)> {
    if limit.tripped() || matches!(e, WsError::Capacity(_)) {
        return Some(if preauth {
            (close::TOO_BIG, close::REASON_PREAUTH_TOO_LARGE)
        } else {
            (close::TOO_BIG, close::REASON_MESSAGE_TOO_BIG)
        });
    }
    match e {
        WsError::Protocol(_) => Some((close::PROTOCOL_ERROR, close::REASON_WS_PROTOCOL_ERROR)),
        WsError::Utf8 => Some((close::INVALID_PAYLOAD, close::REASON_INVALID_UTF8)),
        _ => None,
    }
}

/// The writer half: sends queued frames, keeps the buffered count, closes on request and
/// ends at once when aborted (a slow consumer's backlog is dropped, not sent).
fn spawn_writer(
    tasks: &tokio_util::task::TaskTracker,
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    mut drain: Drain,
) -> tokio::task::JoinHandle<()> {
    tasks.spawn(async move {
        loop {
            match drain.next().await {
                Next::Send(Outbound::Close(code, reason)) => {
                    let _ = tokio::time::timeout(CLOSE_FLUSH, sink.send(close_msg(code, &reason)))
                        .await;
                    break;
                }
                Next::Send(out) => {
                    drain.sent(&out);
                    let Some(text) = out.into_text() else {
                        continue;
                    };
                    let r = tokio::select! {
                        biased;
                        _ = drain.aborted() => continue,
                        r = sink.send(Message::text(text)) => r,
                    };
                    if r.is_err() {
                        // Refused after the client's close frame (tungstenite sends nothing
                        // once closed by the peer): its echo is still queued, flush it.
                        let _ = tokio::time::timeout(CLOSE_FLUSH, sink.flush()).await;
                        break;
                    }
                }
                Next::Abort(frame) => {
                    if let Some((code, reason)) = frame {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(200),
                            sink.send(close_msg(code, &reason)),
                        )
                        .await;
                    }
                    break;
                }
                // Flushes what tungstenite queued itself (the echo of a client's close).
                Next::Done => {
                    let _ = tokio::time::timeout(CLOSE_FLUSH, sink.flush()).await;
                    break;
                }
            }
        }
    })
}

/// The writer task of a session, awaited at most once to completion.
struct Writer {
    /// `None` once it finished (or was handed to the reaper on drop).
    handle: Option<tokio::task::JoinHandle<()>>,
    tasks: tokio_util::task::TaskTracker,
}

impl Writer {
    /// Wait (bounded) for the writer to finish its last frames.
    async fn wait(&mut self, bound: Duration) {
        if let Some(h) = &mut self.handle {
            if tokio::time::timeout(bound, h).await.is_ok() {
                self.handle = None;
            }
        }
    }

    /// Resolves when the writer ends by itself (the socket failed or it was aborted).
    async fn finished(&mut self) {
        match &mut self.handle {
            Some(h) => {
                let _ = h.await;
                self.handle = None;
            }
            None => std::future::pending().await,
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A session that returns early still lets its writer flush (a close echo), but the
        // writer never outlives it by more than the flush bound.
        if let Some(handle) = self.handle.take() {
            let abort = handle.abort_handle();
            self.tasks.spawn(async move {
                if tokio::time::timeout(CLOSE_FLUSH, handle).await.is_err() {
                    abort.abort();
                }
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    ws: Ws,
    peer: SocketAddr,
    ingress: super::pairing::Ingress,
    preauth: super::guard::PreauthSlot,
    limit: Arc<frame_guard::Limit>,
    gw: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    let conn_id = uuid::Uuid::new_v4().to_string();
    let remote = peer.ip().to_string();
    let (sink, mut source) = ws.split();
    let (outlet, drain) = Outlet::new();
    let mut writer = Writer {
        handle: Some(spawn_writer(&gw.tasks, sink, drain)),
        tasks: gw.tasks.clone(),
    };
    let send = |text: String| outlet.queue(text);
    let close = |code: u16, reason: &str| outlet.close(code, reason);
    // A handshake refused for what the client sent: logged (the doctor's protocol checks
    // read these lines), then closed.
    let refuse = |code: u16, reason: &str| {
        gw.logger.warn(
            "gateway/ws",
            format!(
                "closing conn={conn_id} remote={remote} before connect ({code} {})",
                crate::util::log_safe(reason, 200)
            ),
        );
        outlet.close(code, reason)
    };

    let nonce = uuid::Uuid::new_v4().to_string();
    let challenge = json!({"nonce": nonce, "ts": crate::util::now_ms()});
    send(frame::event(
        m::EV_CONNECT_CHALLENGE,
        Some(&challenge),
        None,
        None,
    ));

    let cfg = gw.config();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(cfg.handshake_timeout_ms);
    // --- handshake ---
    let (req, params) = loop {
        let next = tokio::select! {
            r = tokio::time::timeout_at(deadline, source.next()) => r,
            _ = shutdown.changed() => {
                close(close::SERVICE_RESTART, close::REASON_SERVICE_RESTART);
                break_out(&mut writer, &mut source).await;
                return;
            }
        };
        let msg = match next {
            Err(_) => {
                gw.logger.info(
                    "gateway/ws",
                    format!("handshake timeout conn={conn_id} remote={remote}"),
                );
                close(close::NORMAL, "");
                break_out(&mut writer, &mut source).await;
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                if let Some((code, reason)) = read_failure(&e, &limit, true) {
                    gw.logger.warn(
                        "gateway/ws",
                        format!("closing conn={conn_id} remote={remote} before connect ({code} {reason}): {}", crate::util::log_safe(&e.to_string(), 200)),
                    );
                    close(code, reason);
                    break_out(&mut writer, &mut source).await;
                }
                return;
            }
            Ok(Some(Ok(msg))) => msg,
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                close(close::NORMAL, "");
                break_out(&mut writer, &mut source).await;
                return;
            }
            Message::Close(_) => return,
            _ => continue,
        };
        match frame::parse_request(text.as_str()) {
            Err(FrameError::Malformed) => {
                close(close::NORMAL, "");
                break_out(&mut writer, &mut source).await;
                return;
            }
            Err(FrameError::Invalid { .. }) => {
                refuse(close::POLICY, close::REASON_INVALID_FRAME);
                break_out(&mut writer, &mut source).await;
                return;
            }
            Ok(req) if req.method != m::CONNECT => {
                let e = ErrorShape::invalid("invalid handshake: first request must be connect");
                send(frame::response_err(&req.id, &e));
                refuse(close::POLICY, &e.message);
                break_out(&mut writer, &mut source).await;
                return;
            }
            Ok(req) => match connect::parse(&req.params) {
                Ok(p) => break (req, p),
                Err(why) => {
                    let e = ErrorShape::invalid(format!("invalid connect params: {why}"));
                    send(frame::response_err(&req.id, &e));
                    refuse(close::POLICY, &e.message);
                    break_out(&mut writer, &mut source).await;
                    return;
                }
            },
        }
    };

    // Browser origin and Control UI identity, then the failed-auth lockout.
    let reject = |rej: auth::Rejection| {
        gw.logger.warn(
            "gateway/ws",
            format!(
                "connect rejected conn={conn_id} remote={remote} client={} code={} reason={}",
                params.client_label(),
                rej.error.detail_code().unwrap_or(&rej.error.code),
                rej.error.message
            ),
        );
        send(frame::response_err(&req.id, &rej.error));
        close(rej.close_code, &rej.close_reason);
    };
    if let Err(rej) = super::guard::browser_checks(&params, peer.ip(), &ingress, &cfg.loaded) {
        reject(rej);
        break_out(&mut writer, &mut source).await;
        return;
    }
    let rate = super::guard::rate_target(peer.ip(), &ingress, &cfg.loaded);
    let rate_scope = super::guard::rate_scope(&params);
    let limiter = |t: &super::guard::RateTarget| {
        if t.browser {
            &gw.browser_limiter
        } else {
            &gw.auth_limiter
        }
    };
    if let Some(t) = &rate {
        if let Some(ms) = limiter(t).check(&t.policy, rate_scope, &t.client, crate::util::now_ms())
        {
            reject(super::guard::rate_limited(&params, ms));
            break_out(&mut writer, &mut source).await;
            return;
        }
    }
    // A presented device token is checked against the pairing store here; `authorize`
    // stays pure and only learns whether it verified.
    // The pairing store takes a file lock and may fsync: that runs on the blocking pool, so a
    // CLI holding the lock stalls this handshake only, never the tick or other connections.
    let device_token_ok = match (&params.device, params.auth.device_token.as_deref()) {
        (Some(d), Some(t)) if !t.is_empty() => {
            let role = params
                .role
                .clone()
                .unwrap_or_else(|| scopes::ROLE_OPERATOR.to_string());
            let (store_gw, d, t, wanted) =
                (gw.clone(), d.clone(), t.to_string(), params.scopes.clone());
            let checked = off_the_runtime(move || {
                let r = store_gw.devices.verify_token(
                    &d.id,
                    &d.public_key,
                    &role,
                    &t,
                    &wanted,
                    scopes::satisfies,
                );
                (d.id, r)
            })
            .await;
            match checked {
                Some((_, Ok(Ok(())))) => true,
                Some((id, Ok(Err(why)))) => {
                    gw.logger.warn(
                        "gateway/ws",
                        format!("device token rejected conn={conn_id} device={id} reason={why}"),
                    );
                    false
                }
                Some((_, Err(e))) => {
                    gw.logger
                        .warn("devices", format!("device token check failed: {e}"));
                    false
                }
                None => false,
            }
        }
        _ => false,
    };
    let granted = match auth::authorize_with(
        &params,
        &nonce,
        &cfg.auth,
        crate::util::now_ms(),
        device_token_ok,
    ) {
        Ok(g) => {
            if let Some(t) = &rate {
                limiter(t).reset(rate_scope, &t.client);
            }
            g
        }
        Err(rej) => {
            if let (Some(t), true) = (&rate, super::guard::is_wrong_credential(&rej)) {
                limiter(t).record_failure(&t.policy, rate_scope, &t.client, crate::util::now_ms());
            }
            if rej.close_code == close::PROTOCOL_ERROR {
                gw.logger.warn(
                    "gateway/ws",
                    format!(
                        "protocol mismatch conn={conn_id} remote={remote} client={} min={} max={} expected={}",
                        params.client_label(),
                        params.min_protocol,
                        params.max_protocol,
                        protocol::PROTOCOL_VERSION
                    ),
                );
                send(frame::response_err(&req.id, &rej.error));
                close(rej.close_code, &rej.close_reason);
            } else {
                reject(rej);
            }
            break_out(&mut writer, &mut source).await;
            return;
        }
    };

    // Only operators may connect without a device identity (upstream's
    // roleCanSkipDeviceIdentity); a signed device must be paired (or approved silently as a
    // local client).
    let gate = if granted.role != scopes::ROLE_OPERATOR && params.device.is_none() {
        Err(super::guard::device_identity_required())
    } else if params.device.is_none() {
        Ok(())
    } else {
        let (store_gw, p, g, i, c) = (
            gw.clone(),
            params.clone(),
            granted.clone(),
            ingress.clone(),
            conn_id.clone(),
        );
        let ip = peer.ip();
        off_the_runtime(move || super::pairing::gate(&store_gw, &p, &g, ip, &i, &c))
            .await
            .unwrap_or_else(|| {
                Err(super::pairing::store_failure(std::io::Error::other(
                    "pairing check was cancelled",
                )))
            })
    };
    if let Err(rej) = gate {
        send(frame::response_err(&req.id, &rej.error));
        close(rej.close_code, &rej.close_reason);
        break_out(&mut writer, &mut source).await;
        return;
    }
    let mut granted = granted;
    if let Some(device_id) = granted.device_id.clone() {
        let (store_gw, role, wanted) = (gw.clone(), granted.role.clone(), granted.scopes.clone());
        let issued = off_the_runtime(move || {
            store_gw.devices.ensure_token(
                &device_id,
                &role,
                &wanted,
                scopes::satisfies,
                crate::util::now_ms(),
            )
        })
        .await;
        match issued {
            Some(Ok(t)) => granted.device_token = t,
            Some(Err(e)) => gw
                .logger
                .warn("devices", format!("device token not issued: {e}")),
            None => {}
        }
    }
    let mut client = ClientHandle::new(
        conn_id.clone(),
        granted.role.clone(),
        granted.scopes.clone(),
        outlet.clone(),
    );
    client.device_id = granted.device_id.clone();
    // CLI-mode clients are not tracked in presence (probe-mode clients are).
    if params.client.mode != "cli" {
        let key = granted
            .device_id
            .clone()
            .or_else(|| params.client.instance_id.clone())
            .unwrap_or_else(|| conn_id.clone());
        client.presence_key = Some(key.clone());
        gw.upsert_presence(
            key,
            json!({
                "host": params.client.display_name.clone().unwrap_or_else(|| params.client.id.clone()),
                "ip": remote,
                "version": params.client.version,
                "platform": params.client.platform,
                "deviceFamily": params.client.device_family,
                "mode": params.client.mode,
                "reason": "connect",
                "instanceId": params.client.instance_id,
                "deviceId": granted.device_id,
                "roles": [granted.role],
                "scopes": granted.scopes,
                "ts": crate::util::now_ms(),
            }),
        );
    }
    let presence_key = client.presence_key.clone();
    // From here the client may send anything up to `maxPayload`.
    limit.set(protocol::MAX_PAYLOAD_BYTES);
    send(frame::response_ok(
        &req.id,
        hello_ok(&gw, &granted, &conn_id),
    ));
    if !gw.register(client) {
        // Draining: `register` sent this client the shutdown event and closed it.
        gw.logger.info(
            "gateway/ws",
            format!("conn={conn_id} finished its handshake while the gateway stops; closed"),
        );
    }
    drop(preauth);
    gw.logger.info(
        "gateway/ws",
        format!(
            "client connected conn={conn_id} remote={remote} client={} role={} protocol={} auth={}",
            params.client_label(),
            granted.role,
            granted.protocol,
            granted.method
        ),
    );
    if presence_key.is_some() {
        gw.broadcast_presence();
    }

    // --- request loop ---
    let mut unauthorized_streak = 0u32;
    // The client's close frame, for the disconnect line (none: the socket just ended).
    let mut client_close: Option<(u16, String)> = None;
    let mut in_flight: tokio::task::JoinSet<Finished> = tokio::task::JoinSet::new();
    loop {
        if outlet.is_aborted() {
            gw.logger.warn(
                "gateway",
                format!(
                    "closing slow consumer conn={conn_id} (buffered > {} bytes)",
                    protocol::MAX_BUFFERED_BYTES
                ),
            );
            break;
        }
        let msg = tokio::select! {
            m = source.next() => m,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                let Ok(done) = done else { continue };
                // A method that revoked this connection's own credentials closes it.
                if let Some((code, reason)) = finish_request(&gw, &conn_id, &outlet, done) {
                    close(code, reason);
                    break_out(&mut writer, &mut source).await;
                    break;
                }
                continue;
            }
            _ = shutdown.changed() => {
                break_out(&mut writer, &mut source).await;
                break;
            }
            _ = writer.finished() => break,
        };
        let text = match msg {
            None => break,
            Some(Err(e)) => {
                if let Some((code, reason)) = read_failure(&e, &limit, false) {
                    gw.logger.warn(
                        "gateway/ws",
                        format!(
                            "closing conn={conn_id} remote={remote} ({code} {reason}): {}",
                            crate::util::log_safe(&e.to_string(), 200)
                        ),
                    );
                    close(code, reason);
                    break_out(&mut writer, &mut source).await;
                }
                break;
            }
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                let e =
                    ErrorShape::invalid("invalid request frame: binary frames are not supported");
                outlet.reply(frame::response_err("invalid", &e));
                continue;
            }
            // tungstenite queued the echo; the writer flushes it when the outlet is dropped.
            Some(Ok(Message::Close(frame))) => {
                client_close = Some(frame.map_or((close::NO_STATUS, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                }));
                break;
            }
            Some(Ok(_)) => continue,
        };
        let req = match frame::parse_request(text.as_str()) {
            Ok(r) => r,
            Err(FrameError::Malformed) => {
                outlet.reply(frame::response_err(
                    "invalid",
                    &ErrorShape::invalid("invalid request frame: malformed JSON"),
                ));
                continue;
            }
            Err(FrameError::Invalid { id, why }) => {
                let e = ErrorShape::invalid(format!("invalid request frame: {why}"));
                outlet.reply(frame::response_err(id.as_deref().unwrap_or("invalid"), &e));
                continue;
            }
        };
        if req.method == m::CONNECT {
            outlet.reply(frame::response_err(
                &req.id,
                &ErrorShape::invalid("connect is only valid as the first request"),
            ));
            continue;
        }
        if let Some(e) = authorize_method(&granted, &req.method) {
            outlet.reply(frame::response_err(&req.id, &e));
            unauthorized_streak += 1;
            if unauthorized_streak >= protocol::UNAUTHORIZED_FLOOD_CLOSE_AFTER {
                gw.logger.warn(
                    "gateway/ws",
                    format!(
                        "closing conn={conn_id} remote={remote}: {}",
                        close::REASON_UNAUTHORIZED_FLOOD
                    ),
                );
                close(close::POLICY, close::REASON_UNAUTHORIZED_FLOOD);
                break_out(&mut writer, &mut source).await;
                break;
            }
            continue;
        }
        unauthorized_streak = 0;
        let Some(method) = methods::find(&req.method) else {
            let e = ErrorShape::invalid(format!("unknown method: {}", req.method));
            outlet.reply(frame::response_err(&req.id, &e));
            continue;
        };
        let sync_fn = match method.handler {
            methods::Handler::Inline(f) => f,
            methods::Handler::Blocking(_) | methods::Handler::Async(_) => {
                // Store work on the blocking pool, awaiting work on a task of its own: the
                // reply is sent when it completes; at most MAX_IN_FLIGHT per connection.
                if in_flight.len() >= MAX_IN_FLIGHT {
                    let mut e = ErrorShape::new(
                        crate::protocol::error::UNAVAILABLE,
                        format!("too many requests in flight (max {MAX_IN_FLIGHT}); retry"),
                    );
                    e.retryable = Some(true);
                    outlet.reply(frame::response_err(&req.id, &e));
                    continue;
                }
                let owned = methods::OwnedCaller {
                    conn_id: conn_id.clone(),
                    role: granted.role.clone(),
                    scopes: granted.scopes.clone(),
                    device_id: granted.device_id.clone(),
                };
                let (task_gw, id, params) = (gw.clone(), req.id.clone(), req.params.clone());
                match method.handler {
                    methods::Handler::Blocking(f) => {
                        in_flight.spawn_blocking(move || {
                            let started = std::time::Instant::now();
                            let caller = owned.caller();
                            let out = f(&task_gw, &caller, &params);
                            Finished {
                                id,
                                method: method.name,
                                out,
                                close_after: caller.close_after_reply.take(),
                                started,
                            }
                        });
                    }
                    methods::Handler::Async(f) => {
                        let interim = methods::Interim {
                            outlet: outlet.clone(),
                            id: id.clone(),
                        };
                        in_flight.spawn(async move {
                            let started = std::time::Instant::now();
                            let out = f(task_gw, owned, params, interim).await;
                            Finished {
                                id,
                                method: method.name,
                                out,
                                close_after: None,
                                started,
                            }
                        });
                    }
                    methods::Handler::Inline(_) => unreachable!("matched above"),
                }
                continue;
            }
        };
        let caller = Caller {
            conn_id: &conn_id,
            role: &granted.role,
            scopes: &granted.scopes,
            device_id: granted.device_id.as_deref(),
            close_after_reply: std::cell::Cell::new(None),
        };
        let started = std::time::Instant::now();
        let out = sync_fn(&gw, &caller, &req.params);
        let done = Finished {
            id: req.id,
            method: method.name,
            out,
            close_after: caller.close_after_reply.take(),
            started,
        };
        if let Some((code, reason)) = finish_request(&gw, &conn_id, &outlet, done) {
            close(code, reason);
            break_out(&mut writer, &mut source).await;
            break;
        }
    }

    gw.unregister(&conn_id);
    if let Some(key) = presence_key {
        gw.remove_presence(&key);
        gw.broadcast_presence();
    }
    // As upstream's disconnect lines: the client's code and reason, `n/a` without a close
    // frame.
    let (code, reason) = match &client_close {
        Some((code, reason)) => (code.to_string(), crate::util::log_safe(reason, 123)),
        None => ("n/a".to_string(), String::new()),
    };
    gw.logger.info(
        "gateway/ws",
        format!(
            "client disconnected conn={conn_id} remote={remote} code={code} reason={}",
            if reason.is_empty() { "n/a" } else { &reason }
        ),
    );
    // The last outlet goes: the writer flushes (a close echo tungstenite queued) and ends;
    // `Writer`'s drop aborts it if the socket does not take the flush in time.
    drop(outlet);
    writer.wait(CLOSE_FLUSH).await;
}

/// Run blocking store work (file locks, fsync) on tokio's blocking pool. `None` if the
/// task could not finish (the runtime is shutting down).
async fn off_the_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Requests one connection may have running on the blocking pool at once.
const MAX_IN_FLIGHT: usize = 32;

/// A request that ran: its reply, and the close it asks for (a revoked own credential).
struct Finished {
    id: String,
    method: &'static str,
    out: Result<Value, ErrorShape>,
    close_after: Option<(u16, &'static str)>,
    started: std::time::Instant,
}

/// Log and reply; the close the request asked for, if any.
fn finish_request(
    gw: &Gateway,
    conn_id: &str,
    outlet: &Outlet,
    done: Finished,
) -> Option<(u16, &'static str)> {
    if gw.logger.enabled(crate::logging::Level::Debug) {
        let outcome = match &done.out {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error={}", e.code),
        };
        gw.logger.debug(
            "gateway/ws",
            format!(
                "req conn={conn_id} method={} {outcome} {}ms",
                done.method,
                done.started.elapsed().as_millis()
            ),
        );
    }
    match done.out {
        Ok(payload) => outlet.reply(frame::response_ok(&done.id, payload)),
        Err(e) => outlet.reply(frame::response_err(&done.id, &e)),
    };
    done.close_after
}

/// After queueing a close: let the writer send it and the frames before it (bounded), then
/// wait briefly for the client's echo (RFC 6455 §5.5.1) before the socket is dropped.
async fn break_out(writer: &mut Writer, source: &mut futures_util::stream::SplitStream<Ws>) {
    writer.wait(CLOSE_FLUSH).await;
    let _ = tokio::time::timeout(CLOSE_ECHO, async {
        while let Some(Ok(m)) = source.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Role and scope check for a method (spec 1.14); `Some` is the error to return.
fn authorize_method(g: &auth::Granted, method: &str) -> Option<ErrorShape> {
    match methods::requirement(method) {
        Requirement::Authenticated => None,
        Requirement::NodeRole if g.role == scopes::ROLE_NODE => None,
        Requirement::NodeRole => Some(ErrorShape::invalid(format!(
            "unauthorized role: {}",
            g.role
        ))),
        Requirement::Scope(_) if g.role != scopes::ROLE_OPERATOR => Some(ErrorShape::invalid(
            format!("unauthorized role: {}", g.role),
        )),
        Requirement::Scope(s) if scopes::satisfies(&g.scopes, s) => None,
        Requirement::Scope(s) => {
            let message = format!("missing scope: {s}");
            Some(if g.protocol >= 4 {
                ErrorShape::new(FORBIDDEN, message).with_details(json!({
                    "code": "MISSING_SCOPE", "missingScope": s, "requiredScopes": [s],
                }))
            } else {
                ErrorShape::new(INVALID_REQUEST, message)
            })
        }
    }
}

fn hello_ok(gw: &Gateway, g: &auth::Granted, conn_id: &str) -> Value {
    use crate::protocol::hello::{Features, HelloAuth, HelloOk, Policy, Server, Snapshot};
    let cfg = gw.config();
    let admin = g.scopes.iter().any(|s| s == scopes::ADMIN);
    let snapshot = Snapshot {
        presence: gw.presence_list(),
        health: super::health::get(gw, false),
        state_version: gw.state_version(),
        uptime_ms: gw.uptime_ms(),
        auth_mode: Some(cfg.auth_mode().as_str().to_string()),
        session_defaults: json!({"defaultAgentId": "main", "mainKey": "main", "mainSessionKey": "agent:main:main", "scope": "per-sender"}),
        config_path: admin.then(|| cfg.loaded.path.display().to_string()),
        state_dir: admin.then(|| cfg.state_dir.display().to_string()),
    };
    // v3: `auth` only when a device token was issued; v4: always, with the live role and
    // scopes, plus the device token when there is one.
    let token = g.device_token.as_ref().and_then(|t| {
        Some((
            t.get("token")?.as_str()?.to_string(),
            t.get("rotatedAtMs")
                .or_else(|| t.get("createdAtMs"))
                .cloned()
                .unwrap_or(Value::Null),
        ))
    });
    let auth = (g.protocol >= 4 || token.is_some()).then(|| {
        let (device_token, issued_at_ms) =
            token.map_or((None, None), |(t, at)| (Some(t), Some(at)));
        HelloAuth {
            role: g.role.clone(),
            scopes: g.scopes.clone(),
            method: (g.protocol >= 4).then(|| g.method.to_string()),
            device_token,
            issued_at_ms,
        }
    });
    let hello = HelloOk {
        protocol: g.protocol,
        server: Server {
            version: env!("CARGO_PKG_VERSION").into(),
            conn_id: conn_id.into(),
            boot_id: Some(gw.boot_id.clone()),
        },
        features: Features {
            methods: methods::names().into_iter().map(String::from).collect(),
            events: m::EVENTS.iter().map(|e| e.to_string()).collect(),
        },
        snapshot,
        policy: Policy {
            max_payload: protocol::MAX_PAYLOAD_BYTES as u64,
            max_buffered_bytes: protocol::MAX_BUFFERED_BYTES as u64,
            tick_interval_ms: cfg.tick_interval_ms,
        },
        auth,
        ..HelloOk::default()
    };
    serde_json::to_value(hello).unwrap_or(Value::Null)
}
