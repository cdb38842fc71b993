//! Grad-CAM (Selvaraju et al. 2017) for the pixel model: which parts of the series the decision
//! rests on. The gradient of the class score with respect to the third stage's feature maps,
//! averaged over space, weighs those maps; their weighted sum, rectified and scaled to [0, 1],
//! is the heat map. The third stage (`grid / [4, 8, 8]`) is used rather than the last one
//! (`grid / [8, 16, 16]`, 2 × 3 × 3 for the default grid), which is too coarse to point at
//! anything.

use burn::prelude::*;
use clarity_core::Volume;

use super::model::{SeriesNet, SeriesNetConfig};
use super::Class;

/// Heat map of `class` for a preprocessed input (`[d, h, w]` on `cfg.grid`), on the same grid,
/// values in [0, 1]. `model` must live on an autodiff device.
pub fn grad_cam(
    model: &SeriesNet,
    cfg: &SeriesNetConfig,
    input: &[f32],
    class: Class,
    device: &Device,
) -> Vec<f32> {
    let [d, h, w] = cfg.grid;
    let x = Tensor::<5>::from_data(TensorData::new(input.to_vec(), [1, 1, d, h, w]), device);
    // A leaf, so the backward pass keeps its gradient.
    let a = model.upto_layer3(x).detach().require_grad(); // [1, 4C, d/4, h/8, w/8]
    let logits = model.from_layer3(a.clone()); // [1, 10]
    let k = class.index();
    let score = logits.slice([0..1, k..k + 1]).sum();
    let grads = score.backward();
    let g = a.grad(&grads).expect("features require grad"); // [1, 4C, d', h', w']
    let [_, c, dd, hh, ww] = g.dims();
    let weights = g.reshape([c, dd * hh * ww]).mean_dim(1); // [4C, 1]
    let maps = a.inner().reshape([c, dd * hh * ww]); // [4C, d'h'w']
    let cam = burn::tensor::activation::relu((maps * weights.inner()).sum_dim(0)); // [1, d'h'w']
    let cam = cam.into_data().as_slice::<f32>().expect("float").to_vec();
    let max = cam.iter().fold(0f32, |m, v| m.max(*v));
    let cam: Vec<f32> = cam.iter().map(|v| if max > 0.0 { v / max } else { 0.0 }).collect();
    let coarse = Volume::new([ww, hh, dd], cam).expect("consistent dims");
    clarity_transforms::resample::to_grid(&coarse, [w, h, d])
}
