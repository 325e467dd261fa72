//! Operating-system facts read without external tools: listeners on a port from
//! `/proc/net/tcp{,6}` and `/proc/<pid>/fd`, process command lines and owners, signals,
//! interface addresses, and inotify file watches. Used by the gateway (port conflicts,
//! `--force`, config reload) and the doctor.

pub mod file;
pub mod ifaddr;
pub mod inotify;
pub mod mem;
pub mod proc;
