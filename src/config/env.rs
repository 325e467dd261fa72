//! Environment variable names (one place) and a snapshot of the process environment, so
//! that resolution is a pure function of its inputs and testable without touching globals.

use std::collections::HashMap;
use std::path::PathBuf;

pub const STATE_DIR: &str = "OPENCLAW_STATE_DIR";
pub const CONFIG_PATH: &str = "OPENCLAW_CONFIG_PATH";
pub const HOME: &str = "OPENCLAW_HOME";
pub const PROFILE: &str = "OPENCLAW_PROFILE";
pub const GATEWAY_PORT: &str = "OPENCLAW_GATEWAY_PORT";
pub const GATEWAY_TOKEN: &str = "OPENCLAW_GATEWAY_TOKEN";
pub const GATEWAY_PASSWORD: &str = "OPENCLAW_GATEWAY_PASSWORD";
pub const GATEWAY_URL: &str = "OPENCLAW_GATEWAY_URL";
pub const HANDSHAKE_TIMEOUT_MS: &str = "OPENCLAW_HANDSHAKE_TIMEOUT_MS";
pub const TICK_INTERVAL_MS: &str = "OPENCLAW_TICK_INTERVAL_MS";
pub const MAX_PREAUTH_PER_IP: &str = "OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP";
pub const ALLOW_MULTI_GATEWAY: &str = "OPENCLAW_ALLOW_MULTI_GATEWAY";
pub const ALLOW_OLDER_BINARY: &str = "OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS";
pub const LOG_LEVEL: &str = "OPENCLAW_LOG_LEVEL";
pub const NIX_MODE: &str = "OPENCLAW_NIX_MODE";
/// Set (to `openclaw`) in the environment of an installed gateway service.
pub const SERVICE_MARKER: &str = "OPENCLAW_SERVICE_MARKER";
pub const SSH_COMMAND: &str = "OPENCLAW_SSH_COMMAND";
pub const LOG_DIR: &str = "OPENCLAW_LOG_DIR";

/// A snapshot of the environment variables resolution depends on.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A set, non-empty value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.vars.insert(key.to_string(), value.into());
    }

    pub fn is_truthy(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "yes" | "on"))
    }

    /// The home directory: `OPENCLAW_HOME`, else `HOME`, else `/`.
    pub fn home(&self) -> PathBuf {
        self.get(HOME)
            .or_else(|| self.get("HOME"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    /// Names of the variables that are set (values stay private).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Expand a leading `~` against [`Env::home`].
    pub fn expand_home(&self, p: &str) -> PathBuf {
        if p == "~" {
            self.home()
        } else if let Some(rest) = p.strip_prefix("~/") {
            self.home().join(rest)
        } else {
            PathBuf::from(p)
        }
    }
}
