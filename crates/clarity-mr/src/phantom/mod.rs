//! Tissue phantoms: where each tissue is, as a label volume on any grid.
//!
//! - [`abdomen`]: a procedural 3D upper abdomen with shape variation from a seed.
//! - [`brain`]: tissue fractions from real probability maps (MNI152 grey/white matter).
//!
//! Shapes are defined in patient (LPS) millimetres, so any slice geometry — axial, coronal,
//! oblique, any matrix, FOV and slice thickness — is rendered by evaluating them at that grid's
//! voxel centres.

pub mod abdomen;
pub mod brain;

use rayon::prelude::*;

use crate::tissue::Tissue;

/// A solid in patient coordinates (mm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Axis-aligned ellipsoid.
    Ellipsoid { centre: [f64; 3], radii: [f64; 3] },
    /// Elliptic cylinder along z between `z0` and `z1`.
    Cylinder { centre: [f64; 2], radii: [f64; 2], z0: f64, z1: f64 },
    /// Capsule (tube with round ends) from `a` to `b`.
    Tube { a: [f64; 3], b: [f64; 3], radius: f64 },
    /// Ellipsoid whose surface is pushed in and out by smooth lobes: the radius along unit
    /// direction `u` (in the ellipsoid's normalised frame) is scaled by
    /// `1 + Σ amplitude·cos(frequency·(u·axis) + phase)`. Organs are not ellipsoids.
    Blob { centre: [f64; 3], radii: [f64; 3], lobes: [Lobe; 4] },
}

/// One smooth deformation of a [`Shape::Blob`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lobe {
    pub axis: [f64; 3],
    pub amplitude: f64,
    pub frequency: f64,
    pub phase: f64,
}

impl Lobe {
    /// A random lobe of up to `max_amplitude`.
    pub fn random(rng: &mut impl rand::Rng, max_amplitude: f64) -> Self {
        let mut axis =
            [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0f64)];
        let n = axis.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-6);
        axis.iter_mut().for_each(|v| *v /= n);
        Self {
            axis,
            amplitude: rng.gen_range(0.0..max_amplitude),
            frequency: rng.gen_range(1.5..4.0),
            phase: rng.gen_range(0.0..std::f64::consts::TAU),
        }
    }
}

impl Shape {
    pub fn contains(&self, p: [f64; 3]) -> bool {
        match *self {
            Shape::Ellipsoid { centre, radii } => {
                (0..3).map(|i| ((p[i] - centre[i]) / radii[i]).powi(2)).sum::<f64>() <= 1.0
            }
            Shape::Cylinder { centre, radii, z0, z1 } => {
                p[2] >= z0
                    && p[2] <= z1
                    && ((p[0] - centre[0]) / radii[0]).powi(2)
                        + ((p[1] - centre[1]) / radii[1]).powi(2)
                        <= 1.0
            }
            Shape::Blob { centre, radii, lobes } => {
                let q: [f64; 3] = std::array::from_fn(|i| (p[i] - centre[i]) / radii[i]);
                let d = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
                if d <= 0.6 {
                    return true;
                }
                // Lobe amplitudes sum to well under 0.4, so beyond 1.4 nothing is inside.
                if d > 1.4 {
                    return false;
                }
                let scale: f64 = 1.0
                    + lobes
                        .iter()
                        .map(|l| {
                            let c = (q[0] * l.axis[0] + q[1] * l.axis[1] + q[2] * l.axis[2]) / d;
                            l.amplitude * (l.frequency * c + l.phase).cos()
                        })
                        .sum::<f64>();
                d <= scale
            }
            Shape::Tube { a, b, radius } => {
                let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
                let len2 = ab.iter().map(|v| v * v).sum::<f64>().max(1e-12);
                let t = ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2).clamp(0.0, 1.0);
                let d2: f64 = (0..3).map(|i| (ap[i] - t * ab[i]).powi(2)).sum();
                d2 <= radius * radius
            }
        }
    }

    /// Axis-aligned bounding box `(min, max)`.
    pub fn bounds(&self) -> ([f64; 3], [f64; 3]) {
        match *self {
            Shape::Ellipsoid { centre, radii } => (
                std::array::from_fn(|i| centre[i] - radii[i]),
                std::array::from_fn(|i| centre[i] + radii[i]),
            ),
            Shape::Blob { centre, radii, .. } => (
                std::array::from_fn(|i| centre[i] - 1.4 * radii[i]),
                std::array::from_fn(|i| centre[i] + 1.4 * radii[i]),
            ),
            Shape::Cylinder { centre, radii, z0, z1 } => (
                [centre[0] - radii[0], centre[1] - radii[1], z0],
                [centre[0] + radii[0], centre[1] + radii[1], z1],
            ),
            Shape::Tube { a, b, radius } => (
                std::array::from_fn(|i| a[i].min(b[i]) - radius),
                std::array::from_fn(|i| a[i].max(b[i]) + radius),
            ),
        }
    }
}

/// One painted solid: voxels inside `shape` become `tissue`, optionally only where the label
/// so far is one of `within` (lesions inside the liver, gas inside the stomach).
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub shape: Shape,
    pub tissue: Tissue,
    pub within: Vec<Tissue>,
}

impl Part {
    pub fn new(shape: Shape, tissue: Tissue) -> Self {
        Self { shape, tissue, within: Vec::new() }
    }

    pub fn within(mut self, t: &[Tissue]) -> Self {
        self.within = t.to_vec();
        self
    }
}

/// Paint `parts` in order (later parts win) at the voxel centres of a grid: `dims` with
/// world position `origin + direction·diag(spacing)·(i, j, k)` (as [`clarity_core::Volume`]).
/// Returns one label per voxel, i fastest.
pub fn render_labels(
    parts: &[Part],
    dims: [usize; 3],
    spacing_mm: [f64; 3],
    origin_mm: [f64; 3],
    direction: [[f64; 3]; 3],
) -> Vec<u8> {
    let [nx, ny, nz] = dims;
    let world = |i: f64, j: f64, k: f64| -> [f64; 3] {
        let v = [i * spacing_mm[0], j * spacing_mm[1], k * spacing_mm[2]];
        std::array::from_fn(|r| {
            origin_mm[r] + direction[r][0] * v[0] + direction[r][1] * v[1] + direction[r][2] * v[2]
        })
    };
    let bounds: Vec<_> = parts.iter().map(|p| p.shape.bounds()).collect();
    let mut labels = vec![Tissue::Air as u8; nx * ny * nz];
    labels.par_chunks_mut(nx).enumerate().for_each(|(row, out)| {
        let (j, k) = ((row % ny) as f64, (row / ny) as f64);
        // Parts whose bounding box this row's segment can reach.
        let (p0, p1) = (world(0.0, j, k), world((nx - 1) as f64, j, k));
        let lo: [f64; 3] = std::array::from_fn(|r| p0[r].min(p1[r]));
        let hi: [f64; 3] = std::array::from_fn(|r| p0[r].max(p1[r]));
        let active: Vec<usize> = (0..parts.len())
            .filter(|&n| (0..3).all(|r| bounds[n].0[r] <= hi[r] && bounds[n].1[r] >= lo[r]))
            .collect();
        if active.is_empty() {
            return;
        }
        for (i, o) in out.iter_mut().enumerate() {
            let p = world(i as f64, j, k);
            let mut label = Tissue::Air;
            for &n in &active {
                let part = &parts[n];
                if (part.within.is_empty() || part.within.contains(&label))
                    && part.shape.contains(p)
                {
                    label = part.tissue;
                }
            }
            *o = label as u8;
        }
    });
    labels
}
