//! The JSON-lines file log (tslog-compatible records, rolling daily, size-capped with
//! rotation), the human console format, and the tail reader behind `logs.tail`.

pub mod file;
pub mod level;
pub mod record;
pub mod tail;

pub use file::Logger;
pub use level::Level;
