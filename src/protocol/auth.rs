//! Connect-time auth failures: reasons, detail codes, messages and next steps (spec 1.7).

use super::error::{ErrorShape, INVALID_REQUEST};
use serde_json::json;

/// Why a connect was refused by shared-secret or device-token auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    TokenMissing,
    TokenMismatch,
    TokenNotConfigured,
    PasswordMissing,
    PasswordMismatch,
    PasswordNotConfigured,
    BootstrapTokenInvalid,
    DeviceTokenMismatch,
    RateLimited,
    Unauthorized,
}

impl AuthFailure {
    /// The `authReason` string.
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::TokenMissing => "token_missing",
            AuthFailure::TokenMismatch => "token_mismatch",
            AuthFailure::TokenNotConfigured => "token_missing_config",
            AuthFailure::PasswordMissing => "password_missing",
            AuthFailure::PasswordMismatch => "password_mismatch",
            AuthFailure::PasswordNotConfigured => "password_missing_config",
            AuthFailure::BootstrapTokenInvalid => "bootstrap_token_invalid",
            AuthFailure::DeviceTokenMismatch => "device_token_mismatch",
            AuthFailure::RateLimited => "rate_limited",
            AuthFailure::Unauthorized => "unauthorized",
        }
    }

    /// The `details.code` string.
    pub fn detail_code(self) -> &'static str {
        match self {
            AuthFailure::TokenMissing => "AUTH_TOKEN_MISSING",
            AuthFailure::TokenMismatch => "AUTH_TOKEN_MISMATCH",
            AuthFailure::TokenNotConfigured => "AUTH_TOKEN_NOT_CONFIGURED",
            AuthFailure::PasswordMissing => "AUTH_PASSWORD_MISSING",
            AuthFailure::PasswordMismatch => "AUTH_PASSWORD_MISMATCH",
            AuthFailure::PasswordNotConfigured => "AUTH_PASSWORD_NOT_CONFIGURED",
            AuthFailure::BootstrapTokenInvalid => "AUTH_BOOTSTRAP_TOKEN_INVALID",
            AuthFailure::DeviceTokenMismatch => "AUTH_DEVICE_TOKEN_MISMATCH",
            AuthFailure::RateLimited => "AUTH_RATE_LIMITED",
            AuthFailure::Unauthorized => "AUTH_UNAUTHORIZED",
        }
    }

    fn next_step(self, can_retry_with_device_token: bool) -> &'static str {
        match self {
            AuthFailure::TokenMismatch if can_retry_with_device_token => "retry_with_device_token",
            AuthFailure::TokenMissing
            | AuthFailure::TokenNotConfigured
            | AuthFailure::PasswordMissing
            | AuthFailure::PasswordNotConfigured => "update_auth_configuration",
            AuthFailure::TokenMismatch
            | AuthFailure::PasswordMismatch
            | AuthFailure::DeviceTokenMismatch => "update_auth_credentials",
            AuthFailure::RateLimited => "wait_then_retry",
            _ => "review_auth_configuration",
        }
    }
}

/// Which hint the message carries, from the client's id and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Cli,
    ControlUi,
    Other,
}

impl ClientKind {
    pub fn of(client_id: &str, mode: &str) -> Self {
        if mode == "cli" {
            ClientKind::Cli
        } else if matches!(
            client_id,
            "openclaw-control-ui" | "openclaw-tui" | "webchat-ui"
        ) || mode == "webchat"
        {
            ClientKind::ControlUi
        } else {
            ClientKind::Other
        }
    }
}

fn hint(kind: ClientKind, password: bool, protocol: u32) -> &'static str {
    match (kind, password) {
        // v4 gateways tell CLI clients to use the gateway's own token or to pair.
        (ClientKind::Cli, false) if protocol >= 4 => {
            "use this gateway's gateway.auth.token or pair the device"
        }
        (ClientKind::Cli, false) => "set gateway.remote.token to match gateway.auth.token",
        (ClientKind::Cli, true) => "set gateway.remote.password to match gateway.auth.password",
        (ClientKind::ControlUi, false) => {
            "open the dashboard URL and paste the token in Control UI settings"
        }
        (ClientKind::ControlUi, true) => "enter the password in Control UI settings",
        (ClientKind::Other, false) => "provide gateway auth token",
        (ClientKind::Other, true) => "provide gateway auth password",
    }
}

/// The exact message text for a failure.
pub fn message(failure: AuthFailure, kind: ClientKind, protocol: u32) -> String {
    let token_hint = hint(kind, false, protocol);
    let password_hint = hint(kind, true, protocol);
    match failure {
        AuthFailure::TokenMissing => format!("unauthorized: gateway token missing ({token_hint})"),
        AuthFailure::TokenMismatch => {
            format!("unauthorized: gateway token mismatch ({token_hint})")
        }
        AuthFailure::TokenNotConfigured => {
            "unauthorized: gateway token not configured on gateway (set gateway.auth.token)".into()
        }
        AuthFailure::PasswordMissing => {
            format!("unauthorized: gateway password missing ({password_hint})")
        }
        AuthFailure::PasswordMismatch => {
            format!("unauthorized: gateway password mismatch ({password_hint})")
        }
        AuthFailure::PasswordNotConfigured => {
            "unauthorized: gateway password not configured on gateway (set gateway.auth.password)"
                .into()
        }
        AuthFailure::BootstrapTokenInvalid => {
            "unauthorized: bootstrap token invalid or expired (scan a fresh setup code)".into()
        }
        AuthFailure::DeviceTokenMismatch => {
            "unauthorized: device token mismatch (rotate/reissue device token)".into()
        }
        AuthFailure::RateLimited => {
            "unauthorized: too many failed authentication attempts (retry later)".into()
        }
        AuthFailure::Unauthorized => "unauthorized".into(),
    }
}

