//! Subcommands, one module each, plus the loading helpers they share.

pub mod bench;
pub mod classify;
pub mod convert;
pub mod demo;
pub mod enhance;
pub mod eval;
pub mod eval_classify;
pub mod info;
pub mod sidecars;
pub mod simulate;
pub mod train;
pub mod view;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use clarity_core::{PhaseEncodingDirection, Volume};
use clarity_io::dicom::{scan_with_progress, DicomSeries, ScanReport, SeriesOptions};
use clarity_models::enhance::{EnhanceNet, EnhanceNetConfig};
use clarity_models::store::ModelSource;
use clarity_mr::fastscan::{resolve_phase_encoding, PeSource};

/// A `--pe-axis` argument.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PeArg {
    /// The DICOM header's InPlanePhaseEncodingDirection; without one, the axis where the
    /// k-space energy is cut off (a shortened scan); without that, col.
    Auto,
    /// Phase encoded along rows (the i axis).
    Row,
    /// Phase encoded along columns (the j axis).
    Col,
}

impl PeArg {
    /// The direction for `vol` and where it came from.
    pub fn resolve(self, vol: &Volume) -> (PhaseEncodingDirection, PeSource) {
        let forced = match self {
            PeArg::Auto => None,
            PeArg::Row => Some(PhaseEncodingDirection::Row),
            PeArg::Col => Some(PhaseEncodingDirection::Col),
        };
        resolve_phase_encoding(vol, forced)
    }
}

/// The enhancement network from `--model`, else the shipped one built into the binary, with
/// where it came from (for messages, and for tools that read its files).
pub fn load_enhance_model(
    folder: Option<PathBuf>,
    device: &burn::prelude::Device,
) -> anyhow::Result<(EnhanceNet, EnhanceNetConfig, ModelSource)> {
    let source = ModelSource::or_built_in(folder, &clarity_models::shipped::ENHANCE);
    let (model, cfg) = clarity_models::enhance::train::load_model(source.clone(), device)
        .with_context(|| format!("loading the model from {source}"))?;
    Ok((model, cfg, source))
}

/// Fail, naming the first of `outputs` that exists, unless `force`: a report or picture from
/// an earlier run is not replaced silently. Called before the work, not after it.
pub fn refuse_to_replace(outputs: &[PathBuf], force: bool) -> anyhow::Result<()> {
    match outputs.iter().find(|p| p.exists()) {
        Some(p) if !force => anyhow::bail!(
            "{} exists (an earlier run's output); pass --force to replace it, or write elsewhere",
            p.display()
        ),
        _ => Ok(()),
    }
}

/// A count flag (`--batch`, `--steps`, `--channels`, ...) that must be at least 1: zero would
/// either do no work while reporting success or reach a division or chunking by zero deep in a
/// library, so it is refused where the user typed it.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

/// A number flag that must be finite and above 0 (an SNR, a learning rate, a field strength):
/// `nan` and `inf` parse as floats, and a comparison such as `snr <= 0.0` lets NaN through.
pub fn parse_positive(text: &str) -> Result<f64, String> {
    parse_number_where(text, |x| x.is_finite() && x > 0.0, "must be a finite number above 0")
}

/// As [`parse_positive`], but 0 is allowed (an SNR of 0 meaning noise-free).
pub fn parse_non_negative(text: &str) -> Result<f64, String> {
    parse_number_where(text, |x| x.is_finite() && x >= 0.0, "must be a finite number, 0 or above")
}

/// A fraction of phase-encoding lines dropped: in [0, 1), since dropping every line leaves no
/// scan.
pub fn parse_dropped_fraction(text: &str) -> Result<f64, String> {
    let why = "must be a fraction in [0, 1) (0.25 drops a quarter of the lines)";
    parse_number_where(text, |x| (0.0..1.0).contains(&x), why)
}

/// A field strength in tesla: 1.5 or 3, the two fields whose tissue relaxation times the
/// physics engine models. Anything else used to be rounded to one of them unsaid (7 T gave a
/// 3 T image named `_3T`).
pub fn parse_field_tesla(text: &str) -> Result<f64, String> {
    let why = "must be 1.5 or 3 (tesla; the field strengths whose relaxation times are modelled)";
    parse_number_where(text, |t| t == 1.5 || t == 3.0, why)
}

