//! Local facts about a gateway installation, gathered without talking to it: where its
//! config and logs are, who listens on its port, its last logged error. `gateway status`,
//! `status` and the doctor's probes share these.

pub mod attribution;
pub mod last_error;
