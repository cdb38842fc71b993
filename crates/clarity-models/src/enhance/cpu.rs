//! A CPU inference path for [`EnhanceNet`] that runs ~3-5× faster than the same network through
//! burn's `flex` backend (measured with `clarity bench enhance`).
//!
//! Why a second path: burn flex converts every layer to and from channels-last, adds bias and
//! applies ReLU as separate passes over memory, and reached ~37 GFLOP/s on this network (15 % of
//! a 2-core machine's peak) where ONNX Runtime reached ~200. Here activations stay channels-last
//! (`[h, w, c]`) for the whole network, each 3×3 convolution is an im2col of a band of rows into
//! a `[pixels, 9·c_in]` matrix times the `[9·c_in, c_out]` weight matrix (the `gemm` crate),
//! with the bias pre-loaded into the output and ReLU applied while the band is still in cache.
//! On CPUs with AVX2 and FMA, layers with 16·n output channels run a direct convolution instead
//! (`direct/`, [`ConvKernel`]). Bands run in parallel. The same layers back-propagate for CPU
//! training (`cpu_train.rs`).

use rayon::prelude::*;

use super::model::EnhanceNet;

/// Which kernel computes a 3×3 convolution's forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvKernel {
    /// The direct AVX2 kernel where the CPU and the layer allow it, else im2col + `gemm`.
    #[default]
    Auto,
    /// Always im2col + `gemm` (the portable path; `clarity bench enhance` times both).
    Gemm,
}

/// Whether this CPU runs the direct convolution kernel ([`ConvKernel::Auto`] uses it for
/// layers with 16·n output channels).
pub fn direct_kernel_available() -> bool {
    super::direct::available()
}

/// This machine's measured fused multiply-add peak in GFLOP/s on `threads` threads, timed for
/// about `seconds`; `None` where the CPU lacks AVX2 + FMA.
pub fn fma_peak_gflops(threads: usize, seconds: f64) -> Option<f64> {
    super::direct::fma_peak_gflops(threads, seconds)
}

/// One 3×3 convolution, weights as a `[9·c_in, c_out]` matrix with rows ordered (ky, kx, c_in).
#[derive(Clone)]
pub(crate) struct Conv3x3 {
    pub(crate) c_in: usize,
    pub(crate) c_out: usize,
    /// `[9·c_in, c_out]`, rows ordered (ky, kx, c_in).
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    /// Spacing of the taps in pixels (1: a plain 3×3 convolution; d: a dilated one).
    pub(crate) dilation: usize,
}

impl Conv3x3 {
    pub(crate) fn from_burn(conv: &burn::nn::conv::Conv2d) -> Self {
        let weight_tensor = conv.weight.val();
        let [c_out, c_in, kh, kw] = weight_tensor.dims();
        let w = weight_tensor.into_data();
        let w = w.as_slice::<f32>().expect("f32 weights");
        assert_eq!((kh, kw), (3, 3), "EnhanceNet uses 3×3 convolutions");
        let [dy, dx] = conv.dilation;
        assert_eq!(dy, dx, "EnhanceNet dilates both axes alike");
        // PyTorch layout [out, in, ky, kx] → [(ky, kx, in), out].
        let mut weight = vec![0f32; 9 * c_in * c_out];
        for o in 0..c_out {
            for i in 0..c_in {
                for t in 0..9 {
                    weight[(t * c_in + i) * c_out + o] = w[(o * c_in + i) * 9 + t];
                }
            }
        }
        let bias = match &conv.bias {
            Some(b) => b.val().into_data().as_slice::<f32>().expect("f32 bias").to_vec(),
            None => vec![0.0; c_out],
        };
        Self { c_in, c_out, weight, bias, dilation: dy }
    }

