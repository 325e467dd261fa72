//! State dir, config path and profiles (spec 2.1).

use super::env::{self, Env};
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("Cannot combine --dev with --profile")]
    DevWithProfile,
    #[error("Invalid --profile (use letters, numbers, \"_\", \"-\" only)")]
    InvalidProfile,
}

/// Where this invocation's state and config live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub profile: Option<String>,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
}

fn valid_profile(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Apply `--profile` / `--dev` to the environment the way the upstream CLI does: set
/// `OPENCLAW_PROFILE` and, when unset, `OPENCLAW_STATE_DIR`, `OPENCLAW_CONFIG_PATH`, and (for
/// `--dev`) `OPENCLAW_GATEWAY_PORT=19001`.
pub fn apply_profile(env: &mut Env, profile: Option<&str>, dev: bool) -> Result<(), ProfileError> {
    let name = match (profile, dev) {
        (Some(_), true) => return Err(ProfileError::DevWithProfile),
        (Some(p), false) => p.to_string(),
        (None, true) => "dev".to_string(),
        (None, false) => return Ok(()),
    };
    if !valid_profile(&name) {
        return Err(ProfileError::InvalidProfile);
    }
    env.set(env::PROFILE, name.clone());
    if env.get(env::STATE_DIR).is_none() {
        let dir = if name == "default" {
            env.home().join(".openclaw")
        } else {
            env.home().join(format!(".openclaw-{name}"))
        };
        env.set(env::STATE_DIR, dir.to_string_lossy().to_string());
    }
    if env.get(env::CONFIG_PATH).is_none() {
        let state = env.expand_home(env.get(env::STATE_DIR).unwrap_or_default());
        env.set(
            env::CONFIG_PATH,
            state.join("openclaw.json").to_string_lossy().to_string(),
        );
    }
    if dev && env.get(env::GATEWAY_PORT).is_none() {
        env.set(env::GATEWAY_PORT, "19001");
    }
    Ok(())
}

/// Resolve the state dir and config path from an environment snapshot.
pub fn resolve(env: &Env) -> Paths {
    let home = env.home();
    let state_dir = match env.get(env::STATE_DIR) {
        Some(dir) => env.expand_home(dir),
        None => {
            let current = home.join(".openclaw");
            let legacy = home.join(".clawdbot");
            if !current.exists() && legacy.exists() {
                legacy
            } else {
                current
            }
        }
    };
    let config_path = match env.get(env::CONFIG_PATH) {
        Some(p) => env.expand_home(p),
        None => {
            let current = state_dir.join("openclaw.json");
            let legacy = state_dir.join("clawdbot.json");
            if !current.exists() && legacy.exists() {
                legacy
            } else {
                current
            }
        }
    };
    Paths {
        profile: env.get(env::PROFILE).map(str::to_string),
        state_dir,
        config_path,
    }
}

impl Paths {
    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

/// Show a path with the home directory abbreviated to `~`, as the upstream CLI does.
pub fn display(path: &std::path::Path, env: &Env) -> String {
    let home = env.home();
    match path.strip_prefix(&home) {
        Ok(rest) if home != std::path::Path::new("/") => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs([("HOME", "/nonexistent-home")])
    }

    #[test]
    fn default_paths() {
        let p = resolve(&env());
        assert_eq!(p.state_dir, PathBuf::from("/nonexistent-home/.openclaw"));
        assert_eq!(
            p.config_path,
            PathBuf::from("/nonexistent-home/.openclaw/openclaw.json")
        );
    }

    #[test]
    fn profile_and_dev() {
        let mut e = env();
        apply_profile(&mut e, Some("work"), false).unwrap();
        let p = resolve(&e);
        assert_eq!(
            p.state_dir,
            PathBuf::from("/nonexistent-home/.openclaw-work")
        );
        assert_eq!(p.profile.as_deref(), Some("work"));

        let mut e = env();
        apply_profile(&mut e, None, true).unwrap();
        assert_eq!(e.get(env::GATEWAY_PORT), Some("19001"));
        assert_eq!(
            resolve(&e).state_dir,
            PathBuf::from("/nonexistent-home/.openclaw-dev")
        );

        let mut e = env();
        assert_eq!(
            apply_profile(&mut e, Some("x"), true)
                .unwrap_err()
                .to_string(),
            "Cannot combine --dev with --profile"
        );
        assert_eq!(
            apply_profile(&mut e, Some("a b"), false)
                .unwrap_err()
                .to_string(),
            "Invalid --profile (use letters, numbers, \"_\", \"-\" only)"
        );
    }

    #[test]
    fn explicit_env_wins_over_profile() {
        let mut e = Env::from_pairs([("HOME", "/h"), (env::STATE_DIR, "/s")]);
        apply_profile(&mut e, Some("p"), false).unwrap();
        let p = resolve(&e);
        assert_eq!(p.state_dir, PathBuf::from("/s"));
        assert_eq!(p.config_path, PathBuf::from("/s/openclaw.json"));
    }
}
