//! A procedural upper abdomen, different for every seed.
//!
//! Patient coordinates (LPS, mm): +x patient's left, +y posterior, +z head; `z = 0` is about the
//! level of the porta hepatis, the liver dome near `z = +90`, the lower kidney poles near
//! `z = −110`. The patient lies supine, so gas rises anteriorly (−y).
//!
//! Body habitus (outline, subcutaneous fat, visceral fat), organ sizes and positions, vessel
//! calibres and liver lesions are drawn from the seed within anatomical ranges.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{Lobe, Part, Shape};
use crate::tissue::Tissue;

/// A liver lesion of the phantom.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lesion {
    pub tissue: Tissue,
    pub centre_mm: [f64; 3],
    pub radius_mm: f64,
}

/// One synthetic patient's abdomen.
#[derive(Debug, Clone)]
pub struct Abdomen {
    pub parts: Vec<Part>,
    pub lesions: Vec<Lesion>,
    /// Half-widths of the body outline (LR, AP) in mm.
    pub body_radii_mm: [f64; 2],
    /// Fat fraction of the liver (steatosis), 0..0.3.
    pub liver_fat_fraction: f32,
}

/// Options for [`Abdomen::random`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbdomenOptions {
    /// Up to this many liver lesions (cyst, haemangioma, HCC-like) are placed.
    pub max_lesions: usize,
}

impl Default for AbdomenOptions {
    fn default() -> Self {
        Self { max_lesions: 3 }
    }
}

impl Abdomen {
    pub fn random(seed: u64, opts: AbdomenOptions) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let r = &mut rng;
        let u = |r: &mut StdRng, lo: f64, hi: f64| r.gen_range(lo..=hi);
        let mut parts = Vec::new();
        // The trunk runs well past the organs so coronal fields of view stay inside it.
        let z = (-260.0, 260.0);
        let ell = |c: [f64; 3], rad: [f64; 3]| Shape::Ellipsoid { centre: c, radii: rad };
        let cyl = |c: [f64; 2], rad: [f64; 2]| Shape::Cylinder {
            centre: c,
            radii: rad,
            z0: z.0,
            z1: z.1,
        };
        let tube = |a: [f64; 3], b: [f64; 3], radius: f64| Shape::Tube { a, b, radius };
        let blob = |r: &mut StdRng, c: [f64; 3], rad: [f64; 3]| Shape::Blob {
            centre: c,
            radii: rad,
            lobes: std::array::from_fn(|_| Lobe::random(r, 0.09)),
        };

        // Body wall: subcutaneous fat, muscle, then the cavity filled with visceral fat.
        let body = [u(r, 140.0, 190.0), u(r, 100.0, 135.0)];
        let sc_fat = u(r, 8.0, 35.0);
        let wall = u(r, 7.0, 14.0);
        let cavity = [body[0] - sc_fat - wall, body[1] - sc_fat - wall];
        parts.push(Part::new(cyl([0.0, 0.0], body), Tissue::SubcutaneousFat));
        parts
            .push(Part::new(cyl([0.0, 0.0], [body[0] - sc_fat, body[1] - sc_fat]), Tissue::Muscle));
        parts.push(Part::new(cyl([0.0, 0.0], cavity), Tissue::VisceralFat));

        // Spine near the back, paraspinal muscles behind and beside it.
        let spine_y = cavity[1] - u(r, 38.0, 48.0);
        let vb = u(r, 17.0, 22.0);
        for side in [-1.0, 1.0] {
            parts.push(Part::new(
                cyl([side * (vb + 18.0), spine_y + 22.0], [u(r, 22.0, 30.0), u(r, 20.0, 26.0)]),
                Tissue::Muscle,
            ));
            // Psoas below the kidneys' hila.
            parts.push(Part::new(
                tube(
                    [side * (vb + 8.0), spine_y - 4.0, -130.0],
                    [side * (vb + 2.0), spine_y, -40.0],
                    u(r, 10.0, 16.0),
                ),
                Tissue::Muscle,
            ));
        }
        parts.push(Part::new(cyl([0.0, spine_y], [vb, vb * 0.85]), Tissue::CorticalBone));
        parts.push(Part::new(
            cyl([0.0, spine_y], [vb - 2.5, vb * 0.85 - 2.5]),
            Tissue::VertebralMarrow,
        ));
        parts.push(Part::new(cyl([0.0, spine_y + vb + 9.0], [7.0, 6.0]), Tissue::Csf));
        parts
            .push(Part::new(cyl([0.0, spine_y + vb + 22.0], [12.0, 6.0]), Tissue::VertebralMarrow));

