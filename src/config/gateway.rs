//! Effective gateway settings from config, environment and flags: port precedence and
//! derived ports (spec 2.4), bind mode → host, and auth mode/secret resolution (spec 1.7).

use super::env::{self, Env};
use super::load::LoadedConfig;
use super::secret::Secret;
use serde_json::Value;

pub const DEFAULT_PORT: u16 = 18789;
pub const DEV_PORT: u16 = 19001;

/// Where the port came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortSource {
    Flag,
    Env,
    Config,
    Default,
}

impl PortSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PortSource::Flag => "--port",
            PortSource::Env => "OPENCLAW_GATEWAY_PORT",
            PortSource::Config => "gateway.port",
            PortSource::Default => "default",
        }
    }
}

/// Parse `OPENCLAW_GATEWAY_PORT`: `NNNN`, `host:NNNN` or `[v6]:NNNN`; anything else ignored.
pub fn parse_env_port(raw: &str) -> Option<u16> {
    let s = raw.trim();
    let digits = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once("]:")?.1
    } else if let Some((_, p)) = s.rsplit_once(':') {
        p
    } else {
        s
    };
    match digits.parse::<u16>() {
        Ok(p) if p > 0 && digits.chars().all(|c| c.is_ascii_digit()) => Some(p),
        _ => None,
    }
}

/// `--port` > `OPENCLAW_GATEWAY_PORT` > `gateway.port` > 18789.
pub fn resolve_port(flag: Option<u16>, env: &Env, cfg: &LoadedConfig) -> (u16, PortSource) {
    if let Some(p) = flag {
        return (p, PortSource::Flag);
    }
    if let Some(p) = env.get(env::GATEWAY_PORT).and_then(parse_env_port) {
        return (p, PortSource::Env);
    }
    if let Some(p) = cfg
        .get("gateway.port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
    {
        if p > 0 {
            return (p, PortSource::Config);
        }
    }
    (DEFAULT_PORT, PortSource::Default)
}

/// Ports derived from the gateway port (spec 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DerivedPorts {
    pub bridge: u16,
    pub browser_control: u16,
    pub canvas_host: u16,
    pub browser_cdp_start: u16,
    pub browser_cdp_end: u16,
}

fn offset(base: u16, by: u16, fallback: u16) -> u16 {
    base.checked_add(by).unwrap_or(fallback)
}

pub fn derived_ports(port: u16) -> DerivedPorts {
    let browser_control = offset(port, 2, DEFAULT_PORT + 2);
    DerivedPorts {
        bridge: offset(port, 1, DEFAULT_PORT + 1),
        browser_control,
        canvas_host: offset(port, 4, DEFAULT_PORT + 4),
        browser_cdp_start: offset(browser_control, 9, 18800),
        browser_cdp_end: offset(browser_control, 108, 18899),
    }
}

/// Bind mode (spec 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    Loopback,
    Lan,
    Tailnet,
    Auto,
    Custom,
}

impl BindMode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "loopback" => BindMode::Loopback,
            "lan" => BindMode::Lan,
            "tailnet" => BindMode::Tailnet,
            "auto" => BindMode::Auto,
            "custom" => BindMode::Custom,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BindMode::Loopback => "loopback",
            BindMode::Lan => "lan",
            BindMode::Tailnet => "tailnet",
            BindMode::Auto => "auto",
            BindMode::Custom => "custom",
        }
    }
}

/// Resolve a bind mode to the host to listen on. `tailnet_addr` is this host's Tailscale
/// (100.64.0.0/10) address when it has one.
pub fn bind_host(mode: BindMode, custom_host: Option<&str>, tailnet_addr: Option<&str>) -> String {
    match mode {
        BindMode::Loopback | BindMode::Auto => "127.0.0.1".into(),
        BindMode::Lan => "0.0.0.0".into(),
        BindMode::Tailnet => tailnet_addr.unwrap_or("127.0.0.1").into(),
        BindMode::Custom => custom_host
            .filter(|h| !h.trim().is_empty())
            .unwrap_or("0.0.0.0")
            .into(),
    }
}

pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Auth mode (spec 1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    None,
    Token,
    Password,
    TrustedProxy,
}

impl AuthMode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => AuthMode::None,
            "token" => AuthMode::Token,
            "password" => AuthMode::Password,
            "trusted-proxy" => AuthMode::TrustedProxy,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Token => "token",
            AuthMode::Password => "password",
            AuthMode::TrustedProxy => "trusted-proxy",
        }
    }
}

/// Where a secret came from (never the value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    Flag,
    Config,
    /// A SecretRef, named by its `source:provider:id` key.
    ConfigRef(String),
    Env,
}

/// Resolved auth settings for the gateway.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// True when `gateway.auth.mode` (or `--auth`) set the mode explicitly.
    pub mode_explicit: bool,
    pub token: Option<(Secret, SecretSource)>,
    pub password: Option<(Secret, SecretSource)>,
}

impl AuthSettings {
    /// Does `presented` prove the shared secret of this mode (any caller in mode `none`)?
    /// For the HTTP endpoints' bearer auth; the WebSocket handshake keeps its own per-field
    /// checks for its detailed refusal codes.
    pub fn accepts_shared_secret(&self, presented: Option<&str>) -> bool {
        let expected = match self.mode {
            AuthMode::None => return true,
            AuthMode::Token => &self.token,
            AuthMode::Password => &self.password,
            _ => return false,
        };
        matches!((expected, presented), (Some((s, _)), Some(p)) if !p.is_empty() && s.matches(p))
    }
}

