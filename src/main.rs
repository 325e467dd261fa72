//! The `openclaw` binary: parse arguments, run, exit with the documented code.

fn main() {
    std::process::exit(openclaw::cli::run());
}
