//! `clarity simulate`: the MR physics engine from the command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};

use super::PeArg;
use clarity_mr::exam::{ExamSettings, HeaderMode};
use clarity_mr::fastscan::FastScanSettings;
use clarity_mr::phantom::brain::{BrainContrast, BrainPhantom};
use clarity_mr::tissue::Field;
use clarity_mr::vendor::Vendor;

#[derive(Subcommand)]
pub enum SimulateCommand {
    /// A shorter scan of a real volume: writes truth, full-length (HR) and shortened (LR) scans.
    Fastscan(FastscanArgs),
    /// Synthetic liver mpMRI exams (9 series each) as DICOM, with a labels file.
    LiverExam(LiverExamArgs),
    /// A brain image of a chosen contrast from the MNI152 tissue maps.
    Brain(BrainArgs),
}

#[derive(Args)]
pub struct FastscanArgs {
    /// DICOM folder/file (one series, or --series of several) or NIfTI file.
    pub input: PathBuf,
    /// Output folder (created; must be empty unless --force).
    pub output: PathBuf,
    /// Fraction of phase-encoding lines the short scan drops (0.25-0.33 is what sites use).
    #[arg(long, default_value_t = 0.3, value_parser = super::parse_dropped_fraction)]
    pub reduction: f64,
    /// SNR of the full-length scan: mean foreground signal / noise σ.
    #[arg(long, default_value_t = 20.0, value_parser = super::parse_positive)]
    pub snr: f64,
    /// Phase-encoding axis of the simulated scans.
    #[arg(long = "pe-axis", alias = "pe", value_enum, default_value_t = PeArg::Auto)]
    pub pe: PeArg,
    /// Keep the input matrix even if it looks interpolated (by default the truth is brought to
    /// the acquired matrix, from AcquisitionMatrix or from where k-space energy ends).
    #[arg(long)]
    pub keep_matrix: bool,
    /// Random seed of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write into a non-empty output folder, replacing files of the same names.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub frame: super::FrameArg,
    #[command(flatten)]
    pub read: super::ReadArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum HeaderArg {
    Realistic,
    Scrambled,
    Blank,
}

#[derive(Args)]
pub struct LiverExamArgs {
    /// Output folder (created; must be empty unless --force).
    pub output: PathBuf,
    /// Number of synthetic patients.
    #[arg(long, default_value_t = 1, value_parser = super::parse_count)]
    pub patients: usize,
    /// Seed of the run; patient n of seed s is always the same exam.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Field strengths to draw from, in tesla (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1.5, 3.0], value_parser = super::parse_field_tesla)]
    pub field: Vec<f64>,
    /// Vendor header styles to draw from: siemens, ge, philips (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = ["siemens".to_string(), "ge".to_string(), "philips".to_string()])]
    pub vendor: Vec<String>,
    /// Descriptive headers (SeriesDescription, SequenceName, contrast agent): vendor-style
    /// names, replaced by "Series N", or removed.
    #[arg(long, value_enum, default_value_t = HeaderArg::Realistic)]
    pub headers: HeaderArg,
    /// Scale of the clinical matrices (e.g. 0.5 for quick, small exams).
    #[arg(long, default_value_t = 1.0)]
    pub matrix_scale: f64,
    /// Lowest and highest SNR of a series, LOW,HIGH.
    #[arg(long, value_name = "LOW,HIGH", default_value = "15,40", value_parser = super::parse_snr_range)]
    pub snr: (f64, f64),
    /// Probability that a group of series (IP/OP, T2, DWI/ADC, DCE) is coronal, not axial.
    #[arg(long, default_value_t = 0.0)]
    pub coronal_probability: f64,
    /// Also write a PNG montage (all nine classes) of each exam.
    #[arg(long)]
    pub montage: bool,
    /// Write into a non-empty output folder.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct BrainArgs {
    /// Output folder (created; must be empty unless --force).
    pub output: PathBuf,
    /// Contrast: t1 (MPRAGE-like), t2, pd, flair or stir.
    #[arg(long, default_value = "t2")]
    pub contrast: String,
    /// Field strength in tesla (1.5 or 3).
    #[arg(long, default_value_t = 3.0, value_parser = super::parse_field_tesla)]
    pub field: f64,
    /// Folder with tissue maps: MNI152 (t1, gm_prob, wm_prob), ITK k-means (t1, tissue_labels)
    /// or Colin27 (t1, aal_labels), as under ../shared/data/mri.
    #[arg(long, default_value = "../shared/data/mri/mni152")]
    pub phantom: PathBuf,
    /// Draw TR/TE/TI within clinical ranges (seeded by --seed) instead of typical values.
    #[arg(long)]
    pub vary_protocol: bool,
    /// SNR of the acquired image (0 = noise-free).
    #[arg(long, default_value_t = 30.0, value_parser = super::parse_non_negative)]
    pub snr: f64,
    /// Fraction of phase-encoding lines dropped (0 = full-length scan).
    #[arg(long, default_value_t = 0.0, value_parser = super::parse_dropped_fraction)]
    pub reduction: f64,
    /// Random seed of the noise and of --vary-protocol's TR/TE/TI draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write into a non-empty output folder.
    #[arg(long)]
    pub force: bool,
}

pub fn run(c: SimulateCommand) -> anyhow::Result<()> {
    match c {
        SimulateCommand::Fastscan(a) => fastscan(a),
        SimulateCommand::LiverExam(a) => liver_exam(a),
        SimulateCommand::Brain(a) => brain(a),
    }
}

/// Create `dir`, refusing to write into a non-empty one unless `force`.
fn prepare_output(dir: &Path, force: bool) -> anyhow::Result<()> {
    // Creating first is safe: a folder that already held files is only refused, never changed.
    super::create_output_dir(dir)?;
    let non_empty = std::fs::read_dir(dir)?.next().is_some();
    if non_empty && !force {
        bail!("{} is not empty; choose an empty folder or pass --force", dir.display());
    }
    Ok(())
}

fn fastscan(a: FastscanArgs) -> anyhow::Result<()> {
    let vol = super::load_truth_volume(&a.input, &a.read, a.frame)?;
    prepare_output(&a.output, a.force)?;
    let (pe, _) = a.pe.resolve(&vol);
    let settings = FastScanSettings {
        reduction: a.reduction,
        snr: a.snr,
        pe,
        to_acquired_matrix: !a.keep_matrix,
        seed: a.seed,
    };
    let pb = super::spinner("simulating full-length and shortened scans");
    let t = super::simulate_fastscan(&a.input, &vol, &settings);
    pb.finish_and_clear();
    let t = t?;
    let n_pe = t.truth.dims[pe.voxel_axis()];
    let kept = t.lr_lines.len();
    for (name, v) in [("truth", &t.truth), ("hr", &t.hr), ("lr", &t.lr)] {
        clarity_io::nifti::write_nifti(v, &a.output.join(format!("{name}.nii.gz")))?;
    }
    let strip = a.output.join("strip.png");
    super::write_strip(&[&t.truth, &t.hr, &t.lr], &[], &strip)?;
    let report = serde_json::json!({
        "input": a.input,
        "settings": settings,
        "input_dims": vol.dims,
        "acquired_matrix": t.matrix,
        "noise_sigma": t.sigma,
        "phase_lines_full": n_pe,
        "phase_lines_short": kept,
        "scan_time_saved_fraction": 1.0 - kept as f64 / n_pe as f64,
    });
    std::fs::write(a.output.join("fastscan.json"), serde_json::to_string_pretty(&report)?)?;
    println!(
        "input {:?} → acquired matrix {:?}; PE {:?}: {} of {} lines kept ({:.0} % shorter scan); σ = {:.3}",
        vol.dims,
        t.matrix,
        pe,
        kept,
        n_pe,
        100.0 * (1.0 - kept as f64 / n_pe as f64),
        t.sigma
    );
    println!(
        "wrote truth/hr/lr .nii.gz, strip.png (truth | HR | LR) and fastscan.json to {}",
        a.output.display()
    );
    Ok(())
}

fn liver_exam(a: LiverExamArgs) -> anyhow::Result<()> {
    let vendors = a
        .vendor
        .iter()
        .map(|v| {
            Vendor::parse(v).with_context(|| format!("unknown vendor {v:?} (siemens, ge, philips)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !(0.1..=2.0).contains(&a.matrix_scale) {
        bail!("--matrix-scale must be within 0.1..2");
    }
    if !(0.0..=1.0).contains(&a.coronal_probability) {
        bail!("--coronal-probability must be within 0..1");
    }
    prepare_output(&a.output, a.force)?;
    let settings = ExamSettings {
        fields: a.field.clone(),
        vendors,
        header_mode: match a.headers {
            HeaderArg::Realistic => HeaderMode::Realistic,
            HeaderArg::Scrambled => HeaderMode::Scrambled,
            HeaderArg::Blank => HeaderMode::Blank,
        },
        snr: a.snr,
        matrix_scale: a.matrix_scale,
        coronal_probability: a.coronal_probability,
        ..Default::default()
    };
    let pb = indicatif::ProgressBar::new(a.patients as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} exams [{elapsed} < {eta}] {msg}",
        )
        .unwrap(),
    );
    let mut rows = Vec::new();
    let mut gen_s = Vec::new();
    for n in 0..a.patients {
        let t = Instant::now();
        let exam = clarity_mr::exam::generate_exam(&settings, a.seed, n);
        gen_s.push(t.elapsed().as_secs_f64());
        rows.extend(clarity_mr::exam_output::write_exam(&exam, &a.output)?);
        if a.montage {
            let z = exam.anatomy.lesions.first().map(|l| l.centre_mm[2]).unwrap_or(20.0);
            let (w, h, px) = clarity_mr::exam_output::exam_montage(&exam, z, 256);
            clarity_io::png::write_gray_png(
                &a.output.join(format!("{}.png", exam.patient_id)),
                w,
                h,
                &px,
            )?;
        }
        pb.set_message(format!(
            "{} ({:?}, {:.1} T)",
            exam.patient_id,
            exam.vendor,
            exam.field.tesla()
        ));
        pb.inc(1);
    }
    pb.finish_and_clear();
    clarity_mr::exam_output::write_labels(&rows, &a.output)?;
    gen_s.sort_by(f64::total_cmp);
    println!(
        "wrote {} exams ({} series) to {}; labels.json and labels.csv list each series' class",
        a.patients,
        rows.len(),
        a.output.display()
    );
    println!("generation time per exam (without writing): median {:.2} s", gen_s[gen_s.len() / 2]);
    Ok(())
}

fn brain(a: BrainArgs) -> anyhow::Result<()> {
    let contrast = BrainContrast::parse(&a.contrast)
        .with_context(|| format!("unknown contrast {:?} (t1, t2, pd, flair, stir)", a.contrast))?;
    let phantom = BrainPhantom::load(&a.phantom).with_context(|| {
        format!(
            "loading the brain phantom from {} (--phantom sets the folder; the default is \
                 relative to the current folder)",
            a.phantom.display()
        )
    })?;
    prepare_output(&a.output, a.force)?;
    let field = Field::from_tesla(a.field);
    let protocol = if a.vary_protocol {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(a.seed);
        contrast.random_protocol(field, &mut rng)
    } else {
        contrast.protocol(field)
    };
    println!("{} at {} T: {}", a.contrast.to_ascii_uppercase(), field.tesla(), protocol.sequence);
    let truth = phantom.render(&protocol);
    let out = if a.snr > 0.0 || a.reduction > 0.0 {
        let sigma = if a.snr > 0.0 {
            clarity_mr::fastscan::foreground_mean(&truth) / a.snr as f32
        } else {
            0.0
        };
        let s = clarity_mr::acquisition::Sampling {
            reduction: a.reduction,
            noise_sigma: sigma,
            ..Default::default()
        };
        s.acquire_volume(&truth, a.seed)
    } else {
        truth
    };
    let name = format!("brain_{}_{}T", a.contrast.to_ascii_lowercase(), field.tesla());
    let nii = a.output.join(format!("{name}.nii.gz"));
    clarity_io::nifti::write_nifti(&out, &nii)?;
    let png = a.output.join(format!("{name}.png"));
    clarity_io::png::write_montage(&out, &png, 12, None)?;
    println!("wrote {} and {}", nii.display(), png.display());
    Ok(())
}
