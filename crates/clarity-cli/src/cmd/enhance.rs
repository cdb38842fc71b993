//! `clarity enhance`: run the enhanced-resolution network on a DICOM series or NIfTI volume.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use clarity_core::{PhaseEncodingDirection, Volume};
use clarity_io::dicom::write_derived_series;
use clarity_models::enhance::consistency::{enhance_consistent, ScanNoise};
use clarity_models::enhance::infer::{dropped_fraction, InferOptions};
use clarity_models::enhance::noise::{scan_sigma, SigmaSource};
use clarity_models::enhance::{EnhanceNet, EnhanceNetConfig};
use clarity_models::store::ModelSource;
use clarity_mr::fastscan::{detect_acquired_lines, PeSource};

use super::PeArg;

#[derive(Args)]
pub struct EnhanceArgs {
    /// DICOM series folder/file or NIfTI file: the (shortened) scan to enhance (each frame of a
    /// 4D image, such as echoes or b-values, on its own).
    pub input: PathBuf,
    /// Output: a `.nii`/`.nii.gz` file, or a folder for a derived DICOM series (DICOM input
    /// only; SeriesDescription gets " ER"; a 4D input gives one file per slice and frame). A
    /// NIfTI from DICOM gets what `convert` writes beside one: NAME.json and, for a DWI
    /// series, NAME.bval/NAME.bvec; from a NIfTI, the .bval/.bvec beside it are copied.
    pub output: PathBuf,
    /// Folder with model.safetensors and config.json [default: the shipped models/enhance,
    /// built into this binary].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// cpu, cuda or vulkan (the GPU ones need a build with --features cuda / vulkan).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Phase-encoding axis of the input. auto: the DICOM header's InPlanePhaseEncodingDirection,
    /// else detected from where the k-space energy is cut off, else col. Matters for networks
    /// trained for one PE axis (config.json `pe_axis`): slices are transposed to match.
    #[arg(long, value_enum, default_value_t = PeArg::Auto)]
    pub pe_axis: PeArg,
    /// Slices per network call.
    #[arg(long, default_value_t = 4, value_parser = super::parse_count)]
    pub batch: usize,
    /// One pass per slice instead of the average over its four flips (4× faster, measured
    /// slightly less accurate; see the model card).
    #[arg(long)]
    pub single_pass: bool,
    /// Noise σ per pixel of the input (one channel, image intensity units) for the data
    /// consistency step, which re-weighs the network's last layer inside the measured k-space
    /// band so the output agrees with the scan as far as the noise allows (weights fitted by
    /// SURE for this scan). auto: estimated from the air in the background, or where there is
    /// too little air from the outermost readout frequencies; off: the network's output as is.
    /// A network that takes the noise level as an input (config.json `noise_channel`) is given
    /// this σ, estimated as for auto when off. 0 declares the scan noise-free, so the output
    /// keeps the scan's own values, its noise too, in the measured band.
    #[arg(long, default_value = "auto", value_parser = parse_noise_sigma)]
    pub noise_sigma: NoiseSigma,
    /// Fraction of the phase-encoding lines the shortened scan dropped (0.25 for a scan 25 %
    /// shorter). auto: detected from where the k-space energy is cut off (0 when none is found,
    /// or when the cut would keep under half the lines: small matrices fall off that steeply
    /// on their own).
    /// Sets the band the consistency step trusts, and is given to a network that takes it
    /// as an input (config.json `reduction_channel`).
    #[arg(long, default_value = "auto", value_parser = parse_reduction)]
    pub reduction: Reduction,
    /// Replace an existing NIfTI output file (a DICOM output folder must hold none of the
    /// files the series would take: nothing there is overwritten).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub read: super::ReadArgs,
}

/// A `--noise-sigma` argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoiseSigma {
    Auto,
    Off,
    Value(f32),
}

fn parse_noise_sigma(s: &str) -> Result<NoiseSigma, String> {
    match s {
        "auto" => Ok(NoiseSigma::Auto),
        "off" => Ok(NoiseSigma::Off),
        v => match v.parse::<f32>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(NoiseSigma::Value(x)),
            _ => Err(format!("`{v}` is not auto, off or a non-negative number")),
        },
    }
}

/// A `--reduction` argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduction {
    Auto,
    Value(f64),
}

fn parse_reduction(s: &str) -> Result<Reduction, String> {
    match s {
        "auto" => Ok(Reduction::Auto),
        v => match v.parse::<f64>() {
            Ok(x) if (0.0..1.0).contains(&x) => Ok(Reduction::Value(x)),
            _ => Err(format!("`{v}` is not auto or a fraction in [0, 1)")),
        },
    }
}

