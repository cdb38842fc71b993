//! Liver multi-parametric MRI exam generator: one synthetic patient, nine series.
//!
//! For each patient an [`Abdomen`] is drawn from the seed, tissue parameters are jittered, a
//! field strength and vendor are chosen, and the series of a clinical liver protocol are
//! simulated: T1 in/opposed phase (2D dual-echo spoiled GRE), T2 fat-sat TSE, DWI (low and high
//! b; the high-b image and the ADC map computed from both are series), and 3D fat-sat GRE
//! before contrast and in the arterial, portal venous and delayed phases (see [`crate::dce`]).
//!
//! Each geometry group (IP/OP, T2, DWI/ADC, DCE) gets its own matrix, field of view, slice
//! thickness and a small random tilt. The object is rendered at twice the matrix in-plane (two
//! sub-slices across thick slices), brought to the acquired matrix through k-space (real partial
//! volume and ringing), given a smooth bias field, and acquired with k-space noise, optional
//! motion and ghosting by [`crate::acquisition`]. Headers follow the vendor's naming style
//! ([`crate::vendor`]) unless descriptive headers are blanked or scrambled.

use clarity_core::{PhaseEncodingDirection, Volume};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::acquisition::{bias_field, Motion, Sampling};
use crate::dce::{ContrastCurves, ARTERIAL_S, DELAYED_S, PORTAL_S};
use crate::fastscan::{foreground_mean, to_acquired_matrix};
use crate::phantom::abdomen::{Abdomen, AbdomenOptions};
use crate::sequence::{chemical_shift_te_ms, signal, Protocol, Sequence};
use crate::tissue::{params, Field, Tissue, TissueParams, TISSUE_COUNT};
use crate::vendor::Vendor;

mod geometry;
use geometry::Geometry;

/// The nine liver mpMRI series classes, with the ids used everywhere (JSON, CSV, model cards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeriesClass {
    #[serde(rename = "t1_in")]
    T1In,
    #[serde(rename = "t1_opp")]
    T1Opp,
    #[serde(rename = "t2_fs")]
    T2Fs,
    #[serde(rename = "dwi_high_b")]
    DwiHighB,
    #[serde(rename = "adc")]
    Adc,
    #[serde(rename = "dce_pre")]
    DcePre,
    #[serde(rename = "dce_arterial")]
    DceArterial,
    #[serde(rename = "dce_portal")]
    DcePortal,
    #[serde(rename = "dce_delayed")]
    DceDelayed,
}

impl SeriesClass {
    pub const ALL: [SeriesClass; 9] = [
        SeriesClass::T1In,
        SeriesClass::T1Opp,
        SeriesClass::T2Fs,
        SeriesClass::DwiHighB,
        SeriesClass::Adc,
        SeriesClass::DcePre,
        SeriesClass::DceArterial,
        SeriesClass::DcePortal,
        SeriesClass::DceDelayed,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Self::T1In => "t1_in",
            Self::T1Opp => "t1_opp",
            Self::T2Fs => "t2_fs",
            Self::DwiHighB => "dwi_high_b",
            Self::Adc => "adc",
            Self::DcePre => "dce_pre",
            Self::DceArterial => "dce_arterial",
            Self::DcePortal => "dce_portal",
            Self::DceDelayed => "dce_delayed",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.id() == id)
    }
}

/// What happens to descriptive headers (SeriesDescription, ProtocolName, SequenceName).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeaderMode {
    /// Vendor-style names.
    Realistic,
    /// Replaced by "Series N" / empty sequence name.
    Scrambled,
    /// Removed.
    Blank,
}