/// A number for which `ok` holds; else the error `why`.
fn parse_number_where(text: &str, ok: impl Fn(f64) -> bool, why: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if ok(x) => Ok(x),
        Ok(_) => Err(why.into()),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// Two finite numbers written `A,B` (spaces allowed), for flags such as `--window CENTER,WIDTH`;
/// `form` names them in the error message.
pub fn parse_number_pair(text: &str, form: &str) -> Result<(f64, f64), String> {
    let (a, b) = text.split_once(',').ok_or_else(|| format!("expected {form}, got '{text}'"))?;
    // `nan` and `inf` parse as floats; no flag written as a pair wants them.
    let number = |t: &str| match t.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("'{}' is not a finite number", t.trim())),
    };
    Ok((number(a)?, number(b)?))
}

/// True for paths read as NIfTI: `.nii`, `.nii.gz`, or either half of a `.hdr`/`.img` pair.
pub fn is_nifti(path: &Path) -> bool {
    clarity_io::nifti::is_nifti_name(path)
}

/// Whether an output path is to be written as NIfTI (`.nii`, `.nii.gz`); a `.hdr`/`.img` name
/// is refused rather than taken for a DICOM folder, since pairs are read but not written.
pub fn nifti_output(path: &Path) -> anyhow::Result<bool> {
    if clarity_io::nifti::is_single_file_name(path) {
        Ok(true)
    } else if is_nifti(path) {
        anyhow::bail!(
            "{}: NIfTI pairs (.hdr/.img) are read, not written; name the output .nii or .nii.gz",
            path.display()
        )
    } else {
        Ok(false)
    }
}

/// How a command that works on one image reads it from DICOM.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ReadArgs {
    /// The series to use when a DICOM input holds several (a study folder): its SeriesNumber
    /// or SeriesInstanceUID, as `clarity info` lists them.
    #[arg(long, value_name = "NUMBER|UID")]
    pub series: Option<String>,
    /// Accept DICOM series whose slice gaps are not uniform (the median gap is used).
    #[arg(long)]
    pub allow_gaps: bool,
}

impl ReadArgs {
    pub fn series_options(&self) -> SeriesOptions {
        SeriesOptions { allow_nonuniform_spacing: self.allow_gaps }
    }
}

/// Scan the DICOM under `path` with a progress bar over its files.
pub fn scan_dicom(path: &Path, read: &ReadArgs) -> anyhow::Result<ScanReport> {
    let bar = file_bar(&format!("reading headers under {}", path.display()));
    let report = scan_with_progress(path, read.series_options(), &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    Ok(report?)
}

/// The DICOM series under `path` that a command works on: the one `--series` names, else the
/// only one. `other_ways` is added to the advice when the folder holds several (convert: "or a
/// folder as the output to convert each").
pub fn pick_series(path: &Path, read: &ReadArgs, other_ways: &str) -> anyhow::Result<DicomSeries> {
    let report = scan_dicom(path, read)?;
    let context = || format!("reading DICOM from {}", path.display());
    let Some(selector) = &read.series else {
        if report.series.len() > 1 {
            anyhow::bail!(
                "{} holds {} series:{}\npass --series NUMBER|UID to pick one{other_ways}",
                path.display(),
                report.series.len(),
                report.listing()
            );
        }
        return report.into_only_series(path).with_context(context);
    };
    let chosen = report.select(path, selector).with_context(context)?.clone();
    // Files here that could not be read may be other series'; the chosen one is whole (a slice
    // group of it that could not be stacked fails `select`).
    for e in &report.errors {
        eprintln!("warning: skipped: {e}");
    }
    Ok(chosen)
}

/// Load a NIfTI file or the DICOM series under a path ([`pick_series`]; `other_ways` as
/// there), with the series it came from (for writing a derived series from it).
pub fn load_input(
    path: &Path,
    read: &ReadArgs,
    other_ways: &str,
) -> anyhow::Result<(Volume, Option<DicomSeries>)> {
    if is_nifti(path) {
        if read.series.is_some() {
            anyhow::bail!(
                "{}: --series picks a series of a DICOM input; this is a NIfTI file",
                path.display()
            );
        }
        // The reader's errors name the file already.
        return Ok((clarity_io::nifti::read_nifti(path)?, None));
    }
    let series = pick_series(path, read, other_ways)?;
    let vol = series.load().with_context(|| format!("reading DICOM from {}", path.display()))?;
    Ok((vol, Some(series)))
}

/// [`load_input`] without the series.
pub fn load_volume(path: &Path, read: &ReadArgs) -> anyhow::Result<Volume> {
    Ok(load_input(path, read, "")?.0)
}

/// [`load_volume`] for the networks: non-finite voxels (NaN, ±Inf: NIfTI float files may hold
/// them) become 0, said with their count. Why: one NaN spreads through every convolution, the
/// intensity normalisation and the consistency fit, and the output would be all NaN or quietly
/// wrong.
pub fn load_finite_volume(path: &Path, read: &ReadArgs) -> anyhow::Result<Volume> {
    let mut vol = load_volume(path, read)?;
    zero_non_finite(&mut vol, path);
    Ok(vol)
}

/// Set `vol`'s non-finite voxels to 0, saying how many there were in the file at `path`.
pub fn zero_non_finite(vol: &mut Volume, path: &Path) {
    let mut bad = 0usize;
    for v in vol.data.iter_mut().filter(|v| !v.is_finite()) {
        *v = 0.0;
        bad += 1;
    }
    if bad > 0 {
        eprintln!(
            "note: {} has {bad} non-finite voxel(s) (NaN or infinite); they are treated as 0",
            path.display()
        );
    }
}

/// Which frame of a 4D image a command that works on one 3D volume uses.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct FrameArg {
    /// Which frame (time point, echo, b-value) of a 4D image to use, counted from 0.
    #[arg(long, default_value_t = 0)]
    pub frame: usize,
}

