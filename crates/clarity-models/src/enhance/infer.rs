//! Enhancing a whole volume: every slice with its neighbours through the network, in batches,
//! with the same per-slab normalisation as training (99th percentile of the input slab), undone
//! on output. Fully convolutional, so any matrix size runs whole; geometry and metadata are
//! kept. A network trained for one phase-encoding axis sees every slice transposed when the
//! input's PE runs along the other axis.
//!
//! Optionally (`flips`) each slab also goes through the network flipped left-right, up-down
//! and both, and the four outputs, flipped back, are averaged ("self-ensemble"): flips keep the
//! phase-encoding axis, so every pass sees an input like those it was trained on, and their
//! errors partly cancel. Four times the work.

use burn::prelude::*;
use clarity_core::{PhaseEncodingDirection, Volume};

use super::cpu::CpuEnhanceNet;
use super::data::norm_scale;
use super::model::{EnhanceNet, EnhanceNetConfig};
use super::readout::{tail_channels_last, SliceParts};

/// `slice` (`nx` wide) transposed, or copied when `transpose` is false.
fn maybe_transposed(slice: &[f32], nx: usize, ny: usize, transpose: bool) -> Vec<f32> {
    if !transpose {
        return slice.to_vec();
    }
    let mut out = vec![0f32; nx * ny];
    for y in 0..ny {
        for x in 0..nx {
            out[x * ny + y] = slice[y * nx + x];
        }
    }
    out
}

/// `n` planes of `h × w` (x fastest) flipped along x and/or y, in place.
fn flip_planes(data: &mut [f32], h: usize, w: usize, flip_x: bool, flip_y: bool) {
    for plane in data.chunks_mut(h * w) {
        if flip_x {
            plane.chunks_mut(w).for_each(|row| row.reverse());
        }
        if flip_y {
            for y in 0..h / 2 {
                let (top, bottom) = plane.split_at_mut((h - 1 - y) * w);
                top[y * w..(y + 1) * w].swap_with_slice(&mut bottom[..w]);
            }
        }
    }
}

/// The network's input for the slices `group` of frame 0 of `vol`: each slice with its
/// neighbours (`[n, in_channels, h, w]`, in the network's orientation), normalised per slab
/// by its 99th percentile as in training, then the noise and reduction planes if the network
/// takes them; and each slab's scale.
fn normalised_batch(
    vol: &Volume,
    group: &[usize],
    cfg: &EnhanceNetConfig,
    opts: &InferOptions,
    transpose: bool,
) -> (Vec<f32>, Vec<f32>) {
    let [nx, ny, nz] = vol.dims;
    let plane = nx * ny;
    let (ch, c) = (cfg.in_channels(), cfg.context);
    let noise_sigma = cfg.noise_channel.then(|| {
        opts.noise_sigma.expect("the network takes the noise level: InferOptions::noise_sigma")
    });
    let dropped = cfg.reduction_channel.then(|| {
        opts.dropped_fraction
            .expect("the network takes the lines dropped: InferOptions::dropped_fraction")
    });
    let mut input = vec![0f32; group.len() * ch * plane];
    let mut scales = Vec::with_capacity(group.len());
    for (b, &k) in group.iter().enumerate() {
        // Edge slices repeat the nearest slice, as in training.
        let slab: Vec<usize> =
            (0..cfg.image_channels()).map(|d| (k + d).saturating_sub(c).min(nz - 1)).collect();
        let planes: Vec<Vec<f32>> =
            slab.iter().map(|&s| maybe_transposed(vol.slice(s), nx, ny, transpose)).collect();
        let values = planes.concat();
        let scale = norm_scale(&values);
        scales.push(scale);
        for (d, p) in planes.iter().enumerate() {
            let dst = &mut input[(b * ch + d) * plane..(b * ch + d + 1) * plane];
            for (o, v) in dst.iter_mut().zip(p) {
                *o = v.max(0.0) / scale;
            }
        }
        let mut d = cfg.image_channels();
        if let Some(sigma) = noise_sigma {
            input[(b * ch + d) * plane..(b * ch + d + 1) * plane]
                .fill(super::model::NOISE_MAP_GAIN * sigma / scale);
            d += 1;
        }
        if let Some(dropped) = dropped {
            input[(b * ch + d) * plane..(b * ch + d + 1) * plane].fill(dropped);
        }
    }
    (input, scales)
}

