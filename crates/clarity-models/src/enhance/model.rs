//! The enhancement network: a residual CNN that maps a zero-filled low-resolution magnitude
//! slice (with its neighbours as extra channels, "2.5D") to the enhanced slice.
//!
//! Architecture (DnCNN-like, no batch norm so any batch size and tiling behave the same):
//! `head` 3×3 conv (in → C) + ReLU, `body` D−2 × [3×3 conv (C → C) + ReLU], `tail` 3×3 conv
//! (C → 1, zero-initialised); the output is the centre input channel plus the predicted
//! residual, so an untrained network is the identity. Fully convolutional: any matrix size.
//!
//! With `noise_channel`, one more input channel holds the scan's noise level: a constant plane
//! of [`NOISE_MAP_GAIN`] · σ / scale (σ the shortened scan's per-pixel noise, scale the slab's
//! normalisation), so the network need not guess how much of the texture is noise.
//! With `reduction_channel`, one more (after the noise plane) holds the fraction of phase-encoding
//! lines the scan dropped, `1 − acquired / n`: where the k-space cut-off lies decides what the
//! missing lines look like (the ringing's period, the blur's width), and a 25-pixel receptive
//! field cannot measure it from the image.
//!
//! # Shapes
//! - input: `[batch, 2·context + 1 (+ 1 noise plane) (+ 1 reduction plane), h, w]` — slices
//!   k−context..k+context, normalised;
//! - output: `[batch, 1, h, w]`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use clarity_core::PhaseEncodingDirection;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of [`EnhanceNet`]; saved as `config.json` beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhanceNetConfig {
    /// Neighbouring slices on each side given as extra input channels (0 = plain 2D).
    pub context: usize,
    /// Feature channels C.
    pub channels: usize,
    /// Convolution layers D (head and tail included).
    pub depth: usize,
    /// The phase-encoding axis the network was trained for. `None`: trained with PE along
    /// either axis, so any input goes in as it is; `Some(d)`: inputs whose PE runs along the
    /// other axis are transposed on the way in and back on the way out. Absent in older
    /// `config.json` files, which were trained on both axes.
    #[serde(default)]
    pub pe_axis: Option<PhaseEncodingDirection>,
    /// A last input channel with the noise level (see the module docs). Absent in older
    /// `config.json` files, which have none.
    #[serde(default)]
    pub noise_channel: bool,
    /// A last input channel with the fraction of PE lines dropped (see the module docs).
    /// Absent in older `config.json` files, which have none.
    #[serde(default)]
    pub reduction_channel: bool,
    /// Per layer (head first, tail last), the spacing of the 3×3 taps in pixels: 1 is a plain
    /// 3×3 convolution, d > 1 reads the neighbours d pixels away (a dilated convolution), so a
    /// few layers widen the receptive field at no extra cost. Empty: all 1 (and absent in
    /// older `config.json` files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dilations: Vec<usize>,
}

/// The noise plane's value is this × σ / scale: at SNR 20 σ / scale is ~0.02, and inputs of
/// order 0.1-1 keep its weights' gradients comparable to the image channels'.
pub const NOISE_MAP_GAIN: f32 = 10.0;

impl Default for EnhanceNetConfig {
    fn default() -> Self {
        Self::new(1, 32, 8)
    }
}

impl EnhanceNetConfig {
    /// A network for either PE axis, without the noise plane.
    pub fn new(context: usize, channels: usize, depth: usize) -> Self {
        Self {
            context,
            channels,
            depth,
            pe_axis: None,
            noise_channel: false,
            reduction_channel: false,
            dilations: Vec::new(),
        }
    }

    /// The tap spacing of layer `layer` (0 = head); see [`Self::dilations`].
    pub fn dilation(&self, layer: usize) -> usize {
        self.dilations.get(layer).copied().unwrap_or(1)
    }