        // Liver: a large right lobe and a left lobe crossing the midline, higher up.
        let lx = cavity[0];
        let right = [-0.45 * lx, u(r, -10.0, 10.0), u(r, 20.0, 40.0)];
        let right_r =
            [0.5 * lx * u(r, 0.9, 1.1), 0.7 * cavity[1] * u(r, 0.9, 1.05), u(r, 80.0, 100.0)];
        let left = [u(r, 10.0, 35.0), -0.45 * cavity[1], right[2] + u(r, 10.0, 25.0)];
        let left_r = [u(r, 45.0, 70.0), 0.4 * cavity[1], u(r, 35.0, 50.0)];
        let organ_space = [Tissue::VisceralFat, Tissue::Muscle];
        // The right lobe stays an ellipsoid (lesions are placed inside it by its radii); its
        // outline is roughened by a blob of the same size painted over it.
        parts.push(Part::new(ell(right, right_r), Tissue::Liver).within(&organ_space));
        parts.push(Part::new(blob(r, right, right_r), Tissue::Liver).within(&organ_space));
        parts.push(Part::new(blob(r, left, left_r), Tissue::Liver).within(&organ_space));

        // Spleen: left, posterior, upper.
        let spleen = [0.62 * lx, 0.35 * cavity[1], u(r, 25.0, 45.0)];
        let spleen_r = [u(r, 22.0, 32.0), u(r, 40.0, 55.0), u(r, 45.0, 60.0)];
        parts.push(Part::new(blob(r, spleen, spleen_r), Tissue::Spleen).within(&organ_space));

        // Stomach with an anterior gas cap; pancreas across the midline.
        let stomach = [u(r, 35.0, 60.0), -0.3 * cavity[1], u(r, 35.0, 55.0)];
        let stomach_r = [u(r, 30.0, 45.0), u(r, 25.0, 35.0), u(r, 35.0, 50.0)];
        parts.push(
            Part::new(blob(r, stomach, stomach_r), Tissue::StomachFluid).within(&organ_space),
        );
        parts.push(
            Part::new(
                ell(
                    [stomach[0], stomach[1] - 0.7 * stomach_r[1], stomach[2] + 10.0],
                    [stomach_r[0] * 0.8, stomach_r[1] * 0.45, stomach_r[2] * 0.6],
                ),
                Tissue::Gas,
            )
            .within(&[Tissue::StomachFluid]),
        );
        let pancreas_r = u(r, 9.0, 14.0);
        parts.push(
            Part::new(
                tube(
                    [-25.0, spine_y - 45.0, u(r, -15.0, 0.0)],
                    [spleen[0] - 20.0, spine_y - 25.0, u(r, 5.0, 20.0)],
                    pancreas_r,
                ),
                Tissue::Pancreas,
            )
            .within(&organ_space),
        );

        // Kidneys: cortex shell, medulla inside, sinus fat at the hilum.
        let kz = u(r, -75.0, -45.0);
        for side in [-1.0, 1.0] {
            let c =
                [side * u(r, 62.0, 78.0), spine_y - u(r, 0.0, 10.0), kz + side * u(r, -10.0, 10.0)];
            let kr = [u(r, 24.0, 32.0), u(r, 20.0, 26.0), u(r, 45.0, 60.0)];
            parts.push(Part::new(blob(r, c, kr), Tissue::KidneyCortex).within(&organ_space));
            let cortex = u(r, 5.0, 8.0);
            parts.push(
                Part::new(
                    ell(c, [kr[0] - cortex, kr[1] - cortex, kr[2] - cortex]),
                    Tissue::KidneyMedulla,
                )
                .within(&[Tissue::KidneyCortex]),
            );
            parts.push(
                Part::new(
                    ell(
                        [c[0] - side * 0.5 * kr[0], c[1] - 4.0, c[2]],
                        [kr[0] * 0.45, kr[1] * 0.4, kr[2] * 0.4],
                    ),
                    Tissue::VisceralFat,
                )
                .within(&[Tissue::KidneyMedulla, Tissue::KidneyCortex]),
            );
        }

        // Bowel loops with fluid and gas below the liver.
        for _ in 0..r.gen_range(3..7) {
            let c = [
                u(r, -0.6 * lx, 0.6 * lx),
                u(r, -0.7 * cavity[1], 0.1 * cavity[1]),
                u(r, -125.0, -30.0),
            ];
            let rad = [u(r, 12.0, 25.0), u(r, 10.0, 20.0), u(r, 15.0, 35.0)];
            parts.push(
                Part::new(blob(r, c, rad), Tissue::BowelFluid).within(&[Tissue::VisceralFat]),
            );
            if r.gen_bool(0.6) {
                parts.push(
                    Part::new(
                        ell(
                            [c[0], c[1] - 0.6 * rad[1], c[2]],
                            [rad[0] * 0.7, rad[1] * 0.45, rad[2] * 0.6],
                        ),
                        Tissue::Gas,
                    )
                    .within(&[Tissue::BowelFluid]),
                );
            }
        }

