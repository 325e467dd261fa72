//! The fuzz corpus (`fuzz/corpus/<target>/`) replayed through the fuzz targets' entry points
//! on stable Rust, with a bounded set of deterministic mutations of each input: truncations,
//! byte flips and repeats. A crash that `cargo fuzz` found is fixed by adding its input here.

use std::path::Path;

/// Deterministic variants of one input (at most 64).
fn variants(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![data.to_vec()];
    let n = data.len();
    for cut in [1, 2, 3, 7, 14, n / 2, n.saturating_sub(1)] {
        if cut < n {
            out.push(data[..cut].to_vec());
            out.push(data[cut..].to_vec());
        }
    }
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..24 {
        if n == 0 {
            break;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let mut v = data.to_vec();
        let i = x as usize % n;
        v[i] ^= (x >> 8) as u8 | 1;
        out.push(v);
    }
    out.push(data.repeat(3));
    out.truncate(64);
    out
}

#[test]
fn the_fuzz_corpus_replays_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in openclaw::fuzzing::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {name}");
        for f in files.iter().take(1000) {
            let data = std::fs::read(f).unwrap();
            for v in variants(&data) {
                let r = std::panic::catch_unwind(|| target(&v));
                assert!(r.is_ok(), "{name} panicked on a variant of {}", f.display());
                replayed += 1;
            }
        }
    }
    assert!(replayed > 100, "{replayed}");
}
