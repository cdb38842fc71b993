//! Brain phantoms from the three real tissue-map layouts under `../shared/data/mri` give the
//! contrasts radiologists expect: T1 white > grey > CSF, T2 CSF > grey > white, FLAIR dark CSF.

use clarity_mr::phantom::brain::{BrainContrast, BrainPhantom};
use clarity_mr::tissue::{Field, Tissue};
use rand::SeedableRng;

fn mean_pure(ph: &BrainPhantom, img: &[f32], t: Tissue) -> f32 {
    let frac = &ph.fractions.iter().find(|(x, _)| *x == t).unwrap().1;
    let (s, n) = img
        .iter()
        .zip(frac)
        .filter(|(_, f)| **f > 0.95)
        .fold((0f64, 0usize), |(s, n), (v, _)| (s + *v as f64, n + 1));
    assert!(n > 100, "{t:?}: {n} pure voxels");
    (s / n as f64) as f32
}

#[test]
fn brain_phantoms_have_clinical_contrasts() {
    let Some(root) = crate::shared_mri("") else { return };
    for name in ["mni152", "itk_kmeans", "colin27"] {
        let ph = BrainPhantom::load(&root.join(name)).unwrap();
        for field in [Field::T1_5, Field::T3] {
            let m = |c: BrainContrast, t| {
                let img = ph.render(&c.protocol(field));
                mean_pure(&ph, &img.data, t)
            };
            let (gm, wm, csf) = (Tissue::GreyMatter, Tissue::WhiteMatter, Tissue::Csf);
            let t1 =
                [m(BrainContrast::T1, wm), m(BrainContrast::T1, gm), m(BrainContrast::T1, csf)];
            assert!(t1[0] > 1.05 * t1[1] && t1[1] > 2.0 * t1[2], "{name} {field:?} T1 {t1:?}");
            let t2 =
                [m(BrainContrast::T2, csf), m(BrainContrast::T2, gm), m(BrainContrast::T2, wm)];
            assert!(t2[0] > 2.0 * t2[1] && t2[1] > 1.05 * t2[2], "{name} {field:?} T2 {t2:?}");
            let flair_csf = m(BrainContrast::Flair, csf);
            let flair_wm = m(BrainContrast::Flair, wm);
            assert!(
                flair_csf < 0.1 * flair_wm,
                "{name} {field:?} FLAIR CSF {flair_csf} WM {flair_wm}"
            );
            // Randomised protocols keep the same orderings.
            let mut rng = rand::rngs::StdRng::seed_from_u64(9);
            for c in [BrainContrast::T1, BrainContrast::T2, BrainContrast::Flair] {
                let img = ph.render(&c.random_protocol(field, &mut rng));
                let w = mean_pure(&ph, &img.data, wm);
                let g = mean_pure(&ph, &img.data, gm);
                let f = mean_pure(&ph, &img.data, csf);
                let ok = match c {
                    BrainContrast::T1 => w > g && g > f,
                    BrainContrast::T2 => f > g && g > w,
                    _ => f < 0.1 * w,
                };
                assert!(ok, "{name} {field:?} random {c:?}: WM {w} GM {g} CSF {f}");
            }
        }
    }
}
