//! Which token or password a client command sends (spec 2.4): explicit flags win; an
//! explicit `--url` never falls back to stored credentials; otherwise the order depends on
//! `gateway.mode`.

use crate::config::env::{self, Env};
use crate::config::secret::Secret;
use crate::config::secrets::resolve_input;
use crate::config::LoadedConfig;

/// Resolved credentials and where they came from (never the values).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    /// `--token`, `gateway.auth.token`, `OPENCLAW_GATEWAY_TOKEN`, `gateway.remote.token`…
    pub token_source: Option<String>,
    pub password_source: Option<String>,
    /// SecretRefs that could not be resolved in this command path (key, why).
    pub unresolved: Vec<(String, String)>,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.token.is_none() && self.password.is_none()
    }
}

pub const URL_OVERRIDE_NEEDS_CREDENTIALS: &str =
    "gateway url override requires explicit credentials";

/// Explicit flags only.
pub fn explicit(token: Option<&str>, password: Option<&str>) -> Credentials {
    let mut c = Credentials::default();
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        c.token = Some(Secret::new(t));
        c.token_source = Some("--token".into());
    }
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        c.password = Some(Secret::new(p));
        c.password_source = Some("--password".into());
    }
    c
}

/// Credentials for the local or configured-remote gateway. `remote` selects the remote
/// order (`gateway.remote.*` first).
pub fn implicit(cfg: &LoadedConfig, env: &Env, remote: bool) -> Credentials {
    let mut c = Credentials::default();
    let mut from_config = |key: &str| -> Option<(Secret, String)> {
        let v = cfg.get(key)?;
        match resolve_input(cfg, v, env) {
            Ok(Some((s, _))) => Some((s, key.to_string())),
            Ok(None) => None,
            Err(why) => {
                c.unresolved.push((key.to_string(), why));
                None
            }
        }
    };
    let env_token = env
        .get(env::GATEWAY_TOKEN)
        .map(|t| (Secret::new(t), env::GATEWAY_TOKEN.to_string()));
    let env_password = env
        .get(env::GATEWAY_PASSWORD)
        .map(|p| (Secret::new(p), env::GATEWAY_PASSWORD.to_string()));
    let (token, password) = if remote {
        let t = from_config("gateway.remote.token")
            .or(env_token)
            .or_else(|| from_config("gateway.auth.token"));
        let p = env_password
            .or_else(|| from_config("gateway.remote.password"))
            .or_else(|| from_config("gateway.auth.password"));
        (t, p)
    } else {
        let t = from_config("gateway.auth.token")
            .or(env_token)
            .or_else(|| from_config("gateway.remote.token"));
        let p = from_config("gateway.auth.password")
            .or(env_password)
            .or_else(|| from_config("gateway.remote.password"));
        (t, p)
    };
    if let Some((s, src)) = token {
        c.token = Some(s);
        c.token_source = Some(src);
    }
    if let Some((s, src)) = password {
        c.password = Some(s);
        c.password_source = Some(src);
    }
    c
}

/// Flags override; else stored credentials (unless the URL was given explicitly).
pub fn resolve(
    cfg: &LoadedConfig,
    env: &Env,
    flag_token: Option<&str>,
    flag_password: Option<&str>,
    remote: bool,
) -> Credentials {
    let e = explicit(flag_token, flag_password);
    if !e.is_empty() {
        return e;
    }
    implicit(cfg, env, remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_from_str;
    use std::path::Path;

    fn cfg(t: &str) -> LoadedConfig {
        load_from_str(Path::new("/c.json"), t, &Env::default())
    }

    #[test]
    fn local_and_remote_orders() {
        let c = cfg(r#"{"gateway": {"auth": {"token": "local"}, "remote": {"token": "remote"}}}"#);
        let env = Env::from_pairs([(env::GATEWAY_TOKEN, "envtok")]);
        assert_eq!(implicit(&c, &env, false).token.unwrap().expose(), "local");
        assert_eq!(implicit(&c, &env, true).token.unwrap().expose(), "remote");
        let only_auth = cfg(r#"{"gateway": {"auth": {"token": "local"}}}"#);
        let r = implicit(&only_auth, &env, true);
        assert_eq!(r.token.unwrap().expose(), "envtok");
        assert_eq!(r.token_source.as_deref(), Some("OPENCLAW_GATEWAY_TOKEN"));
    }

    #[test]
    fn flags_win_and_unresolved_refs_are_reported() {
        let c = cfg(
            r#"{"gateway": {"auth": {"token": {"source": "env", "provider": "default", "id": "NOPE_TOKEN"}}}}"#,
        );
        let r = resolve(&c, &Env::default(), None, None, false);
        assert!(r.token.is_none());
        assert_eq!(r.unresolved[0].0, "gateway.auth.token");
        let r = resolve(&c, &Env::default(), Some("flag"), None, false);
        assert_eq!(r.token_source.as_deref(), Some("--token"));
    }
}
