//! Training [`super::EnhanceNet`] on the CPU with hand-written back-propagation.
//!
//! Why not burn's autodiff here: on 2 cores burn `flex` ran this network at ~37 GFLOP/s, so a
//! step of 16 patches of 64² took ~1.2 s and a session of CPU time bought only a few thousand
//! steps. The network is a plain stack of 3×3 convolutions with ReLU and a residual
//! connection, so its backward pass is two products per layer: the input gradient is the
//! forward convolution of `∂Z` with the taps mirrored and the channels swapped, and the weight
//! gradient sums each tap's input against `∂Z` over the pixels. Where the CPU has AVX2 + FMA
//! and a layer has 16·k output channels, all three (forward, input and weight gradients) run
//! the direct kernels of [`super::direct`]; otherwise im2col + `gemm` (`∂W = colsᵀ·∂Z`,
//! `∂cols = ∂Z·Wᵀ` folded back onto the pixels). Images of a batch run in parallel, each on
//! one thread with its own gradient buffers, summed at the end. The result is checked against
//! burn's autodiff in the tests. burn stays the source of truth for the model (configuration,
//! initialisation, safetensors IO) and trains it on CUDA.

use rayon::prelude::*;

use super::cpu::{channels_last, Conv3x3, ConvKernel, CpuEnhanceNet};
use super::data::Batch;
use super::train::Loss;

/// A network with `cfg`'s architecture, initialised from `seed` alone: He-normal weights
/// (σ = √(2 / 9·c_in)), zero biases, and a zero tail so it starts as the identity, as
/// [`super::EnhanceNetConfig::init`] does. burn's initialisers draw from a process-wide
/// generator that other threads also draw from, so two runs with one seed could start apart.
pub(crate) fn seeded_init(cfg: &super::EnhanceNetConfig, seed: u64) -> CpuEnhanceNet {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xC0DE_1417);
    let mut normal = move || -> f32 {
        // Box-Muller.
        let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let (i, c) = (cfg.in_channels(), cfg.channels);
    let shapes: Vec<(usize, usize)> = std::iter::once((i, c))
        .chain((0..cfg.depth.saturating_sub(2)).map(|_| (c, c)))
        .chain(std::iter::once((c, 1)))
        .collect();
    let last = shapes.len() - 1;
    let layers = shapes
        .iter()
        .enumerate()
        .map(|(l, &(c_in, c_out))| {
            let std = (2.0 / (9 * c_in) as f32).sqrt();
            let weight = (0..9 * c_in * c_out)
                .map(|_| if l == last { 0.0 } else { std * normal() })
                .collect();
            Conv3x3 { c_in, c_out, weight, bias: vec![0.0; c_out], dilation: cfg.dilation(l) }
        })
        .collect();
    CpuEnhanceNet::new(layers, cfg.context)
}

/// Gradients in the layout of [`Conv3x3`]: per layer `(weight, bias)`.
pub(crate) type Grads = Vec<(Vec<f32>, Vec<f32>)>;

pub(crate) fn zero_grads(net: &CpuEnhanceNet) -> Grads {
    net.layers.iter().map(|l| (vec![0f32; l.weight.len()], vec![0f32; l.bias.len()])).collect()
}

fn add_into(acc: &mut Grads, other: &Grads) {
    for ((aw, ab), (ow, ob)) in acc.iter_mut().zip(other) {
        aw.iter_mut().zip(ow).for_each(|(a, o)| *a += o);
        ab.iter_mut().zip(ob).for_each(|(a, o)| *a += o);
    }
}

/// Forward and backward of one image (`input` `[c, h, w]` channel-first as in a [`Batch`],
/// `target` `[h, w]`); `loss` summed over its pixels is returned and `scale`·∂(that sum)
/// accumulated into `grads`.
#[allow(clippy::too_many_arguments)]
fn image_step(
    net: &CpuEnhanceNet,
    input: &[f32],
    target: &[f32],
    h: usize,
    w: usize,
    scale: f32,
    loss_fn: Loss,
    grads: &mut Grads,
    kernel: ConvKernel,
) -> f64 {
    let plane = h * w;
    let acts = forward_activations(net, input, h, w, kernel);
    // Output = centre slice + residual; the loss against the target.
    let centre = &input[net.context * plane..(net.context + 1) * plane];
    let residual = &acts[net.layers.len()];
    let mut loss = 0f64;
    let g: Vec<f32> = (0..plane)
        .map(|p| {
            let (l, dl) = loss_fn.of(centre[p] + residual[p] - target[p], target[p]);
            loss += l;
            scale * dl
        })
        .collect(); // ∂loss/∂residual, [h, w, 1]
    backward_activations(net, &acts, h, w, g, grads, kernel);
    loss
}

