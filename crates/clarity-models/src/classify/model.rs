//! The pixel model: a small 3D ResNet (ResNet-10 layout: a stem and four stages of one basic
//! block each) over a series resampled to a fixed grid.
//!
//! burn has no 3D max pooling, so down-sampling is by stride-2 convolutions (the stem halves
//! `h` and `w`; stages 2-4 halve every axis) and the head is a global average over the last
//! feature map. Batch norm after every convolution; identity shortcuts, or a strided 1×1×1
//! convolution + batch norm where the shape changes.
//!
//! # Shapes
//! - input: `[batch, 1, d, h, w]` (default grid 16 × 48 × 48), intensities normalised per series;
//! - features after the stages: `[batch, 8·C, d/8, h/16, w/16]`;
//! - output: `[batch, 10]` class logits (see [`super::Class`]).

use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig3d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::N_CLASSES;

/// Hyper-parameters of [`SeriesNet`]; saved as `config.json` beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesNetConfig {
    /// Channels of the first stage C (stages have C, 2C, 4C, 8C).
    pub channels: usize,
    /// Input grid `[d, h, w]` every series is resampled to.
    pub grid: [usize; 3],
}

impl Default for SeriesNetConfig {
    fn default() -> Self {
        Self { channels: 16, grid: [16, 48, 48] }
    }
}

fn conv(i: usize, o: usize, k: usize, stride: [usize; 3], device: &Device) -> Conv3d {
    Conv3dConfig::new([i, o], [k; 3])
        .with_stride(stride)
        .with_padding(PaddingConfig3d::Explicit(k / 2, k / 2, k / 2))
        .with_bias(false)
        .init(device)
}

/// Two 3×3×3 convolutions with a shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv3d,
    bn1: BatchNorm,
    conv2: Conv3d,
    bn2: BatchNorm,
    down: Option<(Conv3d, BatchNorm)>,
}

impl BasicBlock {
    fn new(i: usize, o: usize, stride: usize, device: &Device) -> Self {
        let s = [stride; 3];
        Self {
            conv1: conv(i, o, 3, s, device),
            bn1: BatchNormConfig::new(o).init(device),
            conv2: conv(o, o, 3, [1; 3], device),
            bn2: BatchNormConfig::new(o).init(device),
            down: (stride != 1 || i != o)
                .then(|| (conv(i, o, 1, s, device), BatchNormConfig::new(o).init(device))),
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let y = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let y = self.bn2.forward(self.conv2.forward(y));
        let skip = match &self.down {
            Some((c, b)) => b.forward(c.forward(x)),
            None => x,
        };
        relu(y + skip)
    }
}

/// See the module docs.
#[derive(Module, Debug)]
pub struct SeriesNet {
    stem: Conv3d,
    stem_bn: BatchNorm,
    layer1: BasicBlock,
    layer2: BasicBlock,
    layer3: BasicBlock,
    layer4: BasicBlock,
    fc: Linear,
}

impl SeriesNetConfig {
    pub fn init(&self, device: &Device) -> SeriesNet {
        let c = self.channels;
        SeriesNet {
            stem: conv(1, c, 3, [1, 2, 2], device),
            stem_bn: BatchNormConfig::new(c).init(device),
            layer1: BasicBlock::new(c, c, 1, device),
            layer2: BasicBlock::new(c, 2 * c, 2, device),
            layer3: BasicBlock::new(2 * c, 4 * c, 2, device),
            layer4: BasicBlock::new(4 * c, 8 * c, 2, device),
            fc: LinearConfig::new(8 * c, N_CLASSES).init(device),
        }
    }

    /// Forward FLOPs (multiply and add counted separately) for one series.
    pub fn flops(&self) -> f64 {
        let [d, h, w] = self.grid.map(|v| v as f64);
        let c = self.channels as f64;
        let conv = |vox: f64, i: f64, o: f64, k: f64| 2.0 * vox * i * o * k;
        let v0 = d * (h / 2.0) * (w / 2.0);
        let mut f = conv(v0, 1.0, c, 27.0) + 2.0 * conv(v0, c, c, 27.0);
        let (mut vox, mut ch) = (v0, c);
        for _ in 0..3 {
            vox /= 8.0;
            f += conv(vox, ch, 2.0 * ch, 27.0) + conv(vox, 2.0 * ch, 2.0 * ch, 27.0);
            f += conv(vox, ch, 2.0 * ch, 1.0);
            ch *= 2.0;
        }
        f
    }
}

impl SeriesNet {
    /// Feature maps of the third stage: `[batch, 4C, d/4, h/8, w/8]` (what Grad-CAM weighs).
    pub fn upto_layer3(&self, x: Tensor<5>) -> Tensor<5> {
        let x = relu(self.stem_bn.forward(self.stem.forward(x))); // [b, C, d, h/2, w/2]
        let x = self.layer1.forward(x);
        let x = self.layer2.forward(x); // [b, 2C, d/2, h/4, w/4]
        self.layer3.forward(x) // [b, 4C, d/4, h/8, w/8]
    }

    /// Logits from third-stage feature maps.
    pub fn from_layer3(&self, a: Tensor<5>) -> Tensor<2> {
        self.head(self.layer4.forward(a))
    }

    /// Feature maps of the last stage: `[batch, 8C, d/8, h/16, w/16]`.
    pub fn features(&self, x: Tensor<5>) -> Tensor<5> {
        self.layer4.forward(self.upto_layer3(x))
    }

    /// Logits from last-stage features.
    pub fn head(&self, features: Tensor<5>) -> Tensor<2> {
        let [b, c, _, _, _] = features.dims();
        let pooled = features.flatten::<3>(2, 4).mean_dim(2).reshape([b, c]); // [b, 8C]
        self.fc.forward(pooled) // [b, 10]
    }

    /// # Shapes
    /// `[batch, 1, d, h, w]` → `[batch, 10]`.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<2> {
        self.head(self.features(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Network tests as a table of (config, input shape, output shape).
    #[test]
    fn output_shapes() {
        let device = Device::flex();
        for (cfg, input, features) in [
            (
                SeriesNetConfig { channels: 4, grid: [16, 48, 48] },
                [2, 1, 16, 48, 48],
                [2, 32, 2, 3, 3],
            ),
            (
                SeriesNetConfig { channels: 2, grid: [8, 32, 32] },
                [1, 1, 8, 32, 32],
                [1, 16, 1, 2, 2],
            ),
        ] {
            let net = cfg.init(&device);
            let x = Tensor::<5>::random(input, burn::tensor::Distribution::Default, &device);
            assert_eq!(net.features(x.clone()).dims(), features);
            assert_eq!(net.forward(x).dims(), [input[0], N_CLASSES]);
        }
    }
}
