//! Message size limits applied while the bytes arrive.
//!
//! tungstenite checks `max_message_size` only as it assembles a message, and its limits are
//! fixed when the stream is built. The gateway needs a limit that changes with the
//! connection's state (64 KiB before `hello-ok`, `maxPayload` after) and that refuses a
//! frame as soon as its header declares too much, before a byte of the payload is buffered.
//! [`Guarded`] sits under tungstenite, follows the frame headers in the byte stream (no
//! buffering: headers are at most 14 bytes) and fails the read the moment a frame, or the
//! fragments of one message, exceed the current limit. The session then closes with 1009.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The limit a connection's reader enforces, shared with its session.
#[derive(Debug)]
pub struct Limit {
    max: AtomicUsize,
    tripped: AtomicBool,
}

impl Limit {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Limit {
            max: AtomicUsize::new(max),
            tripped: AtomicBool::new(false),
        })
    }

    /// Change the limit (after the handshake: from the pre-auth cap to `maxPayload`).
    pub fn set(&self, max: usize) {
        self.max.store(max, Ordering::SeqCst);
    }

    /// Whether a read failed because a message was too large.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }
}

/// Follows WebSocket frame headers through a byte stream (where the parser is in it).
#[derive(Debug, Default)]
pub struct Parser {
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    payload_left: u64,
    /// Data bytes declared so far by the fragments of the current message.
    message: u64,
}

impl Parser {
    /// Follow `bytes`; `Err` as soon as a declared size passes `max`.
    pub fn feed(&mut self, mut bytes: &[u8], max: u64) -> Result<(), u64> {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = (self.payload_left.min(bytes.len() as u64)) as usize;
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let need = self.header_len();
            let take = (need - self.have).min(bytes.len());
            self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            // The length field may make the header longer than first thought.
            if self.have < self.header_len() {
                continue;
            }
            self.frame_header_done(max)?;
        }
        Ok(())
    }

    /// Header bytes needed for what has been read so far (2 until the length byte is in).
    fn header_len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let b1 = self.header[1];
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
    }

    fn frame_header_done(&mut self, max: u64) -> Result<(), u64> {
        let (b0, b1) = (self.header[0], self.header[1]);
        let len = match b1 & 0x7f {
            126 => u16::from_be_bytes([self.header[2], self.header[3]]) as u64,
            127 => u64::from_be_bytes(self.header[2..10].try_into().unwrap_or([0xff; 8])),
            n => n as u64,
        };
        self.have = 0;
        self.payload_left = len;
        let opcode = b0 & 0x0f;
        let fin = b0 & 0x80 != 0;
        if opcode >= 8 {
            // Control frames: tungstenite refuses any over 125 bytes.
            return Ok(());
        }
        if opcode != 0 {
            self.message = 0; // a new message (a stray one is tungstenite's protocol error)
        }
        self.message = self.message.saturating_add(len);
        if self.message > max {
            return Err(self.message);
        }
        if fin {
            self.message = 0;
        }
        Ok(())
    }
}

/// A socket whose reads are checked against a [`Limit`]. Bytes that arrived with the
/// request head reach it first: hyper's upgraded socket serves them before new reads.
pub struct Guarded<S> {
    inner: S,
    limit: Arc<Limit>,
    parser: Parser,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, limit: Arc<Limit>) -> Self {
        Guarded {
            inner,
            limit,
            parser: Parser::default(),
        }
    }

    fn observe(&mut self, bytes: &[u8]) -> io::Result<()> {
        let max = self.limit.max.load(Ordering::SeqCst) as u64;
        self.parser.feed(bytes, max).map_err(|size| {
            self.limit.tripped.store(true, Ordering::SeqCst);
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("message of {size} bytes exceeds the limit of {max} bytes"),
            )
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.limit.tripped() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message size limit exceeded",
            )));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => Poll::Ready(this.observe(&buf.filled()[before..])),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(fin: bool, opcode: u8, len: u64, masked: bool) -> Vec<u8> {
        let mut h = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let m = if masked { 0x80 } else { 0 };
        if len < 126 {
            h.push(m | len as u8);
        } else if len <= u16::MAX as u64 {
            h.push(m | 126);
            h.extend((len as u16).to_be_bytes());
        } else {
            h.push(m | 127);
            h.extend(len.to_be_bytes());
        }
        if masked {
            h.extend([1, 2, 3, 4]);
        }
        h
    }

    #[test]
    fn a_declared_length_over_the_limit_trips_on_the_header() {
        for len in [64 * 1024 + 1, 100 << 20, u64::MAX >> 1] {
            let mut p = Parser::default();
            assert_eq!(p.feed(&header(true, 1, len, true), 64 * 1024), Err(len));
        }
        let mut p = Parser::default();
        assert!(p.feed(&header(true, 1, 64 * 1024, true), 64 * 1024).is_ok());
    }

    #[test]
    fn headers_split_across_reads_and_payloads_are_skipped() {
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend(header(true, 1, 300, true));
            stream.extend(vec![b'x'; 300]);
            stream.extend(header(true, 9, 4, true)); // ping
            stream.extend(b"ping");
        }
        stream.extend(header(true, 1, 70_000, true));
        for cut in [1, 2, 3, 7, 100] {
            let mut p = Parser::default();
            let r: Result<Vec<()>, u64> =
                stream.chunks(cut).map(|c| p.feed(c, 64 * 1024)).collect();
            assert_eq!(r, Err(70_000), "chunks of {cut}");
        }
    }

    #[test]
    fn fragments_count_toward_one_message_and_control_frames_do_not() {
        let mut p = Parser::default();
        let mut s = Vec::new();
        for (i, opcode) in [1u8, 0, 0].iter().enumerate() {
            s.extend(header(false, *opcode, 30_000, true));
            s.extend(vec![0; 30_000]);
            if i == 0 {
                s.extend(header(true, 9, 0, true));
            }
        }
        assert_eq!(p.feed(&s, 64 * 1024), Err(90_000));
        // A finished message resets the count.
        let mut p = Parser::default();
        let mut s = Vec::new();
        for _ in 0..5 {
            s.extend(header(true, 2, 40_000, true));
            s.extend(vec![0; 40_000]);
        }
        assert!(p.feed(&s, 64 * 1024).is_ok());
    }
}
