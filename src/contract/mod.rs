//! What other tools read: exit codes and the JSON contracts. No I/O here.

pub mod doctor;
pub mod exit;
pub mod probe;

/// Version of every JSON document this crate prints for machines.
pub const SCHEMA_VERSION: u32 = 1;
