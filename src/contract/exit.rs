//! Enumerated process exit codes, documented in the man page and README.
//!
//! The gateway follows the supervisor conventions of the spec: 78 (`EX_CONFIG`) for a
//! configuration that can never start (systemd `RestartPreventExitStatus=78`), 0 for a clean
//! SIGTERM stop and for "another healthy gateway already owns this", 1 for other fatal errors.

/// Success.
pub const OK: i32 = 0;
/// A fatal runtime error (bind failure, I/O); a supervisor should restart.
pub const FAILURE: i32 = 1;
/// Command-line usage error (clap's convention).
pub const USAGE: i32 = 2;
/// The configuration is invalid or blocks startup; restarting will not help.
pub const CONFIG: i32 = 78;

/// Exit codes of `openclaw gateway probe` and `openclaw health` (Nagios plugin convention).
pub mod probe {
    /// A gateway answered and every read diagnostic succeeded; no warnings.
    pub const HEALTHY: i32 = 0;
    /// Reachable, but diagnostics are incomplete (auth, scopes, pairing) or warnings exist.
    pub const DEGRADED: i32 = 1;
    /// No gateway accepted a connection.
    pub const UNREACHABLE: i32 = 2;
    /// The probe itself could not run (bad arguments, no usable target).
    pub const COULD_NOT_RUN: i32 = 3;
}

/// Exit codes of `openclaw doctor` and `doctor triage`.
pub mod doctor {
    /// No warning or error.
    pub const HEALTHY: i32 = 0;
    /// At least one warning, no error.
    pub const WARNINGS: i32 = 1;
    /// At least one error.
    pub const ERRORS: i32 = 2;
    /// The doctor itself could not run (bad check files, unreadable inputs).
    pub const COULD_NOT_RUN: i32 = 3;
}
