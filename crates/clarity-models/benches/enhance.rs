//! Criterion benches of the enhancement network's forward pass on CPU (burn flex): one batch of
//! 4 slices at 256² and at 512², with the shipped configuration (32 channels × 8 layers, 3
//! input slices). Weights do not change the work, so a freshly initialised network is timed.
//! Throughput is reported in slices; GFLOP/s = slices/s × FLOPs per slice (printed first).
//!
//! Run with `cargo bench -p clarity-models`. For the comparison with ONNX Runtime on the same
//! network and input, use `scripts/bench_enhance.sh` (`clarity bench enhance`).

use burn::prelude::*;
use clarity_models::enhance::EnhanceNetConfig;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn forward(c: &mut Criterion) {
    let device = Device::flex();
    let cfg = EnhanceNetConfig::default();
    let model = cfg.init(&device);
    let batch = 4;
    let mut g = c.benchmark_group("enhance forward");
    g.sample_size(10);
    for n in [256, 512] {
        eprintln!("{n}²: {:.2} GFLOP per slice", cfg.flops_per_slice(n, n) / 1e9);
        let x = Tensor::<4>::random(
            [batch, cfg.in_channels(), n, n],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("{batch}×{n}²"), |b| {
            b.iter(|| model.forward(x.clone()).into_data())
        });
    }
    g.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