    /// Why this configuration cannot build a network, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.depth < 2 || self.channels == 0 {
            return Err(format!(
                "a network needs at least 2 layers and 1 channel (got {} layers, {} channels)",
                self.depth, self.channels
            ));
        }
        if !self.dilations.is_empty() && self.dilations.len() != self.depth {
            return Err(format!(
                "{} dilations given for {} layers: give one per layer, head first",
                self.dilations.len(),
                self.depth
            ));
        }
        if self.dilations.contains(&0) {
            return Err("a dilation of 0 is not a convolution (1 is a plain one)".into());
        }
        if self.dilation(self.depth - 1) != 1 {
            // `clarity enhance` re-weighs the tail's per-channel 3×3 readout (readout.rs),
            // which reads adjacent pixels.
            return Err("the last layer (the tail) must have dilation 1".into());
        }
        Ok(())
    }

    /// Receptive field of one output pixel, in pixels across.
    pub fn receptive_field(&self) -> usize {
        1 + (0..self.depth).map(|l| 2 * self.dilation(l)).sum::<usize>()
    }

    /// Image channels (the slice and its neighbours), the constant planes excluded.
    pub fn image_channels(&self) -> usize {
        2 * self.context + 1
    }

    /// All input channels.
    pub fn in_channels(&self) -> usize {
        self.image_channels()
            + usize::from(self.noise_channel)
            + usize::from(self.reduction_channel)
    }

    /// Floating-point operations (multiply and add counted separately) for one `h × w` slice.
    pub fn flops_per_slice(&self, h: usize, w: usize) -> f64 {
        let c = self.channels as f64;
        let per_px =
            2.0 * 9.0 * (self.in_channels() as f64 * c + (self.depth as f64 - 2.0) * c * c + c);
        per_px * (h * w) as f64
    }

    pub fn parameters(&self) -> usize {
        let (c, i) = (self.channels, self.in_channels());
        (9 * i * c + c) + (self.depth - 2) * (9 * c * c + c) + (9 * c + 1)
    }

    pub fn init(&self, device: &Device) -> EnhanceNet {
        // He (Kaiming normal, gain √2) initialisation: burn's default (PyTorch's, gain 1/√3)
        // shrinks activations by ~0.4 per ReLU layer, which starves an 8-layer stack without
        // normalisation of gradient (measured: validation L1 never beat the input in 1000 steps).
        let conv = |i: usize, o: usize, d: usize| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_dilation([d, d])
                .with_padding(same_padding(d))
                .with_initializer(burn::nn::Initializer::KaimingNormal {
                    gain: std::f64::consts::SQRT_2,
                    fan_out_only: false,
                })
                .init(device)
        };
        EnhanceNet {
            head: conv(self.in_channels(), self.channels, self.dilation(0)),
            body: (1..self.depth.saturating_sub(1))
                .map(|l| conv(self.channels, self.channels, self.dilation(l)))
                .collect(),
            // Zero-initialised tail: the untrained network is exactly the identity on the
            // centre slice, so training starts from the zero-filled scan, never below it.
            tail: Conv2dConfig::new([self.channels, 1], [3, 3])
                .with_dilation([self.dilation(self.depth.saturating_sub(1)); 2])
                .with_padding(same_padding(self.dilation(self.depth.saturating_sub(1))))
                .with_initializer(burn::nn::Initializer::Zeros)
                .init(device),
            context: self.context,
        }
    }
}

/// Zero padding that keeps a 3×3 convolution with tap spacing `dilation` the input's size.
/// burn's `Same` sizes the padding from the kernel alone, which for a dilated kernel is too
/// little.
pub(crate) fn same_padding(dilation: usize) -> PaddingConfig2d {
    PaddingConfig2d::Explicit(dilation, dilation, dilation, dilation)
}

/// See the module docs.
#[derive(Module, Debug)]
pub struct EnhanceNet {
    pub head: Conv2d,
    pub body: Vec<Conv2d>,
    pub tail: Conv2d,
    context: usize,
}

