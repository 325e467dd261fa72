//! Secrets as a type: `Debug` and `Display` never print the value.

use subtle::ConstantTimeEq;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the few places that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison against a presented credential.
    pub fn matches(&self, presented: &str) -> bool {
        let a = self.0.as_bytes();
        let b = presented.as_bytes();
        // Length differences leak only the length, as in upstream's safeEqualSecret.
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// Generate `bytes` random bytes as lowercase hex (24 bytes → 48 hex chars).
    pub fn generate_hex(bytes: usize) -> std::io::Result<Self> {
        let mut buf = vec![0u8; bytes];
        getrandom::getrandom(&mut buf).map_err(std::io::Error::other)?;
        Ok(Secret(hex::encode(buf)))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Placeholder values shipped in `.env.example`, refused at startup.
pub const PLACEHOLDER_TOKEN: &str = "change-me-to-a-long-random-token";
pub const PLACEHOLDER_PASSWORD: &str = "change-me-to-a-strong-password";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert!(s.matches("hunter2"));
        assert!(!s.matches("hunter3"));
        assert!(!s.matches("hunter"));
        assert_eq!(Secret::generate_hex(24).unwrap().expose().len(), 48);
    }
}
