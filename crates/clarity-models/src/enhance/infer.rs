//! Enhancing a whole volume: every slice with its neighbours through the network, in batches,
//! with the same per-slab normalisation as training (99th percentile of the input slab), undone
//! on output. Fully convolutional, so any matrix size runs whole; geometry and metadata are
//! kept.

use burn::prelude::*;
use clarity_core::Volume;

use super::data::norm_scale;
use super::model::{EnhanceNet, EnhanceNetConfig};

/// Enhance frame 0 of `vol`, `batch` slices at a time; `progress(done, total)` after each batch.
pub fn enhance_volume(
    model: &EnhanceNet,
    cfg: &EnhanceNetConfig,
    vol: &Volume,
    device: &Device,
    batch: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Volume {
    let [nx, ny, nz] = vol.dims;
    let plane = nx * ny;
    let ch = cfg.in_channels();
    let c = cfg.context;
    let mut out = vol.clone();
    let mut k0 = 0;
    while k0 < nz {
        let k1 = (k0 + batch.max(1)).min(nz);
        let n = k1 - k0;
        let mut input = vec![0f32; n * ch * plane];
        let mut scales = Vec::with_capacity(n);
        for (b, k) in (k0..k1).enumerate() {
            // Edge slices repeat the nearest slice, as in training.
            let slab: Vec<usize> = (0..ch).map(|d| (k + d).saturating_sub(c).min(nz - 1)).collect();
            let values: Vec<f32> =
                slab.iter().flat_map(|&s| vol.slice(s).iter().copied()).collect();
            let scale = norm_scale(&values);
            scales.push(scale);
            for (d, &s) in slab.iter().enumerate() {
                let dst = &mut input[(b * ch + d) * plane..(b * ch + d + 1) * plane];
                for (o, v) in dst.iter_mut().zip(vol.slice(s)) {
                    *o = v.max(0.0) / scale;
                }
            }
        }
        let x = Tensor::<4>::from_data(TensorData::new(input, [n, ch, ny, nx]), device);
        let y = model.forward(x).into_data(); // [n, 1, ny, nx]
        let y = y.as_slice::<f32>().expect("float output");
        for (b, k) in (k0..k1).enumerate() {
            let dst = &mut out.data[k * plane..(k + 1) * plane];
            for (o, v) in dst.iter_mut().zip(&y[b * plane..(b + 1) * plane]) {
                *o = (v * scales[b]).max(0.0);
            }
        }
        k0 = k1;
        progress(k0, nz);
    }
    // Only frame 0 is enhanced; further frames (4D) are dropped rather than left unprocessed.
    out.frames = 1;
    out.data.truncate(plane * nz);
    out.frame_axis = None;
    out
}