    /// The layer as a burn convolution (PyTorch layout `[out, in, ky, kx]`), for saving.
    pub(crate) fn to_burn(&self, device: &burn::prelude::Device) -> burn::nn::conv::Conv2d {
        use burn::module::Param;
        use burn::prelude::*;
        let (ci, co) = (self.c_in, self.c_out);
        let mut w = vec![0f32; co * ci * 9];
        for o in 0..co {
            for i in 0..ci {
                for t in 0..9 {
                    w[(o * ci + i) * 9 + t] = self.weight[(t * ci + i) * co + o];
                }
            }
        }
        let mut conv = burn::nn::conv::Conv2dConfig::new([ci, co], [3, 3])
            .with_dilation([self.dilation; 2])
            .with_padding(super::model::same_padding(self.dilation))
            .init(device);
        conv.weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(w, [co, ci, 3, 3]), device));
        conv.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(self.bias.clone(), [co]),
            device,
        )));
        conv
    }

    /// `input` is `[h, w, c_in]`; returns `[h, w, c_out]`, ReLU applied when `relu`.
    fn forward(
        &self,
        input: &[f32],
        h: usize,
        w: usize,
        relu: bool,
        kernel: ConvKernel,
    ) -> Vec<f32> {
        let co = self.c_out;
        let mut out = vec![0f32; h * w * co];
        let rows = self.forward_rows(w, kernel);
        out.par_chunks_mut(rows * w * co).enumerate().for_each(|(band, dst)| {
            let mut scratch = Vec::new();
            self.forward_band(input, h, w, band * rows, dst, relu, &mut scratch, kernel);
        });
        out
    }

    /// Whether [`Self::forward_band`] runs the direct kernel with `kernel`.
    pub(crate) fn direct(&self, kernel: ConvKernel) -> bool {
        kernel == ConvKernel::Auto && super::direct::supports(self)
    }

    /// Rows per band of the forward pass: the direct kernel's [`super::direct::band_rows`]
    /// (each band is copied with a border), im2col's [`Self::band_rows`].
    pub(crate) fn forward_rows(&self, w: usize, kernel: ConvKernel) -> usize {
        if self.direct(kernel) {
            super::direct::band_rows(self.dilation)
        } else {
            self.band_rows(w)
        }
    }

    /// Rows per im2col band, sized so the im2col block stays around 0.5 MB (cache-resident;
    /// measured: 0.125-4 MB all within 5 %).
    pub(crate) fn band_rows(&self, w: usize) -> usize {
        (131_072 / (w * 9 * self.c_in).max(1)).max(1)
    }

    /// The `[m, 9·c_in]` im2col matrix of rows `y0..y0 + n_rows` of `input` (`[h, w, c_in]`,
    /// zero padding) into `cols`.
    fn im2col(
        &self,
        input: &[f32],
        h: usize,
        w: usize,
        y0: usize,
        n_rows: usize,
        cols: &mut Vec<f32>,
    ) {
        let ci = self.c_in;
        let k = 9 * ci;
        cols.clear();
        cols.resize(n_rows * w * k, 0.0);
        // Taps outside the image stay 0: zero padding.
        for_each_tap(h, w, self.dilation, y0, n_rows, |px, t, src| {
            cols[px * k + t * ci..px * k + (t + 1) * ci]
                .copy_from_slice(&input[src * ci..(src + 1) * ci]);
        });
    }

    /// Output rows `y0..` of the layer into `dst` (`[rows, w, c_out]`); `scratch` is reused
    /// between calls.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_band(
        &self,
        input: &[f32],
        h: usize,
        w: usize,
        y0: usize,
        dst: &mut [f32],
        relu: bool,
        scratch: &mut Vec<f32>,
        kernel: ConvKernel,
    ) {
        if self.direct(kernel) {
            return super::direct::forward_band(self, input, h, w, y0, dst, relu, scratch);
        }
        // im2col + gemm, the im2col matrix in `scratch`.
        let cols = scratch;
        let (co, k) = (self.c_out, 9 * self.c_in);
        let n_rows = dst.len() / (w * co);
        let m = n_rows * w;
        self.im2col(input, h, w, y0, n_rows, cols);
        for px in dst.chunks_mut(co) {
            px.copy_from_slice(&self.bias);
        }
        // SAFETY: dst is m×co, cols m×k, weight k×co, all row-major inside their buffers.
        unsafe {
            matmul(
                m,
                co,
                k,
                dst.as_mut_ptr(),
                co,
                true,
                (cols.as_ptr(), 1, k),
                (self.weight.as_ptr(), 1, co),
            )
        };
        if relu {
            for v in dst.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }

    /// The layer that maps this one's output gradient to its input gradient: taps mirrored
    /// (t → 8 − t, both axes flipped), input and output channels swapped, no bias.
    fn transposed(&self) -> Conv3x3 {
        let (ci, co) = (self.c_in, self.c_out);
        let mut weight = vec![0f32; 9 * ci * co];
        for t in 0..9 {
            for i in 0..ci {
                for o in 0..co {
                    weight[((8 - t) * co + o) * ci + i] = self.weight[(t * ci + i) * co + o];
                }
            }
        }
        Conv3x3 { c_in: co, c_out: ci, weight, bias: vec![0.0; ci], dilation: self.dilation }
    }

    /// Back-propagation through the layer for one image: `input` `[h, w, c_in]` (what the
    /// forward pass saw), `dz` `[h, w, c_out]` (gradient at the pre-activation output).
    /// Accumulates the weight and bias gradients (same layouts as `weight`/`bias`) and, when
    /// `dx` is given, writes the gradient with respect to `input` into it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        input: &[f32],
        h: usize,
        w: usize,
        dz: &[f32],
        grad_w: &mut [f32],
        grad_b: &mut [f32],
        mut dx: Option<&mut [f32]>,
        scratch: &mut (Vec<f32>, Vec<f32>),
        kernel: ConvKernel,
    ) {
        let (ci, co) = (self.c_in, self.c_out);
        let k = 9 * ci;
        let rows = self.band_rows(w);
        for px in dz.chunks(co) {
            for (g, v) in grad_b.iter_mut().zip(px) {
                *g += v;
            }
        }
        let (cols, dcols) = scratch;
        // The input gradient is a convolution of `dz` with the taps flipped and the channels
        // swapped: where the direct kernel takes that layer, it replaces the dcols product and
        // the col2im scatter below.
        let transposed = dx.is_some().then(|| self.transposed()).filter(|t| t.direct(kernel));
        if let (Some(t), Some(d)) = (&transposed, dx.as_deref_mut()) {
            // One call for the whole image: the direct kernel bands it and packs once.
            t.forward_band(dz, h, w, 0, d, false, dcols, kernel);
        }
        // col2im below adds into dx, so it starts from zero; the direct kernel wrote all of it.
        let mut dx = if transposed.is_some() { None } else { dx };
        if let Some(d) = dx.as_deref_mut() {
            d.fill(0.0);
        }
        // The weight gradient's own direct kernel, where the layer takes one; then im2col is
        // only needed by col2im's input gradient.
        let direct_dw = self.direct(kernel);
        if direct_dw {
            super::direct::weight_grad(self, input, h, w, dz, grad_w, cols);
            if dx.is_none() {
                return;
            }
        }
        let mut y0 = 0;
        while y0 < h {
            let n_rows = rows.min(h - y0);
            let m = n_rows * w;
            let dz_band = &dz[y0 * w * co..(y0 + n_rows) * w * co];
            self.im2col(input, h, w, y0, n_rows, cols);
            // SAFETY (both calls): grad_w is k×co, cols m×k (read transposed as k×m through its
            // strides), dz_band m×co, dcols m×k, weight k×co (read transposed as co×k).
            if !direct_dw {
                unsafe {
                    matmul(
                        k,
                        co,
                        m,
                        grad_w.as_mut_ptr(),
                        co,
                        true,
                        (cols.as_ptr(), k, 1),
                        (dz_band.as_ptr(), 1, co),
                    );
                }
            }
            if let Some(d) = dx.as_deref_mut() {
                dcols.clear();
                dcols.resize(m * k, 0.0);
                unsafe {
                    matmul(
                        m,
                        k,
                        co,
                        dcols.as_mut_ptr(),
                        k,
                        false,
                        (dz_band.as_ptr(), 1, co),
                        (self.weight.as_ptr(), co, 1),
                    );
                }
                // col2im: each im2col entry came from one input pixel; its gradient goes back there.
                for_each_tap(h, w, self.dilation, y0, n_rows, |px, t, dst| {
                    let from = &dcols[px * k + t * ci..px * k + (t + 1) * ci];
                    for (o, v) in d[dst * ci..(dst + 1) * ci].iter_mut().zip(from) {
                        *o += v;
                    }
                });
            }
            y0 += n_rows;
        }
    }
}

