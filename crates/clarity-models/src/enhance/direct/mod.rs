//! A direct 3×3 convolution for x86-64 CPUs with AVX2 and FMA: the forward pass of every
//! [`Conv3x3`] whose output channels are a multiple of 16 (in training also the input gradient,
//! through the transposed layer, and the weight gradient, [`weight_grad`]), and of the
//! network's 1-channel tail.
//!
//! Why a second kernel beside im2col + `gemm`: im2col writes every input value nine times into
//! a `[pixels, 9·c_in]` matrix that the `gemm` crate then packs again, so for 48 channels the
//! copies cost about as much memory traffic as the multiply-adds can hide: that path reached
//! 63 % of the machine's measured FMA peak where ONNX Runtime reached 89 %, and this one 89 %
//! (`clarity bench enhance`, 256², 2026-11-23). Here the input carries a zero border of the
//! largest tap spacing (inference keeps every activation so, in planes reused from slab to
//! slab; training copies each band once), and the kernel reads each 3×3 tap straight from it:
//! 6 output pixels × 16 output channels are held in 12 AVX registers while the 9·c_in products
//! are summed, each step broadcasting one input value per pixel against 16 weights (the weights
//! of one 16-channel block, 9·c_in·16 floats, are packed contiguously so they stay in L1 across
//! a whole band). Bias is pre-loaded and ReLU applied before the one store.
//!
//! Layouts as in [`super::cpu`]: activations channels-last `[h, w, c]`, weights `[9·c_in, c_out]`
//! with rows ordered (ky, kx, c_in).

use rayon::prelude::*;

use super::cpu::Conv3x3;

/// Output channels per register block (two 8-lane AVX registers).
const BLOCK: usize = 16;

/// Output rows per parallel band (a band's input is copied with its border where activations
/// are unpadded, so bands of 8 keep that copy ≤ 1.25× the band for plain layers while a 256²
/// slice still has 32 bands for the cores).
pub(crate) const BAND_ROWS: usize = 8;

/// Rows per band of a layer with tap spacing `dilation`: [`BAND_ROWS`], or 4 × the spacing
/// so that a band's copied border (`dilation` rows above and below) stays under half of it.
pub(crate) fn band_rows(dilation: usize) -> usize {
    BAND_ROWS.max(4 * dilation)
}

/// Whether this CPU runs the kernel (checked once per call; the standard library caches the
/// CPUID answer).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `layer` can run here: AVX2 + FMA and output channels in whole 16-channel blocks.
pub(crate) fn supports(layer: &Conv3x3) -> bool {
    layer.c_out.is_multiple_of(BLOCK) && available()
}

/// Output rows `y0..` of `layer` into `dst` (`[rows, w, c_out]`, any number of whole rows),
/// ReLU applied when `relu`; `scratch` holds the packed weights and a padded band. (The
/// training engine's entry: its activations are unpadded `[h, w, c]`, so each band of
/// [`band_rows`] is copied once with its border; the weights are packed once per call, so a
/// caller on one thread passes the whole image.)
///
/// # Panics
/// If [`supports`] is false for `layer`, or `dst` is not whole rows inside the image.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_band(
    layer: &Conv3x3,
    input: &[f32],
    h: usize,
    w: usize,
    y0: usize,
    dst: &mut [f32],
    relu: bool,
    scratch: &mut Vec<f32>,
) {
    let (ci, co, d) = (layer.c_in, layer.c_out, layer.dilation);
    assert_eq!(input.len(), h * w * ci, "input is not [{h}, {w}, {ci}]");
    if dst.is_empty() {
        return;
    }
    assert_eq!(dst.len() % (w * co).max(1), 0, "dst is not whole rows");
    let n_rows = dst.len() / (w * co);
    assert!(y0 + n_rows <= h, "rows {y0}..{} outside the image's {h}", y0 + n_rows);
    let packed_len = 9 * ci * co;
    if scratch.len() < packed_len {
        scratch.resize(packed_len, 0.0);
    }
    pack_into(layer, &mut scratch[..packed_len]);
    let rows = band_rows(d);
    for (band, dst) in dst.chunks_mut(rows * w * co).enumerate() {
        let n = dst.len() / (w * co);
        let band_len = pad_band(input, h, w, ci, d, y0 + band * rows, n, scratch, packed_len);
        let (packed, padded) = scratch.split_at(packed_len);
        let src = Plane { data: &padded[..band_len], origin: 0, row_stride: (w + 2 * d) * ci };
        let out = PlaneMut { data: dst, origin: 0, row_stride: w * co };
        run(layer, packed, src, out, n, w, relu);
    }
}