/// Resolve auth from config (`gateway.auth.*`), env and flags. Flags win, then config,
/// then `OPENCLAW_GATEWAY_TOKEN` / `OPENCLAW_GATEWAY_PASSWORD`.
pub fn resolve_auth(
    cfg: &LoadedConfig,
    env: &Env,
    flag_mode: Option<AuthMode>,
    flag_token: Option<&str>,
    flag_password: Option<&str>,
) -> Result<AuthSettings, String> {
    let token = match flag_token {
        Some(t) if !t.is_empty() => Some((Secret::new(t), SecretSource::Flag)),
        _ => match cfg.get("gateway.auth.token") {
            Some(v) => super::secrets::resolve_input(cfg, v, env)?,
            None => None,
        }
        .or_else(|| {
            env.get(env::GATEWAY_TOKEN)
                .map(|t| (Secret::new(t), SecretSource::Env))
        }),
    };
    let password = match flag_password {
        Some(p) if !p.is_empty() => Some((Secret::new(p), SecretSource::Flag)),
        _ => match cfg.get("gateway.auth.password") {
            Some(v) => super::secrets::resolve_input(cfg, v, env)?,
            None => None,
        }
        .or_else(|| {
            env.get(env::GATEWAY_PASSWORD)
                .map(|p| (Secret::new(p), SecretSource::Env))
        }),
    };
    let configured = cfg.get_str("gateway.auth.mode").and_then(AuthMode::parse);
    let (mode, mode_explicit) = match (flag_mode, configured) {
        (Some(m), _) => (m, true),
        (None, Some(m)) => (m, true),
        (None, None) => match (&token, &password) {
            (Some(_), Some(_)) => {
                return Err("gateway auth has both a token and a password configured; set gateway.auth.mode to \"token\" or \"password\"".into())
            }
            (None, Some(_)) => (AuthMode::Password, false),
            _ => (AuthMode::Token, false),
        },
    };
    Ok(AuthSettings {
        mode,
        mode_explicit,
        token,
        password,
    })
}

/// `commands.restart` (default true): may the gateway be restarted in process (SIGUSR1,
/// `gateway.restart.request`, `openclaw gateway restart` of a foreground gateway)?
pub fn restart_allowed(cfg: &crate::config::LoadedConfig) -> bool {
    cfg.get("commands.restart")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_from_str;
    use std::path::Path;

    fn cfg(text: &str) -> LoadedConfig {
        load_from_str(Path::new("/c.json"), text, &Env::default())
    }

    #[test]
    fn port_precedence() {
        let c = cfg(r#"{"gateway": {"port": 20000}}"#);
        let env = Env::from_pairs([(env::GATEWAY_PORT, "127.0.0.1:21000")]);
        assert_eq!(
            resolve_port(Some(22000), &env, &c),
            (22000, PortSource::Flag)
        );
        assert_eq!(resolve_port(None, &env, &c), (21000, PortSource::Env));
        assert_eq!(
            resolve_port(None, &Env::default(), &c),
            (20000, PortSource::Config)
        );
        assert_eq!(
            resolve_port(None, &Env::default(), &cfg("{}")),
            (18789, PortSource::Default)
        );
        assert_eq!(parse_env_port("[::1]:19001"), Some(19001));
        assert_eq!(parse_env_port("nope"), None);
        assert_eq!(parse_env_port("12ab"), None);
    }

    #[test]
    fn derived() {
        let d = derived_ports(18789);
        assert_eq!(
            (d.bridge, d.browser_control, d.canvas_host),
            (18790, 18791, 18793)
        );
        assert_eq!((d.browser_cdp_start, d.browser_cdp_end), (18800, 18899));
    }

    #[test]
    fn auth_inference() {
        let a = resolve_auth(&cfg("{}"), &Env::default(), None, None, None).unwrap();
        assert_eq!((a.mode, a.mode_explicit), (AuthMode::Token, false));
        assert!(a.token.is_none());
        let a = resolve_auth(
            &cfg(r#"{"gateway":{"auth":{"password":"p"}}}"#),
            &Env::default(),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(a.mode, AuthMode::Password);
        let env = Env::from_pairs([(env::GATEWAY_TOKEN, "envtok")]);
        let a = resolve_auth(
            &cfg(r#"{"gateway":{"auth":{"token":"cfgtok"}}}"#),
            &env,
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(a.token.unwrap().0.expose(), "cfgtok");
        assert!(resolve_auth(
            &cfg(r#"{"gateway":{"auth":{"token":"t","password":"p"}}}"#),
            &Env::default(),
            None,
            None,
            None
        )
        .is_err());
    }

    #[test]
    fn binds() {
        assert_eq!(bind_host(BindMode::Lan, None, None), "0.0.0.0");
        assert_eq!(bind_host(BindMode::Tailnet, None, None), "127.0.0.1");
        assert_eq!(
            bind_host(BindMode::Custom, Some("10.0.0.5"), None),
            "10.0.0.5"
        );
        assert!(
            is_loopback_host("127.0.0.1")
                && is_loopback_host("::1")
                && !is_loopback_host("0.0.0.0")
        );
    }
}
