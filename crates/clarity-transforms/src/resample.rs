//! Resampling a volume to a fixed voxel grid over the same extent (voxel-index space: the first
//! and last voxel centres map to the edges of the field of view, as in `align_corners = false`).
//!
//! Each axis is resampled on its own with a triangle (linear) kernel whose half-width is the
//! larger of one input voxel and the down-sampling factor, so shrinking averages every input
//! voxel in the footprint (no aliasing of noise into the small grid) and enlarging is linear
//! interpolation. Weights are normalised, so a constant stays constant; edges clamp.

use clarity_core::Volume;
use rayon::prelude::*;

/// Weights `(input index, weight)` for each of `n_out` outputs of an axis of `n_in` samples.
fn axis_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = n_in as f64 / n_out as f64;
    let half = scale.max(1.0);
    (0..n_out)
        .map(|o| {
            let c = (o as f64 + 0.5) * scale - 0.5;
            let lo = (c - half).floor().max(0.0) as usize;
            let hi = ((c + half).ceil() as usize).min(n_in - 1);
            let mut w: Vec<(usize, f32)> = (lo..=hi)
                .map(|i| (i, (1.0 - (i as f64 - c).abs() / half).max(0.0) as f32))
                .filter(|(_, w)| *w > 0.0)
                .collect();
            if w.is_empty() {
                w.push((c.round().clamp(0.0, (n_in - 1) as f64) as usize, 1.0));
            }
            let sum: f32 = w.iter().map(|(_, w)| w).sum();
            w.iter_mut().for_each(|(_, x)| *x /= sum);
            w
        })
        .collect()
}

/// Resample along one axis (0 = x fastest) of a `dims` array.
fn along(data: &[f32], dims: [usize; 3], axis: usize, n_out: usize) -> (Vec<f32>, [usize; 3]) {
    let w = axis_weights(dims[axis], n_out);
    let mut od = dims;
    od[axis] = n_out;
    let [ox, oy, _] = od;
    let [nx, ny, _] = dims;
    let stride_in = [1, nx, nx * ny][axis];
    let out: Vec<f32> = (0..od[2])
        .into_par_iter()
        .flat_map_iter(|z| {
            let w = &w;
            (0..oy).flat_map(move |y| {
                (0..ox).map(move |x| {
                    let mut pos = [x, y, z];
                    let taps = &w[pos[axis]];
                    pos[axis] = 0;
                    let base = pos[0] + pos[1] * nx + pos[2] * nx * ny;
                    taps.iter().map(|(i, wt)| data[base + i * stride_in] * wt).sum::<f32>()
                })
            })
        })
        .collect();
    (out, od)
}

/// Frame 0 of `vol` on a `[nx, ny, nz]` grid spanning the same extent, as flat `x`-fastest data.
pub fn to_grid(vol: &Volume, grid: [usize; 3]) -> Vec<f32> {
    let plane = vol.dims[0] * vol.dims[1] * vol.dims[2];
    let mut data = vol.data[..plane].to_vec();
    let mut dims = vol.dims;
    for axis in 0..3 {
        if dims[axis] != grid[axis] {
            (data, dims) = along(&data, dims, axis, grid[axis]);
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_stays_constant_and_shapes_follow_the_grid() {
        let v = Volume::new([37, 20, 7], vec![3.5; 37 * 20 * 7]).unwrap();
        for grid in [[16, 16, 16], [48, 8, 3], [37, 20, 7]] {
            let g = to_grid(&v, grid);
            assert_eq!(g.len(), grid.iter().product::<usize>());
            assert!(g.iter().all(|x| (x - 3.5).abs() < 1e-5), "{grid:?}");
        }
    }

    #[test]
    fn downsampling_averages_and_upsampling_interpolates() {
        // x ramp 0..8 over 8 samples → 4 samples: each the mean of its footprint (weights
        // symmetric about the centre) = the ramp at the output centre.
        let ramp: Vec<f32> = (0..8).map(|x| x as f32).collect();
        let v = Volume::new([8, 1, 1], ramp).unwrap();
        let down = to_grid(&v, [4, 1, 1]);
        for (o, d) in down.iter().enumerate() {
            let centre = (o as f32 + 0.5) * 2.0 - 0.5;
            // Clamped edges pull the outer samples inwards a little.
            assert!((d - centre).abs() < 0.35, "{o}: {d} vs {centre}");
        }
        assert!((down[1] - 2.5).abs() < 1e-5 && (down[2] - 4.5).abs() < 1e-5);
        // Alternating ±1 noise averages out when shrinking by 4.
        let alt: Vec<f32> = (0..16).map(|x| if x % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let v = Volume::new([16, 1, 1], alt).unwrap();
        assert!(to_grid(&v, [4, 1, 1]).iter().all(|x| x.abs() < 0.15));
        // Upsampling 2 → 4 is linear between the samples.
        let v = Volume::new([2, 1, 1], vec![0.0, 4.0]).unwrap();
        let up = to_grid(&v, [4, 1, 1]);
        assert_eq!(up[0], 0.0);
        assert!((up[1] - 1.0).abs() < 1e-5 && (up[2] - 3.0).abs() < 1e-5 && up[3] == 4.0);
    }
}
