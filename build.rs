//! Embeds `checks/*.toml` into the binary (the doctor's built-in catalogue).

use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=checks");
    let mut files: Vec<_> = std::fs::read_dir("checks")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("/// (file name, contents) of every embedded `checks/*.toml`.\npub const EMBEDDED: &[(&str, &str)] = &[\n");
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // Relative to the crate, not an absolute path: the generated file stays valid when
        // the same target dir builds another checkout.
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/checks/{name}\"))),"
        );
        println!("cargo:rerun-if-changed={}", p.display());
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_checks.rs");
    std::fs::write(dest, out).unwrap();
}