/// The per-pixel noise σ of `vol`: the given one, or estimated (with where from printed) for
/// `auto`, and for `off` only when the network itself takes the noise level (`for_network`).
fn noise_sigma(
    vol: &Volume,
    pe: PhaseEncodingDirection,
    arg: NoiseSigma,
    for_network: bool,
) -> Option<f32> {
    match arg {
        NoiseSigma::Value(v) => Some(v),
        NoiseSigma::Off if !for_network => None,
        NoiseSigma::Auto | NoiseSigma::Off => {
            let (v, source) = scan_sigma(vol, pe)?;
            let from = match source {
                SigmaSource::BackgroundAir => "from the background air",
                SigmaSource::ReadoutEdge => {
                    "from the edge of the readout spectrum (too little background air)"
                }
            };
            eprintln!("noise σ {v:.3} per pixel, {from}; --noise-sigma sets it");
            Some(v)
        }
    }
}

/// The acquired phase-encoding lines of `vol` (`0..n`, DC at `n / 2`): as `--reduction`
/// says, or detected from the k-space cut-off (all lines when none is found).
fn acquired_lines(vol: &Volume, pe: PhaseEncodingDirection, arg: Reduction) -> Range<usize> {
    let n = vol.dims[pe.voxel_axis()];
    let (lines, how) = match arg {
        Reduction::Value(r) => (clarity_mr::acquisition::acquired_lines(n, r, 1.0), "--reduction"),
        Reduction::Auto => match detect_acquired_lines(vol, pe) {
            Some(lines) => (lines, "detected from the k-space cut-off"),
            None => (0..n, "no k-space cut-off found; --reduction sets it"),
        },
    };
    eprintln!("acquired phase-encoding lines {}..{} of {n} ({how})", lines.start, lines.end);
    lines
}

/// Added to the SeriesDescription of what enhance writes (derived series, NIfTI sidecar).
pub const ER_SUFFIX: &str = " ER";

pub fn run(a: EnhanceArgs) -> anyhow::Result<()> {
    let nifti_out = super::nifti_output(&a.output)?;
    // A NIfTI output gets what convert writes beside one: from DICOM the sidecar and
    // diffusion tables, from NIfTI the input's tables.
    if nifti_out {
        super::refuse_to_replace(&super::sidecars::nifti_outputs(&a.input, &a.output), a.force)?;
    }
    if !nifti_out && super::is_nifti(&a.input) {
        bail!("DICOM output needs a DICOM input series; write NIfTI (.nii.gz) instead");
    }
    let device = super::device(&a.device)?;
    let (model, cfg, model_source) = super::load_enhance_model(a.model.clone(), &device)?;
    // The series is kept to write the derived series from it (the one --series picked).
    let (mut vol, dicom_series) = super::load_input(&a.input, &a.read, "")?;
    super::zero_non_finite(&mut vol, &a.input);
    let vol = vol;
    if vol.dims[..2].iter().any(|&n| n < super::MIN_INPLANE_MATRIX) {
        bail!(
            "{}: its slices are {}×{} pixels; enhance needs at least {} along each in-plane axis",
            a.input.display(),
            vol.dims[0],
            vol.dims[1],
            super::MIN_INPLANE_MATRIX
        );
    }
    if !nifti_out {
        // Before the minutes of work, not after: the writer refuses to overwrite.
        clarity_io::dicom::series_file_paths(&a.output, vol.dims[2] * vol.frames)?;
    }
    super::warn_if_not_mr(&vol, &a.input);
    let negative = vol.data.iter().filter(|v| **v < 0.0).count();
    if negative > 0 {
        // Said, not silent: the network reads magnitude images, so these values change.
        let min = vol.data.iter().copied().fold(f32::INFINITY, f32::min);
        eprintln!(
            "note: {} has {negative} negative voxel(s) (down to {min}); the network reads \
             magnitude images, so they are taken as 0 and the output is 0 or above",
            a.input.display()
        );
    }
    // Every frame of a 4D image (b-values, echoes, time points) is enhanced on its own, with
    // its own noise level; a DICOM output is a 4D derived series, each frame's files copied
    // from the input's files of that frame.
    let frames = vol.frames;
    let t = Instant::now();
    let mut enhanced = Vec::with_capacity(frames);
    for f in 0..frames {
        if frames > 1 {
            eprintln!("frame {} of {frames}:", f + 1);
        }
        let frame = vol.frame_volume(f)?;
        enhanced.push(enhance_volume(&a, &frame, &model, &cfg, &model_source, &device)?);
    }
    let mut out = if frames == 1 {
        enhanced.remove(0)
    } else {
        // The input's geometry, frame axis and metadata, holding the enhanced frames.
        let mut out = vol;
        out.data = enhanced.into_iter().flat_map(|v| v.data).collect();
        out
    };
    let secs = t.elapsed().as_secs_f64();
    if nifti_out {
        super::create_parent_dir(&a.output)?;
        clarity_io::nifti::write_nifti(&out, &a.output)?;
        // Named as the DICOM output would be (for the sidecar of a DICOM input).
        let description = out.meta.series_description.as_deref().unwrap_or("").trim();
        out.meta.series_description = Some(format!("{description}{ER_SUFFIX}").trim().into());
        super::sidecars::write_beside(&out, &a.input, &a.output)?;
    } else {
        let series = dicom_series.context("DICOM output needs a DICOM input series")?;
        write_derived_series(&out, &series, &a.output, ER_SUFFIX)?;
    }
    let frames_text = if out.frames > 1 { format!("×{}", out.frames) } else { String::new() };
    println!(
        "enhanced {}×{}×{}{frames_text} in {:.1} s ({:.2} s per slice); wrote {}",
        out.dims[0],
        out.dims[1],
        out.dims[2],
        secs,
        secs / (out.dims[2] * out.frames).max(1) as f64,
        a.output.display()
    );
    Ok(())
}

