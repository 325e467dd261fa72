//! The `ErrorShape` of failed responses and the top-level error codes (spec 1.11).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
pub const NOT_PAIRED: &str = "NOT_PAIRED";
pub const NOT_LINKED: &str = "NOT_LINKED";
pub const AGENT_TIMEOUT: &str = "AGENT_TIMEOUT";
pub const UNAVAILABLE: &str = "UNAVAILABLE";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const APPROVAL_NOT_FOUND: &str = "APPROVAL_NOT_FOUND";

/// `{code, message, details?, retryable?, retryAfterMs?}`, a closed object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorShape {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorShape {
            code: code.to_string(),
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID_REQUEST, message)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(ms);
        self
    }

    /// The detail code (`error.details.code`) when present.
    pub fn detail_code(&self) -> Option<&str> {
        self.details.as_ref()?.get("code")?.as_str()
    }
}

impl std::fmt::Display for ErrorShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(code) = self.detail_code() {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}