impl EnhanceNet {
    /// # Shapes
    /// `[batch, in_channels, h, w]` → `[batch, 1, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, _, h, w] = x.dims();
        // The centre channel is the slice being enhanced.
        let centre = x.clone().slice([0..b, self.context..self.context + 1, 0..h, 0..w]);
        centre + self.tail.forward(self.features(x)) // [batch, 1, h, w]
    }

    /// The last hidden layer's activations, the tail's input.
    ///
    /// # Shapes
    /// `[batch, in_channels, h, w]` → `[batch, C, h, w]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = burn::tensor::activation::relu(self.head.forward(x)); // [batch, C, h, w]
        for conv in &self.body {
            y = burn::tensor::activation::relu(conv.forward(y));
        }
        y
    }

    /// The tail's weights `[C, 3, 3]` (PyTorch layout, one output channel) and its bias.
    pub fn tail_weights(&self) -> (Vec<f32>, f32) {
        let w = self.tail.weight.val().into_data();
        let w = w.as_slice::<f32>().expect("f32 weights").to_vec();
        let b = self
            .tail
            .bias
            .as_ref()
            .map_or(0.0, |b| b.val().into_data().as_slice::<f32>().expect("f32 bias")[0]);
        (w, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Network tests as a table of (config, input shape, output shape).
    #[test]
    fn output_shapes() {
        let device = Device::flex();
        let cases = [
            (EnhanceNetConfig::new(0, 4, 3), [2, 1, 16, 12], [2, 1, 16, 12]),
            (EnhanceNetConfig::new(1, 8, 4), [1, 3, 17, 9], [1, 1, 17, 9]),
            (EnhanceNetConfig::new(2, 4, 2), [3, 5, 8, 8], [3, 1, 8, 8]),
            (
                EnhanceNetConfig {
                    context: 1,
                    channels: 4,
                    depth: 3,
                    pe_axis: None,
                    noise_channel: true,
                    reduction_channel: false,
                    dilations: vec![],
                },
                [2, 4, 10, 7],
                [2, 1, 10, 7],
            ),
            (
                EnhanceNetConfig {
                    noise_channel: true,
                    reduction_channel: true,
                    ..EnhanceNetConfig::new(1, 4, 3)
                },
                [1, 5, 6, 9],
                [1, 1, 6, 9],
            ),
            (
                EnhanceNetConfig { dilations: vec![1, 4, 2, 1], ..EnhanceNetConfig::new(1, 4, 4) },
                [2, 3, 11, 5],
                [2, 1, 11, 5],
            ),
        ];
        for (cfg, input, output) in cases {
            let net = cfg.init(&device);
            let y = net.forward(Tensor::zeros(input, &device));
            assert_eq!(y.dims(), output, "{cfg:?}");
        }
    }

    #[test]
    fn checks_dilations_and_counts_the_receptive_field() {
        let plain = EnhanceNetConfig::new(1, 48, 12);
        assert_eq!(plain.check(), Ok(()));
        assert_eq!(plain.receptive_field(), 25);
        let mut dilated = EnhanceNetConfig::new(1, 8, 4);
        dilated.dilations = vec![1, 2, 4, 1];
        assert_eq!(dilated.check(), Ok(()));
        assert_eq!(dilated.receptive_field(), 1 + 2 * (1 + 2 + 4 + 1));
        dilated.dilations = vec![1, 2, 1];
        assert!(dilated.check().unwrap_err().contains("3 dilations given for 4 layers"));
        dilated.dilations = vec![1, 0, 1, 1];
        assert!(dilated.check().is_err());
        dilated.dilations = vec![1, 2, 1, 2];
        assert!(dilated.check().unwrap_err().contains("tail"));
        // Older config.json files have no "dilations": all 1; and all-1 ones save without it.
        let json = r#"{"context":1,"channels":8,"depth":4}"#;
        let old: EnhanceNetConfig = serde_json::from_str(json).unwrap();
        assert_eq!(old, EnhanceNetConfig::new(1, 8, 4));
        assert!(!serde_json::to_string(&old).unwrap().contains("dilations"));
    }

    #[test]
    fn parameter_count_matches_the_module() {
        for (noise_channel, reduction_channel) in [(false, false), (true, false), (true, true)] {
            let cfg = EnhanceNetConfig {
                context: 1,
                channels: 8,
                depth: 5,
                pe_axis: None,
                noise_channel,
                reduction_channel,
                // Dilation spaces the taps out without adding any.
                dilations: vec![1, 2, 3, 2, 1],
            };
            let net = cfg.init(&Device::flex());
            assert_eq!(net.num_params(), cfg.parameters());
        }
    }

    #[test]
    fn untrained_network_is_the_identity_on_the_centre_slice() {
        let device = Device::flex();
        let net = EnhanceNetConfig::new(1, 4, 3).init(&device);
        let x = Tensor::<4>::random([1, 3, 6, 5], burn::tensor::Distribution::Default, &device);
        let y = net.forward(x.clone());
        let centre = x.slice([0..1, 1..2, 0..6, 0..5]);
        let diff: f32 = (y - centre).abs().max().into_scalar();
        assert!(diff < 1e-6, "{diff}");
    }
}
