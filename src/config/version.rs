//! OpenClaw calendar versions (`2026.9.6`, `2026.4.12-beta.1`) and their ordering.

use std::cmp::Ordering;

/// This binary's version.
pub const CURRENT: &str = env!("CARGO_PKG_VERSION");

fn parts(v: &str) -> (Vec<u64>, Option<&str>) {
    let v = v.trim().trim_start_matches('v');
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    (
        core.split('.').map(|p| p.parse().unwrap_or(0)).collect(),
        pre,
    )
}

/// Compare two versions; a pre-release sorts before its release.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ac, ap) = parts(a);
    let (bc, bp) = parts(b);
    let len = ac.len().max(bc.len());
    for i in 0..len {
        let o = ac.get(i).unwrap_or(&0).cmp(bc.get(i).unwrap_or(&0));
        if o != Ordering::Equal {
            return o;
        }
    }
    match (ap, bp) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    }
}

/// True when `config_version` is newer than this binary.
pub fn is_newer_than_current(config_version: &str) -> bool {
    compare(config_version, CURRENT) == Ordering::Greater
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering() {
        assert_eq!(compare("2026.9.6", "2026.10.0"), Ordering::Less);
        assert_eq!(compare("2099.1.1", "2026.9.6"), Ordering::Greater);
        assert_eq!(compare("2026.4.12-beta.1", "2026.4.12"), Ordering::Less);
        assert_eq!(compare("2026.4.12", "2026.4.12"), Ordering::Equal);
        assert!(is_newer_than_current("2099.1.1"));
        assert!(!is_newer_than_current("2026.9.6"));
    }
}
