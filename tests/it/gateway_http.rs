//! HTTP probes served on the gateway port.

use crate::support::*;
use std::io::{Read, Write};
use std::net::TcpStream;

fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn health_ready_and_method_rules() {
    let p = Profile::local_token();
    let gw = Gateway::start(&p, &[], &[]);
    for path in ["/health", "/healthz"] {
        let r = http(gw.port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        assert!(r.ends_with(r#"{"ok":true,"status":"live"}"#), "{r}");
    }
    for path in ["/ready", "/readyz"] {
        let r = http(gw.port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(
            r.starts_with("HTTP/1.1 200 OK") && r.contains(r#""ready":true"#),
            "{r}"
        );
    }
    let head = http(gw.port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    let post = http(
        gw.port,
        "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.contains("Allow: GET, HEAD\r\n"), "{post}");
    let missing = http(gw.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.contains(r#""error":"not found""#),
        "{missing}"
    );
}