/// Settings of the generator. Ranges are clinical unless narrowed for a shifted test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamSettings {
    /// Field strengths to draw from.
    pub fields: Vec<f64>,
    pub vendors: Vec<Vendor>,
    pub header_mode: HeaderMode,
    /// SNR range (mean foreground / σ) of each series' reference image.
    pub snr: (f64, f64),
    /// Probability that a series has (mild) motion.
    pub motion_probability: f64,
    /// Largest bias-field amplitude (fraction).
    pub max_bias: f32,
    pub max_lesions: usize,
    /// Largest random tilt of the slice plane from axial (or coronal), degrees.
    pub max_tilt_deg: f64,
    /// Probability that a geometry group (IP/OP, T2, DWI/ADC, DCE) is acquired coronal instead
    /// of axial (0 by default: liver protocols are axial; raise it for robustness training).
    #[serde(default)]
    pub coronal_probability: f64,
    /// Matrix scale (1.0 = clinical matrices; smaller for fast tests).
    pub matrix_scale: f64,
    /// Lesions every patient gets in addition to random ones (for tests).
    #[serde(default)]
    pub required_lesions: Vec<Tissue>,
}

impl Default for ExamSettings {
    fn default() -> Self {
        Self {
            fields: vec![1.5, 3.0],
            vendors: Vendor::ALL.to_vec(),
            header_mode: HeaderMode::Realistic,
            snr: (15.0, 40.0),
            motion_probability: 0.15,
            max_bias: 0.25,
            max_lesions: 3,
            max_tilt_deg: 5.0,
            coronal_probability: 0.0,
            matrix_scale: 1.0,
            required_lesions: Vec::new(),
        }
    }
}

/// One generated series: image with full metadata, its class, and the tissue labels on its grid.
#[derive(Debug, Clone)]
pub struct GeneratedSeries {
    pub class: SeriesClass,
    pub volume: Volume,
    /// Tissue label of each voxel (nearest, at voxel centres), for tests and segmentation.
    pub labels: Vec<u8>,
}

/// A whole synthetic exam.
#[derive(Debug, Clone)]
pub struct Exam {
    pub patient_id: String,
    pub field: Field,
    pub vendor: Vendor,
    pub anatomy: Abdomen,
    /// This patient's tissue parameters, indexed by tissue label.
    pub tissues: Vec<TissueParams>,
    pub series: Vec<GeneratedSeries>,
}

/// One series to simulate within a geometry group.
struct Spec {
    class: SeriesClass,
    proto: Protocol,
    /// Seconds after injection for post-contrast phases.
    contrast_time_s: Option<f64>,
    b_value: Option<f64>,
    echo_train_length: Option<f64>,
    acquisition_time_s: f64,
}

/// Per-patient tissue parameters (jittered literature values).
fn patient_tissues(field: Field, anatomy: &Abdomen, rng: &mut StdRng) -> Vec<TissueParams> {
    Tissue::ALL
        .iter()
        .map(|&t| {
            let mut p = params(t, field).jittered(0.1, rng);
            if t == Tissue::Liver {
                p.fat_fraction = anatomy.liver_fat_fraction;
            }
            p
        })
        .collect()
}

/// Noise-free object on the group's grid: labels → signal through `lut`, sub-slices averaged,
/// brought from the fine grid to the matrix through k-space.
fn render_truth(geom: &Geometry, fine: &(Vec<u8>, [usize; 3], usize), lut: &[f32]) -> Volume {
    let (labels, fdims, sub) = fine;
    let [fx, fy, _] = *fdims;
    let nz = geom.dims[2];
    let plane = fx * fy;
    let mut data = vec![0f32; plane * nz];
    for k in 0..nz {
        for s in 0..*sub {
            let src = &labels[(k * sub + s) * plane..(k * sub + s + 1) * plane];
            let base = (k * sub + s) * plane;
            for (n, (d, l)) in data[k * plane..(k + 1) * plane].iter_mut().zip(src).enumerate() {
                *d += lut[*l as usize] * texture(base + n) / *sub as f32;
            }
        }
    }
    let mut fine_vol = Volume::new([fx, fy, nz], data).expect("valid dims");
    fine_vol.spacing_mm = [geom.spacing_mm[0] / 2.0, geom.spacing_mm[1] / 2.0, geom.spacing_mm[2]];
    let mut truth = to_acquired_matrix(&fine_vol, [geom.dims[0], geom.dims[1]]);
    let empty = geom.empty_volume();
    truth.spacing_mm = empty.spacing_mm;
    truth.origin_mm = empty.origin_mm;
    truth.direction = empty.direction;
    truth
}

