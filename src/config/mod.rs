//! Configuration: paths and profiles, JSON5 loading with located errors, schema
//! validation, gateway settings (ports, bind, auth), secrets, and crash-safe writes.

pub mod edit;
pub mod env;
pub mod gateway;
pub mod guard;
pub mod json5;
pub mod keypath;
pub mod lkg;
pub mod load;
pub mod paths;
pub mod profiles;
pub mod redact;
pub mod schema;
pub mod secret;
pub mod secrets;
pub mod store;
pub mod upstream_schema;
pub mod version;
pub mod write;

pub use env::Env;
pub use load::{load, ConfigIssue, LoadedConfig};
pub use paths::Paths;