/// Every layer's input and the last layer's output (the residual, `[h, w]`) for one image
/// (`input` `[c, h, w]` channel-first); channels-last, `acts[l]` is the input of layer `l`.
pub(crate) fn forward_activations(
    net: &CpuEnhanceNet,
    input: &[f32],
    h: usize,
    w: usize,
    kernel: ConvKernel,
) -> Vec<Vec<f32>> {
    let plane = h * w;
    let n_layers = net.layers.len();
    let mut acts = Vec::with_capacity(n_layers + 1);
    acts.push(channels_last(input, net.layers[0].c_in, plane));
    let mut cols = Vec::new();
    for (i, layer) in net.layers.iter().enumerate() {
        let mut out = vec![0f32; plane * layer.c_out];
        // The direct kernel takes the whole image at once (it bands it and packs its weights
        // once); im2col's bands bound its matrix.
        let rows = if layer.direct(kernel) { h.max(1) } else { layer.forward_rows(w, kernel) };
        for (band, dst) in out.chunks_mut(rows * w * layer.c_out).enumerate() {
            let relu = i + 1 != n_layers;
            layer.forward_band(&acts[i], h, w, band * rows, dst, relu, &mut cols, kernel);
        }
        acts.push(out);
    }
    acts
}

/// Back-propagate `g` = ∂loss/∂residual (`[h, w]`) through the activations of
/// [`forward_activations`], accumulating into `grads`.
pub(crate) fn backward_activations(
    net: &CpuEnhanceNet,
    acts: &[Vec<f32>],
    h: usize,
    w: usize,
    mut g: Vec<f32>,
    grads: &mut Grads,
    kernel: ConvKernel,
) {
    let plane = h * w;
    let n_layers = net.layers.len();
    let mut scratch = (Vec::new(), Vec::new());
    for i in (0..n_layers).rev() {
        let layer = &net.layers[i];
        if i + 1 != n_layers {
            // Through the ReLU: the gradient passes where the output was positive.
            for (gv, a) in g.iter_mut().zip(&acts[i + 1]) {
                if *a <= 0.0 {
                    *gv = 0.0;
                }
            }
        }
        let (gw, gb) = &mut grads[i];
        if i == 0 {
            layer.backward(&acts[0], h, w, &g, gw, gb, None, &mut scratch, kernel);
        } else {
            let mut dx = vec![0f32; plane * layer.c_in];
            layer.backward(
                &acts[i],
                h,
                w,
                &g,
                gw,
                gb,
                Some(&mut dx),
                &mut scratch,
                ConvKernel::Auto,
            );
            g = dx;
        }
    }
}

/// Mean loss of the batch and its gradients (of that mean).
pub(crate) fn loss_and_grads(
    net: &CpuEnhanceNet,
    batch: &Batch,
    loss: Loss,
    kernel: ConvKernel,
) -> (f64, Grads) {
    let (p, ch) = (batch.patch, batch.channels);
    let n_px = (batch.batch * p * p) as f32;
    // Per-image gradients in parallel, summed in image order: the result does not depend on
    // how the threads split the work, so a resumed run repeats an uninterrupted one exactly.
    let per_image: Vec<(f64, Grads)> = (0..batch.batch)
        .into_par_iter()
        .map(|b| {
            let mut grads = zero_grads(net);
            let input = &batch.input[b * ch * p * p..(b + 1) * ch * p * p];
            let target = &batch.target[b * p * p..(b + 1) * p * p];
            let l = image_step(net, input, target, p, p, 1.0 / n_px, loss, &mut grads, kernel);
            (l, grads)
        })
        .collect();
    let mut grads = zero_grads(net);
    let mut loss = 0f64;
    for (l, g) in &per_image {
        loss += l;
        add_into(&mut grads, g);
    }
    (loss / n_px as f64, grads)
}

/// Adam (Kingma & Ba) with bias correction over the parameters of a [`CpuEnhanceNet`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Adam {
    pub(crate) t: u64,
    pub(crate) m: Vec<f32>,
    pub(crate) v: Vec<f32>,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

fn params_mut(net: &mut CpuEnhanceNet) -> impl Iterator<Item = &mut f32> {
    net.layers.iter_mut().flat_map(|l: &mut Conv3x3| l.weight.iter_mut().chain(l.bias.iter_mut()))
}

impl Adam {
    pub(crate) fn new(net: &CpuEnhanceNet) -> Self {
        let n = net.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum();
        Self { t: 0, m: vec![0.0; n], v: vec![0.0; n] }
    }

