//! Operating-system facts read without external tools: listeners on a port from
//! `/proc/net/tcp{,6}` and `/proc/<pid>/fd`, process command lines and owners, signals,
//! and interface addresses. Used by the gateway (port conflicts, `--force`) and the doctor.

pub mod ifaddr;
pub mod proc;
