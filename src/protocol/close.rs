//! WebSocket close codes and reasons used by the gateway (spec 1.12).

pub const NORMAL: u16 = 1000;
/// RFC 6455 §7.4.1: a close frame without a status code.
pub const NO_STATUS: u16 = 1005;
pub const PROTOCOL_ERROR: u16 = 1002;
/// RFC 6455 §7.4.1: a text frame that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const SERVICE_RESTART: u16 = 1012;
pub const TICK_TIMEOUT: u16 = 4000;
pub const CREDENTIALS_REVOKED: u16 = 4001;

pub const REASON_PROTOCOL_MISMATCH: &str = "protocol mismatch";
pub const REASON_INVALID_FRAME: &str = "invalid request frame";
pub const REASON_PREAUTH_TOO_LARGE: &str = "preauth payload too large";
pub const REASON_MESSAGE_TOO_BIG: &str = "message too big";
pub const REASON_WS_PROTOCOL_ERROR: &str = "protocol error";
pub const REASON_INVALID_UTF8: &str = "invalid utf-8";
pub const REASON_SERVICE_RESTART: &str = "service restart";
pub const REASON_SLOW_CONSUMER: &str = "slow consumer";
pub const REASON_UNAUTHORIZED_FLOOD: &str = "repeated unauthorized calls";
pub const REASON_INVALID_ROLE: &str = "invalid role";
pub const REASON_TICK_TIMEOUT: &str = "tick timeout";
pub const REASON_AUTH_CHANGED: &str = "gateway auth changed";
pub const REASON_DEVICE_REMOVED: &str = "device removed";

/// Close reasons are limited to 123 bytes by RFC 6455; cut on a char boundary.
pub fn truncate_reason(reason: &str) -> String {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason.to_string();
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}