/// Fine-scale tissue texture, ±4 % white per fine voxel (smoothed to a subtle grain by the
/// k-space crop to the matrix); a hash of the voxel index, so every series of a group has the
/// same texture.
fn texture(i: usize) -> f32 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    1.0 + 0.08 * ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
}

fn lut_for(
    tissues: &[TissueParams],
    proto: &Protocol,
    curves: &ContrastCurves,
    t_s: Option<f64>,
) -> Vec<f32> {
    (0..TISSUE_COUNT)
        .map(|l| {
            let t = Tissue::from_label(l as u8);
            let conc = curves.concentration_mm(t, t_s);
            1000.0 * signal(t, &tissues[l], conc, proto)
        })
        .collect()
}

/// Generate exam `index` of a run seeded with `seed`.
pub fn generate_exam(settings: &ExamSettings, seed: u64, index: usize) -> Exam {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
    let rng = &mut rng;
    let field_t = settings.fields[rng.gen_range(0..settings.fields.len().max(1))];
    let field = Field::from_tesla(field_t);
    let vendor = settings.vendors[rng.gen_range(0..settings.vendors.len().max(1))];
    let mut anatomy =
        Abdomen::random(rng.gen(), AbdomenOptions { max_lesions: settings.max_lesions });
    for &t in &settings.required_lesions {
        add_lesion(&mut anatomy, t, rng);
    }
    let tissues = patient_tissues(field, &anatomy, rng);
    let curves = ContrastCurves::new(rng.gen_range(0.85..1.2), rng.gen_range(0.8..1.2));
    let patient_id = format!("SYN{seed}-{index:04}");
    let study_uid = clarity_io::dicom::new_uid();
    let model = vendor.model(field.tesla(), rng).to_string();
    let start_s = rng.gen_range(8.0 * 3600.0..17.0 * 3600.0);
    let hi = field == Field::T3;
    let jitter = |rng: &mut StdRng, lo: f64, hi: f64| rng.gen_range(lo..=hi) as f32;

    // --- Protocols -------------------------------------------------------------------------
    let te_op = chemical_shift_te_ms(field, false, 0) + jitter(rng, -0.02, 0.02);
    let te_ip = chemical_shift_te_ms(field, true, 1) + jitter(rng, -0.02, 0.02);
    let gre2d = |te: f32, tr: f32, flip: f32| Protocol {
        sequence: Sequence::GradientEcho { tr_ms: tr, te_ms: te, flip_deg: flip },
        fat_sat: 0.0,
        field,
    };
    let (tr_dual, flip_dual) = (jitter(rng, 110.0, 200.0), jitter(rng, 60.0, 80.0));
    let t2 = Protocol {
        sequence: Sequence::SpinEcho {
            tr_ms: jitter(rng, 2500.0, 5000.0),
            te_ms: jitter(rng, 70.0, 100.0),
        },
        fat_sat: jitter(rng, 0.92, 0.99),
        field,
    };
    let b_low = [0.0, 50.0][rng.gen_range(0..2)];
    let b_high = [600.0, 800.0, 1000.0][rng.gen_range(0..3)];
    let (tr_dwi, te_dwi) = (jitter(rng, 3000.0, 6500.0), jitter(rng, 55.0, 80.0));
    let dwi = |b: f64| Protocol {
        sequence: Sequence::Diffusion { tr_ms: tr_dwi, te_ms: te_dwi, b: b as f32 },
        // SPAIR or STIR plus the EPI readout's own fat shift leave little fat in DWI.
        fat_sat: 0.99,
        field,
    };
    let dce = Protocol {
        sequence: Sequence::GradientEcho {
            tr_ms: jitter(rng, 3.2, 4.8),
            te_ms: if hi { jitter(rng, 1.1, 1.5) } else { jitter(rng, 1.6, 2.3) },
            flip_deg: jitter(rng, 9.0, 15.0),
        },
        fat_sat: jitter(rng, 0.92, 0.98),
        field,
    };
    let inject_s = start_s + rng.gen_range(600.0..900.0);
    let phase_time =
        |rng: &mut StdRng, w: (f64, f64)| curves.aortic_peak_s + rng.gen_range(w.0..=w.1);
    let (t_art, t_pv, t_del) =
        (phase_time(rng, ARTERIAL_S), phase_time(rng, PORTAL_S), phase_time(rng, DELAYED_S));

    // --- Geometry groups -------------------------------------------------------------------
    let mut groups: Vec<(Geometry, Vec<Spec>, &'static str)> = Vec::new();
    let m = |rng: &mut StdRng, opts: &[usize]| opts[rng.gen_range(0..opts.len())];
    let spec = |class, proto, t: Option<f64>, b: Option<f64>, etl: Option<f64>, at: f64| Spec {
        class,
        proto,
        contrast_time_s: t,
        b_value: b,
        echo_train_length: etl,
        acquisition_time_s: at,
    };
    let mx = m(rng, &[256, 288, 320]);
    let th = rng.gen_range(5.0..7.0);
    let g = Geometry::random(&anatomy, mx, th, th * 0.2, true, settings, rng);
    groups.push((
        g,
        vec![
            spec(
                SeriesClass::T1In,
                gre2d(te_ip, tr_dual, flip_dual),
                None,
                None,
                None,
                start_s + 60.0,
            ),
            spec(
                SeriesClass::T1Opp,
                gre2d(te_op, tr_dual, flip_dual),
                None,
                None,
                None,
                start_s + 60.0,
            ),
        ],
        "dual",
    ));
    let mx = m(rng, &[288, 320, 384]);
    let th = rng.gen_range(5.0..7.0);
    let g = Geometry::random(&anatomy, mx, th, th * 0.2, true, settings, rng);
    let etl = rng.gen_range(12..28) as f64;
    groups.push((
        g,
        vec![spec(SeriesClass::T2Fs, t2, None, None, Some(etl), start_s + 200.0)],
        "t2",
    ));
    let mx = m(rng, &[128, 144, 160]);
    let th = rng.gen_range(6.0..8.0);
    let g = Geometry::random(&anatomy, mx, th, th * 0.2, true, settings, rng);
    groups.push((
        g,
        vec![spec(SeriesClass::DwiHighB, dwi(b_high), None, Some(b_high), None, start_s + 420.0)],
        "dwi",
    ));
    let mx = m(rng, &[256, 288, 320]);
    let th = rng.gen_range(2.5..4.0);
    let g = Geometry::random(&anatomy, mx, th, 0.0, false, settings, rng);
    groups.push((
        g,
        vec![
            spec(SeriesClass::DcePre, dce, None, None, None, inject_s - 60.0),
            spec(SeriesClass::DceArterial, dce, Some(t_art), None, None, inject_s + t_art),
            spec(SeriesClass::DcePortal, dce, Some(t_pv), None, None, inject_s + t_pv),
            spec(SeriesClass::DceDelayed, dce, Some(t_del), None, None, inject_s + t_del),
        ],
        "dce",
    ));

    // --- Simulation ------------------------------------------------------------------------
    let pe =
        if rng.gen_bool(0.85) { PhaseEncodingDirection::Col } else { PhaseEncodingDirection::Row };
    let mut series = Vec::new();
    let mut number = 1;
    for (geom, specs, kind) in groups {
        let fine = geom.fine_labels(&anatomy);
        let labels = geom.labels(&anatomy);
        let bias = bias_field(geom.dims, rng.gen_range(0.0..=settings.max_bias), rng);
        let motion = rng.gen_bool(settings.motion_probability).then(|| Motion {
            line_probability: rng.gen_range(0.02..0.1),
            max_shift_px: rng.gen_range(0.5..2.0),
        });
        let ghost = if rng.gen_bool(0.3) { rng.gen_range(0.02..0.12) } else { 0.0 };
        let snr = rng.gen_range(settings.snr.0..=settings.snr.1);
        // One noise level per group: the same receiver and voxel for every series in it. It is
        // set on the group's first (reference) image.
        let mut sigma = None;
        // One intensity scale per group too: dynamic phases share the scanner's prescan, so
        // enhancement is visible as a change in stored values.
        let mut scale = None;
        let mut dwi_low: Option<Volume> = None;
        let sampling = |noise_sigma| Sampling {
            pe,
            noise_sigma,
            motion,
            ghost_phase_rad: ghost,
            ..Default::default()
        };
        for spec in specs {
            let lut = lut_for(&tissues, &spec.proto, &curves, spec.contrast_time_s);
            let mut truth = render_truth(&geom, &fine, &lut);
            for (v, b) in truth.data.iter_mut().zip(&bias) {
                *v *= b;
            }
            if kind == "dwi" {
                // Reference: the low-b image, acquired too (it gives σ and the ADC).
                let low_lut = lut_for(&tissues, &dwi(b_low), &curves, None);
                let mut low = render_truth(&geom, &fine, &low_lut);
                for (v, b) in low.data.iter_mut().zip(&bias) {
                    *v *= b;
                }
                let s = foreground_mean(&low) / snr as f32;
                sigma = Some(s);
                dwi_low = Some(sampling(s).acquire_volume(&low, rng.gen()));
            }
            let s = *sigma.get_or_insert_with(|| foreground_mean(&truth) / snr as f32);
            let acquired = sampling(s).acquire_volume(&truth, rng.gen());
            let mut out = vec![(spec.class, acquired, spec.b_value)];
            if let (Some(low), SeriesClass::DwiHighB) = (&dwi_low, spec.class) {
                let adc = adc_map(low, &out[0].1, b_low, b_high);
                out.push((SeriesClass::Adc, adc, None));
            }
            for (class, mut vol, b) in out {
                if class != SeriesClass::Adc {
                    let k = *scale.get_or_insert_with(|| {
                        rng.gen_range(800.0..3000.0) / percentile99(&vol.data).max(1e-6)
                    });
                    for v in vol.data.iter_mut() {
                        *v = (*v * k).round();
                    }
                }
                let (desc, seq_name, scan_seq) = vendor.names(class, b_high, rng);
                let meta = &mut vol.meta;
                meta.modality = Some("MR".into());
                meta.manufacturer = Some(vendor.manufacturer().into());
                meta.manufacturer_model = Some(model.clone());
                meta.field_strength_t = Some(field.tesla());
                meta.patient_id = Some(patient_id.clone());
                meta.patient_name = Some(format!("SYNTHETIC^{patient_id}"));
                meta.study_instance_uid = Some(study_uid.clone());
                meta.series_instance_uid = Some(clarity_io::dicom::new_uid());
                meta.series_number = Some(number);
                let (tr, te, flip) = match spec.proto.sequence {
                    Sequence::SpinEcho { tr_ms, te_ms } => (tr_ms, te_ms, 90.0),
                    Sequence::GradientEcho { tr_ms, te_ms, flip_deg } => (tr_ms, te_ms, flip_deg),
                    Sequence::InversionRecovery { tr_ms, te_ms, .. } => (tr_ms, te_ms, 90.0),
                    Sequence::Diffusion { tr_ms, te_ms, .. } => (tr_ms, te_ms, 90.0),
                };
                meta.repetition_time_ms = Some(tr as f64);
                meta.echo_time_ms = Some(te as f64);
                meta.flip_angle_deg = Some(flip as f64);
                meta.echo_train_length = spec.echo_train_length;
                meta.b_value_s_per_mm2 = b;
                // Trace-weighted (the mean over the gradient directions): no direction of its
                // own, which DICOM says as ISOTROPIC and a .bvec as the zero vector.
                meta.diffusion_directions_lps = b.map(|_| vec![[0.0; 3]]).unwrap_or_default();
                meta.scanning_sequence = Some(scan_seq);
                meta.scan_options = (spec.proto.fat_sat > 0.0).then(|| "FS".to_string());
                meta.image_type = match class {
                    SeriesClass::Adc => vec!["DERIVED".into(), "PRIMARY".into(), "ADC".into()],
                    SeriesClass::DwiHighB => vec![
                        "ORIGINAL".into(),
                        "PRIMARY".into(),
                        "DIFFUSION".into(),
                        "TRACEW".into(),
                    ],
                    _ => vec!["ORIGINAL".into(), "PRIMARY".into()],
                };
                let [nx, ny, _] = geom.dims;
                meta.acquisition_matrix = Some(match pe {
                    PhaseEncodingDirection::Col => [0, nx as u16, ny as u16, 0],
                    PhaseEncodingDirection::Row => [ny as u16, 0, 0, nx as u16],
                });
                meta.phase_encoding = Some(pe);
                meta.slice_thickness_mm = Some(geom.thickness_mm);
                meta.spacing_between_slices_mm = Some(geom.spacing_mm[2]);
                meta.acquisition_time =
                    Some(clarity_core::tm_from_seconds(spec.acquisition_time_s));
                meta.series_time = Some(clarity_core::tm_from_seconds(spec.acquisition_time_s));
                match settings.header_mode {
                    HeaderMode::Realistic => {
                        meta.series_description = Some(desc);
                        meta.sequence_name = Some(seq_name);
                        if spec.contrast_time_s.is_some() {
                            meta.contrast_bolus_agent = Some("Gadoterate".into());
                            meta.contrast_bolus_start_time =
                                Some(clarity_core::tm_from_seconds(inject_s));
                        }
                    }
                    HeaderMode::Scrambled => {
                        meta.series_description = Some(format!("Series {number}"))
                    }
                    HeaderMode::Blank => {}
                }
                series.push(GeneratedSeries { class, volume: vol, labels: labels.clone() });
                number += 1;
            }
        }
    }
    Exam { patient_id, field, vendor, anatomy, tissues, series }
}

fn add_lesion(anatomy: &mut Abdomen, tissue: Tissue, rng: &mut StdRng) {
    use crate::phantom::{abdomen::Lesion, Part, Shape};
    // Inside the right lobe: the first liver part.
    let Some(Shape::Ellipsoid { centre, radii }) =
        anatomy.parts.iter().find(|p| p.tissue == Tissue::Liver).map(|p| p.shape)
    else {
        return;
    };
    let radius_mm = rng.gen_range(12.0..18.0);
    let c = [
        centre[0] + rng.gen_range(-0.3..0.3) * radii[0],
        centre[1] + rng.gen_range(-0.3..0.3) * radii[1],
        centre[2] + rng.gen_range(-0.2..0.2) * radii[2],
    ];
    // Before the vessels, which are painted last.
    let at =
        anatomy.parts.iter().position(|p| p.tissue == Tissue::Aorta).unwrap_or(anatomy.parts.len());
    anatomy.parts.insert(
        at,
        Part::new(Shape::Ellipsoid { centre: c, radii: [radius_mm; 3] }, tissue)
            .within(&[Tissue::Liver]),
    );
    anatomy.lesions.push(Lesion { tissue, centre_mm: c, radius_mm });
}

fn percentile99(v: &[f32]) -> f32 {
    clarity_core::percentile(v, 0.99, |_| true).unwrap_or(0.0)
}

/// ADC map in 10⁻⁶ mm²/s from two diffusion weightings (log-linear fit through two points),
/// zero in the background (low-b signal under 10 % of its 99th percentile), as scanners store it.
pub fn adc_map(low: &Volume, high: &Volume, b_low: f64, b_high: f64) -> Volume {
    let thresh = 0.1 * percentile99(&low.data);
    let mut out = high.clone();
    for (o, (l, h)) in out.data.iter_mut().zip(low.data.iter().zip(&high.data)) {
        *o = if *l > thresh && *h > 0.0 {
            let adc = ((*l as f64) / (*h as f64)).ln() / (b_high - b_low);
            (adc * 1e6).clamp(0.0, 4000.0).round() as f32
        } else {
            0.0
        };
    }
    out.meta.b_value_s_per_mm2 = None;
    out.meta.diffusion_directions_lps.clear();
    out
}