/// Rows `y0..y0 + n_rows` of `input` (`[h, w, ci]`) with a zero border of `d` pixels into
/// `scratch` from index `start` on (what lies before is kept); returns the padded band's
/// length. Only the border is zeroed: the band is rebuilt for every band of every layer in
/// training, where zero-filling all of it cost about 3 % of a step (perf).
#[allow(clippy::too_many_arguments)]
fn pad_band(
    input: &[f32],
    h: usize,
    w: usize,
    ci: usize,
    d: usize,
    y0: usize,
    n_rows: usize,
    scratch: &mut Vec<f32>,
    start: usize,
) -> usize {
    let (pw, ph) = (w + 2 * d, n_rows + 2 * d);
    scratch.resize(start + ph * pw * ci, 0.0);
    // Padded row pr holds image row y0 + pr − d; rows outside the image are zero.
    for (pr, row) in scratch[start..].chunks_mut(pw * ci).enumerate() {
        let Some(sy) = (y0 + pr).checked_sub(d).filter(|&sy| sy < h) else {
            row.fill(0.0);
            continue;
        };
        row[..d * ci].fill(0.0);
        row[(d + w) * ci..].fill(0.0);
        row[d * ci..(d + w) * ci].copy_from_slice(&input[sy * w * ci..(sy + 1) * w * ci]);
    }
    ph * pw * ci
}

/// Adds the weight gradient of `layer` on one image into `grad_w` (`[9·c_in, c_out]`, the
/// layout of `weight`): `input` `[h, w, c_in]` is what the forward pass saw, `dz` the gradient
/// at its pre-activation output (`[h, w, c_out]`); `scratch` holds one padded band at a time
/// (bands of [`band_rows`], as the forward pass). Training's backward pass: on a 48-channel 64²
/// layer on one thread it ran at 1.2-1.4× im2col + gemm's speed (2026-11-23).
///
/// # Panics
/// If [`supports`] is false for `layer`, or the slices do not have those shapes.
pub(crate) fn weight_grad(
    layer: &Conv3x3,
    input: &[f32],
    h: usize,
    w: usize,
    dz: &[f32],
    grad_w: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    assert!(supports(layer), "the direct kernel needs AVX2, FMA and c_out % 16 == 0");
    let (ci, co, d) = (layer.c_in, layer.c_out, layer.dilation);
    assert_eq!(input.len(), h * w * ci, "input is not [{h}, {w}, {ci}]");
    assert_eq!(dz.len(), h * w * co, "dz is not [{h}, {w}, {co}]");
    assert_eq!(grad_w.len(), 9 * ci * co, "grad_w is not [9·{ci}, {co}]");
    if h == 0 || w == 0 || ci == 0 {
        return;
    }
    let rows = band_rows(d);
    for (band, dz) in dz.chunks(rows * w * co).enumerate() {
        let n_rows = dz.len() / (w * co);
        let band_len = pad_band(input, h, w, ci, d, band * rows, n_rows, scratch, 0);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `supports` checked AVX2 and FMA; the padded band is (n_rows + 2d) × (w + 2d)
        // pixels of ci channels, so every tap (r + ky·d, x + kx·d) of outputs (0..n_rows, 0..w)
        // lies inside it; `dz` is [n_rows, w, co] and `grad_w` [9·ci, co] (asserted above).
        unsafe {
            avx2::weight_grad_rows(
                scratch[..band_len].as_ptr(),
                dz.as_ptr(),
                grad_w.as_mut_ptr(),
                avx2::Shape {
                    n_rows,
                    w,
                    src_stride: (w + 2 * d) * ci,
                    dst_stride: w * co,
                    ci,
                    co,
                    d,
                },
            );
        }
    }
}

