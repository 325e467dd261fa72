//! Files under the state dir, one store per file type, each written atomically.

pub mod device_auth;
pub mod devices;
pub mod identity;
