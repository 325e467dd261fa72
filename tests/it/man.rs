//! The checked-in man pages are generated from the clap definitions; CI verifies they are
//! current. Regenerate with `OPENCLAW_UPDATE_MAN=1 cargo test --test it man_page`.

use clap::CommandFactory;
use std::path::Path;

/// Roff for the long help's "Exit status" and "Environment" blocks.
fn extra_sections() -> String {
    let mut out = String::new();
    for block in openclaw::cli::args::AFTER_HELP.split("\n\n") {
        let mut lines = block.lines();
        let title = lines
            .next()
            .unwrap_or_default()
            .trim_end_matches(':')
            .to_uppercase();
        out.push_str(&format!(".SH \"{title}\"\n.nf\n"));
        for l in lines {
            out.push_str(&l.trim_start().replace('\\', "\\\\").replace('-', "\\-"));
            out.push('\n');
        }
        out.push_str(".fi\n");
    }
    out
}

fn render(cmd: clap::Command, extra: bool) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).unwrap();
    if extra {
        out.extend_from_slice(extra_sections().as_bytes());
    }
    out
}

/// One page per command: `openclaw.1`, then `openclaw-<sub>[-<sub>…].1` for every
/// subcommand (clap's SUBCOMMANDS sections name them so).
fn pages(cmd: clap::Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) {
    // clap takes command names as &'static str (no `string` feature); a test may leak.
    let cmd = cmd.name(&*Box::leak(name.to_string().into_boxed_str()));
    for sub in cmd.get_subcommands() {
        if sub.get_name() != "help" {
            pages(sub.clone(), &format!("{name}-{}", sub.get_name()), out);
        }
    }
    out.push((format!("{name}.1"), render(cmd, name == "openclaw")));
}

#[test]
fn man_page_is_current() {
    let mut all = Vec::new();
    pages(openclaw::cli::args::Cli::command(), "openclaw", &mut all);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("OPENCLAW_UPDATE_MAN").is_some();
    for (file, bytes) in &all {
        let path = dir.join(file);
        if update {
            std::fs::write(&path, bytes).unwrap();
        }
        let checked_in = std::fs::read(&path).unwrap_or_default();
        assert!(
            &checked_in == bytes,
            "man/{file} is stale: run OPENCLAW_UPDATE_MAN=1 cargo test --test it man_page"
        );
    }
    // No page for a command that is gone.
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !all.iter().any(|(f, _)| *f == name) {
            if update {
                std::fs::remove_file(e.path()).unwrap();
            } else {
                panic!("man/{name} has no command: run OPENCLAW_UPDATE_MAN=1 cargo test --test it man_page");
            }
        }
    }
    let text = std::fs::read_to_string(dir.join("openclaw.1")).unwrap();
    assert!(text.contains(".SH \"EXIT STATUS\"") && text.contains("78  configuration invalid"));
    let install = std::fs::read_to_string(dir.join("openclaw-gateway-install.1")).unwrap();
    assert!(install.contains("\\-\\-token"), "{install}");
}

#[test]
fn the_command_line_definition_is_consistent() {
    // clap's own checks (unique ids, valid defaults...) for every subcommand.
    openclaw::cli::args::Cli::command().debug_assert();
}
