//! What client commands share: the environment, resolved paths and the loaded config.

use crate::config::{self, Env, LoadedConfig, Paths};

pub struct Context {
    pub env: Env,
    pub paths: Paths,
    pub config: LoadedConfig,
}

impl Context {
    pub fn load(env: Env) -> Self {
        let paths = config::paths::resolve(&env);
        let config = config::load(&paths.config_path, &env);
        Context { env, paths, config }
    }

    /// Warn (stderr) about config problems that change what a client command does.
    pub fn warn_config(&self) {
        for issue in &self.config.issues {
            if issue.kind == config::load::IssueKind::NewerVersion
                || issue.severity == config::load::Severity::Error
            {
                eprintln!("warning: {}", issue.render(&self.config.path));
            }
        }
    }
}