/// The self-ensemble's passes: (flip x, flip y).
const FLIPS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// How a volume goes through the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InferOptions {
    /// Slices per forward pass.
    pub batch: usize,
    /// Average over the four flips of each slab (see the module docs).
    pub flips: bool,
    /// The scan's per-pixel noise σ (its intensity units): required by a network with a noise
    /// channel ([`EnhanceNetConfig::noise_channel`]; it panics without), unused otherwise.
    pub noise_sigma: Option<f32>,
    /// The fraction of phase-encoding lines the scan dropped (`1 − acquired / n`): required by
    /// a network with a reduction channel ([`EnhanceNetConfig::reduction_channel`]; it panics
    /// without), unused otherwise.
    pub dropped_fraction: Option<f32>,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self { batch: 4, flips: true, noise_sigma: None, dropped_fraction: None }
    }
}

/// What a network with a reduction channel is told ([`InferOptions::dropped_fraction`]).
pub use clarity_mr::acquisition::dropped_fraction;

/// Enhance frame 0 of `vol`, whose phase encoding runs along `pe`; `progress(done, total)`
/// after each batch of slices.
pub fn enhance_volume(
    model: &EnhanceNet,
    cfg: &EnhanceNetConfig,
    vol: &Volume,
    pe: PhaseEncodingDirection,
    device: &Device,
    opts: InferOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Volume {
    let [nx, ny, nz] = vol.dims;
    let plane = nx * ny;
    let all: Vec<usize> = (0..nz).collect();
    let slices = enhance_slices(model, cfg, vol, pe, device, opts, &all, progress);
    let mut out = vol.clone();
    // Only frame 0 is enhanced; further frames (4D) are dropped rather than left unprocessed.
    out.frames = 1;
    out.data = slices.concat();
    debug_assert_eq!(out.data.len(), plane * nz);
    out.frame_axis = None;
    out
}

/// What both paths through the network share: the slice orientation the network sees and the
/// engine that runs it.
struct Runner<'a> {
    model: &'a EnhanceNet,
    device: &'a Device,
    /// On the CPU the channels-last path is ~3.5× faster than burn's (same function; see
    /// cpu.rs).
    cpu: Option<CpuEnhanceNet>,
    /// Slices are transposed: the scan's PE runs along the other axis than the network's.
    transpose: bool,
    /// The network's view of a slice: `w` wide, `h` high.
    w: usize,
    h: usize,
    /// Input planes per slab.
    ch: usize,
}

impl<'a> Runner<'a> {
    fn new(
        model: &'a EnhanceNet,
        cfg: &EnhanceNetConfig,
        vol: &Volume,
        pe: PhaseEncodingDirection,
        device: &'a Device,
    ) -> Self {
        let [nx, ny, _] = vol.dims;
        let transpose = cfg.pe_axis.is_some_and(|axis| axis != pe);
        let (w, h) = if transpose { (ny, nx) } else { (nx, ny) };
        let cpu =
            (*device == Device::flex()).then(|| CpuEnhanceNet::from_model(model, cfg.context));
        Self { model, device, cpu, transpose, w, h, ch: cfg.in_channels() }
    }