/// Every hidden layer of a network on one image, activations kept with a zero border as wide
/// as the largest tap spacing so that no layer copies its input: the inference path.
///
/// # Shapes
/// `input`: `[c_in, h, w]` (channel-first, as the network's input) → `[h, w, C]`
/// (channels-last, the last layer's output).
///
/// # Panics
/// If [`supports`] is false for a layer, or the layers' channels do not chain.
pub(crate) fn forward_layers(
    layers: &[Conv3x3],
    input: &[f32],
    h: usize,
    w: usize,
    cache: &PlaneCache,
) -> Vec<f32> {
    hidden_then(layers, input, h, w, cache, |last, p| {
        let c = layers[layers.len() - 1].c_out;
        let pw = w + 2 * p;
        let mut out = vec![0f32; h * w * c];
        for y in 0..h {
            let at = ((y + p) * pw + p) * c;
            out[y * w * c..(y + 1) * w * c].copy_from_slice(&last[at..at + w * c]);
        }
        out
    })
}

/// [`forward_layers`] then a 1-channel `tail` (no ReLU) read straight from the bordered last
/// plane: the whole network's residual `[h, w]` without copying the features out or building
/// the tail's im2col matrix (9·C floats per pixel).
///
/// # Panics
/// As [`forward_layers`], and if `tail` is not C → 1 channels with C a multiple of 8.
pub(crate) fn forward_network(
    hidden: &[Conv3x3],
    tail: &Conv3x3,
    input: &[f32],
    h: usize,
    w: usize,
    cache: &PlaneCache,
) -> Vec<f32> {
    assert!(supports_tail(tail), "the direct tail needs AVX2, FMA and 8·n → 1 channels");
    let c = tail.c_in;
    assert_eq!(hidden[hidden.len() - 1].c_out, c, "the tail takes {c} channels");
    hidden_then(hidden, input, h, w, cache, |last, p| {
        let (pw, d) = (w + 2 * p, tail.dilation);
        assert!(d <= p, "the tail's taps reach past the planes' border");
        let mut out = vec![0f32; h * w];
        out.par_chunks_mut(BAND_ROWS * w).enumerate().for_each(|(band, dst)| {
            let y0 = band * BAND_ROWS;
            let n_rows = dst.len() / w;
            let origin = ((y0 + p - d) * pw + (p - d)) * c;
            let last_read = origin + (n_rows - 1 + 2 * d) * pw * c + (w - 1 + 2 * d) * c + c;
            assert!(last_read <= last.len(), "the plane is too small for the tail's taps");
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `supports_tail` checked AVX2 and FMA and c % 8 == 0; the bound above
            // holds every tap read, `dst` is [n_rows, w], `weight` [9, c].
            unsafe {
                avx2::tail_rows(
                    last.as_ptr().add(origin),
                    tail.weight.as_ptr(),
                    tail.bias[0],
                    dst.as_mut_ptr(),
                    avx2::Shape { n_rows, w, src_stride: pw * c, dst_stride: w, ci: c, co: 1, d },
                );
            }
        });
        out
    })
}

/// Whether `tail` can run on [`forward_network`]'s planes: AVX2 + FMA, one output channel and
/// input channels in whole 8-lane registers.
pub(crate) fn supports_tail(tail: &Conv3x3) -> bool {
    tail.c_out == 1 && tail.c_in.is_multiple_of(8) && available()
}

