//! Criterion benches of the enhancement network's forward pass on CPU: burn flex on one batch of
//! 4 slices at 256² and at 512² with the default configuration (32 channels × 8 layers, 3
//! input slices), and the clarity CPU path (`enhance::cpu`, what `clarity enhance` runs) on one
//! 256² slice of the shipped shape (48 channels × 12 layers, 4 inputs) with each of its two
//! kernels. Weights do not change the work, so freshly initialised networks are timed.
//! Throughput is reported in slices; GFLOP/s = slices/s × FLOPs per slice (printed first).
//!
//! Run with `cargo bench -p clarity-models`. For the comparison with ONNX Runtime on the same
//! network and input, use `scripts/bench_enhance.sh` (`clarity bench enhance`).

use burn::prelude::*;
use clarity_models::enhance::cpu::{ConvKernel, CpuEnhanceNet};
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

fn cpu_path(c: &mut Criterion) {
    let device = Device::flex();
    let cfg = EnhanceNetConfig { noise_channel: true, ..EnhanceNetConfig::new(1, 48, 12) };
    let net = CpuEnhanceNet::from_model(&cfg.init(&device), cfg.context);
    let n = 256;
    eprintln!("48×12 on {n}²: {:.2} GFLOP per slice", cfg.flops_per_slice(n, n) / 1e9);
    let input: Vec<f32> =
        (0..cfg.in_channels() * n * n).map(|i| (i * 7919 % 1000) as f32 / 1000.0).collect();
    let mut g = c.benchmark_group("enhance cpu path 48×12");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    for kernel in [ConvKernel::Auto, ConvKernel::Gemm] {
        g.bench_function(format!("{kernel:?} 1×{n}²"), |b| {
            b.iter(|| net.forward_slab_with(&input, n, n, kernel))
        });
    }
    g.finish();
}

criterion_group!(benches, forward, cpu_path);
criterion_main!(benches);
