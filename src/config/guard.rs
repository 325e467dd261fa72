//! The older-binary guard: destructive actions refuse when the config was last written by
//! a newer OpenClaw, unless `OPENCLAW_ALLOW_OLDER_BINARY_DESTRUCTIVE_ACTIONS=1`.

use super::env::{self, Env};
use super::load::LoadedConfig;
use super::version;

/// `Err(lines)` when `action` (e.g. "force-kill gateway port listeners") must refuse.
pub fn check_destructive(cfg: &LoadedConfig, env: &Env, action: &str) -> Result<(), Vec<String>> {
    let Some(written) = cfg.last_touched_version() else {
        return Ok(());
    };
    if !version::is_newer_than_current(written) || env.is_truthy(env::ALLOW_OLDER_BINARY) {
        return Ok(());
    }
    let current = version::CURRENT;
    let binary = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "openclaw".into());
    Err(vec![
        format!("Your OpenClaw config was written by version {written}, but this command is running {current} ({binary})."),
        "Check: `openclaw --version`, `which openclaw`, and `openclaw gateway status --deep`.".into(),
        "If unexpected, update PATH so `openclaw` points to the version you want, or reinstall the Gateway service from that same OpenClaw install.".into(),
        format!("Refusing to {action} because this OpenClaw binary ({current}) is older than the config last written by OpenClaw {written}."),
        "Run the newer openclaw binary on PATH, or reinstall the intended gateway service from the newer install.".into(),
        format!("Set {}=1 only for an intentional downgrade or recovery action.", env::ALLOW_OLDER_BINARY),
    ])
}

/// The guard for a service action, worded as upstream words it for the service commands:
/// `Gateway <verb> blocked: Refusing to <action> …` followed by `Tip:` lines.
pub fn check_service_action(
    cfg: &LoadedConfig,
    env: &Env,
    verb: &str,
    action: &str,
) -> Result<(), Vec<String>> {
    check_destructive(cfg, env, action).map_err(|mut lines| {
        for (i, l) in lines.iter_mut().enumerate() {
            match i {
                3 => *l = format!("Gateway {verb} blocked: {l}"),
                4.. => *l = format!("Tip: {l}"),
                _ => {}
            }
        }
        lines
    })
}
