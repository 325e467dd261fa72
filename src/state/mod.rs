//! Files under the state dir, one store per file type, each written atomically.

pub mod devices;
pub mod identity;
