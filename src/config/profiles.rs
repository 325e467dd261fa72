//! Other profiles on this host (`~/.openclaw`, `~/.openclaw-<name>`) and the base ports they
//! use, so a new profile's gateway gets one that collides with none: upstream's
//! multiple-gateways guidance keeps base ports at least 120 apart (each instance reaches
//! base + 110 with its browser control and CDP ports), in steps of 1000 (18789, 19789, …).

use super::env::Env;
use super::gateway::DEFAULT_PORT;
use std::path::{Path, PathBuf};

/// How far apart two base ports must be.
pub const MIN_SPACING: u16 = 120;
/// The step between candidate base ports.
pub const STEP: u16 = 1000;

/// `(port, config path)` of every other profile's config under `$HOME`.
pub fn other_profile_ports(env: &Env, own_config: &Path) -> Vec<(u16, PathBuf)> {
    let home = env.home();
    let Ok(rd) = std::fs::read_dir(&home) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name != ".openclaw" && !name.starts_with(".openclaw-") {
            continue;
        }
        let cfg = e.path().join("openclaw.json");
        if !cfg.is_file() || cfg == own_config {
            continue;
        }
        let loaded = super::load(&cfg, &Env::default());
        let port = loaded
            .get("gateway.port")
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(DEFAULT_PORT);
        out.push((port, cfg));
    }
    out.sort();
    out
}

/// The lowest candidate base port (18789, 19789, …) at least `MIN_SPACING` from every port
/// in `taken` and not listening on this host.
pub fn spaced_port(taken: &[u16]) -> Option<u16> {
    (0..40u16)
        .filter_map(|k| DEFAULT_PORT.checked_add(k * STEP))
        .find(|&p| {
            taken.iter().all(|t| p.abs_diff(*t) >= MIN_SPACING)
                && crate::os::proc::listeners_on_port(p).is_empty()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_spaced_from_every_taken_one() {
        let p = spaced_port(&[18789]).unwrap();
        assert!(p >= 19789 && (p - 18789) % STEP == 0, "{p}");
        let p = spaced_port(&[18789, 19800]).unwrap();
        assert!(p >= 20789, "{p}");
        assert!(spaced_port(&[]).is_some());
    }
}
