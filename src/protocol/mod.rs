//! The OpenClaw gateway wire protocol (v3 and v4): frames, connect params, hello-ok,
//! error shapes and codes, close codes, scopes, and the device-auth payload strings.
//! Pure data and validation; no I/O.

pub mod auth;
pub mod close;
pub mod connect;
pub mod device;
pub mod error;
pub mod frame;
pub mod hello;
pub mod methods;
pub mod scopes;

/// The newest protocol this crate speaks.
pub const PROTOCOL_VERSION: u32 = 4;
/// The oldest protocol this crate still accepts (the April 2026 source tree).
pub const MIN_PROTOCOL_VERSION: u32 = 3;

/// Largest frame accepted before `hello-ok` (close 1009 above it).
pub const MAX_PREAUTH_PAYLOAD_BYTES: usize = 64 * 1024;
/// Largest frame accepted after `hello-ok`, advertised as `policy.maxPayload`.
pub const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;
/// Outbound buffer per socket before slow-consumer handling, `policy.maxBufferedBytes`.
pub const MAX_BUFFERED_BYTES: usize = 50 * 1024 * 1024;
/// Default `policy.tickIntervalMs`.
pub const TICK_INTERVAL_MS: u64 = 30_000;
/// How long a cached health summary is served before a refresh.
pub const HEALTH_REFRESH_INTERVAL_MS: u64 = 60_000;
/// Default time a socket may take to complete `connect` (the v4 gateway's observed value).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 15_000;
/// `restartExpectedMs` announced in the `shutdown` event of an in-process restart.
pub const RESTART_EXPECTED_MS: u64 = 1_500;
/// Consecutive unauthorized calls before the socket is closed.
pub const UNAUTHORIZED_FLOOD_CLOSE_AFTER: u32 = 10;

/// Pick the protocol version to speak with a client announcing `min..=max`.
pub fn negotiate(min: u64, max: u64) -> Option<u32> {
    (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION)
        .rev()
        .find(|v| (min..=max).contains(&u64::from(*v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_highest_common_version() {
        assert_eq!(negotiate(3, 4), Some(4));
        assert_eq!(negotiate(1, 3), Some(3));
        assert_eq!(negotiate(4, 99), Some(4));
        assert_eq!(negotiate(99, 99), None);
        assert_eq!(negotiate(1, 2), None);
    }
}