impl FrameArg {
    /// The chosen frame of `vol` (read from `path`); with more than one frame, says which is
    /// `used` (stderr, so that stdout stays the command's own output).
    pub fn pick(self, vol: Volume, path: &Path, used: &str) -> anyhow::Result<Volume> {
        if self.frame >= vol.frames {
            anyhow::bail!(
                "{} has {} frame(s); --frame {} is past the last",
                path.display(),
                vol.frames,
                self.frame
            );
        }
        if vol.frames == 1 {
            return Ok(vol);
        }
        eprintln!(
            "{} has {} frames; {used} frame {} (--frame picks another)",
            path.display(),
            vol.frames,
            self.frame
        );
        Ok(vol.frame_volume(self.frame)?)
    }
}

/// The volume the fast-scan protocol takes as its truth: one frame, finite, and with some
/// signal, since the protocol's SNR is relative to the foreground mean (an all-zero volume
/// would give σ = 0 and a table of infinite PSNRs).
pub fn load_truth_volume(path: &Path, read: &ReadArgs, frame: FrameArg) -> anyhow::Result<Volume> {
    let vol = load_finite_volume(path, read)?;
    let vol = frame.pick(vol, path, "the fast-scan protocol uses")?;
    if !vol.data.iter().any(|v| *v > 0.0) {
        anyhow::bail!(
            "{}: no voxel is above 0, so there is no foreground to set the SNR against",
            path.display()
        );
    }
    Ok(vol)
}

/// Warn when the header says the image is not MR: the networks were trained and validated on
/// MR magnitude images only.
pub fn warn_if_not_mr(vol: &Volume, path: &Path) {
    if let Some(m) = vol.meta.modality.as_deref().filter(|m| *m != "MR") {
        eprintln!(
            "warning: {} is {m}, not MR: the network was trained and validated on MR magnitude \
             images only, so its output here is unvalidated",
            path.display()
        );
    }
}

/// A range of SNRs: `LOW,HIGH` with 0 < LOW ≤ HIGH, both finite.
pub fn parse_snr_range(text: &str) -> Result<(f64, f64), String> {
    let (low, high) = parse_number_pair(text, "LOW,HIGH (for example 8,60)")?;
    if !(low.is_finite() && high.is_finite() && low > 0.0 && low <= high) {
        return Err(format!("need 0 < LOW <= HIGH, got {low},{high}"));
    }
    Ok((low, high))
}

/// Refuse a NIfTI file where a command reads DICOM series only, saying why (`what`), rather
/// than reporting that the file holds no DICOM series.
pub fn refuse_nifti(path: &Path, what: &str) -> anyhow::Result<()> {
    if is_nifti(path) {
        anyhow::bail!("{}: a NIfTI file; {what}", path.display());
    }
    Ok(())
}

/// Refuse a list argument that names one value twice: each value makes an output of its own
/// (a table row, a PNG named after it), and the second would silently replace the first.
pub fn refuse_repeats(flag: &str, values: &[f64]) -> anyhow::Result<()> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            anyhow::bail!("{flag} lists {v} more than once");
        }
    }
    Ok(())
}

/// The fewest pixels along either in-plane axis that `enhance` and the fast-scan protocol
/// take: below it there is no anatomy to restore, the 7×7 NLM patches and the network's
/// 25-pixel view see mostly padding, and the metrics are of a handful of pixels.
pub const MIN_INPLANE_MATRIX: usize = 8;

