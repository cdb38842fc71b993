use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use clarity_io::dicom::{scan, write_derived_series, SeriesOptions};

#[derive(Args)]
pub struct ConvertArgs {
    /// Input: DICOM folder/file (one series) or NIfTI file.
    pub input: PathBuf,
    /// Output: a .nii/.nii.gz file, or a folder for a DICOM series (needs --reference).
    pub output: PathBuf,
    /// DICOM series the output is derived from (patient, study and per-slice template);
    /// required when writing DICOM.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Suffix added to the reference SeriesDescription for a DICOM output.
    #[arg(long, default_value = " clarity")]
    pub suffix: String,
    /// Accept DICOM series whose slice gaps are not uniform (median gap used).
    #[arg(long)]
    pub allow_gaps: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: ConvertArgs) -> anyhow::Result<()> {
    let mut vol = super::load_volume(&a.input, a.allow_gaps)?;
    if super::is_nifti(&a.output) {
        if a.output.exists() && !a.force {
            bail!("{} exists; pass --force to replace it", a.output.display());
        }
        clarity_io::nifti::write_nifti(&vol, &a.output)?;
        println!(
            "wrote {} ({}x{}x{}, {} frame(s))",
            a.output.display(),
            vol.dims[0],
            vol.dims[1],
            vol.dims[2],
            vol.frames
        );
        return Ok(());
    }
    let Some(reference) = a.reference else {
        bail!("{}: DICOM output needs --reference SERIES (the series this volume came from); for NIfTI use a .nii or .nii.gz name", a.output.display());
    };
    if vol.frames > 1 {
        // The derived series is one 3D stack; dropping frames 2.. would lose data unsaid.
        bail!(
            "{} has {} frames, and DICOM output writes one 3D volume; write NIfTI (.nii.gz) \
             to keep them all",
            a.input.display(),
            vol.frames
        );
    }
    // 16-bit pixels hold no NaN: unsaid, a NaN voxel would come back as the volume's minimum.
    super::zero_non_finite(&mut vol, &a.input);
    let report = scan(&reference, SeriesOptions { allow_nonuniform_spacing: a.allow_gaps })?;
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
    let written =
        write_derived_series(&vol, source, &a.output, &a.suffix).context("writing DICOM series")?;
    println!("wrote {} DICOM files to {}", written.len(), a.output.display());
    Ok(())
}
