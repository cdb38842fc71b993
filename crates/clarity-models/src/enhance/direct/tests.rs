use super::*;
use crate::enhance::cpu::{ConvKernel, CpuEnhanceNet};
use rand::{Rng, SeedableRng};

fn random_layer(ci: usize, co: usize, dilation: usize, rng: &mut rand::rngs::StdRng) -> Conv3x3 {
    let weight = (0..9 * ci * co).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
    let bias = (0..co).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
    Conv3x3 { c_in: ci, c_out: co, weight, bias, dilation }
}

#[test]
fn measures_a_plausible_fma_peak() {
    match fma_peak_gflops(1, 0.02) {
        // One core of anything with AVX2 + FMA does several GFLOP/s; far above 10 TFLOP/s
        // would mean the chains were optimised away or mistimed.
        Some(g) => assert!((1.0..10_000.0).contains(&g), "{g} GFLOP/s"),
        None => assert!(!available(), "AVX2 + FMA present but no peak measured"),
    }
}

/// A whole network on slabs of changing shapes, so that the reused activation planes meet a
/// slab of their own shape (borders must still be zero), one of another shape, and their own
/// again: the direct path equals im2col + gemm on every call.
#[test]
fn reused_planes_give_the_same_network_output() {
    if !available() {
        eprintln!("SKIP reused_planes_give_the_same_network_output: no AVX2 + FMA here");
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let layers = vec![
        random_layer(3, 16, 1, &mut rng),
        random_layer(16, 16, 2, &mut rng),
        random_layer(16, 16, 1, &mut rng),
        random_layer(16, 1, 1, &mut rng),
    ];
    let net = CpuEnhanceNet::new(layers, 1);
    for (h, w) in [(9, 13), (9, 13), (20, 7), (9, 13), (13, 9)] {
        let input: Vec<f32> = (0..3 * h * w).map(|_| rng.gen_range(0f32..1.0)).collect();
        let want = net.forward_slab_with(&input, h, w, ConvKernel::Gemm);
        let got = net.forward_slab_with(&input, h, w, ConvKernel::Auto);
        let diff = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-4, "{h}×{w}: max difference {diff}");
    }
}

/// The direct kernel against im2col + gemm, band by band, over the shapes that exercise
/// each tile width (6, 4, 2, 1 pixels), several 16-channel blocks, taps beyond the image
/// (dilation larger than the image), bands that do not start at row 0 and a call that
/// spans several of the kernel's own bands.
#[test]
fn matches_im2col_gemm() {
    if !available() {
        eprintln!("SKIP matches_im2col_gemm: this CPU has no AVX2 + FMA, the kernel never runs");
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // (c_in, c_out, dilation, h, w, band rows)
    for (ci, co, d, h, w, rows) in [
        (4, 48, 1, 9, 37, 8),
        (48, 48, 1, 12, 64, 5),
        (48, 16, 1, 3, 1, 2),
        (5, 32, 2, 7, 13, 3),
        (16, 64, 8, 4, 11, 4),
        (3, 16, 1, 1, 3, 1),
        (48, 48, 4, 17, 23, 16),
        // The whole image in one call: bands of 8, 8 and 5 rows inside, weights packed once.
        (16, 32, 1, 21, 9, 21),
    ] {
        let layer = random_layer(ci, co, d, &mut rng);
        assert!(supports(&layer));
        let input: Vec<f32> = (0..h * w * ci).map(|_| rng.gen_range(-1f32..1.0)).collect();
        for relu in [false, true] {
            let mut want = vec![0f32; h * w * co];
            let mut got = vec![f32::NAN; h * w * co];
            let mut scratch = Vec::new();
            for (band, (a, b)) in
                want.chunks_mut(rows * w * co).zip(got.chunks_mut(rows * w * co)).enumerate()
            {
                let y0 = band * rows;
                layer.forward_band(&input, h, w, y0, a, relu, &mut scratch, ConvKernel::Gemm);
                layer.forward_band(&input, h, w, y0, b, relu, &mut scratch, ConvKernel::Auto);
            }
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(scale > 0.1, "the layer must produce something here");
            assert!(
                diff <= 1e-5 * scale.max(1.0) * (9 * ci) as f32,
                "c_in {ci} c_out {co} dilation {d} {h}×{w} relu {relu}: max difference {diff}"
            );
            assert!(got.iter().all(|v| v.is_finite()), "every output pixel must be written");
        }
    }
}

/// The backward pass with the direct kernels (weight gradient, and input gradient through
/// the transposed layer where it has 16·k input channels) against im2col + gemm, over
/// shapes that exercise each channel tile (6, 4, 2, 1 input channels), several 16-channel
/// blocks, taps beyond the image and a partial last band.
#[test]
fn backward_matches_im2col_gemm() {
    if !available() {
        eprintln!(
            "SKIP backward_matches_im2col_gemm: this CPU has no AVX2 + FMA, the kernel never runs"
        );
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    // (c_in, c_out, dilation, h, w)
    for (ci, co, d, h, w) in [
        (4, 48, 1, 9, 37),
        (48, 48, 1, 12, 64),
        (13, 16, 2, 7, 5),
        (3, 32, 8, 4, 11),
        (16, 64, 1, 1, 3),
        (48, 48, 4, 19, 23),
    ] {
        let layer = random_layer(ci, co, d, &mut rng);
        let input: Vec<f32> = (0..h * w * ci).map(|_| rng.gen_range(-1f32..1.0)).collect();
        let dz: Vec<f32> = (0..h * w * co).map(|_| rng.gen_range(-1f32..1.0)).collect();
        let run = |kernel| {
            // Non-zero starting gradients: both paths must add to them.
            let mut gw = vec![0.5f32; 9 * ci * co];
            let mut gb = vec![0.25f32; co];
            let mut dx = vec![f32::NAN; h * w * ci];
            let mut scratch = (Vec::new(), Vec::new());
            layer.backward(
                &input,
                h,
                w,
                &dz,
                &mut gw,
                &mut gb,
                Some(&mut dx),
                &mut scratch,
                kernel,
            );
            (gw, gb, dx)
        };
        let (want, got) = (run(ConvKernel::Gemm), run(ConvKernel::Auto));
        let sums = (h * w) as f32;
        for (name, a, b) in
            [("weight", &want.0, &got.0), ("bias", &want.1, &got.1), ("input", &want.2, &got.2)]
        {
            let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(b.iter().all(|v| v.is_finite()), "{name} gradient: every value written");
            assert!(
                diff <= 1e-5 * sums.max(9.0 * co as f32),
                "c_in {ci} c_out {co} dilation {d} {h}×{w}: {name} gradient differs by {diff}"
            );
        }
        let moved = got.0.iter().map(|v| (v - 0.5).abs()).fold(0f32, f32::max);
        assert!(moved > 0.1, "the weight gradient must have been added ({moved})");
    }
}