/// [`simulate`](clarity_mr::fastscan::simulate), refusing volumes the protocol cannot score:
/// an in-plane matrix under [`MIN_INPLANE_MATRIX`], or a reduction that drops no line of it
/// (0.3 of a 2-line axis), which would report a "shortened" scan equal to the full one.
pub fn simulate_fastscan(
    path: &Path,
    vol: &Volume,
    settings: &clarity_mr::fastscan::FastScanSettings,
) -> anyhow::Result<clarity_mr::fastscan::FastScanTriplet> {
    let t = clarity_mr::fastscan::simulate(vol, settings);
    if t.matrix.iter().any(|&n| n < MIN_INPLANE_MATRIX) {
        anyhow::bail!(
            "{}: its in-plane matrix is {}×{} (as acquired); the fast-scan protocol needs at \
             least {MIN_INPLANE_MATRIX} pixels along each in-plane axis",
            path.display(),
            t.matrix[0],
            t.matrix[1]
        );
    }
    let n_pe = t.truth.dims[settings.pe.voxel_axis()];
    if settings.reduction > 0.0 && t.lr_lines.len() >= n_pe {
        anyhow::bail!(
            "{}: a reduction of {} drops none of the {n_pe} phase-encoding lines; pass a larger \
             --reduction",
            path.display(),
            settings.reduction
        );
    }
    Ok(t)
}

/// Whether two paths name one existing file or folder (after links and `..` are resolved).
pub fn same_path(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Create the folder an output file goes into, as for output folders: a missing folder is not
/// a reason to fail, least of all after minutes of work.
pub fn create_parent_dir(file: &Path) -> anyhow::Result<()> {
    match file.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => create_output_dir(parent),
        None => Ok(()),
    }
}

/// Create the output folder `dir` (and its parents); a file in its place is named as such
/// (the OS says only "File exists").
pub fn create_output_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "{} exists and is not a folder; name a folder for the outputs",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// A bar counting files (its length is set once the folder has been listed).
pub fn file_bar(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} files [{elapsed}]")
            .unwrap(),
    );
    pb.set_message(msg.to_string());
    pb
}

/// A spinner for work whose length is not known up front.
pub fn spinner(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").unwrap());
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The compute device named on the command line.
pub fn device(name: &str) -> anyhow::Result<burn::prelude::Device> {
    match name {
        "cpu" => Ok(burn::prelude::Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(burn::prelude::Device::cuda(0)),
        #[cfg(not(feature = "cuda"))]
        "cuda" => {
            anyhow::bail!("this clarity was built without CUDA; rebuild with --features cuda")
        }
        #[cfg(feature = "vulkan")]
        "vulkan" => Ok(burn::prelude::Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "vulkan"))]
        "vulkan" => {
            anyhow::bail!("this clarity was built without Vulkan; rebuild with --features vulkan")
        }
        other => anyhow::bail!("unknown device {other:?} (cpu, cuda or vulkan)"),
    }
}

/// Middle slices side by side, windowed together on the first volume (the truth), then for each
/// index in `error_of` the map `|vols[n] − vols[0]|` with a window a quarter as wide.
pub fn write_strip(vols: &[&Volume], error_of: &[usize], path: &Path) -> anyhow::Result<()> {
    let [nx, ny, nz] = vols[0].dims;
    let k = nz / 2;
    let win = clarity_io::png::Window::from_percentiles(vols[0].slice(k), 0.5, 99.5);
    let err_win = clarity_io::png::Window { center: win.width / 8.0, width: win.width / 4.0 };
    let tiles = vols.len() + error_of.len();
    let w = nx * tiles;
    let mut img = vec![0u8; w * ny];
    let truth = vols[0].slice(k);
    for j in 0..ny {
        for i in 0..nx {
            let p = j * nx + i;
            for (t, v) in vols.iter().enumerate() {
                img[j * w + t * nx + i] = win.to_u8(v.slice(k)[p]);
            }
            for (e, &n) in error_of.iter().enumerate() {
                let err = (vols[n].slice(k)[p] - truth[p]).abs();
                img[j * w + (vols.len() + e) * nx + i] = err_win.to_u8(err);
            }
        }
    }
    clarity_io::png::write_gray_png(path, w, ny, &img)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_snr_range;

    #[test]
    fn snr_range_parses_and_rejects_bad_ranges() {
        assert_eq!(parse_snr_range("8,60"), Ok((8.0, 60.0)));
        assert_eq!(parse_snr_range(" 10 , 40 "), Ok((10.0, 40.0)));
        assert_eq!(parse_snr_range("20,20"), Ok((20.0, 20.0)));
        for bad in ["40,10", "0,10", "-1,10", "10", "a,10", "10,inf", "NaN,10"] {
            let err = parse_snr_range(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad}");
        }
    }
}
