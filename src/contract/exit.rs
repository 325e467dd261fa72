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