/// Calls `f(px, t, src)` for every output pixel `px` (counted from row `y0`) of rows
/// `y0..y0 + n_rows` of an `h × w` image and every tap `t = 3·ky + kx` of its 3×3 neighbourhood
/// (taps `dilation` pixels apart) that lies inside the image, `src` being that neighbour's
/// pixel index: the index map that im2col reads through and col2im writes back through.
fn for_each_tap(
    h: usize,
    w: usize,
    dilation: usize,
    y0: usize,
    n_rows: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    for r in 0..n_rows {
        let y = y0 + r;
        for x in 0..w {
            for ky in 0..3 {
                let sy = (y + ky * dilation).checked_sub(dilation).filter(|&sy| sy < h);
                let Some(sy) = sy else { continue };
                for kx in 0..3 {
                    let sx = (x + kx * dilation).checked_sub(dilation).filter(|&sx| sx < w);
                    let Some(sx) = sx else { continue };
                    f(r * w + x, ky * 3 + kx, sy * w + sx);
                }
            }
        }
    }
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, single-threaded; each operand is
/// `(pointer, column stride, row stride)`, `dst` is row-major with row stride `dst_rs`.
///
/// # Safety
/// Every pointer with its strides must describe a matrix of the given shape inside its buffer.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: (*const f32, usize, usize),
    rhs: (*const f32, usize, usize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs.0,
        lhs.1 as isize,
        lhs.2 as isize,
        rhs.0,
        rhs.1 as isize,
        rhs.2 as isize,
        if accumulate { 1.0 } else { 0.0 },
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// Channel-first `[c, plane]` → channels-last `[plane, c]`.
pub(crate) fn channels_last(input: &[f32], c: usize, plane: usize) -> Vec<f32> {
    let mut x = vec![0f32; plane * c];
    for ch in 0..c {
        for p in 0..plane {
            x[p * c + ch] = input[ch * plane + p];
        }
    }
    x
}

/// [`EnhanceNet`]'s weights laid out for [`CpuEnhanceNet::forward_slab`].
pub struct CpuEnhanceNet {
    pub(crate) layers: Vec<Conv3x3>,
    pub(crate) context: usize,
    /// Activation planes reused from one slab to the next (direct kernel only).
    planes: super::direct::PlaneCache,
}

impl CpuEnhanceNet {
    /// The network of these layers (head first, tail last) reading `2·context + 1` slices.
    pub(crate) fn new(layers: Vec<Conv3x3>, context: usize) -> Self {
        Self { layers, context, planes: Default::default() }
    }

    pub fn from_model(model: &EnhanceNet, context: usize) -> Self {
        let mut layers = vec![Conv3x3::from_burn(&model.head)];
        layers.extend(model.body.iter().map(Conv3x3::from_burn));
        layers.push(Conv3x3::from_burn(&model.tail));
        Self::new(layers, context)
    }

    /// Each layer's tap spacing, head first (as [`super::EnhanceNetConfig::dilations`]).
    pub fn dilations(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.dilation).collect()
    }

    /// Back into a burn module (for saving), with `cfg`'s architecture.
    pub fn to_model(
        &self,
        cfg: &super::EnhanceNetConfig,
        device: &burn::prelude::Device,
    ) -> EnhanceNet {
        let mut model = cfg.init(device);
        let n = self.layers.len();
        model.head = self.layers[0].to_burn(device);
        model.body = self.layers[1..n - 1].iter().map(|l| l.to_burn(device)).collect();
        model.tail = self.layers[n - 1].to_burn(device);
        model
    }

    /// The last hidden layer's activations (the tail's input) for one slab.
    ///
    /// # Shapes
    /// `input`: `[2·context + 1, h, w]` → `[h, w, C]` (channels-last).
    pub fn features_slab(&self, input: &[f32], h: usize, w: usize) -> Vec<f32> {
        self.features_slab_with(input, h, w, ConvKernel::Auto)
    }

    fn features_slab_with(
        &self,
        input: &[f32],
        h: usize,
        w: usize,
        kernel: ConvKernel,
    ) -> Vec<f32> {
        let hidden = self.hidden(input, h, w);
        if self.direct_hidden(kernel) {
            return super::direct::forward_layers(hidden, input, h, w, &self.planes);
        }
        let mut x = channels_last(input, hidden[0].c_in, h * w);
        for layer in hidden {
            x = layer.forward(&x, h, w, true, kernel); // [h, w, C]
        }
        x
    }

    /// The layers before the tail, after checking that `input` is `[c_in, h, w]`.
    fn hidden(&self, input: &[f32], h: usize, w: usize) -> &[Conv3x3] {
        let c = self.layers[0].c_in;
        assert_eq!(input.len(), c * h * w, "input is not [{c}, {h}, {w}]");
        &self.layers[..self.layers.len() - 1]
    }

    /// Whether every layer before the tail runs the direct kernel on bordered planes.
    fn direct_hidden(&self, kernel: ConvKernel) -> bool {
        let hidden = &self.layers[..self.layers.len() - 1];
        kernel == ConvKernel::Auto && hidden.iter().all(super::direct::supports)
    }

    /// The same function as [`EnhanceNet::forward`] on one slab.
    ///
    /// # Shapes
    /// `input`: `[2·context + 1, h, w]` (channel-first, as the network's input) → `[h, w]`.
    pub fn forward_slab(&self, input: &[f32], h: usize, w: usize) -> Vec<f32> {
        self.forward_slab_with(input, h, w, ConvKernel::Auto)
    }

    /// [`Self::forward_slab`] with the convolutions computed by `kernel`.
    pub fn forward_slab_with(
        &self,
        input: &[f32],
        h: usize,
        w: usize,
        kernel: ConvKernel,
    ) -> Vec<f32> {
        let hidden = self.hidden(input, h, w);
        let tail = &self.layers[self.layers.len() - 1];
        let x = if self.direct_hidden(kernel) && super::direct::supports_tail(tail) {
            super::direct::forward_network(hidden, tail, input, h, w, &self.planes)
        // [h, w]
        } else {
            let features = self.features_slab_with(input, h, w, kernel); // [h, w, C]
            tail.forward(&features, h, w, false, kernel) // [h, w]
        };
        let centre = &input[self.context * h * w..(self.context + 1) * h * w];
        x.iter().zip(centre).map(|(r, c)| r + c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enhance::EnhanceNetConfig;
    use burn::prelude::*;

    #[test]
    fn matches_the_burn_forward_pass() {
        let device = Device::flex();
        let dilated =
            EnhanceNetConfig { dilations: vec![2, 1, 4, 3, 1], ..EnhanceNetConfig::new(1, 6, 5) };
        let dilated_wide =
            EnhanceNetConfig { dilations: vec![1, 2, 1, 1], ..EnhanceNetConfig::new(1, 32, 4) };
        for (cfg, h, w) in [
            (EnhanceNetConfig::new(1, 8, 4), 37, 29),
            // 16·n channels: the direct kernel where the CPU has AVX2 + FMA.
            (EnhanceNetConfig::new(1, 16, 4), 19, 27),
            (dilated_wide, 21, 17),
            (EnhanceNetConfig::new(0, 5, 3), 3, 70),
            (dilated.clone(), 23, 31),
            // Taps farther apart than the image is tall.
            (dilated, 3, 40),
        ] {
            let mut model = cfg.init(&device);
            // A random tail: the initial zero tail would hide every error in the body.
            let d = cfg.dilation(cfg.depth - 1);
            model.tail = burn::nn::conv::Conv2dConfig::new([cfg.channels, 1], [3, 3])
                .with_dilation([d, d])
                .with_padding(crate::enhance::model::same_padding(d))
                .init(&device);
            let c = cfg.in_channels();
            let x = Tensor::<4>::random(
                [1, c, h, w],
                burn::tensor::Distribution::Uniform(0.0, 1.0),
                &device,
            );
            let input = x.clone().into_data().as_slice::<f32>().unwrap().to_vec();
            let want = model.forward(x).into_data().as_slice::<f32>().unwrap().to_vec();
            let got = CpuEnhanceNet::from_model(&model, cfg.context).forward_slab(&input, h, w);
            let diff = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let residual = want
                .iter()
                .zip(&input[cfg.context * h * w..])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(residual > 1e-2, "the network must not be the identity here");
            assert!(diff < 1e-4, "{cfg:?} {h}×{w}: max difference {diff}");
        }
    }
}