        // Gallbladder under the right lobe, anterior.
        let gb = [
            right[0] + u(r, 5.0, 25.0),
            -0.45 * cavity[1] + u(r, 0.0, 15.0),
            right[2] - u(r, 40.0, 60.0),
        ];
        parts.push(
            Part::new(
                ell(gb, [u(r, 12.0, 20.0), u(r, 12.0, 18.0), u(r, 25.0, 40.0)]),
                Tissue::Gallbladder,
            )
            .within(&[Tissue::Liver, Tissue::VisceralFat]),
        );

        // Liver lesions (painted before vessels so vessels stay continuous).
        let liver_fat_fraction =
            if r.gen_bool(0.3) { r.gen_range(0.05..0.3) } else { r.gen_range(0.0..0.04) };
        let mut lesions = Vec::new();
        for _ in 0..r.gen_range(0..=opts.max_lesions) {
            let tissue = [Tissue::Cyst, Tissue::Haemangioma, Tissue::Hcc][r.gen_range(0..3)];
            let radius_mm = u(r, 6.0, 18.0);
            let centre_mm = [
                right[0] + u(r, -0.5, 0.5) * right_r[0],
                right[1] + u(r, -0.5, 0.5) * right_r[1],
                right[2] + u(r, -0.4, 0.4) * right_r[2],
            ];
            parts.push(Part::new(ell(centre_mm, [radius_mm; 3]), tissue).within(&[Tissue::Liver]));
            lesions.push(Lesion { tissue, centre_mm, radius_mm });
        }

        // Vessels: aorta and IVC in front of the spine; portal and splenic veins to the porta;
        // portal branches and hepatic veins inside the liver.
        let aorta_r = u(r, 9.0, 13.0);
        let aorta = [u(r, 8.0, 20.0), spine_y - vb - aorta_r - 2.0];
        parts.push(Part::new(
            tube([aorta[0], aorta[1], -130.0], [aorta[0], aorta[1] - 5.0, 130.0], aorta_r),
            Tissue::Aorta,
        ));
        let ivc_r = u(r, 9.0, 13.0);
        let ivc = [-u(r, 18.0, 30.0), spine_y - vb - ivc_r];
        let ivc_top = [ivc[0] - 5.0, ivc[1] - 15.0, right[2] + 0.6 * right_r[2]];
        parts.push(Part::new(tube([ivc[0], ivc[1], -130.0], ivc_top, ivc_r), Tissue::Ivc));
        let confluence = [u(r, -5.0, 10.0), spine_y - vb - 30.0, u(r, -25.0, -10.0)];
        let porta = [right[0] + 0.35 * right_r[0], right[1] - 5.0, right[2] - 0.3 * right_r[2]];
        let pv_r = u(r, 6.0, 8.0);
        parts.push(Part::new(tube(confluence, porta, pv_r), Tissue::PortalVein));
        parts.push(Part::new(
            tube(confluence, [spleen[0] - 15.0, spleen[1] - 10.0, spleen[2] - 10.0], pv_r * 0.7),
            Tissue::PortalVein,
        ));
        for _ in 0..4 {
            let tip = [
                right[0] + u(r, -0.7, 0.5) * right_r[0],
                right[1] + u(r, -0.6, 0.6) * right_r[1],
                right[2] + u(r, -0.5, 0.6) * right_r[2],
            ];
            parts.push(
                Part::new(tube(porta, tip, pv_r * u(r, 0.45, 0.65)), Tissue::PortalVein)
                    .within(&[Tissue::Liver, Tissue::PortalVein]),
            );
        }
        for (dx, dy) in [(-0.8, 0.1), (-0.2, -0.6), (0.5, -0.8)] {
            let tip = [
                ivc_top[0] + dx * right_r[0],
                ivc_top[1] + dy * right_r[1],
                right[2] + u(r, -0.4, 0.2) * right_r[2],
            ];
            parts.push(
                Part::new(tube(ivc_top, tip, u(r, 3.5, 6.0)), Tissue::HepaticVein)
                    .within(&[Tissue::Liver, Tissue::HepaticVein]),
            );
        }
        Self { parts, lesions, body_radii_mm: body, liver_fat_fraction: liver_fat_fraction as f32 }
    }
}