    /// The self-ensemble's passes `opts` asks for.
    fn passes(opts: &InferOptions) -> &'static [(bool, bool)] {
        if opts.flips {
            &FLIPS
        } else {
            &FLIPS[..1]
        }
    }

    /// The network's output for a batch of slabs (`[n, ch, h, w]`): `[n, 1, h, w]`.
    fn output(&self, input: Vec<f32>) -> Vec<f32> {
        let (h, w) = (self.h, self.w);
        self.through(input, |net, x| net.forward_slab(x, h, w), |x| self.model.forward(x))
    }

    /// The last feature planes for a batch of slabs, channels-last: `[n, h, w, C]`.
    fn features(&self, input: Vec<f32>) -> Vec<f32> {
        let (h, w) = (self.h, self.w);
        self.through(
            input,
            |net, x| net.features_slab(x, h, w),
            |x| self.model.features(x).permute([0, 2, 3, 1]),
        )
    }

    /// `input` (`[n, ch, h, w]`) through the CPU path slab by slab, or through burn as one
    /// batch.
    fn through(
        &self,
        input: Vec<f32>,
        cpu: impl Fn(&CpuEnhanceNet, &[f32]) -> Vec<f32>,
        burn: impl Fn(Tensor<4>) -> Tensor<4>,
    ) -> Vec<f32> {
        let slab = self.ch * self.h * self.w;
        match &self.cpu {
            Some(net) => input.chunks(slab).flat_map(|x| cpu(net, x)).collect(),
            None => {
                let shape = [input.len() / slab, self.ch, self.h, self.w];
                let x = Tensor::<4>::from_data(TensorData::new(input, shape), self.device);
                burn(x).into_data().as_slice::<f32>().expect("float output").to_vec()
            }
        }
    }
}