/// Which failure an `unauthorized: …` message reports (upstream's probe JSON carries the
/// message and close reason but no `details.code`).
pub fn failure_from_message(message: &str) -> Option<AuthFailure> {
    let m = message.trim_start().strip_prefix("unauthorized")?;
    let table = [
        ("gateway token missing", AuthFailure::TokenMissing),
        ("gateway token mismatch", AuthFailure::TokenMismatch),
        (
            "gateway token not configured",
            AuthFailure::TokenNotConfigured,
        ),
        ("gateway password missing", AuthFailure::PasswordMissing),
        ("gateway password mismatch", AuthFailure::PasswordMismatch),
        (
            "gateway password not configured",
            AuthFailure::PasswordNotConfigured,
        ),
        (
            "bootstrap token invalid",
            AuthFailure::BootstrapTokenInvalid,
        ),
        ("device token mismatch", AuthFailure::DeviceTokenMismatch),
        (
            "too many failed authentication attempts",
            AuthFailure::RateLimited,
        ),
    ];
    let rest = m.strip_prefix(':').map(str::trim_start);
    match rest {
        Some(r) => table
            .iter()
            .find(|(text, _)| r.starts_with(text))
            .map(|(_, f)| *f),
        None if m.trim().is_empty() => Some(AuthFailure::Unauthorized),
        None => None,
    }
}

/// The full error shape sent before closing 1008.
pub fn error_shape(
    failure: AuthFailure,
    kind: ClientKind,
    protocol: u32,
    can_retry_with_device_token: bool,
    retry_after_ms: Option<u64>,
) -> ErrorShape {
    let can_retry = can_retry_with_device_token && failure == AuthFailure::TokenMismatch;
    let mut e =
        ErrorShape::new(INVALID_REQUEST, message(failure, kind, protocol)).with_details(json!({
            "code": failure.detail_code(),
            "authReason": failure.reason(),
            "canRetryWithDeviceToken": can_retry,
            "recommendedNextStep": failure.next_step(can_retry),
        }));
    if let Some(ms) = retry_after_ms {
        e = e.retry_after(ms);
    }
    e
}

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn every_message_reads_back_as_its_failure() {
        for f in [
            AuthFailure::TokenMissing,
            AuthFailure::TokenMismatch,
            AuthFailure::TokenNotConfigured,
            AuthFailure::PasswordMissing,
            AuthFailure::PasswordMismatch,
            AuthFailure::PasswordNotConfigured,
            AuthFailure::BootstrapTokenInvalid,
            AuthFailure::DeviceTokenMismatch,
            AuthFailure::RateLimited,
            AuthFailure::Unauthorized,
        ] {
            for kind in [ClientKind::Cli, ClientKind::ControlUi, ClientKind::Other] {
                assert_eq!(failure_from_message(&message(f, kind, 4)), Some(f));
            }
        }
        assert_eq!(failure_from_message("pairing required"), None);
        assert_eq!(failure_from_message("unauthorizedx"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_token_mismatch_matches_capture() {
        let e = error_shape(
            AuthFailure::TokenMismatch,
            ClientKind::Other,
            4,
            false,
            None,
        );
        assert_eq!(
            e.message,
            "unauthorized: gateway token mismatch (provide gateway auth token)"
        );
        assert_eq!(
            e.details.as_ref().unwrap()["recommendedNextStep"],
            "update_auth_credentials"
        );
    }

    #[test]
    fn cli_hints_differ_by_protocol() {
        assert_eq!(
            message(AuthFailure::TokenMissing, ClientKind::Cli, 3),
            "unauthorized: gateway token missing (set gateway.remote.token to match gateway.auth.token)"
        );
        assert_eq!(
            message(AuthFailure::TokenMismatch, ClientKind::Cli, 4),
            "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)"
        );
    }

    #[test]
    fn device_retry_only_on_token_mismatch() {
        let e = error_shape(AuthFailure::TokenMismatch, ClientKind::Cli, 4, true, None);
        let d = e.details.unwrap();
        assert_eq!(d["canRetryWithDeviceToken"], true);
        assert_eq!(d["recommendedNextStep"], "retry_with_device_token");
        let e = error_shape(AuthFailure::TokenMissing, ClientKind::Cli, 4, true, None);
        assert_eq!(e.details.unwrap()["canRetryWithDeviceToken"], false);
    }

    #[test]
    fn exact_spec_strings() {
        let k = ClientKind::ControlUi;
        assert_eq!(
            message(AuthFailure::TokenMissing, k, 3),
            "unauthorized: gateway token missing (open the dashboard URL and paste the token in Control UI settings)"
        );
        assert_eq!(
            message(AuthFailure::PasswordMismatch, k, 3),
            "unauthorized: gateway password mismatch (enter the password in Control UI settings)"
        );
        assert_eq!(
            message(AuthFailure::RateLimited, k, 3),
            "unauthorized: too many failed authentication attempts (retry later)"
        );
        assert_eq!(
            message(AuthFailure::TokenNotConfigured, k, 3),
            "unauthorized: gateway token not configured on gateway (set gateway.auth.token)"
        );
        assert_eq!(
            message(AuthFailure::PasswordNotConfigured, k, 3),
            "unauthorized: gateway password not configured on gateway (set gateway.auth.password)"
        );
        assert_eq!(
            message(AuthFailure::DeviceTokenMismatch, k, 3),
            "unauthorized: device token mismatch (rotate/reissue device token)"
        );
    }
}