/// The network, then data consistency, on one 3D volume (one frame), saying what it found.
fn enhance_volume(
    a: &EnhanceArgs,
    vol: &Volume,
    model: &EnhanceNet,
    cfg: &EnhanceNetConfig,
    model_source: &ModelSource,
    device: &burn::prelude::Device,
) -> anyhow::Result<Volume> {
    let (pe, source) = a.pe_axis.resolve(vol);
    let how = match source {
        PeSource::Override => "from --pe-axis",
        PeSource::Header => "from the DICOM header",
        PeSource::KSpace => "detected from the k-space cut-off",
        PeSource::Assumed => "assumed: no header and no k-space cut-off found; --pe-axis sets it",
    };
    eprintln!("phase encoding along {pe:?} ({how})");
    let bar = indicatif::ProgressBar::new(vol.dims[2] as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "enhancing {bar:30} {pos}/{len} slice passes [{elapsed} < {eta}]",
        )
        .unwrap(),
    );
    let noise_sigma = noise_sigma(vol, pe, a.noise_sigma, cfg.noise_channel);
    if cfg.noise_channel && noise_sigma.is_none() {
        bail!(
            "the model in {} takes the scan's noise level as an input and none could be \
             estimated from {}: pass --noise-sigma (per-pixel σ)",
            model_source,
            a.input.display()
        );
    }
    // σ for the consistency step: none when it is off or σ is unknown.
    let consistency_sigma = match (a.noise_sigma, noise_sigma) {
        (NoiseSigma::Off, _) => None,
        (_, Some(sigma)) => Some(sigma),
        (_, None) => {
            eprintln!(
                "data consistency skipped: the noise level could not be estimated; pass \
                 --noise-sigma (per-pixel σ) to enable it"
            );
            None
        }
    };
    let lines = (consistency_sigma.is_some() || cfg.reduction_channel)
        .then(|| acquired_lines(vol, pe, a.reduction));
    let dropped_fraction = lines.as_ref().map(|l| dropped_fraction(l, vol.dims[pe.voxel_axis()]));
    let noise = consistency_sigma.zip(lines).map(|(sigma_pixel, lines)| ScanNoise {
        sigma_pixel,
        lines,
        pe,
    });
    let (net, consistent) = enhance_consistent(
        model,
        cfg,
        vol,
        device,
        InferOptions { batch: a.batch, flips: !a.single_pass, noise_sigma, dropped_fraction },
        noise.as_ref(),
        pe,
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64)
        },
    );
    bar.finish_and_clear();
    let out = match consistent {
        Some((out, r)) if !r.refitted => {
            eprintln!(
                "data consistency: the network's own readout kept (SURE found no re-weighing \
                 of its last layer it can trust on this scan)"
            );
            out
        }
        Some((out, r)) => {
            eprintln!(
                "data consistency: last layer re-weighed in the acquired band by SURE (weight of \
                 the measured slice {:.2}, channel gains {:.2}..{:.2}); estimated in-band error \
                 {:+.2} dB",
                r.centre_weight,
                r.gain_min,
                r.gain_max,
                -r.estimated_gain_db()
            );
            out
        }
        None => net,
    };
    Ok(out)
}