/// The hidden layers on bordered planes, then `f(last plane, border)` before the planes go back
/// to `cache`.
fn hidden_then<R>(
    layers: &[Conv3x3],
    input: &[f32],
    h: usize,
    w: usize,
    cache: &PlaneCache,
    f: impl FnOnce(&[f32], usize) -> R,
) -> R {
    let (c0, c) = (layers[0].c_in, layers[layers.len() - 1].c_out);
    assert_eq!(input.len(), c0 * h * w, "input is not [{c0}, {h}, {w}]");
    let p = layers.iter().map(|l| l.dilation).max().unwrap_or(1);
    let pw = w + 2 * p;
    let padded_len = |ch: usize| (h + 2 * p) * pw * ch;
    // The channel-first input goes straight into its bordered channels-last plane.
    let mut x0 = vec![0f32; padded_len(c0)];
    for (ch, plane) in input.chunks(h * w).enumerate() {
        for (y, row) in plane.chunks(w).enumerate() {
            let at = ((y + p) * pw + p) * c0 + ch;
            for (x, &v) in row.iter().enumerate() {
                x0[at + x * c0] = v;
            }
        }
    }
    // Two buffers in turn for the hidden activations: every layer writes only the interior, so
    // their borders stay zero (all hidden layers have the same channels, hence the same layout).
    let key = [h, w, p, c];
    let mut bufs =
        cache.take(key).unwrap_or_else(|| [vec![0f32; padded_len(c)], vec![0f32; padded_len(c)]]);
    let mut packed = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        assert!(l == 0 || layer.c_in == c, "layer {l} takes {} channels, not {c}", layer.c_in);
        assert_eq!(layer.c_out, c, "layer {l} gives {} channels, not {c}", layer.c_out);
        let (ci, d) = (layer.c_in, layer.dilation);
        packed.resize(9 * ci * c, 0.0);
        pack_into(layer, &mut packed);
        let [a, b] = &mut bufs;
        let (src, dst) = match l {
            0 => (&x0[..], a),
            _ if l % 2 == 1 => (&a[..], b),
            _ => (&b[..], a),
        };
        // Output rows in bands of padded rows, in parallel; a band's interior rows start at
        // padded row max(band start, p).
        let rows = BAND_ROWS;
        dst.par_chunks_mut(rows * pw * c).enumerate().for_each(|(band, chunk)| {
            let first_row = (band * rows).max(p);
            let end_row = (band * rows + chunk.len() / (pw * c)).min(h + p);
            if first_row >= end_row {
                return;
            }
            let src = Plane {
                data: src,
                origin: ((first_row - d) * pw + (p - d)) * ci,
                row_stride: pw * ci,
            };
            let out = PlaneMut {
                origin: ((first_row - band * rows) * pw + p) * c,
                data: chunk,
                row_stride: pw * c,
            };
            run(layer, &packed, src, out, end_row - first_row, w, true);
        });
    }
    let out = f(&bufs[(layers.len() - 1) % 2], p);
    cache.put(key, bufs);
    out
}

/// The two hidden-activation planes of [`forward_layers`]' last call, with their shape
/// `[h, w, border, channels]`, for the next call on a slab of the same shape (a volume is slab
/// after slab of one): their borders are still zero, so the call skips allocating and zeroing
/// 2 × 13 MB per 256² slab, which with the page faults took 12 % of a 48×12 forward pass
/// (0.175 → 0.155 s per slice, measured 2026-11-23). One set per network, freed with it;
/// a call that finds the set in use by another thread allocates its own.
#[derive(Default)]
pub(crate) struct PlaneCache(std::sync::Mutex<Option<KeyedPlanes>>);

/// Two planes and the `[h, w, border, channels]` they are laid out for.
type KeyedPlanes = ([usize; 4], [Vec<f32>; 2]);

impl PlaneCache {
    fn take(&self, key: [usize; 4]) -> Option<[Vec<f32>; 2]> {
        let mut slot = self.0.try_lock().ok()?;
        match slot.take() {
            Some((k, bufs)) if k == key => Some(bufs),
            _ => None,
        }
    }

    fn put(&self, key: [usize; 4], bufs: [Vec<f32>; 2]) {
        if let Ok(mut slot) = self.0.try_lock() {
            *slot = Some((key, bufs));
        }
    }
}

