//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer) and for the bounded
//! corpus replay in the test suite: each takes arbitrary bytes and must neither panic nor
//! hang nor allocate without bound. The inputs are what an unauthenticated client controls:
//! the request head, the WebSocket frames, the connect request.

use crate::gateway::frame_guard::Parser;
use crate::gateway::http;
use serde_json::Value;
use std::io::{Read, Write};

/// A request head as the port reads it: hyper with the gateway's limits, then the front
/// (the upgrade checks, the route table, what the pairing code takes from the headers).
pub fn request_head(data: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let service = hyper::service::service_fn(|req: http::Request| async move {
            let _ = crate::gateway::pairing::Ingress::from_headers(req.headers());
            Ok::<_, std::convert::Infallible>(
                match http::front(req.method(), req.uri().path(), req.headers()) {
                    http::Front::Answer(r) => r,
                    http::Front::Upgrade => http::switching_protocols(req.headers()),
                    http::Front::Route(_) => http::text(hyper::StatusCode::OK, "routed"),
                },
            )
        });
        let conn = http::server().serve_connection(hyper_util::rt::TokioIo::new(server), service);
        let send = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            // Read the answer so the server is never blocked on a full pipe.
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut sink).await;
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            tokio::join!(conn, send)
        })
        .await;
    });
}

/// WebSocket frames as a client sends them: the size guard (whatever the chunking, the same
/// verdict) and tungstenite reading them as the server does.
pub fn ws_frames(data: &[u8]) {
    let Some(first) = data.first() else {
        return;
    };
    let max = crate::protocol::MAX_PREAUTH_PAYLOAD_BYTES as u64;
    let whole = Parser::default().feed(data, max);
    let mut p = Parser::default();
    let cut = usize::from(*first % 13) + 1;
    let pieces: Result<(), u64> = data.chunks(cut).try_for_each(|c| p.feed(c, max));
    assert_eq!(
        whole, pieces,
        "the guard's verdict depends on how the bytes arrived"
    );

    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    let mut ws = WebSocket::from_raw_socket(
        Memory {
            input: std::io::Cursor::new(data),
        },
        Role::Server,
        Some(config),
    );
    for _ in 0..10_000 {
        if ws.read().is_err() {
            break;
        }
    }
}

/// The first request frame: the frame envelope and the connect params.
pub fn connect_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(req) = crate::protocol::frame::parse_request(text) {
        if let Ok(p) = crate::protocol::connect::parse(&req.params) {
            let _ = p.client_label();
        }
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let _ = crate::protocol::connect::parse(&v);
    }
}

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The targets by name (`fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("request_head", request_head),
    ("ws_frames", ws_frames),
    ("connect_frame", connect_frame),
];

/// An in-memory socket: reads the input, discards what is written.
struct Memory<'a> {
    input: std::io::Cursor<&'a [u8]>,
}

impl Read for Memory<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Memory<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
