use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use clarity_core::Volume;
use clarity_io::dicom::{scan, write_derived_series, DicomSeries};

#[derive(Args)]
pub struct ConvertArgs {
    /// Input: DICOM folder/file (one series, or a study with --series or a folder OUTPUT) or
    /// NIfTI file (.nii, .nii.gz, or either half of a .hdr/.img pair).
    pub input: PathBuf,
    /// Output: a .nii/.nii.gz file; a folder for a DICOM series (with --reference); or, from
    /// DICOM without --reference, a folder that gets one NNN_DESCRIPTION.nii.gz per series.
    /// From DICOM, each NIfTI gets a BIDS sidecar beside it (NAME.json: echo and repetition
    /// time in s, flip angle, phase-encoding direction, ...), as dcm2niix writes; a
    /// diffusion-weighted series also gets NAME.bval and NAME.bvec (FSL's b-value and
    /// gradient-direction tables; the .bvec only when the files give every direction).
    /// From a NIfTI, the .bval/.bvec beside it are copied beside the NIfTI output.
    pub output: PathBuf,
    /// DICOM series the output is derived from (patient, study and per-slice template);
    /// required when writing DICOM.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Suffix added to the reference SeriesDescription for a DICOM output.
    #[arg(long, default_value = " clarity")]
    pub suffix: String,
    #[command(flatten)]
    pub read: super::ReadArgs,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: ConvertArgs) -> anyhow::Result<()> {
    let nifti_out = super::nifti_output(&a.output)?;
    if !super::is_nifti(&a.input) && a.reference.is_none() && !nifti_out {
        return convert_each_series(&a);
    }
    let each = format!(
        ", or a folder as the output to convert each ({} names a file)",
        a.output.display()
    );
    let (mut vol, _) = super::load_input(&a.input, &a.read, &each)?;
    if nifti_out {
        // From DICOM, the acquisition parameters go beside it, as dcm2niix's sidecar.
        super::refuse_to_replace(&super::sidecars::nifti_outputs(&a.input, &a.output), a.force)?;
        super::create_parent_dir(&a.output)?;
        clarity_io::nifti::write_nifti(&vol, &a.output)?;
        println!("wrote {} ({})", a.output.display(), shape(&vol));
        super::sidecars::write_beside(&vol, &a.input, &a.output)?;
        return Ok(());
    }
    let Some(reference) = a.reference else {
        bail!("{}: DICOM output needs --reference SERIES (the series this volume came from); for NIfTI use a .nii or .nii.gz name", a.output.display());
    };
    // 16-bit pixels hold no NaN: unsaid, a NaN voxel would come back as the volume's minimum.
    super::zero_non_finite(&mut vol, &a.input);
    let report = scan(&reference, a.read.series_options())?;
    let [source] = &report.series[..] else {
        bail!(
            "{}: expected exactly one series, found {}",
            reference.display(),
            report.series.len()
        );
    };
    if source.dims != vol.dims {
        bail!(
            "volume is {:?} but reference series {} is {:?}: they must match",
            vol.dims,
            reference.display(),
            source.dims
        );
    }
    if vol.frames > 1 && vol.frames != source.frames {
        // Each frame's files take their attributes (echo time, b-value) from the reference's
        // files of that frame; there are none to take them from.
        bail!(
            "{} has {} frames but reference series {} has {}: a 4D DICOM output needs a \
             reference with as many frames; write NIfTI (.nii.gz) to keep them all",
            a.input.display(),
            vol.frames,
            reference.display(),
            source.frames
        );
    }
    let written =
        write_derived_series(&vol, source, &a.output, &a.suffix).context("writing DICOM series")?;
    println!("wrote {} DICOM files to {}", written.len(), a.output.display());
    Ok(())
}

fn shape(vol: &Volume) -> String {
    format!("{}x{}x{}, {} frame(s)", vol.dims[0], vol.dims[1], vol.dims[2], vol.frames)
}

/// DICOM → one NIfTI per series (or the `--series` one) in the output folder, as dcm2niix
/// converts a study folder. Every series that can be read is written; the command still fails
/// at the end when a series or file could not be, so a script notices.
fn convert_each_series(a: &ConvertArgs) -> anyhow::Result<()> {
    if a.output.exists() && !a.output.is_dir() {
        bail!(
            "{} exists and is not a folder (a .nii/.nii.gz name writes one file)",
            a.output.display()
        );
    }
    let report = super::scan_dicom(&a.input, &a.read)?;
    let chosen: Vec<&DicomSeries> = match &a.read.series {
        Some(selector) => vec![report.select(&a.input, selector)?],
        None => report.series.iter().collect(),
    };
    if chosen.is_empty() {
        match report.errors.first() {
            Some(e) => {
                bail!("{}: no series could be read; the first error: {e}", a.input.display())
            }
            None => bail!("{}: no DICOM image series found", a.input.display()),
        }
    }
    let names = file_names(&chosen);
    let paths: Vec<PathBuf> = names.iter().map(|n| a.output.join(n)).collect();
    let outputs: Vec<PathBuf> =
        paths.iter().flat_map(|p| super::sidecars::with_sidecars(p)).collect();
    super::refuse_to_replace(&outputs, a.force)?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating the output folder {}", a.output.display()))?;
    let mut failed = 0;
    for (series, path) in chosen.iter().zip(&paths) {
        match series.load() {
            Ok(vol) => {
                clarity_io::nifti::write_nifti(&vol, path)?;
                println!("wrote {} ({}) from {}", path.display(), shape(&vol), series.label());
                super::sidecars::write_sidecars(&vol, path)?;
            }
            Err(e) => {
                eprintln!("warning: not converted: {}: {e}", series.label());
                failed += 1;
            }
        }
    }
    for e in &report.errors {
        eprintln!("warning: not converted: {e}");
    }
    // With --series the broken files are someone else's (a broken slice group of the chosen
    // series already failed `select`); without it they are part of what was asked for.
    let unread = if a.read.series.is_some() { 0 } else { report.errors.len() };
    let written = chosen.len() - failed;
    println!("{written} of {} series written to {}", chosen.len(), a.output.display());
    if failed + unread > 0 {
        bail!(
            "{failed} series and {unread} file(s) or slice group(s) under {} could not be \
             converted (listed above)",
            a.input.display()
        );
    }
    Ok(())
}

/// `NNN_DESCRIPTION.nii.gz` per series (SeriesNumber, else its place in the list), made safe
/// as a file name and unique.
fn file_names(series: &[&DicomSeries]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let number = s.series_number().unwrap_or(i as i64 + 1);
            let mut desc: String = s
                .description()
                .trim()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
                .take(60)
                .collect();
            while desc.contains("__") {
                desc = desc.replace("__", "_");
            }
            let desc = desc.trim_matches('_');
            let stem = if desc.is_empty() {
                format!("{number:03}")
            } else {
                format!("{number:03}_{desc}")
            };
            let mut name = format!("{stem}.nii.gz");
            let mut k = 2;
            while !taken.insert(name.clone()) {
                name = format!("{stem}_{k}.nii.gz");
                k += 1;
            }
            name
        })
        .collect()
}