/// `[9·c_in, c_out]` → `[c_out / 16][9·c_in][16]`: each register block's weights contiguous.
fn pack_into(layer: &Conv3x3, packed: &mut [f32]) {
    let (k, co) = (9 * layer.c_in, layer.c_out);
    for (j, block) in packed.chunks_mut(k * BLOCK).enumerate() {
        for (kk, row) in block.chunks_mut(BLOCK).enumerate() {
            row.copy_from_slice(&layer.weight[kk * co + j * BLOCK..kk * co + (j + 1) * BLOCK]);
        }
    }
}

/// Rows of channels-last pixels inside a buffer: pixel (r, x) channel i is at
/// `origin + r·row_stride + x·channels + i`.
struct Plane<'a> {
    data: &'a [f32],
    origin: usize,
    row_stride: usize,
}

/// [`Plane`], written.
struct PlaneMut<'a> {
    data: &'a mut [f32],
    origin: usize,
    row_stride: usize,
}

/// Output pixels `(0..n_rows, 0..w)` of `dst` from `src`, whose pixel (r, x) is the top-left
/// tap of output (r, x) (taps `dilation` apart, all inside `src`: the caller pads).
fn run(
    layer: &Conv3x3,
    packed: &[f32],
    src: Plane,
    dst: PlaneMut,
    n_rows: usize,
    w: usize,
    relu: bool,
) {
    assert!(supports(layer), "the direct kernel needs AVX2, FMA and c_out % 16 == 0");
    let (ci, co, d) = (layer.c_in, layer.c_out, layer.dilation);
    assert_eq!(packed.len(), 9 * ci * co, "packed weights are not [{co}/16, 9·{ci}, 16]");
    if n_rows == 0 || w == 0 {
        return;
    }
    // The last tap read and the last value written must lie inside their buffers.
    let last_read = src.origin + (n_rows - 1 + 2 * d) * src.row_stride + (w - 1 + 2 * d) * ci + ci;
    assert!(last_read <= src.data.len(), "the input plane is too small for its taps");
    let last_written = dst.origin + (n_rows - 1) * dst.row_stride + w * co;
    assert!(last_written <= dst.data.len(), "the output plane is too small");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `supports` checked AVX2 and FMA, and the bounds above hold every access
    // `conv_rows` makes: taps (r + ky·d, x + kx·d) from `src`'s origin, outputs (r, x) from
    // `dst`'s, `packed` [co/16, 9·ci, 16], `bias` co values.
    unsafe {
        avx2::conv_rows(
            src.data.as_ptr().add(src.origin),
            packed.as_ptr(),
            layer.bias.as_ptr(),
            dst.data.as_mut_ptr().add(dst.origin),
            avx2::Shape {
                n_rows,
                w,
                src_stride: src.row_stride,
                dst_stride: dst.row_stride,
                ci,
                co,
                d,
            },
            relu,
        );
    }
}

/// This machine's fused multiply-add peak in GFLOP/s on `threads` threads (each runs 12
/// independent 8-lane FMA chains for about `seconds`), or `None` without AVX2 + FMA: the
/// denominator for "% of peak" in `clarity bench enhance`, measured rather than taken from a
/// spec sheet because these shared machines' clocks vary.
pub(crate) fn fma_peak_gflops(threads: usize, seconds: f64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY (both calls): `available` checked AVX2 and FMA.
        let chain = |n: u64| unsafe { avx2::fma_chains(n) };
        // Size the run on one short call, then time all threads at once.
        let probe = 1_000_000;
        let t = std::time::Instant::now();
        std::hint::black_box(chain(probe));
        let per_s = probe as f64 / t.elapsed().as_secs_f64().max(1e-9);
        let n = ((per_s * seconds) as u64).max(probe);
        let t = std::time::Instant::now();
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(move || chain(n))).collect();
            runs.into_iter().for_each(|r| {
                std::hint::black_box(r.join().expect("FMA chain thread"));
            });
        });
        let flops = threads.max(1) as f64 * n as f64 * avx2::FLOPS_PER_ROUND;
        return Some(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    let _ = (threads, seconds);
    None
}

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(test)]
mod tests;
