//! Mutation check of the readers: every DICOM and NIfTI file under a folder, damaged many ways
//! ([`clarity_io::damage::damage`]: bytes overwritten, mostly in the header; truncated; a field
//! set to an extreme; a run repeated or removed), must give a volume or an error, never a
//! panic. Prints each panic with the file, the mutation's seed and the message, keeps the
//! damaged copy, and exits non-zero when there was one; then the five slowest copies (a damaged
//! length the readers believe shows up as seconds there).
//!
//! `cargo run --release -p clarity-io --example mutate_corpus -- ../shared/data 200`
//! (200 mutations per file; a file's mutations are the same on every run).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clarity_io::damage::Outcome;
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("../shared/data"));
    let per_file: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
    let list = clarity_io::damage::corpus_files(&root);
    eprintln!("{} files under {}, {per_file} mutations each", list.len(), root.display());
    // Panics are what this looks for; keep the default hook from printing each one twice.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = std::env::temp_dir().join(format!("mutate_corpus_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let (panics, errors, reads) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let slowest: Mutex<Vec<(Duration, String, u64)>> = Mutex::new(Vec::new());
    list.par_iter().enumerate().for_each(|(n, path)| {
        let Ok(bytes) = std::fs::read(path) else { return };
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for seed in 0..per_file {
            let damaged = clarity_io::damage::corpus_copy(&bytes, n, seed);
            let tmp = dir.join(format!("{n}_{seed}_{name}"));
            std::fs::write(&tmp, &damaged).expect("write the damaged copy");
            let started = Instant::now();
            let outcome = clarity_io::damage::read_damaged(&tmp);
            {
                let mut slowest = slowest.lock().unwrap();
                slowest.push((started.elapsed(), path.display().to_string(), seed));
                slowest.sort_by_key(|entry| std::cmp::Reverse(entry.0));
                slowest.truncate(5);
            }
            match outcome {
                Outcome::Read => drop(reads.fetch_add(1, Ordering::Relaxed)),
                Outcome::Error(_) => drop(errors.fetch_add(1, Ordering::Relaxed)),
                Outcome::Panic(msg) => {
                    panics.fetch_add(1, Ordering::Relaxed);
                    println!("PANIC {} seed {seed}: {msg}", path.display());
                    let keep = dir.join(format!("panic_{n}_{seed}_{name}"));
                    let _ = std::fs::copy(&tmp, &keep);
                }
            }
            let _ = std::fs::remove_file(&tmp);
        }
    });
    let panics = panics.into_inner();
    println!(
        "{} read, {} errors, {panics} panics (damaged copies that panicked kept in {})",
        reads.into_inner(),
        errors.into_inner(),
        dir.display()
    );
    for (took, path, seed) in slowest.into_inner().unwrap() {
        println!("slow: {path} seed {seed}: {:.1} ms", took.as_secs_f64() * 1e3);
    }
    if panics > 0 {
        std::process::exit(1);
    }
}
