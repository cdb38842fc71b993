//! The slice geometry of one group of series in a generated exam: matrix, field of view,
//! slice stack and tilt drawn per patient, and the label maps rendered on that grid.

use clarity_core::Volume;
use rand::rngs::StdRng;
use rand::Rng;

use super::ExamSettings;
use crate::phantom::abdomen::Abdomen;
use crate::phantom::render_labels;

/// Slice geometry of one group of series.
pub(super) struct Geometry {
    pub(super) dims: [usize; 3],
    pub(super) spacing_mm: [f64; 3],
    pub(super) origin_mm: [f64; 3],
    pub(super) direction: [[f64; 3]; 3],
    pub(super) thickness_mm: f64,
    pub(super) two_d: bool,
}

impl Geometry {
    pub(super) fn random(
        anatomy: &Abdomen,
        matrix_x: usize,
        thickness_mm: f64,
        gap_mm: f64,
        two_d: bool,
        s: &ExamSettings,
        rng: &mut StdRng,
    ) -> Self {
        let [bx, by] = anatomy.body_radii_mm;
        let coronal = rng.gen_bool(s.coronal_probability.clamp(0.0, 1.0));
        let fov_x = (2.0 * bx + rng.gen_range(20.0..60.0)).max(320.0);
        // Axial images span the body's AP depth; coronal ones its head-foot extent.
        let fov_y = if coronal {
            fov_x * rng.gen_range(0.75..0.9)
        } else {
            (fov_x * rng.gen_range(0.7..0.85)).max(2.0 * by + 20.0)
        };
        let mx = ((matrix_x as f64 * s.matrix_scale / 2.0).round() as usize * 2).max(16);
        let my = ((mx as f64 * fov_y / fov_x / 2.0).round() as usize * 2).max(16);
        let px = fov_x / mx as f64;
        let step = thickness_mm + gap_mm;
        let coverage =
            if coronal { 2.0 * by * rng.gen_range(0.8..0.95) } else { rng.gen_range(190.0..230.0) };
        let nz = ((coverage / step).round() as usize).max(4);
        let tilt = rng.gen_range(-s.max_tilt_deg..=s.max_tilt_deg).to_radians();
        let (c, sn) = (tilt.cos(), tilt.sin());
        // Columns of `direction` are the i, j, k axes in LPS. Axial: i → patient left, j →
        // posterior, k → head, tilted about x. Coronal: i → left, j → feet, k → posterior.
        let direction = if coronal {
            [[1.0, 0.0, 0.0], [0.0, sn, c], [0.0, -c, sn]]
        } else {
            [[1.0, 0.0, 0.0], [0.0, c, -sn], [0.0, sn, c]]
        };
        let spacing_mm = [px, fov_y / my as f64, step];
        let centre = if coronal {
            [0.0, rng.gen_range(-10.0..10.0), rng.gen_range(-20.0..0.0)]
        } else {
            [0.0, 0.0, rng.gen_range(-15.0..5.0)]
        };
        let half = [
            (mx as f64 - 1.0) / 2.0 * spacing_mm[0],
            (my as f64 - 1.0) / 2.0 * spacing_mm[1],
            (nz as f64 - 1.0) / 2.0 * step,
        ];
        let origin_mm: [f64; 3] = std::array::from_fn(|r| {
            centre[r] - (0..3).map(|a| direction[r][a] * half[a]).sum::<f64>()
        });
        Self { dims: [mx, my, nz], spacing_mm, origin_mm, direction, thickness_mm, two_d }
    }

    pub(super) fn empty_volume(&self) -> Volume {
        let [nx, ny, nz] = self.dims;
        let mut v = Volume::new(self.dims, vec![0.0; nx * ny * nz]).expect("valid dims");
        v.spacing_mm = self.spacing_mm;
        v.origin_mm = self.origin_mm;
        v.direction = self.direction;
        v
    }

    /// Labels at twice the in-plane resolution, with two sub-slices across thick 2D slices.
    pub(super) fn fine_labels(&self, anatomy: &Abdomen) -> (Vec<u8>, [usize; 3], usize) {
        let [nx, ny, nz] = self.dims;
        let sub = if self.two_d { 2 } else { 1 };
        let fine = [2 * nx, 2 * ny, nz * sub];
        let sp =
            [self.spacing_mm[0] / 2.0, self.spacing_mm[1] / 2.0, self.spacing_mm[2] / sub as f64];
        // Fine voxel (0,0) lies a quarter voxel before the coarse centre in-plane; sub-slices sit
        // at ±thickness/4 around each slice centre.
        let dz = if sub == 2 { -self.thickness_mm / 4.0 } else { 0.0 };
        let shift = [-sp[0] / 2.0, -sp[1] / 2.0, dz];
        let origin: [f64; 3] = std::array::from_fn(|r| {
            self.origin_mm[r] + (0..3).map(|a| self.direction[r][a] * shift[a]).sum::<f64>()
        });
        let mut sp_z = sp;
        if sub == 2 {
            // Sub-slices of one slice are thickness/2 apart, slices `step` apart: render each
            // sub-slice plane separately and interleave.
            sp_z[2] = self.spacing_mm[2];
            let a =
                render_labels(&anatomy.parts, [fine[0], fine[1], nz], sp_z, origin, self.direction);
            let o2: [f64; 3] =
                std::array::from_fn(|r| origin[r] + self.direction[r][2] * self.thickness_mm / 2.0);
            let b = render_labels(&anatomy.parts, [fine[0], fine[1], nz], sp_z, o2, self.direction);
            let plane = fine[0] * fine[1];
            let mut out = Vec::with_capacity(a.len() * 2);
            for k in 0..nz {
                out.extend_from_slice(&a[k * plane..(k + 1) * plane]);
                out.extend_from_slice(&b[k * plane..(k + 1) * plane]);
            }
            return (out, fine, sub);
        }
        (render_labels(&anatomy.parts, fine, sp, origin, self.direction), fine, sub)
    }

    pub(super) fn labels(&self, anatomy: &Abdomen) -> Vec<u8> {
        render_labels(&anatomy.parts, self.dims, self.spacing_mm, self.origin_mm, self.direction)
    }
}
