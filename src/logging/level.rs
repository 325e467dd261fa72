//! Log levels with tslog's numeric ids.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn id(self) -> u8 {
        match self {
            Level::Trace => 1,
            Level::Debug => 2,
            Level::Info => 3,
            Level::Warn => 4,
            Level::Error => 5,
            Level::Fatal => 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Parse a config level; `silent` maps to `None` (nothing logged).
    pub fn parse(s: &str) -> Option<Option<Level>> {
        Some(match s.to_ascii_lowercase().as_str() {
            "silent" => None,
            "fatal" => Some(Level::Fatal),
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            "trace" => Some(Level::Trace),
            _ => return None,
        })
    }
}