    pub(crate) fn step(&mut self, net: &mut CpuEnhanceNet, grads: &Grads, lr: f64) {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t as i32);
        let c2 = 1.0 - BETA2.powi(self.t as i32);
        let flat = grads.iter().flat_map(|(w, b)| w.iter().chain(b.iter()));
        for (((p, g), m), v) in params_mut(net).zip(flat).zip(&mut self.m).zip(&mut self.v) {
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            *p -= (lr as f32) * (*m / c1) / ((*v / c2).sqrt() + EPSILON);
        }
    }

    /// Little-endian: `t` (u64), length (u64), `m`, `v` (f32 each).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 8 * self.m.len());
        out.extend(self.t.to_le_bytes());
        out.extend((self.m.len() as u64).to_le_bytes());
        for x in self.m.iter().chain(&self.v) {
            out.extend(x.to_le_bytes());
        }
        out
    }

    /// The inverse of [`Adam::to_bytes`]; `None` when the bytes are not an Adam state for
    /// `n_params` parameters.
    pub(crate) fn from_bytes(bytes: &[u8], n_params: usize) -> Option<Self> {
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?))
        };
        let (t, n) = (word(0)?, word(8)? as usize);
        if n != n_params || bytes.len() != 16 + 8 * n {
            return None;
        }
        let floats: Vec<f32> = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Some(Self { t, m: floats[..n].to_vec(), v: floats[n..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enhance::EnhanceNetConfig;
    use burn::prelude::*;

    /// The hand-written gradients equal burn's autodiff on a random network and batch, for
    /// both losses.
    #[test]
    fn gradients_match_burn_autodiff() {
        let plain = EnhanceNetConfig::new(1, 6, 4);
        // Dilated layers, one reaching past the 13-pixel patch's edge from most pixels.
        let dilated = EnhanceNetConfig { dilations: vec![2, 5, 2, 1], ..plain.clone() };
        // 16 channels: the forward pass, the input gradients and the weight gradients run the
        // direct AVX2 kernel where the CPU has it (the tail's input gradient too: 1 → 16
        // channels).
        let wide = EnhanceNetConfig::new(1, 16, 3);
        let wide_dilated = EnhanceNetConfig { dilations: vec![3, 2, 1], ..wide.clone() };
        for cfg in [plain, dilated, wide, wide_dilated] {
            for loss in [Loss::L1, Loss::Mse, Loss::L1Foreground] {
                gradients_match_burn_autodiff_for(&cfg, loss);
            }
        }
    }

    /// The foreground loss is L1 where the truth is above the metrics' threshold and L1 times
    /// the air weight below it, in both engines.
    #[test]
    fn the_foreground_loss_weighs_the_air_down() {
        use crate::enhance::train::{AIR_WEIGHT, FOREGROUND_LEVEL as level};
        assert_eq!(AIR_WEIGHT, 0.1, "the expected values below assume 0.1");
        let (l, dl) = Loss::L1Foreground.of(0.3, 0.5 * level);
        assert!((l - 0.03).abs() < 1e-7 && (dl - 0.1).abs() < 1e-7, "{l} {dl}");
        assert_eq!(Loss::L1Foreground.of(-0.3, 2.0 * level), Loss::L1.of(-0.3, 2.0 * level));
        let device = Device::flex();
        let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, 2, 2]), &device);
        let (output, target) = (vec![1.0, 1.0, 1.0, 1.0], vec![0.0, 0.05, 0.5, 0.75]);
        let got: f32 = Loss::L1Foreground.of_tensor(t(output), t(target)).into_scalar();
        // Air (0, 0.05) counts a tenth of its errors 1 and 0.95, the object its 0.5 and 0.25,
        // over all four pixels: (0.1 + 0.095 + 0.5 + 0.25) / 4.
        assert!((got - 0.23625).abs() < 1e-6, "{got}");
    }

    fn gradients_match_burn_autodiff_for(cfg: &EnhanceNetConfig, loss_fn: Loss) {
        let device = Device::flex().autodiff();
        let mut model = cfg.init(&device);
        // A random tail, or every gradient below it would be zero and prove nothing.
        let d = cfg.dilation(cfg.depth - 1);
        model.tail = burn::nn::conv::Conv2dConfig::new([cfg.channels, 1], [3, 3])
            .with_dilation([d, d])
            .with_padding(crate::enhance::model::same_padding(d))
            .init(&device);
        let (n, p) = (3, 13);
        let x = Tensor::<4>::random(
            [n, 3, p, p],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let y = Tensor::<4>::random(
            [n, 1, p, p],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let batch = Batch {
            input: x.clone().into_data().try_to_vec::<f32>().unwrap(),
            target: y.clone().into_data().try_to_vec::<f32>().unwrap(),
            batch: n,
            patch: p,
            channels: 3,
        };
        let loss = loss_fn.of_tensor(model.forward(x), y);
        let want_loss = loss.clone().into_scalar::<f32>() as f64;
        let g = loss.backward();
        let net = CpuEnhanceNet::from_model(&model.valid(), cfg.context);
        // Both kernels: where the CPU has AVX2 + FMA, Auto runs the direct one for every
        // 16-channel layer (forward, input and weight gradients) and Gemm never does.
        for kernel in [ConvKernel::Auto, ConvKernel::Gemm] {
            let (got_loss, grads) = loss_and_grads(&net, &batch, loss_fn, kernel);
            check_grads(cfg, &model, &g, &net, loss_fn, (got_loss, want_loss), &grads);
        }
    }

    /// The CPU engine's loss and gradients against burn's (`g`).
    fn check_grads(
        cfg: &EnhanceNetConfig,
        model: &crate::enhance::EnhanceNet,
        g: &burn::tensor::Gradients,
        net: &CpuEnhanceNet,
        loss_fn: Loss,
        (got_loss, want_loss): (f64, f64),
        grads: &Grads,
    ) {
        assert!((got_loss - want_loss).abs() < 1e-6, "{loss_fn:?}: {got_loss} vs {want_loss}");
        assert_eq!(net.dilations(), (0..cfg.depth).map(|l| cfg.dilation(l)).collect::<Vec<_>>());
        let convs: Vec<&burn::nn::conv::Conv2d> =
            std::iter::once(&model.head).chain(&model.body).chain([&model.tail]).collect();
        for (l, conv) in convs.iter().enumerate() {
            let gw =
                conv.weight.grad(g).expect("weight grad").into_data().try_to_vec::<f32>().unwrap();
            let gb = conv
                .bias
                .as_ref()
                .unwrap()
                .grad(g)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let (ci, co) = (net.layers[l].c_in, net.layers[l].c_out);
            let scale = gw.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            assert!(scale > 1e-5, "layer {l}: burn's gradient is zero");
            for o in 0..co {
                for i in 0..ci {
                    for t in 0..9 {
                        let want = gw[(o * ci + i) * 9 + t];
                        let got = grads[l].0[(t * ci + i) * co + o];
                        assert!(
                            (want - got).abs() < 1e-4 * scale,
                            "{loss_fn:?} layer {l} w[{o},{i},{t}]: {got} vs {want}"
                        );
                    }
                }
                assert!(
                    (gb[o] - grads[l].1[o]).abs() < 1e-4 * scale.max(1.0),
                    "{loss_fn:?} layer {l} bias {o}"
                );
            }
        }
    }

    /// CPU weights → burn module → safetensors → burn module → CPU weights is exact.
    #[test]
    fn weights_round_trip_through_burn_and_safetensors() {
        let device = Device::flex();
        let cfg =
            EnhanceNetConfig { dilations: vec![1, 3, 2, 1], ..EnhanceNetConfig::new(1, 5, 4) };
        let mut net = CpuEnhanceNet::from_model(&cfg.init(&device), cfg.context);
        for (i, l) in net.layers.iter_mut().enumerate() {
            l.weight
                .iter_mut()
                .enumerate()
                .for_each(|(j, w)| *w = ((i * 31 + j) % 17) as f32 - 8.0);
            l.bias.iter_mut().enumerate().for_each(|(j, b)| *b = j as f32 + 0.5 * i as f32);
        }
        let dir = tempfile::tempdir().unwrap();
        crate::store::save_weights(&net.to_model(&cfg, &device), &cfg, dir.path()).unwrap();
        let (model, loaded_cfg) = crate::enhance::train::load_model(dir.path(), &device).unwrap();
        assert_eq!(loaded_cfg, cfg);
        let back = CpuEnhanceNet::from_model(&model, cfg.context);
        assert_eq!(back.dilations(), vec![1, 3, 2, 1]);
        for (a, b) in net.layers.iter().zip(&back.layers) {
            assert_eq!(a.weight, b.weight);
            assert_eq!(a.bias, b.bias);
        }
    }

    #[test]
    fn adam_state_round_trips_and_rejects_other_sizes() {
        let a = Adam { t: 7, m: vec![1.0, -2.5, 3.0], v: vec![0.5, 0.25, 9.0] };
        let bytes = a.to_bytes();
        assert_eq!(Adam::from_bytes(&bytes, 3), Some(a));
        assert_eq!(Adam::from_bytes(&bytes, 4), None);
        assert_eq!(Adam::from_bytes(&bytes[..bytes.len() - 1], 3), None);
    }
}