/// The enhanced versions of the given slices of frame 0 of `vol` (each `nx × ny`, in the
/// order given); each sees its neighbours as in [`enhance_volume`].
#[allow(clippy::too_many_arguments)]
pub fn enhance_slices(
    model: &EnhanceNet,
    cfg: &EnhanceNetConfig,
    vol: &Volume,
    pe: PhaseEncodingDirection,
    device: &Device,
    opts: InferOptions,
    slices: &[usize],
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<Vec<f32>> {
    let runner = Runner::new(model, cfg, vol, pe, device);
    let (w, h, transpose) = (runner.w, runner.h, runner.transpose);
    let plane = w * h;
    let mut out = Vec::with_capacity(slices.len());
    for group in slices.chunks(opts.batch.max(1)) {
        let n = group.len();
        let (input, scales) = normalised_batch(vol, group, cfg, &opts, transpose);
        let passes = Runner::passes(&opts);
        let mut y = vec![0f32; n * plane]; // [n, 1, h, w]
        for &(fx, fy) in passes {
            let mut x = input.clone();
            flip_planes(&mut x, h, w, fx, fy);
            let mut pass = runner.output(x);
            flip_planes(&mut pass, h, w, fx, fy);
            y.iter_mut().zip(&pass).for_each(|(s, v)| *s += v / passes.len() as f32);
        }
        for b in 0..n {
            // Transposing back swaps the roles of w and h.
            let back = maybe_transposed(&y[b * plane..(b + 1) * plane], w, h, transpose);
            out.push(back.iter().map(|v| (v * scales[b]).max(0.0)).collect());
        }
        progress(out.len(), slices.len());
    }
    out
}

/// The network's output on the given slices of frame 0 of `vol`, taken apart at the tail
/// ([`SliceParts`]); `sink(i, parts)` receives slice `slices[i]`'s, batch by batch, so a whole
/// volume's parts (C planes per slice) are never held at once.
#[allow(clippy::too_many_arguments)]
pub fn slice_parts(
    model: &EnhanceNet,
    cfg: &EnhanceNetConfig,
    vol: &Volume,
    pe: PhaseEncodingDirection,
    device: &Device,
    opts: InferOptions,
    slices: &[usize],
    progress: &mut dyn FnMut(usize, usize),
    sink: &mut dyn FnMut(usize, SliceParts),
) {
    let runner = Runner::new(model, cfg, vol, pe, device);
    let (w, h, transpose, ch) = (runner.w, runner.h, runner.transpose, runner.ch);
    let plane = w * h;
    let c = cfg.context;
    let n_features = cfg.channels;
    let (kernel, _) = model.tail_weights();
    let mut done = 0;
    for group in slices.chunks(opts.batch.max(1)) {
        let n = group.len();
        let (input, scales) = normalised_batch(vol, group, cfg, &opts, transpose);
        let flips = Runner::passes(&opts);
        // Summed channels-last, each flip's pixels put back where they came from, so the
        // C planes are laid out (and transposed back) once per slice rather than once per flip.
        let mut summed = vec![0f32; n * plane * n_features]; // [n, h, w, C]
        let share = 1.0 / flips.len() as f32;
        for &(fx, fy) in flips {
            let mut x = input.clone();
            flip_planes(&mut x, h, w, fx, fy);
            let f = runner.features(x);
            for b in 0..n {
                let slab = &f[b * plane * n_features..(b + 1) * plane * n_features];
                let t = tail_channels_last(slab, h, w, &kernel);
                let dst = &mut summed[b * plane * n_features..(b + 1) * plane * n_features];
                for y in 0..h {
                    let sy = if fy { h - 1 - y } else { y };
                    for xx in 0..w {
                        let sx = if fx { w - 1 - xx } else { xx };
                        let src = &t[(y * w + xx) * n_features..(y * w + xx + 1) * n_features];
                        let to = (sy * w + sx) * n_features;
                        for (d, v) in dst[to..to + n_features].iter_mut().zip(src) {
                            *d += share * v;
                        }
                    }
                }
            }
        }
        for b in 0..n {
            let centre = &input[(b * ch + c) * plane..(b * ch + c + 1) * plane];
            let all = &summed[b * plane * n_features..(b + 1) * plane * n_features];
            // Channels-last → one plane per channel in the volume's orientation (transposing
            // back swaps the roles of w and h).
            let mut channels = vec![0f32; n_features * plane];
            for y in 0..h {
                for xx in 0..w {
                    let p = y * w + xx;
                    let to = if transpose { xx * h + y } else { p };
                    for (ch_i, v) in all[p * n_features..(p + 1) * n_features].iter().enumerate() {
                        channels[ch_i * plane + to] = *v;
                    }
                }
            }
            let centre = maybe_transposed(centre, w, h, transpose);
            sink(done + b, SliceParts { scale: scales[b], centre, channels });
        }
        done += n;
        progress(done, slices.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enhance::readout::Readout;

    /// The parts path agrees with the plain path where the network sees slices transposed (PE
    /// along the other axis than it was trained for), edge slices included.
    #[test]
    fn parts_agree_with_the_plain_path_on_transposed_slices() {
        let device = Device::flex();
        let cfg = EnhanceNetConfig {
            context: 1,
            channels: 5,
            depth: 3,
            pe_axis: Some(PhaseEncodingDirection::Col),
            noise_channel: false,
            reduction_channel: false,
            dilations: vec![2, 3, 1],
        };
        let mut model = cfg.init(&device);
        model.tail = burn::nn::conv::Conv2dConfig::new([cfg.channels, 1], [3, 3])
            .with_padding(burn::nn::PaddingConfig2d::Same)
            .init(&device);
        let (nx, ny, nz) = (7, 12, 3);
        let data: Vec<f32> = (0..nx * ny * nz).map(|i| ((i * 53) % 89) as f32).collect();
        let vol = Volume::new([nx, ny, nz], data).unwrap();
        let (pe, opts, slices) = (PhaseEncodingDirection::Row, InferOptions::default(), [0, 2]);
        let want = enhance_slices(&model, &cfg, &vol, pe, &device, opts, &slices, &mut |_, _| {});
        let readout = Readout::network(cfg.channels, model.tail_weights().1);
        let mut got = [Vec::new(), Vec::new()];
        slice_parts(&model, &cfg, &vol, pe, &device, opts, &slices, &mut |_, _| {}, &mut |i, p| {
            got[i] = readout.apply(&p).into_iter().map(|v| v.max(0.0)).collect()
        });
        for (g, w) in got.iter().zip(&want) {
            let worst = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-3, "parts and plain path differ by {worst}");
        }
    }

    /// Taking the output apart at the tail and summing it again is the network: the parts path
    /// against burn's forward pass, with and without the flip ensemble.
    #[test]
    fn parts_summed_by_the_network_readout_are_the_forward_pass() {
        let device = Device::flex();
        let cfg = EnhanceNetConfig::new(1, 6, 4);
        let mut model = cfg.init(&device);
        // A random tail and bias: the zero-initialised tail would hide every error.
        model.tail = burn::nn::conv::Conv2dConfig::new([cfg.channels, 1], [3, 3])
            .with_padding(burn::nn::PaddingConfig2d::Same)
            .init(&device);
        let (nx, ny, nz) = (11, 9, 3);
        let data: Vec<f32> = (0..nx * ny * nz).map(|i| ((i * 37) % 101) as f32).collect();
        let vol = Volume::new([nx, ny, nz], data).unwrap();
        for flips in [false, true] {
            let opts = InferOptions { batch: 2, flips, noise_sigma: None, dropped_fraction: None };
            let readout = Readout::network(cfg.channels, model.tail_weights().1);
            let mut got = [Vec::new()];
            let pe = PhaseEncodingDirection::Col;
            slice_parts(
                &model,
                &cfg,
                &vol,
                pe,
                &device,
                opts,
                &[1],
                &mut |_, _| {},
                &mut |i, p| got[i] = readout.apply(&p).into_iter().map(|v| v.max(0.0)).collect(),
            );
            // Slice 1 with its neighbours, normalised, through burn (and its flips).
            let slab: Vec<f32> = vol.data[..3 * nx * ny].to_vec();
            let scale = norm_scale(&slab);
            let input: Vec<f32> = slab.iter().map(|v| v / scale).collect();
            let passes: &[(bool, bool)] = if flips {
                &[(false, false), (true, false), (false, true), (true, true)]
            } else {
                &[(false, false)]
            };
            let mut want = vec![0f32; nx * ny];
            for &(fx, fy) in passes {
                let mut x = input.clone();
                flip_planes(&mut x, ny, nx, fx, fy);
                let t = Tensor::<4>::from_data(TensorData::new(x, [1, 3, ny, nx]), &device);
                let mut y = model.forward(t).into_data().as_slice::<f32>().unwrap().to_vec();
                flip_planes(&mut y, ny, nx, fx, fy);
                want.iter_mut().zip(&y).for_each(|(w, v)| *w += v / passes.len() as f32);
            }
            for (g, w) in got[0].iter().zip(&want) {
                assert!(
                    (g - (w * scale).max(0.0)).abs() < 1e-3 * scale,
                    "flips {flips}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn flips_are_their_own_inverse_and_move_pixels_where_expected() {
        let (h, w) = (3, 4);
        let orig: Vec<f32> = (0..2 * h * w).map(|v| v as f32).collect();
        let mut x = orig.clone();
        flip_planes(&mut x, h, w, true, false);
        assert_eq!(&x[..4], &[3.0, 2.0, 1.0, 0.0]);
        flip_planes(&mut x, h, w, true, true);
        assert_eq!(&x[..4], &[8.0, 9.0, 10.0, 11.0], "first row is the last row, unflipped in x");
        assert_eq!(&x[12..16], &[20.0, 21.0, 22.0, 23.0], "each plane flips on its own");
        flip_planes(&mut x, h, w, false, true);
        assert_eq!(x, orig);
    }
}
