//! The profile's state: the SQLite store (`store`, upstream 2026.9.6's
//! `<state>/state/openclaw.sqlite`) with the device pairing and DM pairing tables over it,
//! the CLI's device identity and its token cache. The legacy JSON files of older
//! installations are read until the first change imports them.

pub mod device_auth;
pub mod devices;
pub mod dm_pairing;
pub mod identity;
pub mod store;
