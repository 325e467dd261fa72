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

#[test]
fn man_page_is_current() {
    let root = openclaw::cli::args::Cli::command();
    let gateway = root
        .find_subcommand("gateway")
        .unwrap()
        .clone()
        .name("openclaw-gateway");
    let devices = root
        .find_subcommand("devices")
        .unwrap()
        .clone()
        .name("openclaw-devices");
    let pairing = root
        .find_subcommand("pairing")
        .unwrap()
        .clone()
        .name("openclaw-pairing");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    for (file, bytes) in [
        ("openclaw.1", render(root, true)),
        ("openclaw-gateway.1", render(gateway, false)),
        ("openclaw-devices.1", render(devices, false)),
        ("openclaw-pairing.1", render(pairing, false)),
    ] {
        let path = dir.join(file);
        if std::env::var_os("OPENCLAW_UPDATE_MAN").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let checked_in = std::fs::read(&path).unwrap_or_default();
        assert!(
            checked_in == bytes,
            "man/{file} is stale: run OPENCLAW_UPDATE_MAN=1 cargo test --test it man_page"
        );
    }
    let text = std::fs::read_to_string(dir.join("openclaw.1")).unwrap();
    assert!(text.contains(".SH \"EXIT STATUS\"") && text.contains("78  configuration invalid"));
}

#[test]
fn the_command_line_definition_is_consistent() {
    // clap's own checks (unique ids, valid defaults...) for every subcommand.
    openclaw::cli::args::Cli::command().debug_assert();
}
